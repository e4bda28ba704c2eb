/*
 * store: SQLite tables behind store.h.
 *
 *   listing(kind, position, id, json,    the current version of every item
 *           missing, locked)             of the last complete listing; missing:
 *                                        complete listings in a row that
 *                                        lacked it; locked: full text kept
 *   staged_listing(same columns)         a complete listing on its way in
 *   old_version(kind, id, version, full, superseded versions, until no
 *               json, superseded,        snapshot can name them (superseded:
 *               superseded_at)           the listings_changed count that did)
 *   removed(kind, id, json, removed_at)  deleted items, kept 30 days
 *   listed(kind, listed_at, count)       when that listing was made
 *   full_conversation(id, json)          conversations with transcripts, for
 *                                        the current version of their entry
 *   first_seen(kind, id, at)             when an id was first stored, for
 *                                        items with no timestamp of their own
 *   rendered_size(ino, digest, size)     sizes that take a transcript to learn
 *   file_date(ino, digest, mtime)        each file's bytes and their mtime
 *   change_log(seq, at, what, kind, id,  the account's changes, for the feed
 *              json)                     (store_changes.c)
 *   search_*                             the full-text index (search_index.c),
 *                                        updated in the same transactions
 *
 * A version is named by hash_bytes() of the item's stored JSON: the name a
 * snapshot keeps is computed, never stored beside the current version.
 * PRAGMA user_version is the cache's format (STORE_FORMAT); meta's
 * 'written_by' the omifs that last wrote it.
 *
 * One connection guarded by one mutex: every function is a short
 * transaction, and FUSE threads mostly read the in-memory tree, not this.
 *
 * This file is what every part of the store stands on: its errors, its
 * kept statements and the shell of its transactions, what another omifs
 * sharing the cache changed, and the integrity check. The parts, which
 * share store_state.h: store_open.c (the schema, opening and closing),
 * store_items.c (items one at a time, walks of a listing, first-seen
 * times), store_listing.c (writing listings), store_changes.c (the change
 * log), store_versions.c (superseded versions, and their pruning),
 * store_counts.c (counts), store_files.c (files' sizes and dates),
 * store_account.c (what the cache keeps about the account) and
 * store_search.c (searches over the index).
 */
#include "store_state.h"

#include "buf.h"
#include "log.h"
#include "search_index.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_fail_with(struct store *s, const char *what, const char *message, bool full)
{
	log_error("cache: %s: %s", what, message);
	s->failed_at = time(NULL);
	snprintf(s->failure, sizeof(s->failure), "%s", message);
	s->out_of_space = full;
	return -EIO;
}

int store_fail(struct store *s, const char *what)
{
	return store_fail_with(s, what, sqlite3_errmsg(s->db),
			       sqlite3_errcode(s->db) == SQLITE_FULL ||
			       sqlite3_system_errno(s->db) == ENOSPC);
}

bool store_out_of_space(struct store *s)
{
	bool full;

	pthread_mutex_lock(&s->lock);
	full = s->failed_at && s->out_of_space;
	pthread_mutex_unlock(&s->lock);
	return full;
}

bool store_last_error(struct store *s, char *out, size_t outlen, time_t *when)
{
	bool failed;

	pthread_mutex_lock(&s->lock);
	failed = s->failed_at != 0;
	*when = s->failed_at;
	snprintf(out, outlen, "%s", s->failure);
	pthread_mutex_unlock(&s->lock);
	return failed;
}

sqlite3_stmt *store_prepare(struct store *s, const char *sql)
{
	struct kept_statement *k = NULL;
	sqlite3_stmt *st = NULL;

	for (size_t i = 0; i < s->n_kept; i++) {
		if (strcmp(s->kept[i].sql, sql) == 0) {
			k = &s->kept[i];
			break;
		}
	}
	/* In use already (a statement run inside another's loop): a fresh
	 * one, finalized when finished. */
	if (k && !k->in_use) {
		k->in_use = true;
		return k->st;
	}
	if (sqlite3_prepare_v3(s->db, sql, -1, k ? 0 : SQLITE_PREPARE_PERSISTENT, &st,
			       NULL) != SQLITE_OK) {
		store_fail(s, sql);
		return NULL;
	}
	if (!k && s->n_kept < STORE_KEPT_STATEMENTS)
		s->kept[s->n_kept++] = (struct kept_statement){ xstrdup(sql), st, true };
	return st;
}

void store_finish(struct store *s, sqlite3_stmt *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < s->n_kept; i++) {
		if (s->kept[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			s->kept[i].in_use = false;
			return;
		}
	}
	sqlite3_finalize(st);
}

char *store_first_text(struct store *s, sqlite3_stmt *st)
{
	char *text = NULL;

	if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		text = xstrdup((const char *)sqlite3_column_text(st, 0));
	store_finish(s, st);
	return text;
}

int store_exec(struct store *s, const char *sql)
{
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : store_fail(s, sql);
}

