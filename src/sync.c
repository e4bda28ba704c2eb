/*
 * sync: listings, refreshes and transcript batches. See sync.h.
 *
 * Locks, always taken in this order:
 *   kinds[k].fetch_lock  one listing of collection k at a time
 *   transcript_lock      one transcript batch at a time
 *   lock                 the small state below (never held during I/O)
 *
 * The refresher thread sleeps in poll() on a pipe until the next refresh
 * is due; sync_request_refresh() (a signal handler may call it) and
 * sync_free() write to the pipe to wake it.
 */
#include "sync.h"

#include "collections.h"
#include "hash.h"
#include "jsontext.h"
#include "log.h"
#include "model.h"
#include "search.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* After a failure, the next attempt waits RETRY_PAUSE seconds, doubled
 * with each further failure up to RETRY_PAUSE_MAX: a server that is down
 * or a refused key must not eat the request budget. */
#define RETRY_PAUSE 5
#define RETRY_PAUSE_MAX 300
/* Items asked per page when looking for new conversations. */
#define QUICK_PAGE 25
/* A listing that loses more than SUSPECT_PERCENT of the cached items
 * (and at least SUSPECT_MIN), or all of them, deletes nothing until the
 * next complete listing loses the same ones: an empty or garbled answer
 * must not erase a backup through rsync --delete. */
#define SUSPECT_PERCENT 25
#define SUSPECT_MIN 3
/* Items of a complete listing held in memory before they go to the
 * store's staging: what memory holds of a listing of any length. */
#define STAGE_PART 256

struct kind_state {
	pthread_mutex_t fetch_lock;
	time_t listed_at;	/* last complete listing; 0: never */
	size_t count;
	time_t failed_at;	/* last failed attempt, 0 if none since success */
	int failures;		/* in a row */
	int error;		/* -errno of the last failure */
	time_t next_full;	/* when the refresher lists it completely */
	size_t held;		/* deletions held back (suspect or incomplete listing) */
	uint64_t held_digest;	/* of the held ids: the same again confirms them */
	size_t skipped;		/* items without a usable id in the last listing */
};

/* A conversation's place in the listing, for batching transcripts. */
struct conversation_ref {
	char *id;
	bool dated;
	time_t created_at;
};

struct sync {
	struct api_client *api;
	struct store *store;
	struct sync_options opts;
	pthread_mutex_t transcript_lock;
	pthread_mutex_t lock;
	struct kind_state kinds[STORE_KINDS];
	time_t next_quick;	/* when the refresher looks for new conversations */
	time_t transcripts_paused_until; /* after failed transcript fetches */
	int transcript_failures;
	int transcript_error;
	struct conversation_ref *order;	/* listing order, newest first */
	size_t n_order;
	struct hash *position;	/* id -> index + 1, cast to a pointer */
	int wake[2];		/* the refresher's pipe */
	atomic_bool stopping;	/* sync_stop was called: no new refresh */
	bool used_first_page;	/* opts.first_memories_page: once; memories' fetch_lock */
	bool refresher_running;
	pthread_t refresher;
	sync_changed_fn changed;
	void *changed_ctx;
	struct sync_plan plan;	/* transcript read-ahead; transcript_lock */
};

/* The one form omifs stores an object's JSON in. */
static char *object_json(json_object *item)
{
	return xstrdup(json_object_to_json_string_ext(item, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Items of a short listing (new conversations, a rewrite), as the
 * store takes them. */
struct collected {
	struct store_item *items;
	size_t n, cap;
	struct sync *stop_at_known;	/* new conversations: stop at a known id */
};

static void add_collected(struct collected *c, char *id, char *json)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->items = xrealloc(c->items, c->cap * sizeof(*c->items));
	}
	c->items[c->n].id = id;
	c->items[c->n].json = json;
	c->n++;
}

static void free_collected(struct collected *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free((char *)c->items[i].id);
		free((char *)c->items[i].json);
	}
	free(c->items);
}

/* Reads the conversations' listing order from the store. */
struct order_builder {
	struct conversation_ref *refs;
	size_t n, cap;
	struct collected rewrite;	/* entries stored with transcript_segments */
};

/* Caches made before listing entries lost their transcript_segments
 * (backend listings send null there) are brought to the form
 * collect_item stores now; otherwise every entry would look changed at
 * the next listing and every transcript would be fetched again. */
static void note_old_form(struct order_builder *b, const char *id, json_object *obj)
{
	if (!json_object_object_get_ex(obj, "transcript_segments", NULL))
		return;
	json_object_object_del(obj, "transcript_segments");
	add_collected(&b->rewrite, xstrdup(id), object_json(obj));
}

