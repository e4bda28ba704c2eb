/* Unit tests of store: listings, change counts, full conversations, modes. */
#include "buf.h"
#include "hash.h"
#include "store.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int collect(const char *id, const char *json, void *ctx)
{
	char *out = ctx;

	(void)json;
	strcat(out, id);
	strcat(out, ",");
	return 0;
}

/* Removes the cache file at path and SQLite's files beside it. */
static void remove_cache(const char *path)
{
	char beside[96];

	snprintf(beside, sizeof(beside), "%s-wal", path);
	unlink(beside);
	snprintf(beside, sizeof(beside), "%s-shm", path);
	unlink(beside);
	unlink(path);
}

struct size_seen {
	uint64_t *digest;
	int64_t *size;
};

static int find_size(uint64_t ino, uint64_t digest, int64_t size, void *ctx)
{
	struct size_seen *seen = ctx;

	if (ino == 77) {
		*seen->digest = digest;
		*seen->size = size;
	}
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

/* The listing order as places: what transcript batches read instead of
 * holding the order, also after new items were merged ahead of it. */
static void test_a_listing_is_read_by_place(void)
{
	char err[128], window[64] = "";
	struct store *s = store_open(NULL, err, sizeof(err));
	struct store_item listed[] = { { "c", "{}" }, { "b", "{}" }, { "a", "{}" } };
	struct store_item newer[] = { { "e", "{}" }, { "d", "{}" } };

	CHECK(s != NULL);
	CHECK(store_listing_place(s, STORE_CONVERSATIONS, "a") == 0);
	CHECK(store_replace_listing(s, STORE_CONVERSATIONS, listed, 3, 100) == 3);
	CHECK(store_listing_place(s, STORE_CONVERSATIONS, "c") == 1);
	CHECK(store_listing_place(s, STORE_CONVERSATIONS, "a") == 3);
	CHECK(store_listing_place(s, STORE_CONVERSATIONS, "z") == 0);
	CHECK(store_listing_place(s, STORE_MEMORIES, "a") == 0);
	CHECK(store_merge_listing(s, STORE_CONVERSATIONS, newer, 2) == 2);
	CHECK(store_listing_place(s, STORE_CONVERSATIONS, "e") == 1);
	CHECK(store_listing_place(s, STORE_CONVERSATIONS, "d") == 2);
	CHECK(store_listing_place(s, STORE_CONVERSATIONS, "a") == 5);
	store_foreach_from(s, STORE_CONVERSATIONS, 1, 3, collect, window);
	CHECK_STR(window, "d,c,b,");
	window[0] = '\0';
	store_foreach_from(s, STORE_CONVERSATIONS, 3, 10, collect, window);
	CHECK_STR(window, "b,a,");
	window[0] = '\0';
	store_foreach_from(s, STORE_CONVERSATIONS, 5, 1, collect, window);
	CHECK_STR(window, "");
	store_close(s);
}

static void test_listings_count_moves_only_on_change(void)
{
	char err[128];
	struct store *s = store_open(NULL, err, sizeof(err));
	struct store_item one[] = { { "a", "{}" } };
	uint64_t g0 = store_listings_count(s), g1;

	store_replace_listing(s, STORE_ACTION_ITEMS, NULL, 0, 1);
	g1 = store_listings_count(s);
	CHECK(g1 != g0);	/* a first, empty listing still counts */
	store_replace_listing(s, STORE_ACTION_ITEMS, NULL, 0, 2);
	CHECK(store_listings_count(s) == g1);
	store_replace_listing(s, STORE_ACTION_ITEMS, one, 1, 3);
	CHECK(store_listings_count(s) != g1);
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

/* A walk that reads and writes the store from its callback: neither
 * waits for the walk, which sees the state it began with. */
struct walk_probe {
	struct store *s;
	char order[64];
	bool wrote;
};

static int read_and_write_during_walk(const char *id, const char *json, void *ctx)
{
	struct walk_probe *w = ctx;
	struct store_item more[] = { { "m1", "{}" }, { "m2", "{}" }, { "m3", "{}" } };
	char *got;

	(void)json;
	strcat(w->order, id);
	strcat(w->order, ",");
	if (!w->wrote) {
		got = store_get_item(w->s, STORE_MEMORIES, "m2");
		CHECK(got != NULL);
		free(got);
		CHECK(store_replace_listing(w->s, STORE_MEMORIES, more, 3, 200) > 0);
		w->wrote = true;
	}
	return 0;
}

static void *walk(void *probe)
{
	struct walk_probe *w = probe;

	CHECK(store_foreach(w->s, STORE_MEMORIES, read_and_write_during_walk, w) == 0);
	return NULL;
}

static void test_a_walk_holds_back_no_read_or_write(void)
{
	char err[128], path[] = "/tmp/omifs-store-test-XXXXXX", order[64] = "";
	struct store_item first[] = { { "m1", "{}" }, { "m2", "{}" } };
	struct walk_probe w = { 0 };
	struct timespec deadline;
	pthread_t walker;
	int fd = mkstemp(path);

	close(fd);
	unlink(path);
	w.s = store_open(path, err, sizeof(err));
	CHECK(w.s != NULL);
	CHECK(store_replace_listing(w.s, STORE_MEMORIES, first, 2, 100) == 2);
	CHECK(pthread_create(&walker, NULL, walk, &w) == 0);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	/* Were the store's lock held through the walk, the callback's read
	 * would wait for ever. */
	if (pthread_timedjoin_np(walker, NULL, &deadline) != 0) {
		CHECK(!"the walk held back the read or write it made");
		exit(1);
	}
	CHECK(w.wrote);
	CHECK_STR(w.order, "m1,m2,");
	store_foreach(w.s, STORE_MEMORIES, collect, order);
	CHECK_STR(order, "m1,m2,m3,");
	store_close(w.s);
	remove_cache(path);
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
	remove_cache(path);
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

/* A staged listing is compared with the served one before it replaces
 * it; vanished items kept on request stay after the staged ones, with
 * their full conversations, and count in the listing's size. */
static void test_staged_listing_keeps_vanished_on_request(void)
{
	char err[128], order[64] = "";
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
	CHECK(store_stage_items(s, STORE_CONVERSATIONS, part1, NULL, 1) == 0);
	CHECK(store_stage_items(s, STORE_CONVERSATIONS, part2, NULL, 1) == 0);
	CHECK(store_stage_compare(s, STORE_CONVERSATIONS, &c) == 0);
	CHECK(c.staged == 2 && c.cached == 3 && c.vanished == 2 && c.confirmed == 0);
	/* d added, b changed; a and c kept: nothing removed. */
	CHECK(store_stage_commit(s, STORE_CONVERSATIONS, STORE_COUNT_VANISHED, false, 2) == 2);
	store_foreach(s, STORE_CONVERSATIONS, collect, order);
	CHECK_STR(order, "d,b,a,c,");
	CHECK(store_has_full_conversation(s, "a"));
	CHECK(!store_has_full_conversation(s, "b"));
	CHECK(store_listing_info(s, STORE_CONVERSATIONS, &at, &n) == 0 && at == 2 && n == 4);
	/* Nothing staged is left to a later listing. */
	CHECK(store_stage_compare(s, STORE_CONVERSATIONS, &c) == 0);
	CHECK(c.staged == 0 && c.vanished == 4);
	store_close(s);
}

/* An unfinished staging survives a reopen with where its listing
 * stopped; what it shows of a collection never listed is only added to;
 * the complete listing that continues it forgets the progress. */
static void test_unfinished_staging_is_continued_after_a_reopen(void)
{
	char err[128], order[64] = "", path[] = "/tmp/omifs-store-test-XXXXXX";
	struct store_item first[] = { { "c3", "{\"t\":3}" }, { "c2", "{\"t\":2}" } };
	struct store_item rest[] = { { "c2", "{\"t\":2}" }, { "c1", "{\"t\":1}" } };
	struct store_stage_progress p = { .next_offset = 2, .oldest = 2, .fulls = true,
					   .started_at = 100 }, got;
	struct store *s;
	time_t at;
	size_t n;
	int fd = mkstemp(path);

	close(fd);
	unlink(path);
	s = store_open(path, err, sizeof(err));
	CHECK(s != NULL);
	CHECK(store_stage_resume(s, STORE_CONVERSATIONS, &got) == 0);
	CHECK(store_stage_clear(s, STORE_CONVERSATIONS) == 0);
	CHECK(store_stage_items(s, STORE_CONVERSATIONS, first, NULL, 2) == 0);
	CHECK(store_stage_pause(s, STORE_CONVERSATIONS, &p) == 0);
	CHECK(store_stage_show(s, STORE_CONVERSATIONS, true) == 2);
	CHECK(store_stage_show(s, STORE_CONVERSATIONS, true) == 0);
	CHECK(store_listing_size(s, STORE_CONVERSATIONS) == 2);
	CHECK(store_listing_info(s, STORE_CONVERSATIONS, &at, &n) == -ENOENT);
	store_close(s);

	s = store_open(path, err, sizeof(err));
	CHECK(s != NULL);
	CHECK(store_stage_resume(s, STORE_CONVERSATIONS, &got) == 1);
	CHECK(got.next_offset == 2 && got.oldest == 2 && got.fulls && !got.unsure &&
	      got.started_at == 100 && got.staged == 2);
	/* Where an offset continuation must meet the order it left. */
	CHECK_STR(got.last_id, "c2");
	free(got.last_id);
	/* Appended after what was staged; an id staged twice keeps one row. */
	CHECK(store_stage_items(s, STORE_CONVERSATIONS, rest, NULL, 2) == 0);
	CHECK(store_stage_commit(s, STORE_CONVERSATIONS, STORE_DELETE_CONFIRMED, true, 200) == 1);
	store_foreach(s, STORE_CONVERSATIONS, collect, order);
	CHECK_STR(order, "c3,c2,c1,");
	CHECK(store_listing_info(s, STORE_CONVERSATIONS, &at, &n) == 0 && at == 200 && n == 3);
	CHECK(store_stage_resume(s, STORE_CONVERSATIONS, &got) == 0);
	store_close(s);
	remove_cache(path);
}

/* Another connection's commits show as changed elsewhere only when they
 * change a listing: not its transcripts, and never this store's own. */
static void test_changed_elsewhere_means_another_listing(void)
{
	struct store_item one[] = { { "a", "{\"id\":\"a\"}" } };
	struct store_item two[] = { { "a", "{\"id\":\"a\",\"x\":1}" } };
	char err[128], path[] = "/tmp/omifs-store-test-XXXXXX";
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
	g = store_listings_count(s);
	CHECK(store_replace_listing(other, STORE_MEMORIES, two, 1, 2) == 1);
	CHECK(store_changed_elsewhere(s) == STORE_ELSEWHERE_LISTINGS && store_listings_count(s) > g);
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
	remove_cache(path);
}

/* Stages items as a complete listing of kind and commits it as told. */
static int list_as(struct store *s, enum store_kind kind, const struct store_item *items,
		   size_t n, enum store_vanished how, time_t at)
{
	CHECK(store_stage_clear(s, kind) == 0);
	CHECK(store_stage_items(s, kind, items, NULL, n) == 0);
	return store_stage_commit(s, kind, how, false, at);
}

static bool listed(struct store *s, enum store_kind kind, const char *id)
{
	char *json = store_get_item(s, kind, id);

	free(json);
	return json != NULL;
}

/* An item one complete listing lacks stays, counted pending; the second
 * that lacks it deletes it (kept in `removed`, counted for the day). An
 * incomplete listing counts nothing, and a held one deletes nothing. */
static void test_deletion_needs_two_listings_that_agree(void)
{
	char err[128];
	struct store *s = store_open(NULL, err, sizeof(err));
	struct store_item all[] = { { "a", "{\"t\":1}" }, { "b", "{\"t\":1}" }, { "c", "{\"t\":1}" } };
	struct store_stage_census c;
	size_t pending, held, removed;

	CHECK(list_as(s, STORE_MEMORIES, all, 3, STORE_DELETE_CONFIRMED, 100) == 3);
	/* b skipped by a shifted page: kept, pending. */
	CHECK(list_as(s, STORE_MEMORIES, (struct store_item[]){ all[0], all[2] }, 2,
		      STORE_DELETE_CONFIRMED, 200) == 0);
	CHECK(listed(s, STORE_MEMORIES, "b"));
	CHECK(store_count_missing(s, STORE_MEMORIES, &pending, &held) == 0 && pending == 1 && held == 0);
	/* It is back: nothing pending. */
	CHECK(list_as(s, STORE_MEMORIES, all, 3, STORE_DELETE_CONFIRMED, 300) == 0);
	CHECK(store_count_missing(s, STORE_MEMORIES, &pending, &held) == 0 && pending == 0);
	/* Lacked once, then by an incomplete listing (counts nothing), then
	 * by a held one (counted, kept), then deleted. */
	CHECK(list_as(s, STORE_MEMORIES, all, 2, STORE_DELETE_CONFIRMED, 400) == 0);
	CHECK(list_as(s, STORE_MEMORIES, all, 2, STORE_KEEP_VANISHED, 500) == 0);
	CHECK(store_count_missing(s, STORE_MEMORIES, &pending, &held) == 0 && pending == 1);
	CHECK(store_stage_clear(s, STORE_MEMORIES) == 0);
	CHECK(store_stage_items(s, STORE_MEMORIES, all, NULL, 2) == 0);
	CHECK(store_stage_compare(s, STORE_MEMORIES, &c) == 0);
	CHECK(c.vanished == 1 && c.confirmed == 1 && c.cached == 3 && c.staged == 2);
	CHECK(store_stage_commit(s, STORE_MEMORIES, STORE_COUNT_VANISHED, false, 600) == 0);
	CHECK(listed(s, STORE_MEMORIES, "c"));
	CHECK(store_count_missing(s, STORE_MEMORIES, &pending, &held) == 0 && pending == 0 && held == 1);
	CHECK(store_count_removed_since(s, STORE_MEMORIES, 0, &removed) == 0 && removed == 0);
	CHECK(list_as(s, STORE_MEMORIES, all, 2, STORE_DELETE_CONFIRMED, 700) == 1);
	CHECK(!listed(s, STORE_MEMORIES, "c"));
	CHECK(store_count_removed_since(s, STORE_MEMORIES, 700, &removed) == 0 && removed == 1);
	CHECK(store_count_removed_since(s, STORE_MEMORIES, 701, &removed) == 0 && removed == 0);
	CHECK(store_count_missing(s, STORE_MEMORIES, &pending, &held) == 0 && held == 0);
	store_close(s);
}

/* Appends "<what><id>," for each change, what being +, ~ or -. */
static int collect_change(const struct store_change *c, void *ctx)
{
	static const char what[] = { [STORE_ADDED] = '+', [STORE_CHANGED] = '~',
				     [STORE_REMOVED] = '-' };
	struct buf *out = ctx;

	buf_printf(out, "%c%s,", what[c->what], c->id);
	return 0;
}

static void changes_after(struct store *s, int64_t after, struct buf *out)
{
	buf_reset(out);
	CHECK(store_foreach_change(s, after, 0, collect_change, out) == 0);
}

/* A first listing fills the cache and logs nothing; later ones log each
 * item added, changed or removed once, newest last, and a deletion only
 * when two listings agree on it. */
static void test_changes_are_logged_once_each(void)
{
	char err[128];
	struct store *s = store_open(NULL, err, sizeof(err));
	struct store_item all[] = { { "a", "{\"t\":1}" }, { "b", "{\"t\":1}" }, { "c", "{\"t\":1}" } };
	struct store_item next[] = { { "d", "{\"t\":1}" }, { "a", "{\"t\":2}" }, { "b", "{\"t\":1}" } };
	struct buf seen = BUF_INIT;
	int64_t last;

	CHECK(store_last_change(s) == 0);
	CHECK(list_as(s, STORE_MEMORIES, all, 3, STORE_DELETE_CONFIRMED, 100) == 3);
	CHECK(store_last_change(s) == 0);
	CHECK(list_as(s, STORE_MEMORIES, all, 3, STORE_DELETE_CONFIRMED, 200) == 0);
	CHECK(store_last_change(s) == 0);
	/* d new, a edited, c lacked once: not removed yet. */
	CHECK(list_as(s, STORE_MEMORIES, next, 3, STORE_DELETE_CONFIRMED, 300) == 2);
	changes_after(s, 0, &seen);
	CHECK_STR(seen.data, "~a,+d,");
	last = store_last_change(s);
	CHECK(last == 2);
	CHECK(list_as(s, STORE_MEMORIES, next, 3, STORE_DELETE_CONFIRMED, 400) == 1);
	changes_after(s, last, &seen);
	CHECK_STR(seen.data, "-c,");
	/* Nothing changed: nothing logged. */
	last = store_last_change(s);
	CHECK(list_as(s, STORE_MEMORIES, next, 3, STORE_DELETE_CONFIRMED, 500) == 0);
	CHECK(store_last_change(s) == last);
	/* New conversations merged ahead of a listed collection are logged;
	 * before its first listing they are not. */
	CHECK(store_merge_listing(s, STORE_CONVERSATIONS, all, 1) == 1);
	CHECK(store_last_change(s) == last);
	CHECK(list_as(s, STORE_CONVERSATIONS, all, 3, STORE_DELETE_CONFIRMED, 600) == 2);
	CHECK(store_merge_listing(s, STORE_CONVERSATIONS, next, 2) == 2);
	changes_after(s, last, &seen);
	CHECK_STR(seen.data, "+d,~a,");
	/* since: nothing logged in the future. */
	buf_reset(&seen);
	CHECK(store_foreach_change(s, 0, time(NULL) + 60, collect_change, &seen) == 0 && seen.len == 0);
	buf_free(&seen);
	store_close(s);
}

/* A version a listing changed or deleted stays readable by its name, full
 * form included, until pruned past every snapshot that may name it. */
static void test_versions_kept_until_pruned(void)
{
	char err[128], *json;
	struct store *s = store_open(NULL, err, sizeof(err));
	const char *v1 = "{\"t\":1}", *v2 = "{\"t\":2}";
	uint64_t n1 = hash_bytes(v1, strlen(v1)), n2 = hash_bytes(v2, strlen(v2)), count;
	time_t now = time(NULL);

	CHECK(list_as(s, STORE_CONVERSATIONS, (struct store_item[]){ { "c", v1 } }, 1,
		      STORE_DELETE_CONFIRMED, 1) == 1);
	CHECK(store_put_full_conversation(s, "c", "{\"full\":1}") == 0);
	count = store_listings_count(s);
	CHECK(list_as(s, STORE_CONVERSATIONS, (struct store_item[]){ { "c", v2 } }, 1,
		      STORE_DELETE_CONFIRMED, 2) == 1);
	json = store_get_version(s, STORE_CONVERSATIONS, "c", n1, false);
	CHECK_STR(json, v1);
	free(json);
	json = store_get_version(s, STORE_CONVERSATIONS, "c", n1, true);
	CHECK_STR(json, "{\"full\":1}");
	free(json);
	json = store_get_version(s, STORE_CONVERSATIONS, "c", n2, false);
	CHECK_STR(json, v2);
	free(json);
	CHECK(store_get_version(s, STORE_CONVERSATIONS, "c", n2, true) == NULL);
	CHECK(store_get_version(s, STORE_CONVERSATIONS, "c", 12345, false) == NULL);
	/* A snapshot built at the old count still names v1; a grace not over
	 * keeps it too. */
	CHECK(store_prune_versions(s, count, now, 0) == 0);
	CHECK((json = store_get_version(s, STORE_CONVERSATIONS, "c", n1, false)) != NULL);
	free(json);
	CHECK(store_prune_versions(s, store_listings_count(s), now - 3600, 0) == 0);
	CHECK((json = store_get_version(s, STORE_CONVERSATIONS, "c", n1, false)) != NULL);
	free(json);
	CHECK(store_prune_versions(s, store_listings_count(s), now + 1, 0) == 0);
	CHECK(store_get_version(s, STORE_CONVERSATIONS, "c", n1, false) == NULL);
	CHECK(store_get_version(s, STORE_CONVERSATIONS, "c", n1, true) == NULL);
	/* A deleted item's version stays readable the same way. */
	count = store_listings_count(s);
	CHECK(store_replace_listing(s, STORE_CONVERSATIONS, NULL, 0, 3) == 1);
	CHECK((json = store_get_version(s, STORE_CONVERSATIONS, "c", n2, false)) != NULL);
	free(json);
	CHECK(store_prune_versions(s, count, now + 1, 0) == 0);
	CHECK((json = store_get_version(s, STORE_CONVERSATIONS, "c", n2, false)) != NULL);
	free(json);
	store_close(s);
}

/* A locked item is flagged and counted while its listing says so. */
static void test_locked_items_are_counted(void)
{
	char err[128];
	struct store *s = store_open(NULL, err, sizeof(err));
	struct store_item items[] = { { "a", "{}" }, { "b", "{}" } };
	bool locked[] = { true, false };

	CHECK(store_stage_clear(s, STORE_MEMORIES) == 0);
	CHECK(store_stage_items(s, STORE_MEMORIES, items, locked, 2) == 0);
	CHECK(store_stage_commit(s, STORE_MEMORIES, STORE_DELETE_CONFIRMED, false, 1) == 2);
	CHECK(store_count_locked(s, STORE_MEMORIES) == 1);
	CHECK(store_item_locked(s, STORE_MEMORIES, "a") && !store_item_locked(s, STORE_MEMORIES, "b"));
	CHECK(list_as(s, STORE_MEMORIES, items, 2, STORE_DELETE_CONFIRMED, 2) == 0);
	CHECK(store_count_locked(s, STORE_MEMORIES) == 0);
	store_close(s);
}

static int find_date(const struct store_file_date *row, void *ctx)
{
	struct store_file_date *want = ctx;

	if (row->ino == want->ino)
		*want = *row;
	return 0;
}

/* A file's date moves only with its bytes. */
static void test_file_dates_move_with_bytes(void)
{
	char err[128];
	struct store *s = store_open(NULL, err, sizeof(err));
	struct store_file_date rows[] = { { 10, 111, 1000 }, { 11, 222, 2000 } }, got = { 11, 0, 0 };
	int64_t mtime;

	CHECK(store_put_file_dates(s, rows, 2) == 0);
	CHECK(store_foreach_file_date(s, find_date, &got) == 0 && got.digest == 222 && got.mtime == 2000);
	CHECK(store_date_file(s, 10, 111, 5, 9000, &mtime) == 0 && mtime == 1000);
	CHECK(store_date_file(s, 10, 112, 5, 9000, &mtime) == 0 && mtime == 9000);
	CHECK(store_date_file(s, 10, 112, 5, 9900, &mtime) == 0 && mtime == 9000);
	CHECK(store_date_file(s, 12, 333, 5, 9000, &mtime) == 0 && mtime == 5);
	/* Changed again within the second it was dated: it still moves. */
	CHECK(store_date_file(s, 12, 334, 5, 5, &mtime) == 0 && mtime == 6);
	store_close(s);
}

/* A cache opened read-only (an offline mount) dates files in memory,
 * from the file's dates, and leaves the file as it was. */
static void test_file_dates_of_a_readonly_cache(void)
{
	char err[128], path[] = "/tmp/omifs-store-test-XXXXXX";
	struct store_file_date row = { 10, 111, 1000 }, got = { 10, 0, 0 };
	int fd = mkstemp(path);
	struct store *s;
	int64_t mtime;

	CHECK(fd >= 0);
	close(fd);
	s = store_open(path, err, sizeof(err));
	CHECK(s && store_put_file_dates(s, &row, 1) == 0);
	store_close(s);
	for (int i = 0; i < 2; i++) {
		s = store_open_readonly(path, false, err, sizeof(err));
		CHECK(s != NULL);
		CHECK(store_date_file(s, 10, 111, 5, 9000, &mtime) == 0 && mtime == 1000);
		CHECK(store_date_file(s, 10, 112, 5, 9000, &mtime) == 0 && mtime == 9000);
		CHECK(store_foreach_file_date(s, find_date, &got) == 0 && got.mtime == 9000);
		got.mtime = 0;
		store_close(s);
	}
	remove_cache(path);
}

/* Runs sql on the SQLite file at path. */
static void run_sql(const char *path, const char *sql)
{
	sqlite3 *db;

	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
}

/* A read-only cache gives its first-seen times; one of an older omifs
 * without the table gives none, and that is no error. */
static void test_first_seen_of_a_readonly_cache(void)
{
	char err[128], buf[128], path[] = "/tmp/omifs-store-test-XXXXXX";
	time_t when;
	struct store_item one[] = { { "a", "{\"id\":\"a\"}" } };
	int fd = mkstemp(path);
	struct store *s;

	CHECK(fd >= 0);
	close(fd);
	s = store_open(path, err, sizeof(err));
	CHECK(s && store_replace_listing(s, STORE_MEMORIES, one, 1, 1000) >= 0);
	store_close(s);
	s = store_open_readonly(path, false, err, sizeof(err));
	CHECK(s != NULL);
	for (int i = 0; s && i < 2; i++)	/* the second from the statement kept */
		CHECK(store_first_seen(s, STORE_MEMORIES, "a") == 1000);
	store_close(s);
	run_sql(path, "DROP TABLE first_seen");
	s = store_open_readonly(path, false, err, sizeof(err));
	CHECK(s != NULL);
	if (s) {
		CHECK(store_first_seen(s, STORE_MEMORIES, "a") == 0);
		CHECK(!store_last_error(s, buf, sizeof(buf), &when));
	}
	store_close(s);
	remove_cache(path);
}

/* A cache made by the omifs before versions (format 1: these tables,
 * user_version 0) is brought up to date in place: its items, transcripts
 * and learnt sizes stay. One of a newer omifs is refused, naming both. */
static void test_older_cache_migrates_newer_is_refused(void)
{
	char err[256], path[] = "/tmp/omifs-store-test-XXXXXX", *json;
	int fd = mkstemp(path);
	struct store *s;
	uint64_t digest = 0;
	int64_t size = 0;

	CHECK(fd >= 0);
	close(fd);
	run_sql(path, "CREATE TABLE listing (kind INTEGER NOT NULL, position INTEGER NOT NULL, "
		"id TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (kind, id));"
		"CREATE TABLE staged_listing (kind INTEGER NOT NULL, position INTEGER NOT NULL, "
		"id TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (kind, id));"
		"CREATE TABLE listed (kind INTEGER PRIMARY KEY, listed_at INTEGER NOT NULL, "
		"count INTEGER NOT NULL);"
		"CREATE TABLE full_conversation (id TEXT PRIMARY KEY, json TEXT NOT NULL);"
		"CREATE TABLE first_seen (kind INTEGER NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL, "
		"PRIMARY KEY (kind, id));"
		"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
		"CREATE TABLE rendered_size (ino INTEGER PRIMARY KEY, digest INTEGER NOT NULL, "
		"size INTEGER NOT NULL);"
		"INSERT INTO listing VALUES (2, 0, 'c', '{\"id\":\"c\"}');"
		"INSERT INTO listed VALUES (2, 100, 1);"
		"INSERT INTO full_conversation VALUES ('c', '{\"id\":\"c\",\"transcript_segments\":[]}');"
		"INSERT INTO meta VALUES ('created_at', 50), ('listings_changed', 4);"
		"INSERT INTO rendered_size VALUES (77, 88, 99);");
	s = store_open(path, err, sizeof(err));
	CHECK(s != NULL);
	if (s) {
		CHECK((json = store_get_item(s, STORE_CONVERSATIONS, "c")) != NULL);
		free(json);
		CHECK(store_has_full_conversation(s, "c"));
		CHECK(store_foreach_size(s, find_size, &(struct size_seen){ &digest, &size }) == 0);
		CHECK(digest == 88 && size == 99);
		CHECK(store_created_at(s) == 50 && store_listings_count(s) == 4);
		/* Its listing now counts what it lacks. */
		CHECK(store_replace_listing(s, STORE_CONVERSATIONS, NULL, 0, 200) == 1);
		store_close(s);
	}
	run_sql(path, "PRAGMA user_version = 99; UPDATE meta SET value = '9.9.9' WHERE key = 'written_by'");
	CHECK(store_open(path, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "9.9.9") && strstr(err, OMIFS_VERSION) && strstr(err, "format 99"));
	CHECK(store_open_readonly(path, false, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "9.9.9"));
	remove_cache(path);
}

/* A cache damaged in the middle is found out by the check. */
static void test_check_finds_damage(void)
{
	struct store_item item = { "x", NULL };
	char err[256], path[] = "/tmp/omifs-store-test-XXXXXX", json[2048];
	int fd = mkstemp(path);
	struct store *s;
	struct buf junk = BUF_INIT;

	CHECK(fd >= 0);
	close(fd);
	s = store_open(path, err, sizeof(err));
	CHECK(s && store_check(s, false, err, sizeof(err)) == 0);
	snprintf(json, sizeof(json), "{\"id\":\"x\",\"pad\":\"%01800d\"}", 0);
	item.json = json;
	for (int i = 0; i < 200; i++) {
		char id[16];

		snprintf(id, sizeof(id), "id%d", i);
		item.id = id;
		CHECK(store_merge_listing(s, STORE_MEMORIES, &item, 1) >= 0);
	}
	store_close(s);
	run_sql(path, "PRAGMA wal_checkpoint(TRUNCATE)");
	for (int i = 0; i < 8192; i++)
		buf_putc(&junk, (char)(i * 7 + 3));
	fd = open(path, O_WRONLY);
	CHECK(fd >= 0 && pwrite(fd, junk.data, junk.len, 40960) == (ssize_t)junk.len);
	close(fd);
	s = store_open(path, err, sizeof(err));
	CHECK(!s || (store_check(s, true, err, sizeof(err)) == -EIO &&
		    store_check(s, false, err, sizeof(err)) == -EIO));
	store_close(s);
	buf_free(&junk);
	remove_cache(path);
}

int main(void)
{
	RUN(test_replace_counts_changes_and_keeps_order);
	RUN(test_a_listing_is_read_by_place);
	RUN(test_unfinished_staging_is_continued_after_a_reopen);
	RUN(test_listings_count_moves_only_on_change);
	RUN(test_deletion_needs_two_listings_that_agree);
	RUN(test_changes_are_logged_once_each);
	RUN(test_versions_kept_until_pruned);
	RUN(test_locked_items_are_counted);
	RUN(test_file_dates_move_with_bytes);
	RUN(test_file_dates_of_a_readonly_cache);
	RUN(test_first_seen_of_a_readonly_cache);
	RUN(test_older_cache_migrates_newer_is_refused);
	RUN(test_check_finds_damage);
	RUN(test_full_conversation_dropped_when_listing_changes);
	RUN(test_file_is_private);
	RUN(test_a_walk_holds_back_no_read_or_write);
	RUN(test_first_seen_never_changes);
	RUN(test_staged_listing_keeps_vanished_on_request);
	RUN(test_changed_elsewhere_means_another_listing);
	return UNIT_RESULT();
}
