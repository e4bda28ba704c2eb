/*
 * store: the cache of everything fetched, on SQLite.
 *
 * It keeps, by kind and id, the raw JSON of every item of the last
 * complete listing of each collection, in listing order, and, apart, each
 * conversation as fetched with its transcript ("full"). An item's JSON is
 * a version, named by hash_bytes() of the JSON text (hash.h). A version
 * that a new listing changed or deleted stays readable, full form
 * included, until store_prune_versions says no snapshot can name it, so
 * that a file is always read from the version whose size was shown. A
 * changed conversation's transcript is fetched again for the new version.
 *
 * store_open(NULL) keeps everything in memory; a path gives a database
 * file (mode 0600) that outlives the process. A file of an older format
 * is brought up to this one in place; one of a newer omifs is refused.
 *
 * Thread-safe. Strings passed in are copied; strings returned are the
 * caller's to free. Functions return 0 or -errno (-EIO for SQLite errors,
 * logged and kept for store_last_error) unless they say otherwise.
 */
#ifndef OMIFS_STORE_H
#define OMIFS_STORE_H

#include "collections.h"
#include "search_index.h"	/* struct search_hit, enum search_index_state */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct store;

struct store_item {
	const char *id;
	const char *json;
};

/* Opens or creates the store. On failure returns NULL with a message. */
struct store *store_open(const char *path, char *err, size_t errlen);
/* Opens a cache file for reading only (offline mounts, a cache on
 * read-only media); every write then fails with -EIO. A file that does not
 * exist gives an empty store in memory. A search index that is not
 * current (store_index_state) is indexed again in memory when
 * index_in_memory is set (about half a minute at 20,000 conversations),
 * else search is off. On failure returns NULL with a message. */
struct store *store_open_readonly(const char *path, bool index_in_memory, char *err,
				  size_t errlen);
void store_close(struct store *s);

/* For a short command that reads s once (omifs search): keeps only a
 * few pages of the file in memory. A page read twice then costs one more
 * read, but every page kept is fresh memory, whose first touch costs a
 * page fault (a third of a search's time on a virtual machine). */
void store_read_once(struct store *s);

/*
 * A complete listing of kind, staged: it comes in parts, in order, waits
 * in the cache beside the listing served, is compared with it, and then
 * takes its place in one transaction. So no listing is ever held in
 * memory whole. One staging per kind at a time (the caller's to ensure).
 *
 * store_stage_clear drops what is staged for kind: before a staging (an
 * unfinished one may have left rows), and instead of committing one that
 * failed. store_stage_items appends items after those already staged (an id
 * staged twice keeps its last JSON and place); locked[i] (locked may be
 * NULL: none) says the server sent item i cut, its JSON holding the text
 * kept (store_count_locked). store_stage_compare counts
 * both listings. store_stage_commit replaces the served listing by the
 * staged one; what becomes of the items the staged one lacks ("vanished")
 * is the caller's call, below. fulls_listed says the listing came with
 * the transcripts (store_put_full_conversation during the staging): the
 * full conversations the store holds are then the new versions', not
 * kept for the old ones. It returns how many items were added, changed
 * or removed (>= 0).
 */
struct store_stage_census {
	size_t staged;		/* items staged */
	size_t cached;		/* items of the listing served */
	size_t vanished;	/* ... that the staged one lacks */
	size_t confirmed;	/* ... of which a complete listing lacked already */
};
enum store_vanished {
	STORE_KEEP_VANISHED,	/* an incomplete listing: kept as they were */
	STORE_COUNT_VANISHED,	/* kept, counted missing once more */
	STORE_DELETE_CONFIRMED,	/* counted; deleted when two listings in a row lacked them */
	STORE_DELETE_VANISHED,	/* deleted now */
};
int store_stage_clear(struct store *s, enum store_kind kind);
int store_stage_items(struct store *s, enum store_kind kind, const struct store_item *items,
		      const bool *locked, size_t n);
int store_stage_compare(struct store *s, enum store_kind kind, struct store_stage_census *c);
int store_stage_commit(struct store *s, enum store_kind kind, enum store_vanished vanished,
		       bool fulls_listed, time_t listed_at);