static int add_order(const char *id, const char *json, void *ctx)
{
	struct order_builder *b = ctx;
	json_object *obj = json_text_parse(json, strlen(json)), *v;
	struct conversation_ref *r;

	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 256;
		b->refs = xrealloc(b->refs, b->cap * sizeof(*b->refs));
	}
	r = &b->refs[b->n++];
	r->id = xstrdup(id);
	r->dated = json_object_object_get_ex(obj, "created_at", &v) &&
		   json_object_is_type(v, json_type_string) &&
		   model_parse_time(json_object_get_string(v), &r->created_at) == 0;
	note_old_form(b, id, obj);
	json_object_put(obj);
	return 0;
}

static void free_order(struct conversation_ref *refs, size_t n, struct hash *position)
{
	for (size_t i = 0; i < n; i++)
		free(refs[i].id);
	free(refs);
	hash_free(position);
}

static void reload_order(struct sync *s)
{
	struct order_builder b = { 0 };
	struct hash *position = hash_new();

	store_foreach(s->store, STORE_CONVERSATIONS, add_order, &b);
	if (b.rewrite.n) {
		log_info("conversations: %zu cached entries brought to the current form", b.rewrite.n);
		store_rewrite_listing(s->store, STORE_CONVERSATIONS, b.rewrite.items, b.rewrite.n);
	}
	free_collected(&b.rewrite);
	for (size_t i = 0; i < b.n; i++)
		hash_add(position, b.refs[i].id, (void *)(uintptr_t)(i + 1));
	pthread_mutex_lock(&s->lock);
	free_order(s->order, s->n_order, s->position);
	s->order = b.refs;
	s->n_order = b.n;
	s->position = position;
	pthread_mutex_unlock(&s->lock);
}

/* Seconds between complete listings of kind by the refresher. */
static int full_interval(const struct sync *s, enum store_kind kind)
{
	return kind == STORE_CONVERSATIONS ? s->opts.full_refresh_interval
					   : s->opts.refresh_interval;
}

/* Seconds to wait before trying again after `failures` failures in a row. */
static time_t retry_pause(int failures)
{
	time_t pause = RETRY_PAUSE;

	for (int i = 1; i < failures && pause < RETRY_PAUSE_MAX; i++)
		pause *= 2;
	return pause < RETRY_PAUSE_MAX ? pause : RETRY_PAUSE_MAX;
}

struct sync *sync_new(struct api_client *api, struct store *store, const struct sync_options *opts)
{
	struct sync *s = xcalloc(1, sizeof(*s));

