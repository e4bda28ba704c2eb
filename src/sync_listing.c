/*
 * sync_listing: a complete listing of one collection, on its way to the
 * store. Items are staged a part at a time as they arrive; the listing,
 * once whole, replaces the cached one under the deletion rules (two
 * listings must agree, and a shrink is held back: store_listing); one
 * stopped by the budget or a failure is kept and continued where it
 * stopped (pause_listing, continue_listing). A part of sync (sync_state.h).
 */
#include "sync_state.h"

#include "collections.h"
#include "jsontext.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Deletions that two complete listings agree on are still held back
 * (sync_accept_deletions) when a listing is empty, or when they and what
 * the collection lost over LOSS_WINDOW seconds come to more than
 * SUSPECT_PERCENT of it (and at least SUSPECT_MIN): an empty or garbled
 * answer, or one that shrinks a little each time, must not erase a
 * backup through rsync --delete. */
#define SUSPECT_PERCENT 25
#define SUSPECT_MIN 3
#define LOSS_WINDOW (24 * 3600)
/* Items of a complete listing held in memory before they go to the
 * store's staging: what memory holds of a listing of any length. */
#define STAGE_PART 256

/*
 * The form a listed item is stored in (caller frees), or NULL for an item
 * without a usable id (logged). Every item with an id is kept, whatever its
 * fields hold: model and render make the best of odd fields, and
 * conversation.json shows the object as it came. A conversation listed
 * with its transcript is first kept whole in fulls, when given (a failure
 * counted in *store_errors); its listing entry never holds the transcript.
 */
char *sync_listing_entry(enum store_kind kind, json_object *item, const char *id,
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
			char *full = sync_object_json(item);

			if (store_put_full_conversation(fulls, id, full) < 0)
				(*store_errors)++;
			free(full);
		}
		json_object_object_del(item, "transcript_segments");
	}
	return sync_object_json(item);
}

/* A complete listing on its way to the store's staging, STAGE_PART items
 * at a time. */
struct staging {
	struct store *store;
	const struct source *source; /* for the items' details (collection.detail_key) */
	enum store_kind kind;
	struct store *fulls;	/* listing with transcripts: keep them here */
	struct store_item part[STAGE_PART];
	bool locked[STAGE_PART];	/* part[i]'s text kept: the server sent it cut */
	size_t n;		/* items in part */
	size_t skipped;		/* items without a usable id */
	size_t received;	/* items this run of the listing was sent */
	size_t staged;		/* ... and staged */
	time_t oldest;		/* conversations: the oldest created_at staged, 0: none */
	bool undated;		/* conversations: one without a usable created_at */
	const char *overlap;	/* a run continued by offset: the id it must meet
				 * first, where the last run stopped; NULL: met */
	bool moved;		/* ... and it did not: the order moved */
	int store_errors;
};

/* Frees the items in st->part. */
static void drop_part(struct staging *st)
{
	for (size_t i = 0; i < st->n; i++) {
		free((char *)st->part[i].id);
		free((char *)st->part[i].json);
	}
	st->n = 0;
}

/* Stages the items in st->part and frees them. Returns 0 or -EIO. */
static int stage_part(struct staging *st)
{
	int rc = store_stage_items(st->store, st->kind, st->part, st->locked, st->n);

	drop_part(st);
	if (rc < 0)
		st->store_errors++;
	return rc;
}

/* Notes how far back in time a conversations listing has come: where
 * the next run of it continues (continue_listing). */
static void note_date(struct staging *st, json_object *item)
{
	time_t at;

	if (sync_created_at(item, &at)) {
		if (!st->oldest || at < st->oldest)
			st->oldest = at;
	} else {
		st->undated = true;
	}
}

/* Whether a and b hold the same JSON under key (both absent counts). */
static bool same_field(json_object *a, json_object *b, const char *key)
{
	json_object *x = NULL, *y = NULL;

	json_object_object_get_ex(a, key, &x);
	json_object_object_get_ex(b, key, &y);
	return json_object_equal(x, y);
}

/* Puts the item's detail (a goal's history) in it under the collection's
 * detail_key: the cached one while the item's updated_at has not moved,
 * else fetched. What the user had is never replaced by less: a fetch
 * that fails keeps the cached detail, or the item goes without one, to
 * be fetched at the next listing. */
