/*
 * sync_state: what sync's own files share (sync.c: the life cycle and
 * the refresher; sync_listing.c: a complete listing of a collection;
 * transcripts.c: the listing's summary and transcript batches; sync_base.c:
 * what they stand on;
 * sync_reads.c: what the tree and the status file read). Nothing else
 * includes it: sync.h is the module's promise, this is how it keeps it.
 *
 * Locks, always taken in this order:
 *   kinds[k].fetch_lock  one listing of collection k at a time
 *   transcript_lock      one transcript batch at a time
 *   lock                 the small state below (never held during I/O)
 */
#ifndef OMIFS_SYNC_STATE_H
#define OMIFS_SYNC_STATE_H

#include "collections.h"
#include "sync.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct kind_state {
	pthread_mutex_t fetch_lock;
	time_t listed_at;	/* last complete listing; 0: never */
	double listing_seconds;	/* ... which took this long (-1: not this run) */
	size_t count;
	time_t failed_at;	/* last failed attempt, 0 if none since success */
	int failures;		/* in a row */
	int error;		/* -errno of the last failure; -ENOENT: the
				 * server serves no such collection (optional) */
	double next_full;	/* when the refresher lists it completely (or goes
				 * on with a listing paced by the budget, to the
				 * fraction of a second: sync_clock) */
	size_t skipped;		/* items without a usable id in the last listing */
	size_t pending, held;	/* store_count_missing's, as of the last listing */
	char held_why[160];	/* why the last listing held deletions back */
	size_t locked;		/* store_count_locked's */
	bool accept;		/* the next complete listing deletes what it confirms */
	bool shown_partly;	/* never listed completely, but what was is shown */
	size_t so_far;		/* items of an unfinished listing, to be continued */
	bool shown_more;	/* ... which showed more: the tree is to be told */
	const char *paced_by;	/* ... the budget policy it waits for, or NULL */
	bool asked;		/* a refresh the person asked for: listed at full pace */
};

/* What the conversations' listing holds, as transcript batches and the
 * look for new conversations need it. The order itself stays in the
 * store (store_listing_place, store_foreach_from): held here, it took
 * 6 MiB at 100,000 conversations. */
struct listing_summary {
	size_t n;
	time_t newest;		/* the newest created_at; 0 when none has one */
	bool undated;		/* one has no usable created_at */
};

/* Whether error (a listing's result, or kind_state.error) says that the
 * server serves no such collection: a 404 to one only some serve. */
static inline bool sync_not_served(enum store_kind kind, int error)
{
	return error == -ENOENT && collection_of(kind)->optional;
}

struct sync {
	struct source source;	/* where items come from; ops NULL: no server */
	struct store *store;
	struct sync_options opts;
	pthread_mutex_t transcript_lock;
	pthread_mutex_t lock;
	struct kind_state kinds[STORE_KINDS];
	time_t next_quick;	/* when the refresher looks for new conversations */
	time_t transcripts_paused_until; /* after failed transcript fetches */
	int transcript_failures;
	int transcript_error;
	char transcript_why[512]; /* ... said for people: the server's words */
	/* Conversations whose transcript the server refused alone (sync_fetch_
	 * transcript): each waits its own pause, not every other; transcript_lock. */
	struct hash *failed_alone;	/* id -> place + 1 in failures */
	struct transcript_failure {
		time_t at, retry_at;
		int count;
	} *failures;
	size_t n_failures, cap_failures;
	time_t failures_forgiven;	/* omifs refresh: earlier failures forgotten; lock */
	size_t refused_alone;	/* failures that hold, for the status; lock */
	struct listing_summary conversations;	/* lock */
	int wake[2];		/* the refresher's pipe */
	atomic_bool stopping;	/* sync_stop was called: no new refresh */
	_Atomic uint64_t versions_floor; /* sync_versions_in_use's */
	bool used_first_page;	/* opts.first_memories_page: once; memories' fetch_lock */
	atomic_bool refresher_running;
	pthread_t refresher;
	sync_changed_fn changed;
	sync_beat_fn beat;
	void *changed_ctx;		/* both's */
	struct sync_plan plan;	/* transcript read-ahead; transcript_lock */
	int page_clamps[STORE_KINDS][2]; /* as kept in the cache: sync_keep_page_clamps */
	unsigned long refreshes_asked, refreshes_done; /* sync_request_refresh's; lock */
	int refresh_error;	/* of the last one done: 0 or -errno; lock */
	const char *refresh_failed; /* ... the collection it failed on; lock */
};

/* Items of a short listing (new conversations, a rewrite), as the
 * store takes them. */
struct collected {
	struct store_item *items;
	size_t n, cap;
	struct sync *stop_at_known;	/* new conversations: stop at a known id */
};

/* In sync_base.c, which calls nothing of the other parts'. */
/* The one form omifs stores an object's JSON in (caller frees). */
char *sync_object_json(json_object *item);
/* Appends (id, json) to c, which takes both over. */
void sync_add_collected(struct collected *c, char *id, char *json);
void sync_free_collected(struct collected *c);
/* Whether conversation has a usable created_at, then in *at. */
bool sync_created_at(json_object *conversation, time_t *at);
/* t as the API's dates are written in requests, clamped to the years a
 * request can name (four digits). */
void sync_format_date(time_t t, char out[32]);
/* The wall clock in seconds, with fractions. */
double sync_clock(void);
/* Seconds to wait after `failures` failures in a row. */
time_t sync_retry_pause(int failures);
/* Gives the source what an earlier run learnt of the server's pages. */
void sync_load_page_clamps(struct sync *s);
/* Keeps in the cache what the server was seen to clamp pages to, when
 * that changed, for the next run to ask no more (source_page_clamp). */
void sync_keep_page_clamps(struct sync *s);

/* Seconds between complete listings of kind by the refresher, as the
 * options say (the budget may stretch them: status). */
int sync_full_interval(const struct sync *s, enum store_kind kind);
/* Reads kind's pending and held deletions and its locked items from the
 * store into its state. */
void sync_count_missing_and_locked(struct sync *s, enum store_kind kind);
/* What the user had is never replaced by less: a memory the server now
 * sends cut keeps the text cached. Returns whether item's content was put
 * back. */
bool sync_keep_locked_text(struct store *store, json_object *item, const char *id);

/* In sync_listing.c, which calls sync_base.c's and transcripts.c's. */
/* The form a listed item is stored in (caller frees), or NULL for an item
 * without a usable id (logged); a conversation's transcript first goes
 * whole to fulls, when given (a failure counted in *store_errors). */
char *sync_listing_entry(enum store_kind kind, json_object *item, const char *id,
			 struct store *fulls, int *store_errors);
/* Lists kind completely and stores it; conversations with their
 * transcripts when with_transcripts. A listing that stops before its end
 * is continued by the next: a background one (share) stops whenever its
 * next page does not fit its share of the budget. Returns how many items
 * changed, or -errno. kinds[kind].fetch_lock held. */
int sync_list_kind(struct sync *s, enum store_kind kind, bool with_transcripts,
		   enum budget_share share);

/* In transcripts.c. */
/* Reads s->conversations anew from the store's listing. */
void sync_summarize_conversations(struct sync *s);

#endif
