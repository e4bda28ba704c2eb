/*
 * sync: listings on a TTL, transcripts in batches. See sync.h.
 *
 * Locks, always taken in this order:
 *   kinds[k].fetch_lock  one listing of collection k at a time
 *   transcript_lock      one transcript batch at a time
 *   lock                 the small state below (never held during I/O)
 */
#include "sync.h"

#include "hash.h"
#include "log.h"
#include "model.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Seconds between attempts to list a collection after a failed one. */
#define RETRY_PAUSE 5

static const char *const kind_path[STORE_KINDS] = {
	[STORE_MEMORIES] = "/user/memories",
	[STORE_ACTION_ITEMS] = "/user/action-items",
	[STORE_CONVERSATIONS] = "/user/conversations",
};

static const char *const kind_name[STORE_KINDS] = {
	[STORE_MEMORIES] = "memories",
	[STORE_ACTION_ITEMS] = "action-items",
	[STORE_CONVERSATIONS] = "conversations",
};

struct kind_state {
	pthread_mutex_t fetch_lock;
	time_t listed_at;	/* 0: never listed */
	size_t count;
	time_t failed_at;	/* last failed attempt, 0 if none since success */
	int error;		/* -errno of the last failure */
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
	struct conversation_ref *order;	/* listing order, newest first */
	size_t n_order;
	struct hash *position;	/* id -> index + 1, cast to a pointer */
};

/* Reads the conversations' listing order from the store. */
struct order_builder {
	struct conversation_ref *refs;
	size_t n, cap;
};

static int add_order(const char *id, const char *json, void *ctx)
{
	struct order_builder *b = ctx;
	json_object *obj = json_tokener_parse(json), *v;
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
	for (size_t i = 0; i < b.n; i++)
		hash_add(position, b.refs[i].id, (void *)(uintptr_t)(i + 1));
	pthread_mutex_lock(&s->lock);
	free_order(s->order, s->n_order, s->position);
	s->order = b.refs;
	s->n_order = b.n;
	s->position = position;
	pthread_mutex_unlock(&s->lock);
}

struct sync *sync_new(struct api_client *api, struct store *store, const struct sync_options *opts)
{
	struct sync *s = xcalloc(1, sizeof(*s));