/*
 * A staging that stops before its listing's end (the budget spent, the
 * server failing, an unmount) is kept, with where the listing stopped, so
 * that the next listing continues it, in this process or the next.
 * store_stage_pause records where (what is staged stays). store_stage_resume
 * reads it back and readies store_stage_items to append after the items
 * staged: returns 1 with *p filled, 0 when there is nothing to continue
 * (the caller then clears the staging), or -errno. store_stage_clear and
 * store_stage_commit forget it. store_stage_show merges what is staged
 * into the listing served, adding and updating, never removing: for a
 * collection never listed completely, whose tree then shows what is
 * listed so far. Returns how many items it added or changed, or -errno.
 */
struct store_stage_progress {
	size_t next_offset;	/* where the listing goes on, by offset */
	time_t oldest;		/* conversations: the oldest created_at staged; 0: none */
	bool fulls;		/* the listing asks for the transcripts */
	bool unsure;		/* continued where the order may have moved: deletes nothing */
	size_t skipped;		/* items without a usable id so far */
	time_t started_at;	/* when the listing began */
	size_t staged;		/* items staged so far (store_stage_resume's) */
	char *last_id;		/* the item staged last (store_stage_resume's,
				 * the caller's to free; NULL: none) */
};
int store_stage_pause(struct store *s, enum store_kind kind, const struct store_stage_progress *p);
int store_stage_resume(struct store *s, enum store_kind kind, struct store_stage_progress *p);
int store_stage_show(struct store *s, enum store_kind kind, bool fulls_listed);
/* How many items kind's listing served holds. */
size_t store_listing_size(struct store *s, enum store_kind kind);

/* The three steps above at once, for a listing at hand: replaces the
 * listing of kind by a complete new one, deleting at once what it lacks.
 * Returns how many items were added, changed or removed (>= 0), or
 * -errno. */
int store_replace_listing(struct store *s, enum store_kind kind, const struct store_item *items,
			  size_t n, time_t listed_at);

/* Of kind's listing: items a complete listing lacked once (pending), and
 * those that two or more lacked but that were kept all the same (held). */
int store_count_missing(struct store *s, enum store_kind kind, size_t *pending, size_t *held);
/* How many items of kind were deleted at or after `since`. */
int store_count_removed_since(struct store *s, enum store_kind kind, time_t since, size_t *n);
/* How many items of kind keep a text the server no longer sends whole. */
size_t store_count_locked(struct store *s, enum store_kind kind);
/* Whether item id of kind is one of those. */
bool store_item_locked(struct store *s, enum store_kind kind, const char *id);

/* Adds items to a kind's listing without replacing it: new ids go before
 * every known item (they are the newest), known ids get the new JSON.
 * Nothing is removed and the listing's time is kept: only a complete
 * listing proves what is gone. Returns how many items were added or
 * changed, or -errno. */
int store_merge_listing(struct store *s, enum store_kind kind, const struct store_item *items,
			size_t n);

/* Replaces the JSON of known items of kind, in place: for a change of the
 * form entries are kept in, not of their content, so nothing else moves
 * (no full conversation is dropped, no listing counts as changed). Unknown ids
 * are ignored. Returns 0 or -errno. */
int store_rewrite_listing(struct store *s, enum store_kind kind, const struct store_item *items,
			  size_t n);

/* When kind was last listed completely, and how many items it had.
 * Returns -ENOENT if it never was. */
int store_listing_info(struct store *s, enum store_kind kind, time_t *listed_at, size_t *count);

/* Returns the JSON of item id of kind's listing (caller frees), or NULL
 * if there is none. */
char *store_get_item(struct store *s, enum store_kind kind, const char *id);

/* The JSON of item id of kind at `version` (caller frees): its listing
 * entry, or with `full` the conversation with its transcript. NULL when
 * that version is neither current nor kept, or has no full form. */
char *store_get_version(struct store *s, enum store_kind kind, const char *id, uint64_t version,
			bool full);

/* A number the cache keeps about the account under key, such as what its
 * server clamps pages to. store_get_number returns 0 with *value set,
 * -ENOENT when none is kept, or -EIO; store_set_number 0 or -EIO. */