static void add_detail(struct staging *st, json_object *item, const char *id)
{
	const struct collection *c = collection_of(st->kind);
	char *cached_json = store_get_item(st->store, st->kind, id);
	json_object *cached = cached_json ? json_text_parse(cached_json, strlen(cached_json)) : NULL;
	json_object *detail = NULL, *fetched = NULL;
	struct api_error err = { 0 };
	char escaped[1024], path[1200];

	free(cached_json);
	json_object_object_get_ex(cached, c->detail_key, &detail);
	if (!detail || !same_field(item, cached, "updated_at")) {
		wire_query_escape(id, escaped, sizeof(escaped));
		snprintf(path, sizeof(path), "%s/%s%s", c->api_path, escaped, c->detail_suffix);
		if (source_get_json(st->source, path, c->detail_query, &fetched, &err) == API_OK &&
		    json_object_is_type(fetched, json_type_array))
			detail = fetched;
		else
			log_warn("%s %s: its %s could not be fetched (%s); %s", c->one, id,
				 c->detail_key, err.message[0] ? err.message : "not a list",
				 detail ? "keeping the cached one" : "shown without it for now");
	}
	if (detail)
		json_object_object_add(item, c->detail_key, json_object_get(detail));
	json_object_put(fetched);
	json_object_put(cached);
}

static int stage_item(json_object *item, const char *id, void *ctx)
{
	struct staging *st = ctx;
	bool locked = st->kind == STORE_MEMORIES && id && sync_keep_locked_text(st->store, item, id);
	char *json;

	st->received++;
	if (st->overlap) {
		bool met = id && strcmp(id, st->overlap) == 0;

		st->overlap = NULL;
		st->moved = !met;
		if (met)
			return API_LIST_NEXT;
	}
	if (id && st->kind == STORE_CONVERSATIONS)
		note_date(st, item);
	if (id && source_serves(st->source) && collection_of(st->kind)->detail_key)
		add_detail(st, item, id);
	json = sync_listing_entry(st->kind, item, id, st->fulls, &st->store_errors);
	/* A cache that cannot keep what comes (a full disk) is not sent more. */
	if (st->store_errors) {
		free(json);
		return API_LIST_ABORT;
	}
	if (!json) {
		st->skipped++;
		return API_LIST_NEXT;
	}
	st->staged++;
	st->part[st->n].id = xstrdup(id);
	st->part[st->n].json = json;
	st->locked[st->n] = locked;
	if (++st->n == STAGE_PART && stage_part(st) < 0)
		return API_LIST_ABORT;
	return API_LIST_NEXT;
}

/* Why the deletions a complete listing confirms are to be held back,
 * written to why, or false: see sync_accept_deletions. recent: items of
 * the kind deleted over the last LOSS_WINDOW. */
static bool hold_deletions(const struct store_stage_census *c, size_t recent, char *why,
			   size_t whylen)
{
	size_t lost = c->confirmed + recent;

	if (c->confirmed == 0)
		return false;
	if (c->staged == 0) {
		snprintf(why, whylen, "the server listed none of the %zu", c->cached);
		return true;
	}
	if (lost < SUSPECT_MIN || lost * 100 <= (c->cached + recent) * SUSPECT_PERCENT)
		return false;
	snprintf(why, whylen, "%zu of %zu within a day, over %d%%", lost, c->cached + recent,
		 SUSPECT_PERCENT);
	return true;
}

/*
 * Puts the staged complete listing of kind in place of the cached one.
 * Items it lacks are kept and counted; those that the previous complete
 * listing lacked too are deleted, unless the guard holds them back
 * (hold_deletions), which the person's word (accept) lifts. A listing
 * that skipped items, or was continued where the server's order may have
 * moved (unsure), is incomplete: it may add and update, and neither
 * deletes nor counts. Sets *count to the items the listing now has.
 * Returns items changed or -errno. fetch_lock held.
 */
