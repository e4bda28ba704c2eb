/*
 * transcripts: sync's read-ahead. The conversations' listing order, and
 * transcripts fetched in batches around the one wanted (sync.h says
 * which); what `omifs sync` fetches and how long it says that takes.
 */
#include "sync_state.h"

#include "collections.h"
#include "hash.h"
#include "jsontext.h"
#include "log.h"
#include "model.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads the conversations' listing order from the store. */
struct order_builder {
	struct listing_order order;
	size_t cap;
	struct buf ids;
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
	sync_add_collected(&b->rewrite, xstrdup(id), sync_object_json(obj));
}

static int add_order(const char *id, const char *json, void *ctx)
{
	struct order_builder *b = ctx;
	json_object *obj = json_text_parse(json, strlen(json));
	struct conversation_ref *r;

	b->order.refs = xgrow(b->order.refs, &b->cap, b->order.n, sizeof(*b->order.refs), 256);
	r = &b->order.refs[b->order.n++];
	r->id = (uint32_t)b->ids.len;
	buf_append(&b->ids, id, strlen(id) + 1);
	r->dated = sync_created_at(obj, &r->created_at);
	note_old_form(b, id, obj);
	json_object_put(obj);
	return 0;
}

void sync_free_order(struct listing_order *o)
{
	free(o->refs);
	free(o->ids);
	free(o->index);
	memset(o, 0, sizeof(*o));
}

size_t sync_order_place(const struct listing_order *o, const char *id)
{
	if (!o->index)
		return 0;
	for (size_t i = hash_bytes(id, strlen(id)) & o->index_mask;; i = (i + 1) & o->index_mask) {
		uint32_t place = o->index[i];

		if (place == 0 || strcmp(sync_order_id(o, place - 1), id) == 0)
			return place;
	}
}

/* Indexes o's ids, the first place of an id listed twice winning (the
 * store keeps one row an id, so it is not). */
static void index_order(struct listing_order *o)
{
	size_t cap = 16;

	while (cap * 3 <= o->n * 4)
		cap *= 2;
	o->index = xcalloc(cap, sizeof(*o->index));
	o->index_mask = cap - 1;
	for (size_t place = 0; place < o->n; place++) {
		const char *id = sync_order_id(o, place);
		size_t i = hash_bytes(id, strlen(id)) & o->index_mask;

		while (o->index[i] && strcmp(sync_order_id(o, o->index[i] - 1), id) != 0)
			i = (i + 1) & o->index_mask;
		if (!o->index[i])
			o->index[i] = (uint32_t)place + 1;
	}
}

void sync_reload_order(struct sync *s)
{
	struct order_builder b = { .ids = BUF_INIT };
	size_t ids_len;

	store_foreach(s->store, STORE_CONVERSATIONS, add_order, &b);
	if (b.rewrite.n) {
		log_info("conversations: %zu cached entries brought to the current form", b.rewrite.n);
		store_rewrite_listing(s->store, STORE_CONVERSATIONS, b.rewrite.items, b.rewrite.n);
	}
	sync_free_collected(&b.rewrite);
	/* Kept for as long as the listing: no room left over from doubling. */
	if (b.order.n)
		b.order.refs = xrealloc(b.order.refs, b.order.n * sizeof(*b.order.refs));
	ids_len = b.ids.len;
	b.order.ids = buf_steal(&b.ids);
	if (ids_len)
		b.order.ids = xrealloc(b.order.ids, ids_len);
	index_order(&b.order);
	pthread_mutex_lock(&s->lock);
	sync_free_order(&s->order);
	s->order = b.order;
	pthread_mutex_unlock(&s->lock);
}

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
	json = sync_object_json(item);
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
	char **ids;		/* refs[i]'s id */
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
	return r->dated && !store_has_full_conversation(w->store, w->ids[i - w->first]);
}

static void free_window(struct window *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->ids[i]);
	free(w->ids);
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
	s->plan.n = s->order.n;
	sync_plan_batch(&s->plan, at, &lo, &hi);
	w.first = lo;
	w.n = hi - lo + 1;
	w.refs = xcalloc(w.n, sizeof(*w.refs));
	w.ids = xcalloc(w.n, sizeof(*w.ids));
	for (size_t i = 0; i < w.n; i++) {
		w.refs[i] = s->order.refs[lo + i];
		w.ids[i] = xstrdup(sync_order_id(&s->order, lo + i));
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
		hash_add(b->wanted, w.ids[i - lo], &b->received[picked]);
		picked++;
	}
	free_window(&w);
	return picked;
}

/* Why a fetch failed, and whether the server's answer was about the
 * wanted conversation alone (absent by its id, refused alone, missing
 * from the listing of its own dates) rather than trouble of the server's
 * or of the cache's, which every other fetch would meet too. */
struct fetch_failure {
	struct api_error err;
	bool alone;
};

/* For a conversation without a usable date: the backend's single GET.
 * On failure why says why. */
