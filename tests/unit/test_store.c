/* Unit tests of store: listings, change counts, full conversations, modes. */
#include "store.h"
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int collect(const char *id, const char *json, void *ctx)
{
	char *out = ctx;

	(void)json;
	strcat(out, id);
	strcat(out, ",");
	return 0;
}

static void test_replace_counts_changes_and_keeps_order(void)
{
	char err[128], order[64] = "";
	struct store *s = store_open(NULL, err, sizeof(err));
	struct store_item first[] = { { "b", "{\"id\":\"b\"}" }, { "a", "{\"id\":\"a\"}" } };
	struct store_item second[] = { { "a", "{\"id\":\"a\",\"x\":1}" }, { "c", "{\"id\":\"c\"}" } };
	time_t at;
	size_t n;

	CHECK(s != NULL);
	CHECK(store_listing_info(s, STORE_MEMORIES, &at, &n) == -ENOENT);
	CHECK(store_replace_listing(s, STORE_MEMORIES, first, 2, 100) == 2);
	CHECK(store_replace_listing(s, STORE_MEMORIES, first, 2, 200) == 0);
	CHECK(store_listing_info(s, STORE_MEMORIES, &at, &n) == 0 && at == 200 && n == 2);
	store_foreach(s, STORE_MEMORIES, collect, order);
	CHECK_STR(order, "b,a,");
	/* a changed, c added, b removed */
	CHECK(store_replace_listing(s, STORE_MEMORIES, second, 2, 300) == 3);
	order[0] = '\0';
	store_foreach(s, STORE_MEMORIES, collect, order);
	CHECK_STR(order, "a,c,");
	store_close(s);
}

static void test_generation_moves_only_on_change(void)
{
	char err[128];
	struct store *s = store_open(NULL, err, sizeof(err));
	struct store_item one[] = { { "a", "{}" } };
	uint64_t g0 = store_generation(s), g1;

	store_replace_listing(s, STORE_ACTION_ITEMS, NULL, 0, 1);
	g1 = store_generation(s);
	CHECK(g1 != g0);	/* a first, empty listing still counts */
	store_replace_listing(s, STORE_ACTION_ITEMS, NULL, 0, 2);
	CHECK(store_generation(s) == g1);
	store_replace_listing(s, STORE_ACTION_ITEMS, one, 1, 3);
	CHECK(store_generation(s) != g1);
	store_close(s);
}

static void test_full_conversation_dropped_when_listing_changes(void)
{
	char err[128], *json;
	struct store *s = store_open(NULL, err, sizeof(err));
	struct store_item v1[] = { { "c1", "{\"t\":1}" }, { "c2", "{\"t\":1}" } };
	struct store_item v2[] = { { "c1", "{\"t\":1}" }, { "c2", "{\"t\":2}" } };
	struct store_item v3[] = { { "c2", "{\"t\":2}" } };

	store_replace_listing(s, STORE_CONVERSATIONS, v1, 2, 1);
	CHECK(store_put_full_conversation(s, "c1", "{\"full\":1}") == 0);
	CHECK(store_put_full_conversation(s, "c2", "{\"full\":1}") == 0);
	/* A second put does not replace what a size was computed from. */
	CHECK(store_put_full_conversation(s, "c1", "{\"full\":2}") == 0);
	json = store_get_full_conversation(s, "c1");
	CHECK_STR(json, "{\"full\":1}");
	free(json);
	store_replace_listing(s, STORE_CONVERSATIONS, v2, 2, 2);
	CHECK(store_has_full_conversation(s, "c1"));
	CHECK(!store_has_full_conversation(s, "c2"));
	store_replace_listing(s, STORE_CONVERSATIONS, v3, 1, 3);
	CHECK(!store_has_full_conversation(s, "c1"));
	CHECK(store_count_full_conversations(s) == 0);
	store_close(s);
}

static void test_file_is_private(void)
{
	char err[128], path[] = "/tmp/omifs-store-test-XXXXXX";
	int fd = mkstemp(path);
	struct store *s;
	struct stat st;
	mode_t old = umask(0);

	close(fd);
	unlink(path);
	s = store_open(path, err, sizeof(err));
	umask(old);
	CHECK(s != NULL);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	store_close(s);
	unlink(path);
}

/* The first-seen time is the first listing's and never moves: a date for
 * memories that carry none. */
static void test_first_seen_never_changes(void)
{
	char err[128];
	struct store *s = store_open(NULL, err, sizeof(err));
	struct store_item one[] = { { "a", "{\"id\":\"a\"}" } };
	struct store_item two[] = { { "a", "{\"id\":\"a\",\"x\":1}" }, { "b", "{\"id\":\"b\"}" } };
	time_t before = time(NULL);

	CHECK(s != NULL);
	CHECK(store_first_seen(s, STORE_MEMORIES, "a") == 0);
	store_replace_listing(s, STORE_MEMORIES, one, 1, 1000);
	CHECK(store_first_seen(s, STORE_MEMORIES, "a") == 1000);
	store_replace_listing(s, STORE_MEMORIES, two, 2, 2000);
	CHECK(store_first_seen(s, STORE_MEMORIES, "a") == 1000);
	CHECK(store_first_seen(s, STORE_MEMORIES, "b") == 2000);
	store_replace_listing(s, STORE_MEMORIES, NULL, 0, 3000);
	store_merge_listing(s, STORE_MEMORIES, two, 2);
	CHECK(store_first_seen(s, STORE_MEMORIES, "a") == 1000);
	CHECK(store_first_seen(s, STORE_ACTION_ITEMS, "a") == 0);
	store_merge_listing(s, STORE_ACTION_ITEMS, one, 1);
	CHECK(store_first_seen(s, STORE_ACTION_ITEMS, "a") >= before);
	store_close(s);
}