static int store_listing(struct sync *s, enum store_kind kind, size_t skipped, bool unsure,
			 bool fulls_listed, time_t now, size_t *count)
{
	struct kind_state *ks = &s->kinds[kind];
	struct store_stage_census c;
	enum store_vanished how = STORE_DELETE_CONFIRMED;
	size_t recent = 0;
	char why[sizeof(ks->held_why)] = "";
	bool accept;
	int rc;

	rc = store_stage_compare(s->store, kind, &c);
	if (rc == 0)
		rc = store_count_removed_since(s->store, kind, now - LOSS_WINDOW, &recent);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&s->lock);
	accept = ks->accept || s->opts.accept_shrink;
	pthread_mutex_unlock(&s->lock);
	if (skipped > 0 || unsure)
		how = STORE_KEEP_VANISHED;
	else if (!accept && hold_deletions(&c, recent, why, sizeof(why)))
		how = STORE_COUNT_VANISHED;
	if (how != STORE_DELETE_CONFIRMED && c.confirmed > 0)
		log_warn("%s: %zu items that two listings lack are kept: %s; omifs refresh "
			 "--accept-deletions MOUNTPOINT deletes them", collection_of(kind)->dir,
			 c.confirmed, skipped ? "the listing skipped items"
			 : unsure ? "the listing was continued where its order may have moved" : why);
	rc = store_stage_commit(s->store, kind, how, fulls_listed, now);
	*count = c.staged + c.vanished - (how == STORE_DELETE_CONFIRMED ? c.confirmed : 0);
	pthread_mutex_lock(&s->lock);
	ks->skipped = skipped;
	if (rc >= 0)
		ks->accept = false;
	snprintf(ks->held_why, sizeof(ks->held_why), "%s",
		 skipped ? "the last listing skipped items"
		 : unsure ? "the last listing was continued where its order may have moved" : why);
	pthread_mutex_unlock(&s->lock);
	sync_count_missing_and_locked(s, kind);
	return rc;
}

/* Seconds until a listing of kind stopped by the budget may go on: when
 * its next page fits (share), not a backoff that doubles with every hour
 * the listing has taken so far. Notes the policy it waits for. */
static double listing_budget_pause(struct sync *s, enum store_kind kind, enum budget_share share)
{
	const char *policy;
	double wait = source_budget_next_slot(&s->source, collection_of(kind)->api_path, false, share,
					   &policy);

	s->kinds[kind].paced_by = policy;
	return wait < 0.01 ? 0.01 : wait > 3600 ? 3600 : wait;
}

/* Records how a complete listing of kind begun at `now` ended: rc items
 * changed, count listed, or -errno; -EAGAIN of a background listing
 * (share) is its pace, no failure. took: its seconds (sync_clock's). */
static void note_listing(struct sync *s, enum store_kind kind, int rc, time_t now, size_t count,
			 enum budget_share share, double took)
{
	struct kind_state *ks = &s->kinds[kind];

	pthread_mutex_lock(&s->lock);
	if (rc >= 0) {
		ks->listed_at = now;
		ks->listing_seconds = took;
		ks->count = count;
		ks->failed_at = 0;
		ks->failures = 0;
		ks->error = 0;
		ks->asked = false;
		ks->paced_by = NULL;
		ks->next_full = now + sync_full_interval(s, kind);
		if (kind == STORE_CONVERSATIONS)
			s->next_quick = now + s->opts.refresh_interval;
	} else if (rc == -EAGAIN && share == BUDGET_BACKGROUND) {
		ks->next_full = sync_clock() + listing_budget_pause(s, kind, share);
	} else if (sync_not_served(kind, rc)) {
		/* No failure: this server has none. Asked again as often as a
		 * listing would be, in case it comes to serve them. */
		ks->error = rc;
		ks->asked = false;
		ks->next_full = now + sync_full_interval(s, kind);
	} else {
		/* From the failure, not from `now`: a listing that timed out
		 * after longer than the pause would otherwise be due again at
		 * once, and every reader queued behind it would run its own. */
		ks->failed_at = time(NULL);
		ks->failures++;
		ks->error = rc;
		ks->next_full = ks->failed_at + (rc == -EAGAIN && ks->so_far
						 ? listing_budget_pause(s, kind, share)
						 : sync_retry_pause(ks->failures));
		if (rc == -EACCES && ks->failures == 1)
			log_error("the server refused the key: refreshes pause (SIGHUP retries now)");
	}
	pthread_mutex_unlock(&s->lock);
}

/* Where kind's listing starts: where an unfinished one stopped, which it
 * continues (returns true, *p filled), or the top (the staging cleared).
 * A listing asked with transcripts does not continue one asked without,
 * nor the reverse. */
static bool start_listing(struct sync *s, struct staging *st, bool with_transcripts, time_t now,
			  struct store_stage_progress *p)
{
	int rc = store_stage_resume(s->store, st->kind, p);