static int fetch_one(struct sync *s, const char *id, struct fetch_failure *why)
{
	char escaped[1024], path[1100];
	json_object *obj = NULL;
	enum api_result result;
	char *json;
	int rc;

	wire_query_escape(id, escaped, sizeof(escaped));
	snprintf(path, sizeof(path), "%s/%s", collection_of(STORE_CONVERSATIONS)->api_path,
		 escaped);
	result = source_get_json(&s->source, path, "include_transcript=true", &obj, &why->err);
	if (result != API_OK) {
		why->alone = result == API_E_NOT_FOUND || result == API_E_CLIENT;
		return result == API_E_NOT_FOUND ? -EIO : wire_result_errno(result);
	}
	json = sync_object_json(obj);
	rc = store_put_full_conversation(s->store, id, json);
	if (rc < 0)
		snprintf(why->err.message, sizeof(why->err.message), "the cache could not keep it: %s",
			 strerror(-rc));
	free(json);
	json_object_put(obj);
	return rc;
}

/* Fetches the batch picked around id (dates oldest..newest) with one
 * date-range listing. Returns 0 once id's transcript is in, -EINVAL when
 * the server refused the request (a 4xx), or another -errno, with why
 * saying why. */
static int fetch_batch(struct sync *s, const char *id, struct batch *b, size_t picked,
		       time_t oldest, time_t newest, struct fetch_failure *why)
{
	char query[256], start[32], end[32];
	enum api_result result;

	/* Whole seconds around the range: the server may keep fractions. */
	sync_format_date(oldest, start);
	sync_format_date(newest + 1, end);
	snprintf(query, sizeof(query), "include_transcript=true&start_date=%s&end_date=%s", start,
		 end);
	b->remaining = picked;
	log_debug("fetching %zu transcripts from %s to %s", picked, start, end);
	/* The largest page the API documents: a server serves what it allows
	 * and omifs pages on until the batch is in. */
	result = source_list(&s->source, collection_of(STORE_CONVERSATIONS)->api_path, query,
			  s->opts.page_size, store_full, b, &why->err);
	sync_keep_page_clamps(s);
	if (store_has_full_conversation(s->store, id))
		return 0;
	if (result == API_E_CLIENT)
		log_warn("the server refused the transcripts from %s to %s: %s", start, end,
			 why->err.message);
	if (result != API_OK)
		return result == API_E_CLIENT ? -EINVAL : wire_result_errno(result);
	if (b->store_errors) {
		snprintf(why->err.message, sizeof(why->err.message), "the cache could not keep them");
	} else {
		snprintf(why->err.message, sizeof(why->err.message),
			 "it was not in the listing of its own dates");
		why->alone = true;
	}
	return -EIO;
}

/*
 * Fetches id's transcript when the batch around it was refused: by a
 * range of its own second, then by the backend's single GET, so that one
 * conversation whose date the server cannot take costs its own
 * transcript at most, never its neighbours'. Returns 0 or -errno.
 */
static int fetch_alone(struct sync *s, const char *id, time_t created_at,
		       struct fetch_failure *why)
{
	struct batch alone = { .store = s->store, .wanted = hash_new() };
	bool received = false;
	int rc;

	hash_add(alone.wanted, id, &received);
	rc = fetch_batch(s, id, &alone, 1, created_at, created_at, why);
	hash_free(alone.wanted);
	return rc == -EINVAL ? fetch_one(s, id, why) : rc;
}

/* Remembers how the last batch went: after a failure, the next one waits
 * (sync_retry_pause), so that a broken server is not asked at every read. */
static void note_batch(struct sync *s, int rc, const struct api_error *err)
{
	pthread_mutex_lock(&s->lock);
	s->transcript_failures = rc < 0 ? s->transcript_failures + 1 : 0;
	s->transcript_error = rc;
	snprintf(s->transcript_why, sizeof(s->transcript_why), "%s",
		 rc >= 0 ? "" : err->message[0] ? err->message : strerror(-rc));
	s->transcripts_paused_until =
		rc < 0 ? time(NULL) + sync_retry_pause(s->transcript_failures) : 0;
	pthread_mutex_unlock(&s->lock);
}

/* The failure remembered of id while it still holds: an omifs refresh
 * since forgives it. NULL if none. transcript_lock held. */
static struct transcript_failure *failure_of(struct sync *s, const char *id, time_t forgiven)
{
	uintptr_t place = (uintptr_t)hash_get(s->failed_alone, id);
	struct transcript_failure *f = place ? &s->failures[place - 1] : NULL;

	return f && f->count && f->at > forgiven ? f : NULL;
}

/* Remembers that the server refused id's transcript alone: id is asked
 * again after a pause of its own, which grows as sync_retry_pause says,
 * and every other conversation is asked as before. transcript_lock held. */
