/*
 * store_state: what the store's own files share: store.c (errors, kept
 * statements, transactions, the helpers below) and the parts that stand
 * on it: store_open.c (the schema, opening, closing), store_items.c,
 * store_listing.c (writing listings), store_changes.c (the change log
 * those writes keep), store_versions.c, store_counts.c, store_files.c,
 * store_account.c and store_search.c.
 * Nothing else includes it: store.h is the module's promise.
 *
 * Every function here expects s->lock held and reports SQLite errors
 * with store_fail (logged, remembered for the status file, -EIO).
 */
#ifndef OMIFS_STORE_STATE_H
#define OMIFS_STORE_STATE_H

#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* The cache's format: 1 (user_version 0) is what omifs wrote before
 * versions; 2 adds them. */
#define STORE_FORMAT 2

/* How many prepared statements a store keeps for its connection's life
 * (more than it has: the rest are prepared at each use). */
#define STORE_KEPT_STATEMENTS 96

struct store {
	sqlite3 *db;
	/* store_prepare's statements on db, each prepared once. */
	struct kept_statement {
		char *sql;
		sqlite3_stmt *st;
		bool in_use;	/* handed out, not finished yet */
	} kept[STORE_KEPT_STATEMENTS];
	size_t n_kept;
	/* A second connection for long walks (store_foreach), NULL for a
	 * cache in memory or read-only: in WAL mode its read transaction sees
	 * one commit's state without the store's lock, so that cold reads
	 * and writes go on while a snapshot is built. walk_lock guards it. */
	sqlite3 *walker;
	pthread_mutex_t walk_lock;
	struct search_index *search;	/* NULL when the index cannot be had */
	/* A third connection, read-only, for searches, NULL for a cache in
	 * memory or read-only: a long query holds back no read or write of
	 * the mount. search_lock guards it and its index. */
	sqlite3 *searcher;
	struct search_index *searcher_index;
	pthread_mutex_t search_lock;
	enum search_index_state index_state;	/* the file's, when opened */
	pthread_mutex_t lock;
	sqlite3_int64 data_version;	/* of the last look at other writers */
	sqlite3_int64 listings_changed;	/* meta's count, as last seen */
	time_t created_at;
	time_t failed_at;	/* the last SQLite error, for the status file */
	char failure[256];
	bool out_of_space;	/* ... and it was a full disk */
	sqlite3_int64 staged[STORE_KINDS];	/* items staged per kind */
	int format;		/* of the file: 1 for a read-only cache of an older omifs */
	bool readonly;		/* store_open_readonly's */
	bool dates_copied;	/* read-only: file_date copied to temp (dates_writable) */
	bool has_first_seen;	/* the file has the first_seen table */
};

/* How many commits changed a listing, by any omifs (meta's
 * listings_changed, read now). */
sqlite3_int64 store_listings_count_locked(struct store *s);
/* Counts, in the open transaction, a commit that changes a listing, so
 * that another omifs sharing the cache sees it (store_changed_elsewhere);
 * once committed, the caller counts it in s->listings_changed too (not
 * read back: another omifs's count in between must still show). 0 or
 * -EIO. */
int store_note_listings_changed(struct store *s);
/* Logs and remembers a SQLite error about `what`; returns -EIO. */
int store_fail(struct store *s, const char *what);
/* Logs and remembers a SQLite error, as message says it, and whether the
 * disk was full. s->lock held (or s not shared yet). */
int store_fail_with(struct store *s, const char *what, const char *message, bool full);
/* PRAGMA data_version: it moves with every commit of another connection. */
sqlite3_int64 store_data_version(struct store *s);
/* A prepared statement of sql on s->db, or NULL after store_fail. It is
 * prepared once and kept for the connection's life: give it back with
 * store_finish (which resets it and clears its bindings), never with
 * sqlite3_finalize. */
sqlite3_stmt *store_prepare(struct store *s, const char *sql);
void store_finish(struct store *s, sqlite3_stmt *st);
/* The text of the first column of the first row of st, copied; NULL
 * without one. Finishes st (store_finish). */
char *store_first_text(struct store *s, sqlite3_stmt *st);
/* Runs sql; 0 or -EIO. */
int store_exec(struct store *s, const char *sql);
/* Rolls back the transaction open, if one still is. */
void store_rollback(struct store *s);
/*
 * The shell of every write, s->lock held:
 *	rc = store_begin(s);
 *	if (rc == 0)
 *		rc = ...the writes: 0 or more, or -errno...;
 *	rc = store_end(s, rc);
 * store_begin opens the transaction (0 or -EIO). store_end, with rc >= 0,
 * seals the index (its entries agree with the tables again) and commits;
 * with rc < 0, or when either fails, it rolls back. It returns rc, or
 * -EIO when the commit failed. What follows a commit (counts kept in
 * struct store) goes after it, still under the lock.
 */
int store_begin(struct store *s);
int store_end(struct store *s, int rc);
/* Runs sql with ?1 = kind and, when the statement has them, ?2 = a and
 * ?3 = b; 0 or -EIO. */
int store_run_kind(struct store *s, const char *sql, int kind, sqlite3_int64 a, sqlite3_int64 b);
/* The one integer sql answers, with ?1 = kind (unless kind < 0) and ?2
 * = a when sql has them: it (>= 0), or -1 after store_fail when the query
 * fails or answers no row. The one way every single-value query fails. */
sqlite3_int64 store_query_int(struct store *s, const char *sql, int kind, sqlite3_int64 a);
/* Whether kind was ever listed completely. */
bool store_listing_exists(struct store *s, enum store_kind kind);
/* Records, for ids of kind not seen before, that they were first seen at. */
int store_note_first_seen(struct store *s, enum store_kind kind, time_t at);

/* Logs, in the open transaction, the changes that committing kind's
 * staged listing makes (store_changes.c): what it adds or changes and,
 * with removals, what the listing served has and the staging lacks;
 * drops the log's rows older than STORE_CHANGES_KEPT. store_log_change
 * logs one item put in the listing served, new or (known) changed.
 * 0 or -EIO. */
int store_log_changes(struct store *s, enum store_kind kind, bool removals);
int store_log_change(struct store *s, enum store_kind kind, bool known, const char *id,
		     const char *json);

/* Brings the index entry of (kind, id) in line with the tables, inside
 * the transaction that changed the item; store_end seals the index.
 * 0 or -EIO. */
int store_reindex(struct store *s, enum store_kind kind, const char *id);

#endif