int store_get_number(struct store *s, const char *key, long long *value);
/* The API URL whose account the cache holds, as the mount or sync that
 * fills it says (store_set_account_url: 0 or -EIO). store_account_url
 * returns it malloc'd, or NULL for a cache made before it was kept. */
int store_set_account_url(struct store *s, const char *url);
char *store_account_url(struct store *s);
int store_set_number(struct store *s, const char *key, long long value);

/* When the server last said it serves no such collection (a 404 to an
 * optional collection's listing): store_not_served_at gives 0, or the
 * time; store_note_not_served keeps it (0 or -EIO). */
time_t store_not_served_at(struct store *s, enum store_kind kind);
int store_note_not_served(struct store *s, enum store_kind kind, time_t at);

/* The requests sent against each budget policy (its name) and when (wall
 * clock), kept for the next run. store_keep_sends adds n of them and
 * forgets those sent before `before`; 0 or -EIO. store_foreach_send
 * calls fn with each kept, oldest first; 0 or -EIO. fn must not call
 * the store. */
int store_keep_sends(struct store *s, const char *const *policies, const double *at, size_t n,
		     double before);
typedef void (*store_send_fn)(const char *policy, double at, void *ctx);
int store_foreach_send(struct store *s, store_send_fn fn, void *ctx);

/* The count of commits that changed a listing, by any omifs sharing the
 * file: a snapshot built after reading n names only versions current at
 * n or later. */
uint64_t store_listings_count(struct store *s);

/* Forgets superseded versions that no snapshot can name: superseded at a
 * count <= floor and at or before superseded_before; and deleted items
 * removed at or before removed_before. Returns 0 or -errno. */
int store_prune_versions(struct store *s, uint64_t floor, time_t superseded_before,
			 time_t removed_before);

/* Calls fn for each item of kind in listing order; stops when fn returns
 * non-zero and returns that value. */
typedef int (*store_item_fn)(const char *id, const char *json, void *ctx);
int store_foreach(struct store *s, enum store_kind kind, store_item_fn fn, void *ctx);
/* The same for places [first, first + n) of the listing order only,
 * counted from 0; n SIZE_MAX: to the end. */
int store_foreach_from(struct store *s, enum store_kind kind, size_t first, size_t n,
		       store_item_fn fn, void *ctx);
/* id's place in kind's listing order, counted from 1; 0 when it is not
 * listed (or the cache cannot be read). */
size_t store_listing_place(struct store *s, enum store_kind kind, const char *id);

/* What another connection to the cache file (another omifs: a sync beside
 * a mount) did since the last call, or since the open: nothing, commits,
 * or commits of which one changed a listing (store_listings_count moved).
 * The values are bits: a listing's change includes a commit. */
enum store_elsewhere {
	STORE_ELSEWHERE_NOTHING = 0,
	STORE_ELSEWHERE_COMMITTED = 1,
	STORE_ELSEWHERE_LISTINGS = 3,
};
enum store_elsewhere store_changed_elsewhere(struct store *s);

/* Keeps json as conversation id's full form unless it already has one:
 * what a file's size was computed from must not change under it. */
int store_put_full_conversation(struct store *s, const char *id, const char *json);
/* Returns the full conversation's JSON (caller frees) or NULL if absent. */
char *store_get_full_conversation(struct store *s, const char *id);
bool store_has_full_conversation(struct store *s, const char *id);
size_t store_count_full_conversations(struct store *s);
/* How many conversations of the listing have no full form yet. */
size_t store_count_listed_without_full(struct store *s);
/* The same, as the search index knows it (search_index_untranscribed):
 * cheap, where the query above reads every listed id. -EIO when the
 * cache has no index. */
int store_count_untranscribed(struct store *s, size_t *n);
/* When the cache was created: a time that never changes for the account,
 * for what has no timestamp of its own (the root directory). */
time_t store_created_at(struct store *s);

/* When id was first stored in kind's listing (the time of that listing),
 * kept for good so it never changes: a date for items that carry none of
 * their own. Returns 0 when unknown. */
time_t store_first_seen(struct store *s, enum store_kind kind, const char *id);

