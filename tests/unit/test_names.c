/* Unit tests of the tree's naming rules. */
#include "tree.h"
#include "unit.h"

#include <stdlib.h>

static const char *name(const char *raw, const char *suffix)
{
	static struct buf out = BUF_INIT;

	buf_reset(&out);
	buf_puts(&out, "");
	return tree_safe_name(raw, suffix, &out) == 0 ? out.data : NULL;
}

static void test_safe_names(void)
{
	char long_id[300];

	CHECK_STR(name("abc-123", ".txt"), "abc-123.txt");
	CHECK_STR(name("a/b", ""), "a%2Fb");
	CHECK_STR(name("100%", ""), "100%25");
	CHECK_STR(name(".", ""), "%2E");
	CHECK_STR(name("..", ".txt"), "%2E%2E.txt");
	CHECK_STR(name("...", ""), "...");
	CHECK_STR(name("tab\there\x7f", ""), "tab%09here%7F");
	CHECK_STR(name("日本語 🎉", ""), "日本語 🎉");
	CHECK(name("", "") == NULL);
	CHECK(name(NULL, "") == NULL);
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	CHECK(name(long_id, "") == NULL);
	long_id[251] = '\0';
	CHECK(name(long_id, ".txt") != NULL);
	CHECK(name(long_id, ".txt!") == NULL);
}

static void test_local_day_uses_tz(void)
{
	char day[16];

	setenv("TZ", "UTC", 1);
	tzset();
	tree_local_day(1737331200 - 1, day);	/* 2025-01-19T23:59:59Z */
	CHECK_STR(day, "2025-01-19");
	setenv("TZ", "XXX-01", 1);	/* one hour east */
	tzset();
	tree_local_day(1737331200 - 1, day);
	CHECK_STR(day, "2025-01-20");
	setenv("TZ", "UTC", 1);
	tzset();
}

int main(void)
{
	RUN(test_safe_names);
	RUN(test_local_day_uses_tz);
	return UNIT_RESULT();
}
