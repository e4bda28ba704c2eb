/*
 * Unit tests of complete listings (sync_listing.c) through a fake server
 * (source.h), with no mount and no network: an item is deleted only when
 * two complete listings lack it; a shrink is held back; a listing stopped
 * by the budget is continued, not restarted, and one continued where the
 * server's order moved deletes nothing.
 */
#include "source.h"
#include "store.h"
#include "sync.h"
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ITEMS 16
#define MAX_ASKED 64

/* A server of one collection (the others are empty), paging as the API
 * does, that can stop a listing as a spent budget does. */
struct fake_server {
	const char *path;		/* the collection served */
	const char *ids[MAX_ITEMS];	/* in the server's order, newest first */
	size_t n;
	int clamp;			/* the most items a page holds */
	int pages_left;			/* answered before API_E_RATE; < 0: no end */
	struct {			/* each page asked of `path` */
		size_t offset;
		char query[128];
	} asked[MAX_ASKED];
	size_t n_asked;
};

/* Conversation i's created_at: a minute apart, newest first. */
static long long fake_date(size_t i)
{
	return 1767225600LL - 60 * (long long)i;
}

static json_object *fake_item(const struct fake_server *f, size_t i)
{
	json_object *item = json_object_new_object();
	char created[32];
	time_t t = (time_t)fake_date(i);

	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	json_object_object_add(item, "id", json_object_new_string(f->ids[i]));
	json_object_object_add(item, "created_at", json_object_new_string(created));
	json_object_object_add(item, "content", json_object_new_string("text"));
	json_object_object_add(item, "category", json_object_new_string("work"));
	return item;
}

/* Whether item i is within the query's end_date, as the server's filter. */
static bool fake_within(const struct fake_server *f, size_t i, const char *query)
{
	const char *end = query ? strstr(query, "end_date=") : NULL;
	struct tm tm = { 0 };

	(void)f;
	if (!end || !strptime(end + strlen("end_date="), "%Y-%m-%dT%H:%M:%S", &tm))
		return true;
	return fake_date(i) <= (long long)timegm(&tm);
}

static enum api_result fake_list_at(void *impl, const char *path, const char *query,
				    int page_size, const struct api_list_start *start,
				    api_item_fn fn, void *ctx, struct api_error *err)
{
	struct fake_server *f = impl;
	size_t offset = start->offset, page = (size_t)(page_size < f->clamp ? page_size : f->clamp);
	size_t listed[MAX_ITEMS], n = 0;

	memset(err, 0, sizeof(*err));
	if (strcmp(path, f->path) != 0)
		return API_OK;	/* an empty collection: one empty page */
	for (size_t i = 0; i < f->n; i++)
		if (fake_within(f, i, query))
			listed[n++] = i;
	for (;; offset += page) {
		if (f->pages_left == 0) {
			snprintf(err->message, sizeof(err->message), "the budget is spent");
			return API_E_RATE;
		}
		f->pages_left--;
		if (f->n_asked < MAX_ASKED) {
			f->asked[f->n_asked].offset = offset;
			snprintf(f->asked[f->n_asked].query, sizeof(f->asked[0].query), "%s",
				 query ? query : "");
			f->n_asked++;
		}
		if (offset >= n)
			return API_OK;
		for (size_t i = offset; i < offset + page && i < n; i++) {
			json_object *item = fake_item(f, listed[i]);
			int next = fn(item, f->ids[listed[i]], ctx);

			json_object_put(item);
			if (next == API_LIST_DONE)
				return API_OK;
			if (next == API_LIST_ABORT)
				return API_E_PROTOCOL;
		}
	}
}

static const struct source_ops fake_ops = { .list_at = fake_list_at };

static const char *const letters[] = { "a", "b", "c", "d", "e", "f", "g", "h",
				       "i", "j", "k", "l" };

static void serve(struct fake_server *f, const char *path, const char *except)
{
	f->path = path;
	f->n = 0;
	for (size_t i = 0; i < 12; i++)
		if (!except || !strchr(except, letters[i][0]))
			f->ids[f->n++] = letters[i];
}

static int note_id(const char *id, const char *json, void *ctx)
{
	(void)json;
	strcat(ctx, id);
	return 0;
}

/* The ids the store lists for kind, one after the other, sorted. */
static const char *listed(struct store *store, enum store_kind kind)
{
	static char ids[64];
	size_t n;

	ids[0] = '\0';
	store_foreach(store, kind, note_id, ids);
	n = strlen(ids);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
			char c = ids[j];

			ids[j] = ids[j - 1];
			ids[j - 1] = c;
		}
	return ids;
}

