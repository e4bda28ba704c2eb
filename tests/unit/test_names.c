/* Unit tests of the tree's naming rules. */
#include "hash.h"
#include "tree.h"
#include "unit.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *name(const char *raw, const char *suffix)
{
	static struct buf out = BUF_INIT;

	buf_reset(&out);
	buf_puts(&out, "");
	return names_safe_name(raw, suffix, &out) == 0 ? out.data : NULL;
}

static void test_safe_names(void)
{
	char long_id[300];
	const char *n;

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
	long_id[251] = '\0';
	n = name(long_id, ".txt");	/* 255 bytes: kept whole */
	CHECK(n && strlen(n) == 255 && strncmp(n, long_id, 251) == 0 && strcmp(n + 251, ".txt") == 0);
}

/* "~" and the id's hash in 16 lower-case hex digits, as tree.h says. */
static const char *hash_tail(const char *id, const char *suffix)
{
	static char tail[64];

	snprintf(tail, sizeof(tail), "~%016" PRIx64 "%s", hash_bytes(id, strlen(id)), suffix);
	return tail;
}

static bool ends_with(const char *s, const char *end)
{
	return strlen(s) >= strlen(end) && strcmp(s + strlen(s) - strlen(end), end) == 0;
}

/* Over 255 bytes: the start that fits, "~", the hash, the suffix. */
static void test_long_names_are_shortened(void)
{
	char id[400], other[400];
	const char *n;

	memset(id, 'x', 300);
	id[300] = '\0';
	n = name(id, ".txt");
	CHECK(n != NULL && strlen(n) == 255);
	CHECK(strncmp(n, id, 255 - 17 - 4) == 0 && ends_with(n, hash_tail(id, ".txt")));
	id[252] = '\0';	/* 252 + ".txt" is one byte too many */
	n = name(id, ".txt");
	CHECK(n != NULL && strlen(n) == 255 && ends_with(n, hash_tail(id, ".txt")));
	/* the same id, the same name; one byte apart, another name */
	memcpy(other, id, sizeof(other));
	other[100] = 'y';
	CHECK(strcmp(name(id, ""), hash_tail(id, "")) != 0);
	n = strdup(name(id, ""));
	CHECK_STR(name(id, ""), n);
	CHECK(strcmp(name(other, ""), n) != 0);
	free((char *)n);
}

/* The cut never splits an escape or a UTF-8 character. */
static void test_long_names_cut_cleanly(void)
{
	char id[400] = "";
	const char *n;
	size_t len;

	for (int i = 0; i < 100; i++)
		strcat(id, "/");	/* each "%2F": 300 bytes encoded */
	n = name(id, "");
	CHECK(n != NULL && strlen(n) <= 255);
	len = strlen(n) - 17;
	CHECK(len % 3 == 0 && len == 237);	/* 79 escapes: 238 bytes would cut one */
	for (size_t i = 0; i < len; i += 3)
		CHECK(strncmp(n + i, "%2F", 3) == 0);
	id[0] = '\0';
	strcat(id, "a");
	for (int i = 0; i < 150; i++)
		strcat(id, "é");	/* two bytes each */
	n = name(id, ".txt");
	len = strlen(n) - 17 - 4;
	CHECK(len == 233);	/* room for 234: "a" and 116 whole characters */
	CHECK(ends_with(n, hash_tail(id, ".txt")));
	CHECK((unsigned char)n[len - 1] == 0xA9 && (unsigned char)n[len - 2] == 0xC3);
	/* bytes that are not UTF-8 at all are cut where they must be */
	memset(id, 0x80, 300);
	id[300] = '\0';
	n = name(id, "");
	CHECK_STR(n, hash_tail(id, ""));
}

static void test_local_day_uses_tz(void)
{
	char day[16];

	setenv("TZ", "UTC", 1);
	tzset();
	names_local_day(1737331200 - 1, day);	/* 2025-01-19T23:59:59Z */
	CHECK_STR(day, "2025-01-19");
	setenv("TZ", "XXX-01", 1);	/* one hour east */
	tzset();
	names_local_day(1737331200 - 1, day);
	CHECK_STR(day, "2025-01-20");
	setenv("TZ", "UTC", 1);
	tzset();
}

/* glibc's %Y writes year 1 as "1": a day directory "1-01-01" once sorted
 * after every other. */
static void test_local_day_has_four_digit_years(void)
{
	char day[16];

	setenv("TZ", "UTC", 1);
	tzset();
	names_local_day(-62135596800LL, day);	/* 0001-01-01T00:00:00Z */
	CHECK_STR(day, "0001-01-01");
	setenv("TZ", "XXX+01", 1);	/* one hour west: the year before */
	tzset();
	names_local_day(-62135596800LL, day);
	CHECK_STR(day, "0000-12-31");
	setenv("TZ", "UTC", 1);
	tzset();
}

/* Names that macOS, Windows and Obsidian take for one share a key. */
static void test_name_keys_fold_case_and_normalisation(void)
{
	static const char *const same[][2] = {
		{ "Same title", "SAME TITLE" },
		{ "Kelvin", "\u212aELVIN" },		/* ASCII's quick path, the same key */
		{ "Caf\u00e9", "Cafe\u0301" },	/* NFC and NFD */
		{ "Stra\u00dfe", "STRASSE" },		/* full case folding */
		{ "\u00c5ngstr\u00f6m", "A\u030angstro\u0308m" },
	};
	char *a, *b;

	for (size_t i = 0; i < sizeof(same) / sizeof(*same); i++) {
		a = names_name_key(same[i][0]);
		b = names_name_key(same[i][1]);
		CHECK_STR(a, b);
		free(a);
		free(b);
	}
	a = names_name_key("work");
	b = names_name_key("worK2");
	CHECK(strcmp(a, b) != 0);
	free(a);
	free(b);
	a = names_name_key("bad \xff utf-8");	/* its own key, whole */
	CHECK_STR(a, "bad \xff utf-8");
	free(a);
}

int main(void)
{
	RUN(test_safe_names);
	RUN(test_name_keys_fold_case_and_normalisation);
	RUN(test_long_names_are_shortened);
	RUN(test_long_names_cut_cleanly);
	RUN(test_local_day_uses_tz);
	RUN(test_local_day_has_four_digit_years);
	return UNIT_RESULT();
}
