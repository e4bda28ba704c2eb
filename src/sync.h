/*
 * sync: what to fetch and when.
 *
 * - Listings: each collection is listed completely (source.h) into the
 *   store. A collection never listed is listed when first needed, in the
 *   caller's thread (single flight; after a failure the next attempt waits
 *   a few seconds rather than hammering a server that is down). After
 *   that, only the refresher thread lists: it looks for new conversations
 *   every refresh_interval (reading from the newest page until it meets a
 *   known one), lists memories and action items completely at the same
 *   interval, and conversations completely every full_refresh_interval,
 *   which is what finds edits and deletions. A failed listing changes
 *   nothing in the store: what was listed before is still served.
 * - Transcripts: fetched on demand, never one request a file: the
 *   conversations around the wanted one in listing order (up to
 *   transcript_batch of them still lacking a transcript) are fetched by one
 *   date-range listing with include_transcript=true, paged as the server
 *   allows, and all kept in the store.
 *
 * Thread-safe. Functions return 0 or -errno: -EAGAIN when the request
 * budget is spent, -EACCES for a refused key, -EIO for other failures.
 */
#ifndef OMIFS_SYNC_H
#define OMIFS_SYNC_H

#include "buf.h"
#include "source.h"
#include "status.h"
#include "store.h"

#include <stdbool.h>

struct sync_options {
	int refresh_interval;	/* seconds between looks for new items */
	int full_refresh_interval; /* seconds between complete conversation listings */
	int page_size;		/* limit asked for listings; servers clamp it */
	int transcript_batch;	/* conversations fetched with a single transcript read */
	int transcript_page;	/* ... and with each read of a walk: the largest page
				 * the server serves with transcripts */
	bool offline;		/* never send a request; serve the store */
	bool accept_shrink;	/* delete what two listings agree on, however much */
	const char *first_memories_page; /* the key check's answer (JSON text), or NULL;
					  * borrowed: it must outlive the sync */
};

struct sync;

/* source (source.h; copied, NULL: no server) and store: what they hold is
 * borrowed and must outlive the sync. */
struct sync *sync_new(const struct source *source, struct store *store,
		      const struct sync_options *opts);
void sync_free(struct sync *s);

/* Lists kind now if it has never been listed (one caller lists, the
 * others wait for it). Returns 0, or the error that left it unlisted. */
int sync_ensure_listed(struct sync *s, enum store_kind kind);
/* Lists, if never listed, each collection that only some servers serve
 * (goals): whether the tree shows it is then known before its first
 * directory listing, so that a backup started at once misses nothing. */
void sync_ensure_optional_listed(struct sync *s);

/* Called by the refresher after a refresh, or another omifs sharing the
 * cache (a sync beside a mount), changed the store. */
typedef void (*sync_changed_fn)(void *ctx);
/* Called by the refresher each time it wakes (every 2 s at least), after
 * what it did then: for what waits on time rather than on a change. */
typedef void (*sync_beat_fn)(void *ctx);

/* Starts the refresher thread. In offline mode it sends nothing and only
 * looks, every 2 s, for what another omifs wrote to the cache. beat may
 * be NULL; both get ctx. Returns 0 or -errno. */
int sync_start(struct sync *s, sync_changed_fn changed, sync_beat_fn beat, void *ctx);

/* Stops the refresher and waits for it: `changed` is never called after
 * this returns. Safe to call twice, or on NULL; sync_free calls it. A
 * refresher in the middle of a request finishes only when the request
 * does: cancel it first (api_set_cancel_check) to make this quick. */
void sync_stop(struct sync *s);

/* Asks the refresher to list everything again now. Async-signal-safe. */
void sync_request_refresh(struct sync *s);

/* The same, and the deletions each collection's listing confirms are made
 * even where the guard below would hold them back: the person's word.
 * Async-signal-safe.
 *
 * The guard: an item one complete listing lacks stays until the next
 * complete listing lacks it too. Even then nothing is deleted from a
 * collection that a listing found empty, or that would lose, with what
 * it lost over the last day, more than a quarter of its items, until
 * this call or -o accept_shrink (sync_options.accept_shrink). */
void sync_accept_deletions(struct sync *s);

/* Tells sync the oldest listing count (store_listings_count) that a
 * snapshot still in use was built at: the versions it names are kept.
 * UINT64_MAX (the start): no snapshot names any. */
void sync_versions_in_use(struct sync *s, uint64_t floor);
uint64_t sync_listings_count(struct sync *s);

/* 0 when kind has a listing to serve, else the error that prevented it
 * (the last one seen), or -EIO when none was tried yet. */
int sync_kind_error(struct sync *s, enum store_kind kind);

/* Lists completely, now, each collection whose last complete listing is
 * older than max_age seconds; conversations with their transcripts when
 * the store holds none yet (a first omifs sync: the fewest requests
 * there are). Returns 0 or the first error. */
int sync_list_stale(struct sync *s, int max_age);

/* Makes sure the store holds conversation id with its transcript.
 * Returns 0 or -errno; -EIO at once, without a request, while id waits
 * out a failure of its own (sync_transcript_failed_alone). */
int sync_fetch_transcript(struct sync *s, const char *id);
/* Whether the server's last answer for id's transcript was about id
 * alone (absent by its id, refused alone, missing from the listing of
 * its own dates): id is asked again after a pause of its own, and no
 * other conversation waits for it. omifs refresh forgets it. */