static void note_failed_alone(struct sync *s, const char *id, const struct api_error *err,
			      time_t forgiven)
{
	uintptr_t place = (uintptr_t)hash_get(s->failed_alone, id);
	struct transcript_failure *f = failure_of(s, id, forgiven);
	time_t now = time(NULL);

	if (!place) {
		s->failures = xgrow(s->failures, &s->cap_failures, s->n_failures,
				    sizeof(*s->failures), 16);
		place = ++s->n_failures;
		hash_add(s->failed_alone, id, (void *)place);
	}
	if (!f) {
		pthread_mutex_lock(&s->lock);
		s->refused_alone++;
		pthread_mutex_unlock(&s->lock);
	}
	s->failures[place - 1] = (struct transcript_failure){
		.at = now, .count = f ? f->count + 1 : 1,
		.retry_at = now + sync_retry_pause(f ? f->count + 1 : 1),
	};
	log_warn("conversation %s: its transcript cannot be fetched: %s; asked again in %lld s",
		 id, err->message, (long long)(s->failures[place - 1].retry_at - now));
}

bool sync_transcript_failed_alone(struct sync *s, const char *id)
{
	time_t forgiven;
	bool failed;

	pthread_mutex_lock(&s->lock);
	forgiven = s->failures_forgiven;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&s->transcript_lock);
	failed = failure_of(s, id, forgiven) != NULL;
	pthread_mutex_unlock(&s->transcript_lock);
	return failed;
}

/* Asks the server for conversation id's transcript, which stands at
 * `position` of the listing order (counted from 1; 0: not listed), with
 * its batch's, and notes how that went. Returns 0 or -errno.
 * transcript_lock held. */
static int fetch_and_note(struct sync *s, const char *id, size_t position, bool dated,
			  time_t created_at, time_t forgiven)
{
	struct batch b = { .store = s->store, .wanted = hash_new() };
	struct fetch_failure why = { 0 };
	time_t oldest = 0, newest = 0;
	size_t picked = 0;
	int rc;

	if (dated)
		picked = pick_batch(s, position - 1, &b, &oldest, &newest);
	rc = !position ? -ENOENT : !dated ? fetch_one(s, id, &why)
		       : fetch_batch(s, id, &b, picked, oldest, newest, &why);
	if (rc == -EINVAL)
		rc = fetch_alone(s, id, created_at, &why);
	/* Give the batch's JSON back to the system rather than keep it. */
	malloc_trim(0);
	/* The server answered, about this one conversation: the others are
	 * not to wait for it. */
	if (rc < 0 && why.alone)
		note_failed_alone(s, id, &why.err, forgiven);
	else if (rc != -ENOENT)
		note_batch(s, rc, &why.err);
	hash_free(b.wanted);
	free(b.received);
	return rc;
}

int sync_fetch_transcript(struct sync *s, const char *id)
{
	struct transcript_failure *failed;
	time_t forgiven, created_at = 0;
	size_t position;
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
	pthread_mutex_lock(&s->lock);
	paused = time(NULL) < s->transcripts_paused_until;
	rc = s->transcript_error;
	forgiven = s->failures_forgiven;
	position = sync_order_place(&s->order, id);
	if (position) {
		dated = s->order.refs[position - 1].dated;
		created_at = s->order.refs[position - 1].created_at;
	}
	pthread_mutex_unlock(&s->lock);
	failed = failure_of(s, id, forgiven);
	if (failed && time(NULL) < failed->retry_at) {
		paused = true;
		rc = -EIO;
	}
	/* After a recent failed batch, fail fast rather than ask again. */
	if (!paused)
		rc = fetch_and_note(s, id, position, dated, created_at, forgiven);
	if (rc == 0 && failed) {
		failed->count = 0;
		pthread_mutex_lock(&s->lock);
		if (failed->at > s->failures_forgiven)
			s->refused_alone--;
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&s->transcript_lock);
	return rc;
}

/* The ids of the conversations lacking a transcript, in listing order. */
static char **missing_transcripts(struct sync *s, size_t *n_missing, size_t *total)
{
	char **ids;
	size_t kept = 0;

	pthread_mutex_lock(&s->lock);
	*total = s->order.n;
	ids = xcalloc(s->order.n + 1, sizeof(*ids));
	for (size_t i = 0; i < s->order.n; i++)
		ids[i] = xstrdup(sync_order_id(&s->order, i));
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
	e->seconds = source_budget_eta(&s->source, collection_of(STORE_CONVERSATIONS)->api_path, true,
				    (long)e->pages, &e->pace);
}

static void report_progress(struct sync *s, size_t total, sync_progress_fn progress, void *ctx)
{
	size_t done = store_count_full_conversations(s->store);

	progress(done < total ? done : total, total, ctx);
}

int sync_fetch_all_transcripts(struct sync *s, sync_progress_fn progress, void *ctx,
			       size_t *failed_alone)
{
	size_t n, total;
	char **ids = missing_transcripts(s, &n, &total);
	int rc = 0;

	*failed_alone = 0;
	report_progress(s, total, progress, ctx);
	for (size_t i = 0; i < n && rc == 0; i++) {
		/* Fetched already, as a neighbour of an earlier one? */
		if (store_has_full_conversation(s->store, ids[i]))
			continue;
		rc = sync_fetch_transcript(s, ids[i]);
		if (rc < 0 && sync_transcript_failed_alone(s, ids[i])) {
			(*failed_alone)++;
			rc = 0;
		}
		report_progress(s, total, progress, ctx);
	}
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return rc;
}
