/*
 * transcripts: sync's read-ahead. The conversations' listing summary, and
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

/* Reads the conversations' listing summary from the store. */
struct summary_builder {
	struct listing_summary summary;
	struct collected rewrite;	/* entries stored with transcript_segments */
};

/* Caches made before listing entries lost their transcript_segments
 * (backend listings send null there) are brought to the form
 * collect_item stores now; otherwise every entry would look changed at
 * the next listing and every transcript would be fetched again. */
static void note_old_form(struct summary_builder *b, const char *id, json_object *obj)
{
	if (!json_object_object_get_ex(obj, "transcript_segments", NULL))
		return;
	json_object_object_del(obj, "transcript_segments");
	sync_add_collected(&b->rewrite, xstrdup(id), sync_object_json(obj));
}

static int add_to_summary(const char *id, const char *json, void *ctx)
{
	struct summary_builder *b = ctx;
	json_object *obj = json_text_parse(json, strlen(json));
	time_t created_at;

	b->summary.n++;
	if (!sync_created_at(obj, &created_at))
		b->summary.undated = true;
	else if (created_at > b->summary.newest)
		b->summary.newest = created_at;
	note_old_form(b, id, obj);
	json_object_put(obj);
	return 0;
}

void sync_summarize_conversations(struct sync *s)
{
	struct summary_builder b = { 0 };

	store_foreach(s->store, STORE_CONVERSATIONS, add_to_summary, &b);
	if (b.rewrite.n) {
		log_info("conversations: %zu cached entries brought to the current form", b.rewrite.n);
		store_rewrite_listing(s->store, STORE_CONVERSATIONS, b.rewrite.items, b.rewrite.n);
	}
	sync_free_collected(&b.rewrite);
	pthread_mutex_lock(&s->lock);
	s->conversations = b.summary;
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

/* The conversation whose transcript is wanted, and what pick_batch
 * needs of it. */
struct wanted {
	const char *id;
	size_t place;		/* in the listing order, counted from 1; 0: not listed */
	bool dated;
	time_t created_at;
};

/* A window of the listing order: its dated conversations but the
 * wanted one, copied out of the store's walk, which must not call the
 * store back (ARCHITECTURE.md, "Locks"). */
struct window {
	const char *wanted;
	struct window_entry {
		char *id;
		time_t created_at;
	} *entries;
	size_t n, cap;
};

/* Whether the listing entry json has a usable created_at, put in *at. */
static bool entry_created_at(const char *json, time_t *at)
{
	json_object *obj = json_text_parse(json, strlen(json));
	bool dated = sync_created_at(obj, at);

	json_object_put(obj);
	return dated;
}

static int add_to_window(const char *id, const char *json, void *ctx)
{
	struct window *w = ctx;
	time_t created_at;

	if (strcmp(id, w->wanted) == 0)
		return 0;
	if (entry_created_at(json, &created_at)) {
		w->entries = xgrow(w->entries, &w->cap, w->n, sizeof(*w->entries), 32);
		w->entries[w->n++] = (struct window_entry){ xstrdup(id), created_at };
	}
	return 0;
}

/* Adds conversation id, created at created_at, to batch b (which has
 * room) and to the date range [*oldest, *newest] of the *picked before. */
static void pick(struct batch *b, size_t *picked, const char *id, time_t created_at,
		 time_t *oldest, time_t *newest)
{
	if (*picked == 0 || created_at < *oldest)
		*oldest = created_at;
	if (*picked == 0 || created_at > *newest)
		*newest = created_at;
	hash_add(b->wanted, id, &b->received[*picked]);
	(*picked)++;
}

/*
 * Picks the batch for the wanted conversation (dated) by read-ahead (see
 * sync_plan_batch): itself, and the conversations of its window that are
 * dated and lack their transcript. Fills b and the date range, and
 * returns how many were picked. The window is read from the store with
 * no lock of sync's held. transcript_lock held.
 */
static size_t pick_batch(struct sync *s, const struct wanted *wanted, struct batch *b,
			 time_t *oldest, time_t *newest)
{
	struct window w = { .wanted = wanted->id };
	size_t lo, hi, picked = 0;

	pthread_mutex_lock(&s->lock);
	s->plan.n = s->conversations.n;
	pthread_mutex_unlock(&s->lock);
	/* The listing may have grown since it was summarized. */
	if (s->plan.n < wanted->place)
		s->plan.n = wanted->place;
	sync_plan_batch(&s->plan, wanted->place - 1, &lo, &hi);
	store_foreach_from(s->store, STORE_CONVERSATIONS, lo, hi - lo + 1, add_to_window, &w);
	b->received = xcalloc(w.n + 1, sizeof(bool));
	pick(b, &picked, wanted->id, wanted->created_at, oldest, newest);
	for (size_t i = 0; i < w.n; i++) {
		if (!store_has_full_conversation(s->store, w.entries[i].id))
			pick(b, &picked, w.entries[i].id, w.entries[i].created_at, oldest, newest);
		free(w.entries[i].id);
	}
	free(w.entries);
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

/* Asks the server for the wanted conversation's transcript, with its
 * batch's, and notes how that went. Returns 0 or -errno.
 * transcript_lock held. */
static int fetch_and_note(struct sync *s, const struct wanted *wanted, time_t forgiven)
{
	const char *id = wanted->id;
	struct batch b = { .store = s->store, .wanted = hash_new() };
	struct fetch_failure why = { 0 };
	time_t oldest = 0, newest = 0;
	size_t picked = 0;
	int rc;

	if (wanted->place && wanted->dated)
		picked = pick_batch(s, wanted, &b, &oldest, &newest);
	rc = !wanted->place ? -ENOENT : !wanted->dated ? fetch_one(s, id, &why)
			    : fetch_batch(s, id, &b, picked, oldest, newest, &why);
	if (rc == -EINVAL)
		rc = fetch_alone(s, id, wanted->created_at, &why);
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

/* What pick_batch needs of conversation id: its place and date, as the
 * store has them now. */
static void find_wanted(struct sync *s, const char *id, struct wanted *w)
{
	char *json;

	*w = (struct wanted){ .id = id };
	w->place = store_listing_place(s->store, STORE_CONVERSATIONS, id);
	json = w->place ? store_get_item(s->store, STORE_CONVERSATIONS, id) : NULL;
	if (!json)
		return;
	w->dated = entry_created_at(json, &w->created_at);
	free(json);
}

int sync_fetch_transcript(struct sync *s, const char *id)
{
	struct transcript_failure *failed;
	struct wanted wanted;
	time_t forgiven;
	bool paused;
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
	pthread_mutex_unlock(&s->lock);
	failed = failure_of(s, id, forgiven);
	if (failed && time(NULL) < failed->retry_at) {
		paused = true;
		rc = -EIO;
	}
	/* After a recent failed batch, fail fast rather than ask again. */
	if (!paused) {
		find_wanted(s, id, &wanted);
		rc = fetch_and_note(s, &wanted, forgiven);
	}
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

/* The ids of the listed conversations, in listing order. */
struct id_list {
	char **ids;
	size_t n, cap;
};

static int add_id(const char *id, const char *json, void *ctx)
{
	struct id_list *l = ctx;

	(void)json;
	l->ids = xgrow(l->ids, &l->cap, l->n, sizeof(*l->ids), 256);
	l->ids[l->n++] = xstrdup(id);
	return 0;
}

/* The ids of the conversations lacking a transcript, in listing order;
 * *total: how many are listed. */
static char **missing_transcripts(struct sync *s, size_t *n_missing, size_t *total)
{
	struct id_list listed = { 0 };
	size_t kept = 0;

	store_foreach(s->store, STORE_CONVERSATIONS, add_id, &listed);
	*total = listed.n;
	for (size_t i = 0; i < listed.n; i++) {
		if (store_has_full_conversation(s->store, listed.ids[i]))
			free(listed.ids[i]);
		else
			listed.ids[kept++] = listed.ids[i];
	}
	*n_missing = kept;
	return listed.ids;
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