static struct sync *new_sync(struct fake_server *f, struct store *store, bool accept_shrink)
{
	struct source src = { .ops = &fake_ops, .impl = f };
	struct sync_options opts = { .refresh_interval = 3600, .full_refresh_interval = 3600,
				     .page_size = 100, .transcript_batch = 1,
				     .accept_shrink = accept_shrink };

	return sync_new(&src, store, &opts);
}

static struct store *new_store(void)
{
	char err[128];
	struct store *store = store_open(NULL, err, sizeof(err));

	CHECK(store != NULL);
	return store;
}

/* Lists every collection completely once. */
static int list_all(struct sync *s, struct fake_server *f)
{
	f->n_asked = 0;
	return sync_list_stale(s, 0);
}

static void test_two_listings_must_agree(void)
{
	struct fake_server f = { .clamp = 100, .pages_left = -1 };
	struct store *store = new_store();
	struct sync *s = new_sync(&f, store, false);
	const char *path = "/user/memories";

	serve(&f, path, NULL);
	CHECK(list_all(s, &f) == 0);
	CHECK_STR(listed(store, STORE_MEMORIES), "abcdefghijkl");
	serve(&f, path, "c");
	CHECK(list_all(s, &f) == 0);
	CHECK_STR(listed(store, STORE_MEMORIES), "abcdefghijkl");
	/* It came back: the next absence starts counting again. */
	serve(&f, path, NULL);
	CHECK(list_all(s, &f) == 0);
	serve(&f, path, "c");
	CHECK(list_all(s, &f) == 0);
	CHECK_STR(listed(store, STORE_MEMORIES), "abcdefghijkl");
	CHECK(list_all(s, &f) == 0);
	CHECK_STR(listed(store, STORE_MEMORIES), "abdefghijkl");
	sync_free(s);
	store_close(store);
}

static void test_a_shrink_waits_for_the_person(void)
{
	struct fake_server f = { .clamp = 100, .pages_left = -1 };
	struct store *store = new_store();
	struct sync *s = new_sync(&f, store, false);
	const char *path = "/user/memories";
	size_t pending = 0, held = 0;

	serve(&f, path, NULL);
	CHECK(list_all(s, &f) == 0);
	/* Four of twelve, a third, twice: held. */
	serve(&f, path, "abcd");
	CHECK(list_all(s, &f) == 0);
	CHECK(list_all(s, &f) == 0);
	CHECK_STR(listed(store, STORE_MEMORIES), "abcdefghijkl");
	CHECK(store_count_missing(store, STORE_MEMORIES, &pending, &held) == 0);
	CHECK(held == 4);
	/* The person's word: a mount with -o accept_shrink. */
	sync_free(s);
	s = new_sync(&f, store, true);
	serve(&f, path, "abcd");
	CHECK(list_all(s, &f) == 0);
	CHECK(list_all(s, &f) == 0);
	CHECK_STR(listed(store, STORE_MEMORIES), "efghijkl");
	sync_free(s);
	store_close(store);
}

/* Two items are too few for the shrink rule: an empty answer is held
 * back for being empty. */
static void test_an_empty_answer_deletes_nothing(void)
{
	struct fake_server f = { .clamp = 100, .pages_left = -1 };
	struct store *store = new_store();
	struct sync *s = new_sync(&f, store, false);
	const char *path = "/user/memories";

	serve(&f, path, "cdefghijkl");
	CHECK(list_all(s, &f) == 0);
	CHECK_STR(listed(store, STORE_MEMORIES), "ab");
	serve(&f, path, "abcdefghijkl");
	CHECK(list_all(s, &f) == 0);
	CHECK(list_all(s, &f) == 0);
	CHECK_STR(listed(store, STORE_MEMORIES), "ab");
	/* One of two is no shrink to hold. */
	serve(&f, path, "bcdefghijkl");
	CHECK(list_all(s, &f) == 0);
	CHECK(list_all(s, &f) == 0);
	CHECK_STR(listed(store, STORE_MEMORIES), "a");
	sync_free(s);
	store_close(store);
}

/* The offset of the first page asked of f->path since the last list_all. */
static size_t first_offset(const struct fake_server *f)
{
	return f->n_asked ? f->asked[0].offset : (size_t)-1;
}

