/*
 * sync: listings, refreshes and transcript batches. See sync.h.
 * (sync_state.h has the struct and the lock order; transcripts.c the
 * read-ahead; sync_reads.c what the tree reads.)
 *
 * The refresher thread sleeps in poll() on a pipe until the next refresh
 * is due; sync_request_refresh() (a signal handler may call it) and
 * sync_free() write to the pipe to wake it.
 */
#include "sync_state.h"

#include "collections.h"
#include "hash.h"
#include "jsontext.h"
#include "log.h"
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Items asked per page when looking for new conversations, from this
 * many seconds before the newest known: a request or two, however long
 * the listing, even when the newest known was deleted meanwhile. */
#define QUICK_PAGE 25
#define QUICK_OVERLAP 600
/* Deletions that two complete listings agree on are still held back
 * (sync_accept_deletions) when a listing is empty, or when they and what
 * the collection lost over LOSS_WINDOW seconds come to more than
 * SUSPECT_PERCENT of it (and at least SUSPECT_MIN): an empty or garbled
 * answer, or one that shrinks a little each time, must not erase a
 * backup through rsync --delete. */
#define SUSPECT_PERCENT 25
#define SUSPECT_MIN 3
#define LOSS_WINDOW (24 * 3600)
/* Deleted items stay in the cache this long (not in the tree). */
#define REMOVED_KEPT (30 * 24 * 3600)
/* A superseded version outlives the snapshots of this process that name
 * it, and this many seconds: another omifs's mount on the same cache
 * shows a commit within 2 s. */
#define VERSION_GRACE 60
/* Items of a complete listing held in memory before they go to the
 * store's staging: what memory holds of a listing of any length. */
#define STAGE_PART 256

int sync_full_interval(const struct sync *s, enum store_kind kind)
{
	return kind == STORE_CONVERSATIONS ? s->opts.full_refresh_interval
					   : s->opts.refresh_interval;
}

/* Reads kind's pending and held deletions and its locked items from the
 * store into its state. */
static void count_missing_and_locked(struct sync *s, enum store_kind kind)
{
	size_t pending = 0, held = 0, locked = store_count_locked(s->store, kind);

	store_count_missing(s->store, kind, &pending, &held);
	pthread_mutex_lock(&s->lock);
	s->kinds[kind].pending = pending;
	s->kinds[kind].held = held;
	s->kinds[kind].locked = locked;
	if (!held)
		s->kinds[kind].held_why[0] = '\0';
	pthread_mutex_unlock(&s->lock);
}

struct sync *sync_new(const struct source *source, struct store *store,
		      const struct sync_options *opts)
{
	struct sync *s = xcalloc(1, sizeof(*s));

	if (source)
		s->source = *source;
	s->store = store;
	s->opts = *opts;
	s->wake[0] = s->wake[1] = -1;
	pthread_mutex_init(&s->transcript_lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	s->failed_alone = hash_new();
	for (int k = 0; k < STORE_KINDS; k++) {
		struct kind_state *ks = &s->kinds[k];
		time_t not_served = collection_of(k)->optional ? store_not_served_at(store, k) : 0;

		pthread_mutex_init(&ks->fetch_lock, NULL);
		ks->error = -EIO;
		ks->listing_seconds = -1;
		if (store_listing_info(store, k, &ks->listed_at, &ks->count) == 0) {
			ks->error = 0;
			ks->next_full = ks->listed_at + sync_full_interval(s, k);
		} else if (not_served) {
			/* Asked again when a listing would be, not at every mount. */
			ks->error = -ENOENT;
			ks->next_full = not_served + sync_full_interval(s, k);
		} else {
			/* What an unfinished first listing showed before. */
			ks->shown_partly = store_listing_size(store, k) > 0;
		}
	}
	s->next_quick = s->kinds[STORE_CONVERSATIONS].listed_at + opts->refresh_interval;
	s->plan.initial = opts->transcript_batch > 0 ? (size_t)opts->transcript_batch : 1;
	s->plan.walking = (size_t)opts->transcript_page > s->plan.initial ? (size_t)opts->transcript_page
									  : s->plan.initial;
	atomic_init(&s->versions_floor, UINT64_MAX);
	for (int k = 0; k < STORE_KINDS; k++)
		count_missing_and_locked(s, k);
	sync_load_page_clamps(s);
	sync_reload_order(s);
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
	sync_free_order(&s->order);
	hash_free(s->failed_alone);
	free(s->failures);
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
			char *full = sync_object_json(item);

			if (store_put_full_conversation(fulls, id, full) < 0)
				(*store_errors)++;
			free(full);
		}
		json_object_object_del(item, "transcript_segments");
	}
	return sync_object_json(item);
}