	s->api = api;
	s->store = store;
	s->opts = *opts;
	pthread_mutex_init(&s->transcript_lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	for (int k = 0; k < STORE_KINDS; k++) {
		struct kind_state *ks = &s->kinds[k];

		pthread_mutex_init(&ks->fetch_lock, NULL);
		ks->error = -EIO;
		if (store_listing_info(store, k, &ks->listed_at, &ks->count) == 0)
			ks->error = 0;
	}
	s->position = hash_new();
	reload_order(s);
	return s;
}

void sync_free(struct sync *s)
{
	if (!s)
		return;
	for (int k = 0; k < STORE_KINDS; k++)
		pthread_mutex_destroy(&s->kinds[k].fetch_lock);
	pthread_mutex_destroy(&s->transcript_lock);
	pthread_mutex_destroy(&s->lock);
	free_order(s->order, s->n_order, s->position);
	free(s);
}

/* The items of one listing, as the store takes them. */
struct collected {
	enum store_kind kind;
	struct store_item *items;
	size_t n, cap;
};

static int (*const kind_check[STORE_KINDS])(json_object *, char *, size_t) = {
	[STORE_MEMORIES] = model_check_memory,
	[STORE_ACTION_ITEMS] = model_check_action_item,
	[STORE_CONVERSATIONS] = model_check_conversation,
};

static char *object_json(json_object *item)
{
	return xstrdup(json_object_to_json_string_ext(item, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int collect_item(json_object *item, const char *id, void *ctx)
{
	struct collected *c = ctx;
	char why[256];

	if (kind_check[c->kind](item, why, sizeof(why)) < 0) {
		log_warn("%s: refusing the listing: item %s: %s", kind_name[c->kind], id, why);
		return API_LIST_ABORT;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->items = xrealloc(c->items, c->cap * sizeof(*c->items));
	}
	c->items[c->n].id = xstrdup(id);
	c->items[c->n].json = object_json(item);
	c->n++;
	return API_LIST_NEXT;
}

static void free_collected(struct collected *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free((char *)c->items[i].id);
		free((char *)c->items[i].json);
	}
	free(c->items);
}

/* Lists kind completely and stores it. fetch_lock held. */
static int list_kind(struct sync *s, enum store_kind kind)
{
	struct collected got = { .kind = kind };
	struct api_error err;
	enum api_result result;
	time_t now = time(NULL);
	int rc;

	result = api_list(s->api, kind_path[kind], NULL, s->opts.page_size, collect_item, &got,
			  &err);
	if (result == API_OK) {
		rc = store_replace_listing(s->store, kind, got.items, got.n, now);
		if (rc > 0)
			log_info("%s: %d items added, changed or removed", kind_name[kind], rc);
	} else {
		log_warn("listing %s failed, keeping what is cached: %s", kind_name[kind],
			 err.message);
		rc = api_result_errno(result);
	}
	pthread_mutex_lock(&s->lock);
	if (rc >= 0) {
		s->kinds[kind].listed_at = now;
		s->kinds[kind].count = got.n;
		s->kinds[kind].failed_at = 0;
		s->kinds[kind].error = 0;
	} else {
		s->kinds[kind].failed_at = now;
		s->kinds[kind].error = rc;
	}
	pthread_mutex_unlock(&s->lock);
	free_collected(&got);
	if (rc >= 0 && kind == STORE_CONVERSATIONS)
		reload_order(s);
	return rc < 0 ? rc : 0;
}

/* Whether kind needs a listing now; sets *have when one can be served. */
static bool kind_is_due(struct sync *s, enum store_kind kind, bool *have, int *error)
{
	struct kind_state *ks = &s->kinds[kind];
	time_t now = time(NULL);
	bool due;

	pthread_mutex_lock(&s->lock);
	*have = ks->listed_at != 0;
	*error = ks->error;
	due = !(*have && now - ks->listed_at < s->opts.listing_ttl) &&
	      !(ks->failed_at && now - ks->failed_at < RETRY_PAUSE);
	pthread_mutex_unlock(&s->lock);
	return due && !s->opts.offline;
}

static int refresh_kind(struct sync *s, enum store_kind kind)
{
	struct kind_state *ks = &s->kinds[kind];
	bool have;
	int error, rc;

	if (!kind_is_due(s, kind, &have, &error))
		return have ? 0 : error;
	/* Someone is listing already: serve what we have rather than wait. */
	if (have) {
		if (pthread_mutex_trylock(&ks->fetch_lock) != 0)
			return 0;
	} else {
		pthread_mutex_lock(&ks->fetch_lock);
	}
	rc = kind_is_due(s, kind, &have, &error) ? list_kind(s, kind) : (have ? 0 : error);
	pthread_mutex_unlock(&ks->fetch_lock);
	return have ? 0 : rc;
}

int sync_refresh_stale(struct sync *s)
{
	int first_error = 0;

	for (int k = 0; k < STORE_KINDS; k++) {
		int rc = refresh_kind(s, k);

		if (rc < 0 && first_error == 0)
			first_error = rc;
	}
	return first_error;
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
	char why[256], *json;
	bool *flag;

	/* Kept for good: a garbled one must never get in. */
	if (model_check_conversation(item, why, sizeof(why)) < 0) {
		log_warn("refusing a transcript batch: conversation %s: %s", id, why);
		return API_LIST_ABORT;
	}
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

/*
 * Picks the batch around position `at`: the aligned block of
 * transcript_batch conversations holding it, those of them that lack a
 * transcript and have a usable date. Fills b and the date range, and
 * returns how many were picked. Lock held.
 */
static size_t pick_batch(struct sync *s, size_t at, struct batch *b, time_t *oldest,
			 time_t *newest)
{
	size_t size = s->opts.transcript_batch > 0 ? (size_t)s->opts.transcript_batch : 1;
	size_t first = at / size * size, picked = 0;

	b->received = xcalloc(size, sizeof(bool));
	for (size_t i = first; i < s->n_order && i < first + size; i++) {
		const struct conversation_ref *r = &s->order[i];

		if (!r->dated || (i != at && store_has_full_conversation(s->store, r->id)))
			continue;
		if (picked == 0 || r->created_at < *oldest)
			*oldest = r->created_at;
		if (picked == 0 || r->created_at > *newest)
			*newest = r->created_at;
		hash_add(b->wanted, r->id, &b->received[picked]);
		picked++;
	}
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
	snprintf(path, sizeof(path), "/user/conversations/%s", escaped);
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
	bool dated = false;
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
	position = (uintptr_t)hash_get(s->position, id);
	if (position) {
		dated = s->order[position - 1].dated;
		if (dated)
			picked = pick_batch(s, position - 1, &b, &oldest, &newest);
	}
	pthread_mutex_unlock(&s->lock);
	if (!position) {
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
		result = api_list(s->api, "/user/conversations", query, s->opts.transcript_batch,
				  store_full, &b, &err);
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
	pthread_mutex_unlock(&s->transcript_lock);
	hash_free(b.wanted);
	free(b.received);
	return rc;
}

static void describe_time(struct buf *out, time_t t)
{
	char text[32];

	format_utc(t, text, sizeof(text));
	buf_puts(out, text);
}

void sync_describe(struct sync *s, struct buf *out)
{
	struct api_stats st;
	time_t now = time(NULL);
	size_t transcripts = store_count_full_conversations(s->store);
	char text[32];

	buf_printf(out, "omifs %s\n\n", OMIFS_VERSION);
	pthread_mutex_lock(&s->lock);
	for (int k = 0; k < STORE_KINDS; k++) {
		const struct kind_state *ks = &s->kinds[k];

		buf_printf(out, "%-14s ", kind_name[k]);
		if (ks->listed_at) {
			buf_printf(out, "%zu items, listed completely at ", ks->count);
			describe_time(out, ks->listed_at);
		} else {
			buf_puts(out, "not listed yet");
		}
		if (ks->failed_at)
			buf_printf(out, "; last refresh failed: %s", strerror(-ks->error));
		buf_putc(out, '\n');
	}
	buf_printf(out, "%-14s %zu of %zu conversations cached\n", "transcripts", transcripts,
		   s->n_order);
	pthread_mutex_unlock(&s->lock);
	buf_printf(out, "%-14s %s, listings fresh for %d s\n", "mode",
		   s->opts.offline ? "offline" : "online", s->opts.listing_ttl);

	api_get_stats(s->api, &st);
	buf_printf(out, "\nrequests       %lu sent, %lu failed, %lu retries, %lu rate-limited (429)\n",
		   st.requests, st.failures, st.retries, st.rate_limited);
	api_describe_budget(s->api, out);
	if (st.server_remaining >= 0) {
		buf_printf(out, "server         %ld requests left", st.server_remaining);
		if (st.server_reset) {
			format_utc(st.server_reset, text, sizeof(text));
			buf_printf(out, ", window resets at %s", text);
		}
		buf_putc(out, '\n');
	}
	if (st.blocked_until > now) {
		format_utc(st.blocked_until, text, sizeof(text));
		buf_printf(out, "paused         by the server until %s\n", text);
	}
	buf_puts(out, "last error     ");
	if (st.last_error_at) {
		describe_time(out, st.last_error_at);
		buf_printf(out, ": %s\n", st.last_error);
	} else {
		buf_puts(out, "none\n");
	}
}