static void test_a_stopped_listing_goes_on(void)
{
	struct fake_server f = { .clamp = 3, .pages_left = 2 };
	struct store *store = new_store();
	struct sync *s = new_sync(&f, store, false);
	const char *path = "/user/memories";
	time_t listed_at;
	size_t count;

	serve(&f, path, NULL);
	CHECK(list_all(s, &f) == -EAGAIN);
	CHECK(f.n_asked == 2 && first_offset(&f) == 0);
	/* What came so far is shown, though never listed completely. */
	CHECK_STR(listed(store, STORE_MEMORIES), "abcdef");
	CHECK(store_listing_info(store, STORE_MEMORIES, &listed_at, &count) != 0);
	/* The next run asks again only the last item it had, to see that the
	 * order stood still; it survives a new sync, as over a remount. */
	sync_free(s);
	s = new_sync(&f, store, false);
	f.pages_left = -1;
	CHECK(list_all(s, &f) == 0);
	CHECK(first_offset(&f) == 5);
	CHECK_STR(listed(store, STORE_MEMORIES), "abcdefghijkl");
	CHECK(store_listing_info(store, STORE_MEMORIES, &listed_at, &count) == 0 && count == 12);
	sync_free(s);
	store_close(store);
}

/* Lists all of path's items completely, then all but `lacking`, then
 * stops the next listing after two pages, as a spent budget does. */
static void lack_then_stop(struct sync *s, struct fake_server *f, const char *path,
			   const char *lacking)
{
	serve(f, path, NULL);
	CHECK(list_all(s, f) == 0);
	serve(f, path, lacking);
	CHECK(list_all(s, f) == 0);
	f->pages_left = 2;
	CHECK(list_all(s, f) == -EAGAIN);
	f->pages_left = -1;
}

/* A listing continued where the order stood still is complete: it
 * deletes what the listing before it lacked too. */
static void test_a_continued_listing_deletes(void)
{
	struct fake_server f = { .clamp = 3, .pages_left = -1 };
	struct store *store = new_store();
	struct sync *s = new_sync(&f, store, false);
	const char *path = "/user/memories";

	lack_then_stop(s, &f, path, "k");	/* k lacked once; a b c, d e f */
	CHECK(list_all(s, &f) == 0);
	CHECK(first_offset(&f) == 5);
	CHECK_STR(listed(store, STORE_MEMORIES), "abcdefghijl");
	sync_free(s);
	store_close(store);
}

static void test_a_moved_order_deletes_nothing(void)
{
	struct fake_server f = { .clamp = 3, .pages_left = -1 };
	struct store *store = new_store();
	struct sync *s = new_sync(&f, store, false);
	const char *path = "/user/memories";

	lack_then_stop(s, &f, path, "b");	/* b lacked once; a c d, e f g */
	/* a goes before the place the listing stopped: every item moves up
	 * one, and "g", which the next run asks first, is not there. */
	serve(&f, path, "ab");
	CHECK(list_all(s, &f) == 0);
	CHECK(first_offset(&f) == 5);
	/* b, lacked twice, is kept: the second listing may have missed items,
	 * so it counts for nothing. */
	CHECK_STR(listed(store, STORE_MEMORIES), "abcdefghijkl");
	/* The next complete listings from the top count: b goes at the first
	 * (with the listing before the moved one), a at the second. */
	CHECK(list_all(s, &f) == 0);
	CHECK_STR(listed(store, STORE_MEMORIES), "acdefghijkl");
	CHECK(list_all(s, &f) == 0);
	CHECK_STR(listed(store, STORE_MEMORIES), "cdefghijkl");
	sync_free(s);
	store_close(store);
}

static void test_conversations_go_on_by_date(void)
{
	struct fake_server f = { .clamp = 4, .pages_left = 1 };
	struct store *store = new_store();
	struct sync *s = new_sync(&f, store, false);
	const char *path = "/user/conversations";

	serve(&f, path, NULL);
	CHECK(list_all(s, &f) == -EAGAIN);
	CHECK_STR(listed(store, STORE_CONVERSATIONS), "abcd");
	/* The next run asks from the oldest conversation it had, by date: an
	 * offset would be wrong as soon as a new conversation came on top. */
	f.pages_left = -1;
	CHECK(list_all(s, &f) == 0);
	CHECK(first_offset(&f) == 0);
	CHECK(f.n_asked > 0 && strstr(f.asked[0].query, "end_date=2025-12-31T23:57:01") != NULL);
	CHECK_STR(listed(store, STORE_CONVERSATIONS), "abcdefghijkl");
	sync_free(s);
	store_close(store);
}

int main(void)
{
	RUN(test_two_listings_must_agree);
	RUN(test_a_shrink_waits_for_the_person);
	RUN(test_an_empty_answer_deletes_nothing);
	RUN(test_a_stopped_listing_goes_on);
	RUN(test_a_continued_listing_deletes);
	RUN(test_a_moved_order_deletes_nothing);
	RUN(test_conversations_go_on_by_date);
	return UNIT_RESULT();
}