/*
 * The account's changes, as the cache saw them: an item added, changed
 * (its JSON moved) or removed by a listing, kept STORE_CHANGES_KEPT
 * seconds. Each has a seq that only grows and is never reused. A
 * collection's first listing is no change: it is the cache filling.
 * store_foreach_change calls fn for each change after seq `after` and at
 * or after `since`, oldest first, with strings valid during the call;
 * stops when fn returns non-zero and returns that. store_last_change
 * returns the last seq (0: none yet), or -EIO.
 */
#define STORE_CHANGES_KEPT (35 * 24 * 3600)
enum store_change_what { STORE_ADDED, STORE_CHANGED, STORE_REMOVED };
struct store_change {
	int64_t seq;
	time_t at;
	enum store_change_what what;
	enum store_kind kind;
	const char *id;
	const char *json;	/* the item as it now is, or was when removed */
};
typedef int (*store_change_fn)(const struct store_change *c, void *ctx);
int store_foreach_change(struct store *s, int64_t after, time_t since, store_change_fn fn,
			 void *ctx);
int64_t store_last_change(struct store *s);

/* Sizes of files that take a rendering of a fetched transcript to learn,
 * kept so that a later mount knows them without rendering: by inode
 * number, with the digest of what they were rendered from (the caller's
 * to define). store_put_size replaces ino's row. store_foreach_size calls
 * fn for every row, under the store's lock (fn must not call the store),
 * stops when fn returns non-zero and returns that. */
int store_put_size(struct store *s, uint64_t ino, uint64_t digest, int64_t size);
typedef int (*store_size_fn)(uint64_t ino, uint64_t digest, int64_t size, void *ctx);
int store_foreach_size(struct store *s, store_size_fn fn, void *ctx);

/* Each file's bytes (a digest) and the mtime given to them, by inode
 * number: a file's mtime moves only when its bytes do, across mounts.
 * store_foreach_file_date calls fn for every row, under the store's lock
 * (fn must not call the store). store_put_file_dates writes rows in one
 * transaction. store_date_file dates a file whose bytes were just learnt:
 * *mtime gets the row's mtime when digest matches it, else `changed`
 * or the second after the row's, whichever is later (`first` when the
 * file has no row yet), which is then kept. A cache
 * opened read-only keeps them in memory, starting from the file's. */
struct store_file_date {
	uint64_t ino, digest;
	int64_t mtime;
};
typedef int (*store_file_date_fn)(const struct store_file_date *row, void *ctx);
int store_foreach_file_date(struct store *s, store_file_date_fn fn, void *ctx);
int store_put_file_dates(struct store *s, const struct store_file_date *rows, size_t n);
int store_date_file(struct store *s, uint64_t ino, uint64_t digest, int64_t first,
		    int64_t changed, int64_t *mtime);

/* Checks the whole file: PRAGMA integrity_check, or with `quick` its
 * structure only (quick_check, which skips comparing indexes with their
 * tables). Returns 0 when it is whole, -EIO with SQLite's first
 * complaint in out (and for store_last_error) when not. */
int store_check(struct store *s, bool quick, char *out, size_t outlen);

/* Whether store_search can run: false when the index could not be opened,
 * or was not current under a read-only open not told to index in memory. */
bool store_can_search(struct store *s);

/* How the file's search index stood when s was opened read-only
 * (search_index.h); SEARCH_INDEX_CURRENT after a writable open, which
 * brings it up to date. */
enum search_index_state store_index_state(struct store *s);

/* Runs a query over what the cache holds: search_index_query, whose
 * rules it keeps. On a writable cache file it runs on a connection of
 * its own, in one read transaction, holding back no other call; else
 * under the store's lock. */
int store_search(struct store *s, const struct search_request *req, struct search_hits *hits,
		 char *err, size_t errlen);

/* Whether writing or reading the cache ever failed (a full disk, say);
 * if so, the last SQLite message goes to out and its time to *when. */
bool store_last_error(struct store *s, char *out, size_t outlen, time_t *when);
/* Whether that last failure was a full disk (SQLITE_FULL, ENOSPC). */
bool store_out_of_space(struct store *s);
/* The cache's size on disk (or in memory), in bytes. */
long long store_size(struct store *s);

#endif