static void count_id(const char *id, void *ctx)
{
	collect(id, NULL, ctx);
}

/* A staged listing is compared with the served one before it replaces
 * it; vanished items kept on request stay after the staged ones, with
 * their full conversations, and count in the listing's size. */
static void test_staged_listing_keeps_vanished_on_request(void)
{
	char err[128], vanished[64] = "", order[64] = "";
	struct store *s = store_open(NULL, err, sizeof(err));
	struct store_item before[] = { { "a", "{\"t\":1}" }, { "b", "{\"t\":1}" },
				       { "c", "{\"t\":1}" } };
	struct store_item part1[] = { { "d", "{\"t\":1}" } };
	struct store_item part2[] = { { "b", "{\"t\":2}" } };
	struct store_stage_census c;
	time_t at;
	size_t n;

	CHECK(store_replace_listing(s, STORE_CONVERSATIONS, before, 3, 1) == 3);
	CHECK(store_put_full_conversation(s, "a", "{}") == 0);
	CHECK(store_put_full_conversation(s, "b", "{}") == 0);
	CHECK(store_stage_clear(s, STORE_CONVERSATIONS) == 0);
	CHECK(store_stage_items(s, STORE_CONVERSATIONS, part1, 1) == 0);
	CHECK(store_stage_items(s, STORE_CONVERSATIONS, part2, 1) == 0);
	CHECK(store_stage_compare(s, STORE_CONVERSATIONS, &c, count_id, vanished) == 0);
	CHECK(c.staged == 2 && c.cached == 3 && c.vanished == 2);
	CHECK(strstr(vanished, "a,") && strstr(vanished, "c,"));
	/* d added, b changed; a and c kept: nothing removed. */
	CHECK(store_stage_commit(s, STORE_CONVERSATIONS, true, 2) == 2);
	store_foreach(s, STORE_CONVERSATIONS, collect, order);
	CHECK_STR(order, "d,b,a,c,");
	CHECK(store_has_full_conversation(s, "a"));
	CHECK(!store_has_full_conversation(s, "b"));
	CHECK(store_listing_info(s, STORE_CONVERSATIONS, &at, &n) == 0 && at == 2 && n == 4);
	/* Nothing staged is left to a later listing. */
	CHECK(store_stage_compare(s, STORE_CONVERSATIONS, &c, count_id, vanished) == 0);
	CHECK(c.staged == 0 && c.vanished == 4);
	store_close(s);
}

/* Another connection's commits show as changed elsewhere only when they
 * change a listing: not its transcripts, and never this store's own. */
static void test_changed_elsewhere_means_another_listing(void)
{
	struct store_item one[] = { { "a", "{\"id\":\"a\"}" } };
	struct store_item two[] = { { "a", "{\"id\":\"a\",\"x\":1}" } };
	char err[128], path[] = "/tmp/omifs-store-test-XXXXXX", wal[64];
	int fd = mkstemp(path);
	struct store *s, *other;
	uint64_t g;

	CHECK(fd >= 0);
	close(fd);
	s = store_open(path, err, sizeof(err));
	other = store_open(path, err, sizeof(err));
	CHECK(s && other);
	CHECK(store_changed_elsewhere(s) == STORE_ELSEWHERE_NOTHING);
	CHECK(store_replace_listing(s, STORE_MEMORIES, one, 1, 1) == 1);
	CHECK(store_changed_elsewhere(s) == STORE_ELSEWHERE_NOTHING);
	CHECK(store_put_full_conversation(other, "c", "{\"id\":\"c\"}") == 0);
	CHECK(store_changed_elsewhere(s) == STORE_ELSEWHERE_COMMITTED);
	CHECK(store_changed_elsewhere(s) == STORE_ELSEWHERE_NOTHING);
	g = store_generation(s);
	CHECK(store_replace_listing(other, STORE_MEMORIES, two, 1, 2) == 1);
	CHECK(store_changed_elsewhere(s) == STORE_ELSEWHERE_LISTINGS && store_generation(s) > g);
	CHECK(store_changed_elsewhere(s) == STORE_ELSEWHERE_NOTHING);
	/* This store's own listing, committed after another's, hides nothing. */
	CHECK(store_replace_listing(other, STORE_MEMORIES, one, 1, 3) == 1);
	CHECK(store_replace_listing(s, STORE_ACTION_ITEMS, one, 1, 3) == 1);
	CHECK(store_changed_elsewhere(s) == STORE_ELSEWHERE_LISTINGS);
	/* A new conversation merged in counts too. */
	CHECK(store_merge_listing(other, STORE_CONVERSATIONS, two, 1) == 1);
	CHECK(store_changed_elsewhere(s) == STORE_ELSEWHERE_LISTINGS);
	store_close(other);
	store_close(s);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	unlink(wal);
	unlink(path);
}

int main(void)
{
	RUN(test_replace_counts_changes_and_keeps_order);
	RUN(test_generation_moves_only_on_change);
	RUN(test_full_conversation_dropped_when_listing_changes);
	RUN(test_file_is_private);
	RUN(test_first_seen_never_changes);
	RUN(test_staged_listing_keeps_vanished_on_request);
	RUN(test_changed_elsewhere_means_another_listing);
	return UNIT_RESULT();
}
