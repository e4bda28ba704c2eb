/*
 * sync_reads: what the tree and the status file read through sync: a
 * file's JSON (fetched first if need be), the listings, sizes and dates
 * the cache keeps, searches, and sync's part of .omifs/status.
 */
#include "sync_state.h"

#include "collections.h"
#include "log.h"
#include "search.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(STATUS_COLLECTIONS == STORE_KINDS, "the status has a line for each collection");

static void describe_search(struct sync *s, char *out, size_t outlen)
{
	struct search_coverage coverage;
	struct buf line = BUF_INIT;

	search_coverage(s->store, &coverage);
	search_coverage_line(&coverage, &line);
	snprintf(out, outlen, "%s", line.data ? line.data : "");
	buf_free(&line);
}

/* How long kind's full listings take at half the budget, in c when that
 * is longer than the refresh interval: pages as the server serves them. */
static void full_period(struct sync *s, enum store_kind kind, struct status_collection *c)
{
	const char *path = collection_of(kind)->api_path, *policy;
	int page = source_page_size(&s->source, path, false, s->opts.page_size);
	double spread = source_budget_spread(&s->source, path, false, (long)(c->count / page + 1),
					  &policy);

	if (policy && spread > sync_full_interval(s, kind)) {
		c->full_period = (long)ceil(spread);
		c->period_policy = policy;
	}
}

void sync_status(struct sync *s, struct status *st)
{
	struct api_stats api;

	pthread_mutex_lock(&s->lock);
	for (int k = 0; k < STORE_KINDS; k++) {
		const struct kind_state *ks = &s->kinds[k];

		st->collections[k] = (struct status_collection){
			.name = collection_of(k)->dir, .listed_at = ks->listed_at,
			.not_served = !ks->listed_at && sync_not_served(k, ks->error),
			.count = ks->count, .refresh_error = ks->failed_at ? ks->error : 0,
			.skipped = ks->skipped, .pending = ks->pending, .held = ks->held,
			.locked = ks->locked, .so_far = ks->so_far,
			.continues_at = ks->so_far ? (time_t)ceil(ks->next_full) : 0,
			.paced_by = ks->so_far ? ks->paced_by : NULL,
			.listing_seconds = ks->listed_at ? ks->listing_seconds : -1,
		};
		snprintf(st->collections[k].held_why, sizeof(st->collections[k].held_why), "%s",
			 ks->held_why);
	}
	st->conversations = s->conversations.n;
	st->conversations_complete = s->kinds[STORE_CONVERSATIONS].listed_at != 0;
	st->refreshes_asked = s->refreshes_asked;
	st->refreshes_done = s->refreshes_done;
	st->refresh_error = s->refresh_error;
	st->refresh_failed = s->refresh_failed;
	st->transcripts_error = s->transcript_error;
	snprintf(st->transcripts_why, sizeof(st->transcripts_why), "%s", s->transcript_why);
	st->transcripts_retry_at = s->transcripts_paused_until;
	st->transcripts_refused_alone = s->refused_alone;
	pthread_mutex_unlock(&s->lock);
	for (int k = 0; k < STORE_KINDS; k++)
		full_period(s, k, &st->collections[k]);
	st->transcripts = store_count_full_conversations(s->store);
	st->cache_bytes = store_size(s->store);
	describe_search(s, st->search, sizeof(st->search));
	st->offline = s->opts.offline;
	st->refresh_interval = s->opts.refresh_interval;
	st->full_refresh_interval = s->opts.full_refresh_interval;
	source_get_stats(&s->source, &api);
	st->requests = api.requests;
	st->failures = api.failures;
	st->retries = api.retries;
	st->rate_limited = api.rate_limited;
	st->n_policies = source_budget_status(&s->source, st->policies, STATUS_POLICIES);
	st->server_remaining = api.server_remaining;
	st->server_reset = api.server_reset;
	st->waiting = api.waiting;
	st->now = time(NULL);
	st->blocked_until = api.blocked_until;
	st->bytes_received = api.bytes_received;
	memcpy(st->by_kind, api.by_kind, sizeof(st->by_kind));
	st->n_by_kind = api.n_by_kind;
	st->last_error_at = api.last_error_at;
	snprintf(st->last_error, sizeof(st->last_error), "%s", api.last_error);
	if (!store_last_error(s->store, st->cache_error, sizeof(st->cache_error),
			      &st->cache_error_at))
		st->cache_error_at = 0;
}

int sync_source_json(struct sync *s, enum store_kind kind, const char *id, uint64_t version,
		     bool full, char **json)
{
	int rc;

	*json = store_get_version(s->store, kind, id, version, full);
	if (!*json && full) {
		rc = sync_fetch_transcript(s, id);
		if (rc < 0)
			return rc;
		*json = store_get_version(s->store, kind, id, version, full);
		/* A version superseded before its transcript was fetched: the
		 * transcript it has is the current version's. */
		if (!*json && (*json = store_get_full_conversation(s->store, id)))
			return 1;
	}
	if (*json)
		return 0;
	log_error("the cache no longer keeps the version of %s a snapshot shows", id);
	return -EIO;
}

bool sync_would_fetch_transcript(struct sync *s, const char *id)
{
	return !s->opts.offline && !store_has_full_conversation(s->store, id);
}

int sync_note_json(struct sync *s, const char *id, uint64_t version, char **json, bool *full)
{
	int rc = sync_source_json(s, STORE_CONVERSATIONS, id, version, true, json);

	*full = rc >= 0;
	if (rc >= 0 || !s->opts.offline)
		return rc;
	return sync_source_json(s, STORE_CONVERSATIONS, id, version, false, json);
}

bool sync_item_locked(struct sync *s, enum store_kind kind, const char *id)
{
	return store_item_locked(s->store, kind, id);
}

int sync_foreach_file_date(struct sync *s, store_file_date_fn fn, void *ctx)
{
	return store_foreach_file_date(s->store, fn, ctx);
}

void sync_put_file_dates(struct sync *s, const struct store_file_date *rows, size_t n)
{
	store_put_file_dates(s->store, rows, n);
}

int64_t sync_date_file(struct sync *s, uint64_t ino, uint64_t digest, int64_t first,
		       int64_t changed)
{
	int64_t mtime = first;

	store_date_file(s->store, ino, digest, first, changed, &mtime);
	return mtime;
}

int sync_foreach_listed(struct sync *s, enum store_kind kind, store_item_fn fn, void *ctx)
{
	return store_foreach(s->store, kind, fn, ctx);
}

time_t sync_first_seen(struct sync *s, enum store_kind kind, const char *id)
{
	return store_first_seen(s->store, kind, id);
}

int sync_foreach_change(struct sync *s, int64_t after, store_change_fn fn, void *ctx)
{
	return store_foreach_change(s->store, after, 0, fn, ctx);
}

int64_t sync_last_change(struct sync *s)
{
	return store_last_change(s->store);
}

time_t sync_cache_created_at(struct sync *s)
{
	return store_created_at(s->store);
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

int sync_search(struct sync *s, const struct search_request *req, struct search_results *out,
		char *err, size_t errlen)
{
	return search_run(s->store, req, out, err, errlen);
}