void store_rollback(struct store *s)
{
	/* SQLite has rolled back already after some failures (a full disk):
	 * a second ROLLBACK would only bury that error under its own. */
	if (!sqlite3_get_autocommit(s->db))
		store_exec(s, "ROLLBACK");
}

/* The last step of a transaction that changed items, before COMMIT: the
 * index agrees with the tables again (search_index.c's 'dirty'). */
static int seal_index(struct store *s)
{
	if (s->search && search_index_seal(s->search) < 0)
		return store_fail(s, "sealing the index");
	return 0;
}

int store_begin(struct store *s)
{
	/* Read-only, writes go to temp tables: no write lock to take. */
	return store_exec(s, s->readonly ? "BEGIN" : "BEGIN IMMEDIATE");
}

int store_end(struct store *s, int rc)
{
	/* A transaction SQLite ended itself is no commit of ours. */
	if (rc >= 0 && sqlite3_get_autocommit(s->db))
		rc = store_fail(s, "a transaction that SQLite rolled back");
	else if (rc >= 0 && (seal_index(s) < 0 || store_exec(s, "COMMIT") < 0))
		rc = -EIO;
	if (rc < 0)
		store_rollback(s);
	return rc;
}

int store_reindex(struct store *s, enum store_kind kind, const char *id)
{
	if (s->search && search_index_update(s->search, kind, id) < 0)
		return store_fail(s, "indexing an item");
	return 0;
}

/* Runs sql to completion with ?1 bound to kind and ?2, ?3 (when sql has
 * them) to a and b. Lock held. */
int store_run_kind(struct store *s, const char *sql, int kind, sqlite3_int64 a, sqlite3_int64 b)
{
	sqlite3_stmt *st = store_prepare(s, sql);
	int rc, params;

	if (!st)
		return -EIO;
	params = sqlite3_bind_parameter_count(st);
	sqlite3_bind_int(st, 1, kind);
	if (params >= 2)
		sqlite3_bind_int64(st, 2, a);
	if (params >= 3)
		sqlite3_bind_int64(st, 3, b);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(s, sql);
	store_finish(s, st);
	return rc;
}

sqlite3_int64 store_query_int(struct store *s, const char *sql, int kind, sqlite3_int64 a)
{
	sqlite3_stmt *st = store_prepare(s, sql);
	sqlite3_int64 n;

	if (!st)
		return -1;
	if (kind >= 0)
		sqlite3_bind_int(st, 1, kind);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, a);
	n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : store_fail(s, sql);
	store_finish(s, st);
	return n < 0 ? -1 : n;
}

/* Whether kind has been listed before. Lock held. */
bool store_listing_exists(struct store *s, enum store_kind kind)
{
	return store_query_int(s, "SELECT count(*) FROM listed WHERE kind = ?1", kind, 0) > 0;
}

sqlite3_int64 store_listings_count_locked(struct store *s)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 n = 0;

	/* Not store_prepare(): a cache of an older omifs, opened read-only,
	 * may have no such count, which means none. */
	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'listings_changed'", -1,
			       &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int store_note_listings_changed(struct store *s)
{
	return store_exec(s, "UPDATE meta SET value = value + 1 WHERE key = 'listings_changed'");
}

sqlite3_int64 store_data_version(struct store *s)
{
	return store_query_int(s, "PRAGMA data_version", -1, 0);
}

enum store_elsewhere store_changed_elsewhere(struct store *s)
{
	enum store_elsewhere what = STORE_ELSEWHERE_NOTHING;
	sqlite3_int64 now;

	pthread_mutex_lock(&s->lock);
	now = store_data_version(s);
	/* Only a listing's change counts: not another omifs's transcripts,
	 * sizes or index. */
	if (now != 0 && now != s->data_version) {
		sqlite3_int64 listings = store_listings_count_locked(s);

		s->data_version = now;
		what = STORE_ELSEWHERE_COMMITTED;
		if (listings != s->listings_changed) {
			what = STORE_ELSEWHERE_LISTINGS;
			s->listings_changed = listings;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return what;
}

uint64_t store_listings_count(struct store *s)
{
	sqlite3_int64 n;

	pthread_mutex_lock(&s->lock);
	n = store_listings_count_locked(s);
	pthread_mutex_unlock(&s->lock);
	return (uint64_t)n;
}

int store_check(struct store *s, bool quick, char *out, size_t outlen)
{
	sqlite3_stmt *st;
	char *first;
	int rc;

	pthread_mutex_lock(&s->lock);
	st = store_prepare(s, quick ? "PRAGMA quick_check(1)" : "PRAGMA integrity_check(1)");
	first = store_first_text(s, st);
	rc = first && strcmp(first, "ok") == 0 ? 0 : -EIO;
	snprintf(out, outlen, "%s", first ? first : sqlite3_errmsg(s->db));
	if (rc < 0) {
		log_error("cache: the check found: %s", out);
		s->failed_at = time(NULL);
		snprintf(s->failure, sizeof(s->failure), "%s", out);
	}
	free(first);
	pthread_mutex_unlock(&s->lock);
	return rc;
}