/* Collects new conversations until one is known already. */
static int collect_new(json_object *item, const char *id, void *ctx)
{
	struct collected *c = ctx;
	char *json = listing_entry(STORE_CONVERSATIONS, item, id, NULL, NULL);
	bool known;

	if (!json)
		return API_LIST_NEXT;
	sync_add_collected(c, xstrdup(id), json);
	pthread_mutex_lock(&c->stop_at_known->lock);
	known = sync_order_place(&c->stop_at_known->order, id) != 0;
	pthread_mutex_unlock(&c->stop_at_known->lock);
	return known ? API_LIST_DONE : API_LIST_NEXT;
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

/* Stages the items in st->part and frees them. Returns 0 or -EIO. */
static int stage_part(struct staging *st)
{
	int rc = store_stage_items(st->store, st->kind, st->part, st->locked, st->n);

	for (size_t i = 0; i < st->n; i++) {
		free((char *)st->part[i].id);
		free((char *)st->part[i].json);
	}
	st->n = 0;
	if (rc < 0)
		st->store_errors++;
	return rc;
}

/* The backend sends a memory locked by a plan's limits with its content
 * cut to its first LOCKED_CHARS characters (code points) and "...". */
#define LOCKED_CHARS 70

/* The offset in s (n bytes of UTF-8) just after its first `chars`
 * characters, or n when it has no more than that; *count gets how many
 * characters that offset is past (at most chars). */
static size_t utf8_skip(const char *s, size_t n, size_t chars, size_t *count)
{
	size_t i = 0;

	*count = 0;
	while (i < n && *count < chars) {
		for (i++; i < n && ((unsigned char)s[i] & 0xC0) == 0x80; i++)
			;
		(*count)++;
	}
	return i;
}

/* Whether text, n bytes, has the shape of a locked memory's content. */
static bool looks_locked(const char *text, size_t n)
{
	size_t count;

	return n > 3 && memcmp(text + n - 3, "...", 3) == 0 &&
	       utf8_skip(text, n - 3, LOCKED_CHARS + 1, &count) == n - 3 && count == LOCKED_CHARS;
}

bool sync_is_locked_stub(const char *stub, size_t stub_len, const char *full, size_t full_len)
{
	size_t count, cut = utf8_skip(full, full_len, LOCKED_CHARS, &count);

	return looks_locked(stub, stub_len) && count == LOCKED_CHARS && cut < full_len &&
	       cut == stub_len - 3 &&
	       memcmp(stub, full, cut) == 0 &&
	       !(full_len == stub_len && memcmp(stub, full, stub_len) == 0);
}

/* What the user had is never replaced by less: a memory the server now
 * sends cut keeps the text cached. Returns whether item's content was put
 * back. Only a content of the stub's shape costs a look in the cache. */
static bool keep_locked_text(struct store *store, json_object *item, const char *id)
{
	json_object *content, *cached = NULL, *cached_content;
	char *cached_json;
	bool kept = false;

	if (!json_object_object_get_ex(item, "content", &content) ||
	    !json_object_is_type(content, json_type_string) ||
	    !looks_locked(json_object_get_string(content), json_object_get_string_len(content)) ||
	    !(cached_json = store_get_item(store, STORE_MEMORIES, id)))
		return false;
	cached = json_text_parse(cached_json, strlen(cached_json));
	free(cached_json);
	if (cached && json_object_object_get_ex(cached, "content", &cached_content) &&
	    json_object_is_type(cached_content, json_type_string) &&
	    sync_is_locked_stub(json_object_get_string(content), json_object_get_string_len(content),
				json_object_get_string(cached_content),
				json_object_get_string_len(cached_content))) {
		json_object_object_add(item, "content", json_object_get(cached_content));
		kept = true;
	}
	json_object_put(cached);
	return kept;
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
	bool locked = st->kind == STORE_MEMORIES && id && keep_locked_text(st->store, item, id);
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
	json = listing_entry(st->kind, item, id, st->fulls, &st->store_errors);
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
	count_missing_and_locked(s, kind);
	return rc;
}

/* Forgets the versions no snapshot names any more, and deleted items
 * older than REMOVED_KEPT. */
static void prune_versions(struct sync *s)
{
	uint64_t floor = atomic_load(&s->versions_floor), count = store_listings_count(s->store);
	time_t now = time(NULL);

	if (!s->opts.offline)
		store_prune_versions(s->store, floor < count ? floor : count, now - VERSION_GRACE,
				     now - REMOVED_KEPT);
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
	bool undated = st->undated;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->order.n && !undated; i++)
		undated = !s->order.refs[i].dated;
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

/* Lists kind completely and stores it; conversations with their
 * transcripts when with_transcripts. A listing that stops before its end
 * is continued by the next (pause_listing): a background one (share)
 * stops whenever its next page does not fit its share of the budget.
 * Returns how many items changed, or -errno. fetch_lock held. */
static int list_kind_how(struct sync *s, enum store_kind kind, bool with_transcripts,
			 enum budget_share share)
{
	struct staging *st = xcalloc(1, sizeof(*st));
	struct store_stage_progress p;
	struct api_list_start from = { .share = share };
	struct api_error err = { 0 };
	enum api_result result = API_E_PROTOCOL;
	struct buf query = BUF_INIT;
	time_t now = time(NULL);
	double started = sync_clock();
	size_t count = 0;
	bool resumed;
	int rc;

	st->store = s->store;
	st->source = &s->source;
	st->kind = kind;
	st->fulls = with_transcripts ? s->store : NULL;
	resumed = start_listing(s, st, with_transcripts, now, &p);
	st->skipped = p.skipped;
	st->oldest = p.oldest;
	from.offset = continue_listing(st, resumed, &p, &query);
	from.whole = collection_of(kind)->whole_listing;
	if (collection_of(kind)->listing_query)
		buf_printf(&query, "%s%s", query.len ? "&" : "", collection_of(kind)->listing_query);
	/* The key check fetched memories' first page: the first listing
	 * starts from it rather than ask for it again. */
	if (kind == STORE_MEMORIES && !s->used_first_page && !s->kinds[kind].listed_at &&
	    !resumed) {
		from.first_page = s->opts.first_memories_page;
		s->used_first_page = true;
	}
	if (!st->store_errors)
		result = source_list_at(&s->source, collection_of(kind)->api_path,
				     query.len ? query.data : NULL, s->opts.page_size, &from,
				     stage_item, st, &err);
	if (result == API_OK)
		stage_part(st);
	if (st->store_errors && result != API_E_CANCELLED) {
		snprintf(err.message, sizeof(err.message), "the cache could not keep the listing");
		result = API_E_PROTOCOL;
	}
	if (result == API_OK) {
		/* A run that never met its overlap item found the order moved. */
		rc = store_listing(s, kind, st->skipped,
				   p.unsure || st->moved || st->overlap ||
				   (resumed && any_undated(s, st)),
				   with_transcripts, now, &count);
		if (rc > 0)
			log_info("%s: %d items added, changed or removed", collection_of(kind)->dir,
				 rc);
	} else if (result == API_E_NOT_FOUND && collection_of(kind)->optional) {
		rc = -ENOENT;
		log_info("%s: this server serves none (404)", collection_of(kind)->dir);
		store_note_not_served(s->store, kind, now);
	} else {
		rc = result == API_E_CANCELLED ? -EIO : wire_result_errno(result);
		if (result != API_E_CANCELLED && !(rc == -EAGAIN && share == BUDGET_BACKGROUND))
			log_warn("listing %s failed, keeping what is cached: %s",
				 collection_of(kind)->dir, err.message);
	}
	if (rc < 0 && (st->store_errors || (!resumed && !st->received) ||
		       pause_listing(s, st, &p) < 0))
		store_stage_clear(s->store, kind);
	if (rc >= 0) {
		pthread_mutex_lock(&s->lock);
		s->kinds[kind].so_far = 0;
		s->kinds[kind].shown_partly = false;
		pthread_mutex_unlock(&s->lock);
	}
	for (size_t i = 0; i < st->n; i++) {
		free((char *)st->part[i].id);
		free((char *)st->part[i].json);
	}
	free(st);
	free(p.last_id);
	buf_free(&query);
	sync_keep_page_clamps(s);
	/* Stopping is no failure of the server's: nothing to note. */
	if (result != API_E_CANCELLED)
		note_listing(s, kind, rc, now, count, share, sync_clock() - started);
	if (kind == STORE_CONVERSATIONS && (rc > 0 || (rc < 0 && shown_partly(s, kind))))
		sync_reload_order(s);
	return rc;
}

/* Lists kind: a first listing, or one the person asked for, at the
 * budget's full pace; the refresher's others in the background. */
static int list_kind(struct sync *s, enum store_kind kind)
{
	enum budget_share share;

	pthread_mutex_lock(&s->lock);
	share = s->kinds[kind].listed_at && !s->kinds[kind].asked ? BUDGET_BACKGROUND
								    : BUDGET_FOREGROUND;
	pthread_mutex_unlock(&s->lock);
	return list_kind_how(s, kind, false, share);
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

void sync_ensure_optional_listed(struct sync *s)
{
	for (int k = 0; k < STORE_KINDS; k++)
		if (collection_of(k)->optional)
			sync_ensure_listed(s, k);
}

/* The newest created_at of the conversations known, or 0 when none has
 * one. */
static time_t newest_known(struct sync *s)
{
	time_t newest = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->order.n; i++)
		if (s->order.refs[i].dated && s->order.refs[i].created_at > newest)
			newest = s->order.refs[i].created_at;
	pthread_mutex_unlock(&s->lock);
	return newest;
}

/* Looks for conversations newer than the newest known: pages from the
 * newest, since a little before the newest known, until one holds a known
 * id. Returns items added or changed. */
static int find_new_conversations(struct sync *s)
{
	struct collected got = { .stop_at_known = s };
	struct api_error err;
	enum api_result result;
	time_t now = time(NULL), newest = newest_known(s);
	char since[32], query[48] = "";
	int rc;

	if (newest > QUICK_OVERLAP) {
		sync_format_date(newest - QUICK_OVERLAP, since);
		snprintf(query, sizeof(query), "start_date=%s", since);
	}
	result = source_list(&s->source, collection_of(STORE_CONVERSATIONS)->api_path,
			  query[0] ? query : NULL, QUICK_PAGE, collect_new, &got, &err);
	if (result == API_OK) {
		rc = store_merge_listing(s->store, STORE_CONVERSATIONS, got.items, got.n);
		if (rc > 0)
			log_info("conversations: %d new or changed", rc);
	} else {
		log_warn("looking for new conversations failed: %s", err.message);
		rc = wire_result_errno(result);
	}
	pthread_mutex_lock(&s->lock);
	/* Its failures pace the complete listing's too: one server, one outage. */
	s->next_quick = rc >= 0 ? now + s->opts.refresh_interval
				: time(NULL) + sync_retry_pause(s->kinds[STORE_CONVERSATIONS].failures + 1);
	pthread_mutex_unlock(&s->lock);
	sync_free_collected(&got);
	if (rc > 0)
		sync_reload_order(s);
	return rc;
}

static bool full_listing_due(struct sync *s, enum store_kind kind, double now)
{
	bool due;

	pthread_mutex_lock(&s->lock);
	due = s->kinds[kind].next_full <= now;
	pthread_mutex_unlock(&s->lock);
	return due;
}

/* Tells the tree (the changed callback) that the store changed. */
static void tell_changed(struct sync *s)
{
	if (s->changed)
		s->changed(s->changed_ctx);
}

/* How often the refresher looks for another omifs's writes to the cache. */
#define ELSEWHERE_CHECK_MS 2000

/* Takes in what another omifs wrote: its listings count as this one's
 * (nothing is listed again sooner than the refresh intervals say), and
 * the order of conversations follows when they changed. */
static void adopt_changes_elsewhere(struct sync *s, bool listings_changed)
{
	time_t listed_at[STORE_KINDS];
	size_t count[STORE_KINDS];
	bool listed[STORE_KINDS], conversations = listings_changed;

	for (int k = 0; k < STORE_KINDS; k++)
		listed[k] = store_listing_info(s->store, k, &listed_at[k], &count[k]) == 0;
	pthread_mutex_lock(&s->lock);
	for (int k = 0; k < STORE_KINDS; k++) {
		struct kind_state *ks = &s->kinds[k];

		if (!listed[k] || listed_at[k] <= ks->listed_at)
			continue;
		ks->listed_at = listed_at[k];
		ks->count = count[k];
		ks->error = 0;
		ks->next_full = listed_at[k] + sync_full_interval(s, k);
		conversations |= k == STORE_CONVERSATIONS;
	}
	pthread_mutex_unlock(&s->lock);
	for (int k = 0; k < STORE_KINDS && listings_changed; k++)
		count_missing_and_locked(s, k);
	if (conversations)
		sync_reload_order(s);
}

/* Shows what another omifs committed, if it did.
 * The tree is told first, with the collections as this mount had them:
 * one that only the other omifs listed shows next, as a first listing
 * does, with nothing cached below it to drop. */
static void show_changes_elsewhere(struct sync *s)
{
	enum store_elsewhere what = store_changed_elsewhere(s->store);

	if (what == STORE_ELSEWHERE_NOTHING)
		return;
	if (what == STORE_ELSEWHERE_LISTINGS)
		tell_changed(s);
	adopt_changes_elsewhere(s, what == STORE_ELSEWHERE_LISTINGS);
}

/* Makes the listings that are due, telling after each one that changed
 * something: a collection's news need not wait for the others' listings. */
static void refresh_due(struct sync *s)
{
	double now = sync_clock();
	bool changed, quick;

	for (int k = 0; k < STORE_KINDS; k++) {
		pthread_mutex_lock(&s->kinds[k].fetch_lock);
		/* Decided under fetch_lock: a first listing made by a reader
		 * while we waited for it is not made again. */
		changed = full_listing_due(s, k, now) && list_kind(s, k) > 0;
		pthread_mutex_unlock(&s->kinds[k].fetch_lock);
		pthread_mutex_lock(&s->lock);
		changed |= s->kinds[k].shown_more;
		s->kinds[k].shown_more = false;
		pthread_mutex_unlock(&s->lock);
		if (changed)
			tell_changed(s);
		show_changes_elsewhere(s);
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
	double next, now = sync_clock();

	pthread_mutex_lock(&s->lock);
	next = s->kinds[STORE_CONVERSATIONS].listed_at ? s->next_quick : now + 3600;
	for (int k = 0; k < STORE_KINDS; k++)
		if (s->kinds[k].next_full < next)
			next = s->kinds[k].next_full;
	pthread_mutex_unlock(&s->lock);
	if (next <= now)
		return 0;
	return next - now > 3600 ? 3600 * 1000 : (int)ceil((next - now) * 1000);
}

/* Records how the refresh the person asked for went: each collection's
 * listing in that pass completed, or the first that did not failed it. */
static void note_asked_refresh(struct sync *s)
{
	pthread_mutex_lock(&s->lock);
	s->refresh_error = 0;
	s->refresh_failed = NULL;
	for (int k = 0; k < STORE_KINDS && !s->refresh_error; k++)
		if (s->kinds[k].asked) {
			s->refresh_error = s->kinds[k].error ? s->kinds[k].error : -EAGAIN;
			s->refresh_failed = collection_of(k)->dir;
		}
	s->refreshes_done++;
	pthread_mutex_unlock(&s->lock);
}

static void *refresher(void *arg)
{
	struct sync *s = arg;
	struct pollfd pfd = { .fd = s->wake[0], .events = POLLIN };

	while (!atomic_load(&s->stopping)) {
		int wait_ms = s->opts.offline ? ELSEWHERE_CHECK_MS : next_wait_ms(s);
		char command = 0;

		if (wait_ms > ELSEWHERE_CHECK_MS)
			wait_ms = ELSEWHERE_CHECK_MS;
		if (poll(&pfd, 1, wait_ms) > 0 && read(s->wake[0], &command, 1) == 1) {
			if (command == 'q' || atomic_load(&s->stopping))
				break;
		}
		show_changes_elsewhere(s);
		if ((command == 'r' || command == 'a') && !s->opts.offline) {
			log_info("refresh asked for: listing everything again%s",
				 command == 'a' ? ", deleting what the listings confirm" : "");
			pthread_mutex_lock(&s->lock);
			for (int k = 0; k < STORE_KINDS; k++) {
				s->kinds[k].next_full = 0;
				s->kinds[k].accept |= command == 'a';
				s->kinds[k].asked = true;
			}
			s->transcripts_paused_until = 0;
			s->failures_forgiven = time(NULL);
			s->refused_alone = 0;
			s->refreshes_asked++;
			pthread_mutex_unlock(&s->lock);
			source_clear_pause(&s->source);
		}
		if (!s->opts.offline) {
			refresh_due(s);
			prune_versions(s);
		}
		if ((command == 'r' || command == 'a') && !s->opts.offline)
			note_asked_refresh(s);
	}
	return NULL;
}

int sync_start(struct sync *s, sync_changed_fn changed, void *ctx)
{
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

void sync_accept_deletions(struct sync *s)
{
	/* Only write(): this runs in signal handlers. */
	if (s->refresher_running && write(s->wake[1], "a", 1) < 0)
		return;
}

void sync_versions_in_use(struct sync *s, uint64_t floor)
{
	atomic_store(&s->versions_floor, floor);
}

uint64_t sync_listings_count(struct sync *s)
{
	return store_listings_count(s->store);
}

int sync_kind_error(struct sync *s, enum store_kind kind)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = s->kinds[kind].listed_at || s->kinds[kind].shown_partly ? 0 : s->kinds[kind].error;
	pthread_mutex_unlock(&s->lock);
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
		rc = list_kind_how(s, k, with_transcripts, BUDGET_FOREGROUND);
		pthread_mutex_unlock(&s->kinds[k].fetch_lock);
		if (rc < 0 && !sync_not_served(k, rc))
			return rc;
	}
	prune_versions(s);
	return 0;
}