	if (rc > 0 && p->fulls == with_transcripts)
		return true;
	if (rc < 0 || store_stage_clear(s->store, st->kind) < 0)
		st->store_errors++;
	free(p->last_id);
	memset(p, 0, sizeof(*p));
	p->fulls = with_transcripts;
	p->started_at = now;
	return false;
}

/* The query (into q) and offset that continue the listing p describes.
 * Conversations come newest first: asking up to the oldest staged (and
 * the second after it: the server keeps fractions) misses none, however
 * the top moved meanwhile. The others go on by offset, from the item
 * staged last: if it is not met there, items above it came or went, and
 * the listing, which may have missed one, deletes nothing (st->moved). */
static size_t continue_listing(struct staging *st, bool resumed, struct store_stage_progress *p,
			       struct buf *q)
{
	char end[32];

	if (p->fulls)
		buf_puts(q, "include_transcript=true");
	if (!resumed)
		return 0;
	if (st->kind == STORE_CONVERSATIONS && p->oldest) {
		sync_format_date(p->oldest + 1, end);
		buf_printf(q, "%send_date=%s", q->len ? "&" : "", end);
		return 0;
	}
	if (p->next_offset > 0 && p->last_id) {
		st->overlap = p->last_id;
		p->next_offset--;
	} else {
		p->unsure = true;
	}
	return p->next_offset;
}

/* Whether a conversation without a usable date was listed, now or
 * before: a listing continued by date cannot have seen all of those. */
static bool any_undated(struct sync *s, const struct staging *st)
{
	bool undated;

	pthread_mutex_lock(&s->lock);
	undated = st->undated || s->conversations.undated;
	pthread_mutex_unlock(&s->lock);
	return undated;
}

/* Keeps what an unfinished listing staged and where it stopped, for the
 * next one to continue (start_listing); a collection never listed
 * completely shows what is listed so far. Returns 0 or -errno (the
 * staging then dropped). fetch_lock held. */
static int pause_listing(struct sync *s, struct staging *st, struct store_stage_progress *p)
{
	struct kind_state *ks = &s->kinds[st->kind];
	bool never_listed;
	int shown = 0, rc = st->n ? stage_part(st) : 0;

	p->next_offset += st->received;
	p->oldest = st->oldest;
	p->skipped = st->skipped;
	p->unsure |= st->undated || st->moved;
	if (rc == 0)
		rc = store_stage_pause(s->store, st->kind, p);
	pthread_mutex_lock(&s->lock);
	never_listed = ks->listed_at == 0;
	pthread_mutex_unlock(&s->lock);
	if (rc == 0 && never_listed)
		shown = store_stage_show(s->store, st->kind, p->fulls);
	if (shown < 0)
		rc = -EIO;
	if (rc < 0) {
		store_stage_clear(s->store, st->kind);
		return rc;
	}
	pthread_mutex_lock(&s->lock);
	ks->so_far = p->staged + st->staged;
	/* An empty directory would claim a collection that has nothing. */
	ks->shown_partly |= never_listed && ks->so_far > 0;
	ks->shown_more |= shown > 0;
	pthread_mutex_unlock(&s->lock);
	log_info("%s: %zu listed so far; the listing continues later",
		 collection_of(st->kind)->dir, p->staged + st->staged);
	return 0;
}

/* Whether kind's tree shows an unfinished first listing. */
static bool shown_partly(struct sync *s, enum store_kind kind)
{
	bool shown;

	pthread_mutex_lock(&s->lock);
	shown = s->kinds[kind].shown_partly;
	pthread_mutex_unlock(&s->lock);
	return shown;
}

/* One run of a complete listing: where it starts and what it asks. */
struct listing_run {
	enum store_kind kind;
	bool with_transcripts;
	time_t now;		/* when it began: the listing's date */
	struct store_stage_progress progress; /* of the listing it continues */
	bool resumed;		/* ... if it continues one */
	struct api_list_start from;	/* where it starts, whose budget it spends */
	struct buf query;
};

/* Sets st and run up for kind's listing: where it starts (where an
 * unfinished one stopped) and the query that asks it. */
