/*
 * sync: its life cycle, first listings, the refresher and new
 * conversations. See sync.h. (sync_state.h has the struct and the lock
 * order; sync_listing.c a complete listing; transcripts.c the read-ahead;
 * sync_reads.c what the tree reads; sync_base.c what they stand on.)
 *
 * The refresher thread sleeps in poll() on a pipe until the next refresh
 * is due; sync_request_refresh() (a signal handler may call it) and
 * sync_free() write to the pipe to wake it.
 */
#include "sync_state.h"

#include "collections.h"
#include "hash.h"
#include "log.h"

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
/* Deleted items stay in the cache this long (not in the tree). */
#define REMOVED_KEPT (30 * 24 * 3600)
/* A superseded version outlives the snapshots of this process that name
 * it, and this many seconds: another omifs's mount on the same cache
 * shows a commit within 2 s. */
#define VERSION_GRACE 60

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
		sync_count_missing_and_locked(s, k);
	sync_load_page_clamps(s);
	sync_summarize_conversations(s);
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
	hash_free(s->failed_alone);
	free(s->failures);
	free(s);
}

/* Collects new conversations until one is known already. */
static int collect_new(json_object *item, const char *id, void *ctx)
{
	struct collected *c = ctx;
	char *json = sync_listing_entry(STORE_CONVERSATIONS, item, id, NULL, NULL);
	bool known;

	if (!json)
		return API_LIST_NEXT;
	sync_add_collected(c, xstrdup(id), json);
	known = store_listing_place(c->stop_at_known->store, STORE_CONVERSATIONS, id) != 0;
	return known ? API_LIST_DONE : API_LIST_NEXT;
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
	return sync_list_kind(s, kind, false, share);
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
	time_t newest;

	pthread_mutex_lock(&s->lock);
	newest = s->conversations.newest;
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
		sync_summarize_conversations(s);
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
 * the summary of conversations follows when they changed. */
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
		sync_count_missing_and_locked(s, k);
	if (conversations)
		sync_summarize_conversations(s);
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
		if (s->beat)
			s->beat(s->changed_ctx);
	}
	return NULL;
}

int sync_start(struct sync *s, sync_changed_fn changed, sync_beat_fn beat, void *ctx)
{
	if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	s->changed = changed;
	s->beat = beat;
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
		rc = sync_list_kind(s, k, with_transcripts, BUDGET_FOREGROUND);
		pthread_mutex_unlock(&s->kinds[k].fetch_lock);
		if (rc < 0 && !sync_not_served(k, rc))
			return rc;
	}
	prune_versions(s);
	return 0;
}