	s->api = api;
	s->store = store;
	s->opts = *opts;
	s->wake[0] = s->wake[1] = -1;
	pthread_mutex_init(&s->transcript_lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	for (int k = 0; k < STORE_KINDS; k++) {
		struct kind_state *ks = &s->kinds[k];

		pthread_mutex_init(&ks->fetch_lock, NULL);
		ks->error = -EIO;
		if (store_listing_info(store, k, &ks->listed_at, &ks->count) == 0) {
			ks->error = 0;
			ks->next_full = ks->listed_at + full_interval(s, k);
		}
	}
	s->next_quick = s->kinds[STORE_CONVERSATIONS].listed_at + opts->refresh_interval;
	s->plan.initial = opts->transcript_batch > 0 ? (size_t)opts->transcript_batch : 1;
	s->plan.walking = (size_t)opts->transcript_page > s->plan.initial ? (size_t)opts->transcript_page
									  : s->plan.initial;
	s->position = hash_new();
	reload_order(s);
	return s;
}

void sync_stop(struct sync *s)
{
	if (!s || !s->refresher_running)
		return;
	atomic_store(&s->stopping, true);
	if (write(s->wake[1], "q", 1) < 0)
		log_error("cannot stop the refresher: %s", strerror(errno));
	pthread_join(s->refresher, NULL);
	s->refresher_running = false;
}

void sync_free(struct sync *s)
{
	if (!s)
		return;
	sync_stop(s);
	/* The pipe outlives the refresher: a signal handler that was already
	 * running when it was stopped may still write to it. */
	if (s->wake[0] >= 0) {
		close(s->wake[0]);
		close(s->wake[1]);
	}
	for (int k = 0; k < STORE_KINDS; k++)
		pthread_mutex_destroy(&s->kinds[k].fetch_lock);
	pthread_mutex_destroy(&s->transcript_lock);
	pthread_mutex_destroy(&s->lock);
	free_order(s->order, s->n_order, s->position);
	free(s);
}

/*
 * The form a listed item is stored in (caller frees), or NULL for an item
 * without a usable id (logged). Every item with an id is kept, whatever its
 * fields hold: model and render make the best of odd fields, and
 * conversation.json shows the object as it came. A conversation listed
 * with its transcript is first kept whole in fulls, when given (a failure
 * counted in *store_errors); its listing entry never holds the transcript.
 */
static char *listing_entry(enum store_kind kind, json_object *item, const char *id,
			   struct store *fulls, int *store_errors)
{
	if (!id) {
		log_warn("%s: skipping an item without a usable id; the listing counts as "
			 "incomplete and deletes nothing", collection_of(kind)->dir);
		return NULL;
	}
	if (kind == STORE_CONVERSATIONS) {
		json_object *segments;

		if (fulls && json_object_object_get_ex(item, "transcript_segments", &segments) &&
		    json_object_is_type(segments, json_type_array)) {
			char *full = object_json(item);

			if (store_put_full_conversation(fulls, id, full) < 0)
				(*store_errors)++;
			free(full);
		}
		json_object_object_del(item, "transcript_segments");
	}
	return object_json(item);
}

/* Collects new conversations until one is known already. */
static int collect_new(json_object *item, const char *id, void *ctx)
{
	struct collected *c = ctx;
	char *json = listing_entry(STORE_CONVERSATIONS, item, id, NULL, NULL);
	bool known;

	if (!json)
		return API_LIST_NEXT;
	add_collected(c, xstrdup(id), json);
	pthread_mutex_lock(&c->stop_at_known->lock);
	known = hash_get(c->stop_at_known->position, id) != NULL;
	pthread_mutex_unlock(&c->stop_at_known->lock);
	return known ? API_LIST_DONE : API_LIST_NEXT;
}

/* A complete listing on its way to the store's staging, STAGE_PART items
 * at a time. */
struct staging {
	struct store *store;
	enum store_kind kind;
	struct store *fulls;	/* listing with transcripts: keep them here */
	struct store_item part[STAGE_PART];
	size_t n;		/* items in part */
	size_t skipped;		/* items without a usable id */
	int store_errors;
};

/* Stages the items in st->part and frees them. Returns 0 or -EIO. */
static int stage_part(struct staging *st)
{
	int rc = store_stage_items(st->store, st->kind, st->part, st->n);

	for (size_t i = 0; i < st->n; i++) {
		free((char *)st->part[i].id);
		free((char *)st->part[i].json);
	}
	st->n = 0;
	if (rc < 0)
		st->store_errors++;
	return rc;
}

static int stage_item(json_object *item, const char *id, void *ctx)
{
	struct staging *st = ctx;
	char *json = listing_entry(st->kind, item, id, st->fulls, &st->store_errors);

	if (!json) {
		st->skipped++;
		return API_LIST_NEXT;
	}
	st->part[st->n].id = xstrdup(id);
	st->part[st->n].json = json;
	if (++st->n == STAGE_PART && stage_part(st) < 0)
		return API_LIST_ABORT;
	return API_LIST_NEXT;
}

static void note_vanished(const char *id, void *ctx)
{
	uint64_t *digest = ctx;

	*digest += hash_bytes(id, strlen(id)) | 1;
}

/* Whether losing `removed` of `cached` items is too sharp to believe on
 * one listing: everything, or over a quarter (and at least 3). */
static bool suspect_shrink(size_t cached, size_t removed, size_t listed)
{
	if (removed == 0)
		return false;
	return listed == 0 || (removed >= SUSPECT_MIN && removed * 100 > cached * SUSPECT_PERCENT);
}

/*
 * Puts the staged complete listing of kind in place of the cached one. It
 * deletes what it no longer holds only when it is whole (none of it
 * skipped) and did not shrink suspiciously, or when the previous listing
 * of the kind made the very same deletions. Otherwise the vanished items
 * are kept after the listed ones and the deletions are held. Sets *count
 * to the items the listing now has. Returns items changed or -errno.
 * fetch_lock held.
 */
static int store_listing(struct sync *s, enum store_kind kind, size_t skipped, time_t now,
			 size_t *count)
{
	struct kind_state *ks = &s->kinds[kind];
	struct store_stage_census c;
	uint64_t digest = 0;	/* of the vanished ids, in any order */
	bool hold;
	int rc;

	rc = store_stage_compare(s->store, kind, &c, note_vanished, &digest);
	if (rc < 0)
		return rc;
	hold = c.vanished > 0 &&
	       (skipped > 0 || (suspect_shrink(c.cached, c.vanished, c.staged) &&
				!(ks->held == c.vanished && ks->held_digest == digest)));
	if (hold)
		log_warn("%s: the listing has %zu items, %zu fewer than cached%s: keeping them "
			 "until a later listing confirms it", collection_of(kind)->dir, c.staged,
			 c.vanished, skipped ? " (and skipped items)" : "");
	rc = store_stage_commit(s->store, kind, hold, now);
	*count = c.staged + (hold ? c.vanished : 0);
	pthread_mutex_lock(&s->lock);
	ks->held = hold ? c.vanished : 0;
	ks->held_digest = hold ? digest : 0;
	ks->skipped = skipped;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Records how a complete listing of kind made at `now` ended: rc items
 * changed, count listed, or -errno. */
static void note_listing(struct sync *s, enum store_kind kind, int rc, time_t now, size_t count)
{
	struct kind_state *ks = &s->kinds[kind];

	pthread_mutex_lock(&s->lock);
	if (rc >= 0) {
		ks->listed_at = now;
		ks->count = count;
		ks->failed_at = 0;
		ks->failures = 0;
		ks->error = 0;
		ks->next_full = now + full_interval(s, kind);
		if (kind == STORE_CONVERSATIONS)
			s->next_quick = now + s->opts.refresh_interval;
	} else {
		ks->failed_at = now;
		ks->failures++;
		ks->error = rc;
		ks->next_full = now + retry_pause(ks->failures);
		if (rc == -EACCES && ks->failures == 1)
			log_error("the server refused the key: refreshes pause (SIGHUP retries now)");
	}
	pthread_mutex_unlock(&s->lock);
}

/* Lists kind completely and stores it; conversations with their
 * transcripts when with_transcripts. Returns how many items changed, or
 * -errno. fetch_lock held. */
static int list_kind_how(struct sync *s, enum store_kind kind, bool with_transcripts)
{
	struct staging *st = xcalloc(1, sizeof(*st));
	const char *first = NULL;
	struct api_error err = { 0 };
	enum api_result result = API_E_PROTOCOL;
	time_t now = time(NULL);
	size_t count = 0;
	int rc;

	st->store = s->store;
	st->kind = kind;
	st->fulls = with_transcripts ? s->store : NULL;
	/* The key check fetched memories' first page: the first listing
	 * starts from it rather than ask for it again. */
	if (kind == STORE_MEMORIES && !s->used_first_page && !s->kinds[kind].listed_at) {
		first = s->opts.first_memories_page;
		s->used_first_page = true;
	}
	if (store_stage_clear(s->store, kind) < 0)
		st->store_errors++;
	else
		result = api_list_from(s->api, collection_of(kind)->api_path,
				       with_transcripts ? "include_transcript=true" : NULL,
				       s->opts.page_size, first, stage_item, st, &err);
	if (result == API_OK)
		stage_part(st);
	if (st->store_errors && result != API_E_CANCELLED) {
		snprintf(err.message, sizeof(err.message), "the cache could not keep the listing");
		result = API_E_PROTOCOL;
	}
	if (result == API_OK) {
		rc = store_listing(s, kind, st->skipped, now, &count);
		if (rc > 0)
			log_info("%s: %d items added, changed or removed", collection_of(kind)->dir,
				 rc);
	} else {
		rc = result == API_E_CANCELLED ? -EIO : api_result_errno(result);
		if (result != API_E_CANCELLED)
			log_warn("listing %s failed, keeping what is cached: %s",
				 collection_of(kind)->dir, err.message);
	}
	for (size_t i = 0; i < st->n; i++) {
		free((char *)st->part[i].id);
		free((char *)st->part[i].json);
	}
	free(st);
	if (rc < 0)
		store_stage_clear(s->store, kind);
	/* Stopping is no failure of the server's: nothing to note. */
	if (result != API_E_CANCELLED)
		note_listing(s, kind, rc, now, count);
	if (rc > 0 && kind == STORE_CONVERSATIONS)
		reload_order(s);
	return rc;
}

static int list_kind(struct sync *s, enum store_kind kind)
{
	return list_kind_how(s, kind, false);
}

/* Whether kind has never been listed and may be tried now. */
static bool needs_first_listing(struct sync *s, enum store_kind kind, int *error)
{
	struct kind_state *ks = &s->kinds[kind];
	bool due;

	pthread_mutex_lock(&s->lock);
	*error = ks->error;
	due = ks->listed_at == 0 && ks->next_full <= time(NULL);
	pthread_mutex_unlock(&s->lock);
	return due && !s->opts.offline;
}

int sync_ensure_listed(struct sync *s, enum store_kind kind)
{
	int rc = 0;

	if (sync_kind_error(s, kind) == 0)
		return 0;
	if (needs_first_listing(s, kind, &rc)) {
		pthread_mutex_lock(&s->kinds[kind].fetch_lock);
		/* Someone else may have listed it while we waited. */
		if (needs_first_listing(s, kind, &rc))
			list_kind(s, kind);
		pthread_mutex_unlock(&s->kinds[kind].fetch_lock);
	}
	return sync_kind_error(s, kind);
}

/* Looks for conversations newer than the newest known: pages from the
 * newest until one holds a known id. Returns items added or changed. */
static int find_new_conversations(struct sync *s)
{
	struct collected got = { .stop_at_known = s };
	struct api_error err;
	enum api_result result;
	time_t now = time(NULL);
	int rc;

	result = api_list(s->api, collection_of(STORE_CONVERSATIONS)->api_path, NULL, QUICK_PAGE,
			  collect_new, &got, &err);
	if (result == API_OK) {
		rc = store_merge_listing(s->store, STORE_CONVERSATIONS, got.items, got.n);
		if (rc > 0)
			log_info("conversations: %d new or changed", rc);
	} else {
		log_warn("looking for new conversations failed: %s", err.message);
		rc = api_result_errno(result);
	}
	pthread_mutex_lock(&s->lock);
	/* Its failures pace the complete listing's too: one server, one outage. */
	s->next_quick = now + (rc >= 0 ? s->opts.refresh_interval
				      : retry_pause(s->kinds[STORE_CONVERSATIONS].failures + 1));
	pthread_mutex_unlock(&s->lock);
	free_collected(&got);
	if (rc > 0)
		reload_order(s);
	return rc;
}

static bool full_listing_due(struct sync *s, enum store_kind kind, time_t now)
{
	bool due;

	pthread_mutex_lock(&s->lock);
	due = s->kinds[kind].next_full <= now;
	pthread_mutex_unlock(&s->lock);
	return due;
}

/* Does whatever refresh is due; returns whether the store changed. */
static void tell_changed(struct sync *s)
{
	if (s->changed)
		s->changed(s->changed_ctx);
}

/* Makes the listings that are due, telling after each one that changed
 * something: a collection's news need not wait for the others' listings. */
static void refresh_due(struct sync *s)
{
	time_t now = time(NULL);
	bool changed, quick;

	for (int k = 0; k < STORE_KINDS; k++) {
		pthread_mutex_lock(&s->kinds[k].fetch_lock);
		/* Decided under fetch_lock: a first listing made by a reader
		 * while we waited for it is not made again. */
		changed = full_listing_due(s, k, now) && list_kind(s, k) > 0;
		pthread_mutex_unlock(&s->kinds[k].fetch_lock);
		if (changed)
			tell_changed(s);
	}
	pthread_mutex_lock(&s->lock);
	quick = s->next_quick <= now && s->kinds[STORE_CONVERSATIONS].listed_at != 0;
	pthread_mutex_unlock(&s->lock);
	if (quick) {
		pthread_mutex_lock(&s->kinds[STORE_CONVERSATIONS].fetch_lock);
		changed = find_new_conversations(s) > 0;
		pthread_mutex_unlock(&s->kinds[STORE_CONVERSATIONS].fetch_lock);
		if (changed)
			tell_changed(s);
	}
}

/* Milliseconds until the next refresh is due. Looking for new
 * conversations is due only once they have been listed: before that,
 * next_quick means nothing and must not wake the refresher. */
static int next_wait_ms(struct sync *s)
{
	time_t next, now = time(NULL);

	pthread_mutex_lock(&s->lock);
	next = s->kinds[STORE_CONVERSATIONS].listed_at ? s->next_quick : now + 3600;
	for (int k = 0; k < STORE_KINDS; k++)
		if (s->kinds[k].next_full < next)
			next = s->kinds[k].next_full;
	pthread_mutex_unlock(&s->lock);
	if (next <= now)
		return 0;
	return next - now > 3600 ? 3600 * 1000 : (int)(next - now) * 1000;
}

static void *refresher(void *arg)
{
	struct sync *s = arg;
	struct pollfd pfd = { .fd = s->wake[0], .events = POLLIN };

	while (!atomic_load(&s->stopping)) {
		char command = 0;

		if (poll(&pfd, 1, next_wait_ms(s)) > 0 && read(s->wake[0], &command, 1) == 1) {
			if (command == 'q' || atomic_load(&s->stopping))
				break;
			log_info("refresh asked for: listing everything again");
			pthread_mutex_lock(&s->lock);
			for (int k = 0; k < STORE_KINDS; k++)
				s->kinds[k].next_full = 0;
			s->transcripts_paused_until = 0;
			pthread_mutex_unlock(&s->lock);
			api_clear_pause(s->api);
		}
		refresh_due(s);
	}
	return NULL;
}

int sync_start(struct sync *s, sync_changed_fn changed, void *ctx)
{
	if (s->opts.offline)
		return 0;
	if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	s->changed = changed;
	s->changed_ctx = ctx;
	if (pthread_create(&s->refresher, NULL, refresher, s) != 0)
		return -EAGAIN;
	s->refresher_running = true;
	return 0;
}

void sync_request_refresh(struct sync *s)
{
	/* Only write(): this runs in signal handlers. */
	if (s->refresher_running && write(s->wake[1], "r", 1) < 0)
		return;
}

int sync_kind_error(struct sync *s, enum store_kind kind)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = s->kinds[kind].listed_at ? 0 : s->kinds[kind].error;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* The batch of conversations fetched together with a wanted one. */
struct batch {
	struct hash *wanted;	/* id -> its flag in received[] */
	bool *received;
	size_t remaining;
	struct store *store;
	int store_errors;
};

static int store_full(json_object *item, const char *id, void *ctx)
{
	struct batch *b = ctx;
	char *json;
	bool *flag;

	if (!id)
		return API_LIST_NEXT;	/* nothing to file it under */
	json = object_json(item);
	if (store_put_full_conversation(b->store, id, json) < 0)
		b->store_errors++;
	free(json);
	flag = hash_get(b->wanted, id);
	if (flag && !*flag) {
		*flag = true;
		b->remaining--;
	}
	return b->remaining == 0 ? API_LIST_DONE : API_LIST_NEXT;
}

static void format_utc(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void sync_plan_batch(struct sync_plan *plan, size_t at, size_t *lo, size_t *hi)
{
	size_t block = at / plan->walking;
	bool walk = plan->last_valid && block + 1 >= plan->last_block && block <= plan->last_block + 1;

	if (walk) {
		*lo = block * plan->walking;
		*hi = *lo + plan->walking - 1;
	} else {
		/* The initial block inside the walking one, so that a walk that
		 * follows finds whole blocks to fetch. */
		*lo = at / plan->initial * plan->initial;
		*hi = *lo + plan->initial - 1;
		if (*lo < block * plan->walking)
			*lo = block * plan->walking;
		if (*hi >= (block + 1) * plan->walking)
			*hi = (block + 1) * plan->walking - 1;
	}
	if (*hi >= plan->n)
		*hi = plan->n - 1;
	plan->last_valid = true;
	plan->last_block = block;
}

/* The conversations of one transcript batch: ids and dates copied out of
 * the listing order, so that the store is asked without s->lock held. */
struct window {
	size_t first;		/* index in the listing order of refs[0] */
	struct conversation_ref *refs;
	size_t n;
	struct store *store;
};

/* Whether conversation i of the window can join a batch: dated, not held. */
static bool window_can_fetch(const struct window *w, size_t i)
{
	const struct conversation_ref *r;

	if (i < w->first || i >= w->first + w->n)
		return false;
	r = &w->refs[i - w->first];
	return r->dated && !store_has_full_conversation(w->store, r->id);
}

static void free_window(struct window *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->refs[i].id);
	free(w->refs);
}

/*
 * Picks the batch for the conversation at `at` by read-ahead (see
 * sync_plan_batch), fills b and the date range, and returns how many were
 * picked. Takes s->lock to copy the block; queries the store without it.
 * transcript_lock held.
 */
static size_t pick_batch(struct sync *s, size_t at, struct batch *b, time_t *oldest,
			 time_t *newest)
{
	struct window w = { .store = s->store };
	size_t lo, hi, picked = 0;

	pthread_mutex_lock(&s->lock);
	s->plan.n = s->n_order;
	sync_plan_batch(&s->plan, at, &lo, &hi);
	w.first = lo;
	w.n = hi - lo + 1;
	w.refs = xcalloc(w.n, sizeof(*w.refs));
	for (size_t i = 0; i < w.n; i++) {
		w.refs[i] = s->order[lo + i];
		w.refs[i].id = xstrdup(w.refs[i].id);
	}
	pthread_mutex_unlock(&s->lock);
	b->received = xcalloc(w.n, sizeof(bool));
	for (size_t i = lo; i <= hi; i++) {
		const struct conversation_ref *r = &w.refs[i - lo];

		if (i != at && !window_can_fetch(&w, i))
			continue;
		if (picked == 0 || r->created_at < *oldest)
			*oldest = r->created_at;
		if (picked == 0 || r->created_at > *newest)
			*newest = r->created_at;
		hash_add(b->wanted, r->id, &b->received[picked]);
		picked++;
	}
	free_window(&w);
	return picked;
}

/* For a conversation without a usable date: the backend's single GET. */
static int fetch_one(struct sync *s, const char *id)
{
	char escaped[1024], path[1100];
	struct api_error err;
	json_object *obj = NULL;
	enum api_result result;
	char *json;
	int rc;

	api_query_escape(id, escaped, sizeof(escaped));
	snprintf(path, sizeof(path), "%s/%s", collection_of(STORE_CONVERSATIONS)->api_path,
		 escaped);
	result = api_get_json(s->api, path, "include_transcript=true", &obj, &err);
	if (result != API_OK)
		return result == API_E_NOT_FOUND ? -EIO : api_result_errno(result);
	json = object_json(obj);
	rc = store_put_full_conversation(s->store, id, json);
	free(json);
	json_object_put(obj);
	return rc;
}

int sync_fetch_transcript(struct sync *s, const char *id)
{
	struct batch b = { .store = s->store };
	struct api_error err;
	enum api_result result;
	char query[256], start[32], end[32];
	time_t oldest = 0, newest = 0;
	uintptr_t position;
	size_t picked = 0;
	bool dated = false, paused;
	int rc;

	if (store_has_full_conversation(s->store, id))
		return 0;
	if (s->opts.offline)
		return -EIO;
	pthread_mutex_lock(&s->transcript_lock);
	if (store_has_full_conversation(s->store, id)) {
		pthread_mutex_unlock(&s->transcript_lock);
		return 0;
	}
	b.wanted = hash_new();
	pthread_mutex_lock(&s->lock);
	paused = time(NULL) < s->transcripts_paused_until;
	rc = s->transcript_error;
	position = (uintptr_t)hash_get(s->position, id);
	if (position)
		dated = s->order[position - 1].dated;
	pthread_mutex_unlock(&s->lock);
	if (dated && !paused)
		picked = pick_batch(s, position - 1, &b, &oldest, &newest);
	if (paused) {
		/* A recent batch failed: fail fast rather than ask again. */
	} else if (!position) {
		rc = -ENOENT;
	} else if (!dated) {
		rc = fetch_one(s, id);
	} else {
		/* Whole seconds around the range: the server may keep fractions. */
		format_utc(oldest, start, sizeof(start));
		format_utc(newest + 1, end, sizeof(end));
		snprintf(query, sizeof(query), "include_transcript=true&start_date=%s&end_date=%s",
			 start, end);
		b.remaining = picked;
		log_debug("fetching %zu transcripts from %s to %s", picked, start, end);
		/* The largest page the API documents: a server serves what it
		 * allows and omifs pages on until the batch is in. */
		result = api_list(s->api, collection_of(STORE_CONVERSATIONS)->api_path, query,
				  s->opts.page_size, store_full, &b, &err);
		if (store_has_full_conversation(s->store, id))
			rc = 0;
		else if (result != API_OK)
			rc = api_result_errno(result);
		else if (b.store_errors)
			rc = -EIO;
		else {
			log_warn("conversation %s was not in the listing of its own dates", id);
			rc = -EIO;
		}
	}
	/* Give the batch's JSON back to the system rather than keep it. */
	if (!paused)
		malloc_trim(0);
	if (!paused && rc != -ENOENT) {
		pthread_mutex_lock(&s->lock);
		s->transcript_failures = rc < 0 ? s->transcript_failures + 1 : 0;
		s->transcript_error = rc;
		s->transcripts_paused_until =
			rc < 0 ? time(NULL) + retry_pause(s->transcript_failures) : 0;
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&s->transcript_lock);
	hash_free(b.wanted);
	free(b.received);
	return rc;
}

int sync_list_stale(struct sync *s, int max_age)
{
	for (int k = 0; k < STORE_KINDS; k++) {
		bool stale, with_transcripts;
		int rc = 0;

		pthread_mutex_lock(&s->lock);
		stale = !s->kinds[k].listed_at || time(NULL) - s->kinds[k].listed_at >= max_age;
		pthread_mutex_unlock(&s->lock);
		if (!stale)
			continue;
		/* From empty, listing conversations with their transcripts costs
		 * the floor; after an interrupted first sync, listing them plain
		 * and fetching what is missing does not fetch anything twice. */
		with_transcripts = k == STORE_CONVERSATIONS &&
				   store_count_full_conversations(s->store) == 0;
		pthread_mutex_lock(&s->kinds[k].fetch_lock);
		rc = list_kind_how(s, k, with_transcripts);
		pthread_mutex_unlock(&s->kinds[k].fetch_lock);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The ids of the conversations lacking a transcript, in listing order. */
static char **missing_transcripts(struct sync *s, size_t *n_missing, size_t *total)
{
	char **ids;
	size_t kept = 0;

	pthread_mutex_lock(&s->lock);
	*total = s->n_order;
	ids = xcalloc(s->n_order + 1, sizeof(*ids));
	for (size_t i = 0; i < s->n_order; i++)
		ids[i] = xstrdup(s->order[i].id);
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < *total; i++) {
		if (store_has_full_conversation(s->store, ids[i]))
			free(ids[i]);
		else
			ids[kept++] = ids[i];
	}
	*n_missing = kept;
	return ids;
}

void sync_estimate(struct sync *s, struct sync_estimate *e)
{
	/* One query: progress asks for this after every batch. */
	memset(e, 0, sizeof(*e));
	e->missing = store_count_listed_without_full(s->store);
	e->page = s->plan.walking;
	e->pages = (e->missing + e->page - 1) / e->page;
	e->seconds = api_budget_eta(s->api, collection_of(STORE_CONVERSATIONS)->api_path, true,
				    (long)e->pages, &e->pace);
}

static void report_progress(struct sync *s, size_t total, sync_progress_fn progress, void *ctx)
{
	size_t done = store_count_full_conversations(s->store);

	progress(done < total ? done : total, total, ctx);
}

int sync_fetch_all_transcripts(struct sync *s, sync_progress_fn progress, void *ctx)
{
	size_t n, total;
	char **ids = missing_transcripts(s, &n, &total);
	int rc = 0;

	report_progress(s, total, progress, ctx);
	for (size_t i = 0; i < n && rc == 0; i++) {
		/* Fetched already, as a neighbour of an earlier one? */
		if (store_has_full_conversation(s->store, ids[i]))
			continue;
		rc = sync_fetch_transcript(s, ids[i]);
		report_progress(s, total, progress, ctx);
	}
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return rc;
}

static void describe_search(struct sync *s, char *out, size_t outlen)
{
	struct search_coverage coverage;
	struct buf line = BUF_INIT;

	search_coverage(s->store, &coverage);
	search_coverage_line(&coverage, &line);
	snprintf(out, outlen, "%s", line.data ? line.data : "");
	buf_free(&line);
}

void sync_status(struct sync *s, struct status *st)
{
	struct api_stats api;

	pthread_mutex_lock(&s->lock);
	for (int k = 0; k < STORE_KINDS; k++) {
		const struct kind_state *ks = &s->kinds[k];

		st->collections[k] = (struct status_collection){
			.name = collection_of(k)->dir, .listed_at = ks->listed_at,
			.count = ks->count, .refresh_error = ks->failed_at ? ks->error : 0,
			.skipped = ks->skipped, .held = ks->held,
		};
	}
	st->conversations = s->n_order;
	pthread_mutex_unlock(&s->lock);
	st->transcripts = store_count_full_conversations(s->store);
	st->cache_bytes = store_size(s->store);
	describe_search(s, st->search, sizeof(st->search));
	st->offline = s->opts.offline;
	st->refresh_interval = s->opts.refresh_interval;
	st->full_refresh_interval = s->opts.full_refresh_interval;
	api_get_stats(s->api, &api);
	st->requests = api.requests;
	st->failures = api.failures;
	st->retries = api.retries;
	st->rate_limited = api.rate_limited;
	st->n_policies = api_budget_status(s->api, st->policies, STATUS_POLICIES);
	st->server_remaining = api.server_remaining;
	st->server_reset = api.server_reset;
	st->waiting = api.waiting;
	st->now = time(NULL);
	st->blocked_until = api.blocked_until;
	st->last_error_at = api.last_error_at;
	snprintf(st->last_error, sizeof(st->last_error), "%s", api.last_error);
	if (!store_last_error(s->store, st->cache_error, sizeof(st->cache_error),
			      &st->cache_error_at))
		st->cache_error_at = 0;
}

int sync_source_json(struct sync *s, enum store_kind kind, const char *id, bool full,
		     char **json)
{
	int rc = full ? sync_fetch_transcript(s, id) : 0;

	if (rc < 0)
		return rc;
	*json = full ? store_get_full_conversation(s->store, id) : store_get_item(s->store, kind, id);
	return *json ? 0 : -ENOENT;
}

int sync_foreach_listed(struct sync *s, enum store_kind kind, store_item_fn fn, void *ctx)
{
	return store_foreach(s->store, kind, fn, ctx);
}

time_t sync_first_seen(struct sync *s, enum store_kind kind, const char *id)
{
	return store_first_seen(s->store, kind, id);
}

time_t sync_cache_created_at(struct sync *s)
{
	return store_created_at(s->store);
}

uint64_t sync_store_generation(struct sync *s)
{
	return store_generation(s->store);
}

void sync_remember_size(struct sync *s, uint64_t ino, uint64_t digest, int64_t size)
{
	if (!s->opts.offline)
		store_put_size(s->store, ino, digest, size);
}

int sync_foreach_size(struct sync *s, store_size_fn fn, void *ctx)
{
	return store_foreach_size(s->store, fn, ctx);
}

int sync_search(struct sync *s, const char *query, size_t limit, struct search_results *out,
		char *err, size_t errlen)
{
	return search_run(s->store, query, limit, out, err, errlen);
}