static void prepare_listing(struct sync *s, struct staging *st, struct listing_run *run)
{
	const struct collection *c = collection_of(run->kind);

	st->store = s->store;
	st->source = &s->source;
	st->kind = run->kind;
	st->fulls = run->with_transcripts ? s->store : NULL;
	run->resumed = start_listing(s, st, run->with_transcripts, run->now, &run->progress);
	st->skipped = run->progress.skipped;
	st->oldest = run->progress.oldest;
	run->from.offset = continue_listing(st, run->resumed, &run->progress, &run->query);
	run->from.whole = c->whole_listing;
	if (c->listing_query)
		buf_printf(&run->query, "%s%s", run->query.len ? "&" : "", c->listing_query);
	/* The key check fetched memories' first page: the first listing
	 * starts from it rather than ask for it again. */
	if (run->kind == STORE_MEMORIES && !s->used_first_page &&
	    !s->kinds[run->kind].listed_at && !run->resumed) {
		run->from.first_page = s->opts.first_memories_page;
		s->used_first_page = true;
	}
}

/* What the listing's result comes to: the listing put in place (items
 * changed, *count set), or -errno, what was staged then kept for the next
 * run to continue (pause_listing) or dropped. */
static int end_listing(struct sync *s, struct staging *st, struct listing_run *run,
		       enum api_result result, const struct api_error *err, size_t *count)
{
	const char *dir = collection_of(run->kind)->dir;
	int rc;

	if (result == API_OK) {
		/* A run that never met its overlap item found the order moved. */
		rc = store_listing(s, run->kind, st->skipped,
				   run->progress.unsure || st->moved || st->overlap ||
				   (run->resumed && any_undated(s, st)),
				   run->with_transcripts, run->now, count);
		if (rc > 0)
			log_info("%s: %d items added, changed or removed", dir, rc);
	} else if (result == API_E_NOT_FOUND && collection_of(run->kind)->optional) {
		rc = -ENOENT;
		log_info("%s: this server serves none (404)", dir);
		store_note_not_served(s->store, run->kind, run->now);
	} else {
		rc = result == API_E_CANCELLED ? -EIO : wire_result_errno(result);
		if (result != API_E_CANCELLED &&
		    !(rc == -EAGAIN && run->from.share == BUDGET_BACKGROUND))
			log_warn("listing %s failed, keeping what is cached: %s", dir, err->message);
	}
	if (rc < 0 && (st->store_errors || (!run->resumed && !st->received) ||
		       pause_listing(s, st, &run->progress) < 0))
		store_stage_clear(s->store, run->kind);
	if (rc >= 0) {
		pthread_mutex_lock(&s->lock);
		s->kinds[run->kind].so_far = 0;
		s->kinds[run->kind].shown_partly = false;
		pthread_mutex_unlock(&s->lock);
	}
	return rc;
}

/* Lists kind completely and stores it; conversations with their
 * transcripts when with_transcripts. A listing that stops before its end
 * is continued by the next (pause_listing): a background one (share)
 * stops whenever its next page does not fit its share of the budget.
 * Returns how many items changed, or -errno. fetch_lock held. */
int sync_list_kind(struct sync *s, enum store_kind kind, bool with_transcripts,
		   enum budget_share share)
{
	struct staging *st = xcalloc(1, sizeof(*st));
	struct listing_run run = { .kind = kind, .with_transcripts = with_transcripts,
				   .from = { .share = share }, .now = time(NULL),
				   .query = BUF_INIT };
	struct api_error err = { 0 };
	enum api_result result = API_E_PROTOCOL;
	double started = sync_clock();
	size_t count = 0;
	int rc;

	prepare_listing(s, st, &run);
	if (!st->store_errors)
		result = source_list_at(&s->source, collection_of(kind)->api_path,
					run.query.len ? run.query.data : NULL, s->opts.page_size,
					&run.from, stage_item, st, &err);
	if (result == API_OK)
		stage_part(st);
	if (st->store_errors && result != API_E_CANCELLED) {
		snprintf(err.message, sizeof(err.message), "the cache could not keep the listing");
		result = API_E_PROTOCOL;
	}
	rc = end_listing(s, st, &run, result, &err, &count);
	drop_part(st);
	free(st);
	free(run.progress.last_id);
	buf_free(&run.query);
	sync_keep_page_clamps(s);
	/* Stopping is no failure of the server's: nothing to note. */
	if (result != API_E_CANCELLED)
		note_listing(s, kind, rc, run.now, count, share, sync_clock() - started);
	if (kind == STORE_CONVERSATIONS && (rc > 0 || (rc < 0 && shown_partly(s, kind))))
		sync_summarize_conversations(s);
	return rc;
}