bool sync_transcript_failed_alone(struct sync *s, const char *id);

/* The JSON a file of item id of kind, at `version` (store.h), is
 * rendered from (caller frees): its listing entry, or, when `full`, the
 * conversation with its transcript, fetched first (sync_fetch_transcript)
 * if the store lacks it. A superseded version whose transcript was never
 * fetched has the current one's: returns 1 then, since the bytes are not
 * that version's. Returns 0, the fetch's error, or -EIO (logged) when the
 * store keeps no such version, which it promises while a snapshot that
 * names it is in use (sync_versions_in_use). */
int sync_source_json(struct sync *s, enum store_kind kind, const char *id, uint64_t version,
		     bool full, char **json);

/* Whether sync_source_json of conversation id's full JSON would ask the
 * server first: online, and its transcript not in the store. */
bool sync_would_fetch_transcript(struct sync *s, const char *id);

/* The JSON a vault note is rendered from (caller frees): the full
 * conversation, as sync_source_json gives it, and *full set; or, on an
 * offline mount whose cache lacks the transcript, the listing entry and
 * *full cleared. Returns what sync_source_json does. */
int sync_note_json(struct sync *s, const char *id, uint64_t version, char **json, bool *full);

/* Whether item id of kind keeps a text the server sends cut (store.h). */
bool sync_item_locked(struct sync *s, enum store_kind kind, const char *id);

/* What the store holds, for the tree, which reads the cache only through
 * sync (see store.h for each one's contract). */
int sync_foreach_listed(struct sync *s, enum store_kind kind, store_item_fn fn, void *ctx);
time_t sync_first_seen(struct sync *s, enum store_kind kind, const char *id);
time_t sync_cache_created_at(struct sync *s);
int sync_foreach_change(struct sync *s, int64_t after, store_change_fn fn, void *ctx);
int64_t sync_last_change(struct sync *s);
/* File dates (store.h): store_foreach_file_date, store_put_file_dates
 * and store_date_file. */
int sync_foreach_file_date(struct sync *s, store_file_date_fn fn, void *ctx);
void sync_put_file_dates(struct sync *s, const struct store_file_date *rows, size_t n);
int64_t sync_date_file(struct sync *s, uint64_t ino, uint64_t digest, int64_t first,
		       int64_t changed);
/* store_put_size, unless offline (the cache is then read-only), and
 * store_foreach_size. */
void sync_remember_size(struct sync *s, uint64_t ino, uint64_t digest, int64_t size);
int sync_foreach_size(struct sync *s, store_size_fn fn, void *ctx);

/* search_run over the cache (search.h): no request is sent. */
struct search_request;
struct search_results;
int sync_search(struct sync *s, const struct search_request *req, struct search_results *out,
		char *err, size_t errlen);

/* Called after each transcript batch with how many conversations have
 * their transcript, of how many. */
typedef void (*sync_progress_fn)(size_t done, size_t total, void *ctx);

/* What fetching every missing transcript will take. */
struct sync_estimate {
	size_t missing;		/* conversations listed without their transcript */
	size_t page, pages;	/* requests of `page` conversations needed */
	double seconds;		/* at the budget's pace */
	struct budget_rate pace; /* the policy that sets it */
};
void sync_estimate(struct sync *s, struct sync_estimate *e);

/* Fetches every transcript the store lacks, in batches, in listing order,
 * each once. *failed_alone counts those the server refused alone, passed
 * over. Returns 0, or the first other error, which stops it (what was
 * fetched is kept). */
int sync_fetch_all_transcripts(struct sync *s, sync_progress_fn progress, void *ctx,
			       size_t *failed_alone);

/*
 * Transcript read-ahead, as the kernel does for file pages. The listing
 * order is cut into blocks of `walking` conversations (the largest page
 * the server serves with transcripts), each cut into blocks of `initial`.
 * A read whose block, or a neighbouring one, held the last batch is part
 * of a walk (rsync, grep -r, find | xargs cat, omifs sync): it fetches its
 * whole walking block. Any other read fetches its initial block. Blocks
 * are fixed, so a walk never leaves holes that cost a request of their
 * own, and a batch never spans more than a page. The batch is the block's
 * conversations that can be fetched (dated and not held yet), and the
 * wanted one; held ones inside it only take room in the page. Exposed for
 * tests.
 */
struct sync_plan {
	size_t initial, walking;	/* block lengths; initial <= walking */
	size_t n;			/* conversations in the listing order */
	bool last_valid;
	size_t last_block;		/* the walking block of the last batch */
};

/* Picks the block for the conversation at index `at`: [*lo, *hi], and
 * remembers it. */
void sync_plan_batch(struct sync_plan *plan, size_t at, size_t *lo, size_t *hi);

/* Whether stub, a memory's content as the server now sends it, is what
 * the real backend sends of a memory whose text is full but locked by a
 * plan's limits: full's first 70 characters (code points) and "...",
 * full being longer, and not the stub itself (a memory first seen locked
 * has no full text to keep). Such a memory keeps full. Exposed for tests. */
bool sync_is_locked_stub(const char *stub, size_t stub_len, const char *full, size_t full_len);

/* Fills what sync, api and the store know of st (render.h), for
 * .omifs/status: per collection, when it was listed and how many items;
 * transcripts cached; the API's counters and budget; the cache's errors.
 * The odd items and the pid are the caller's to fill. */
void sync_status(struct sync *s, struct status *st);

#endif
