/*
 * store_listing: writing listings. A complete listing is staged as it
 * arrives (staged_listing), compared with the served one in SQL, and
 * takes its place in one transaction that also drops the transcripts of
 * changed conversations and keeps the search index in step; a short
 * listing (new conversations, a rewrite of the stored form) is merged.
 */
#include "store_state.h"

#include "search_index.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VANISHED "NOT EXISTS (SELECT 1 FROM staged_listing st WHERE st.kind = ?1 AND st.id = l.id)"
/* ... or holds with other JSON. */
#define VANISHED_OR_CHANGED \
	"NOT EXISTS (SELECT 1 FROM staged_listing st WHERE st.kind = ?1 AND st.id = l.id " \
	"AND st.json = l.json)"

int store_stage_clear(struct store *s, enum store_kind kind)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	s->staged[kind] = 0;
	rc = store_run_kind(s, "DELETE FROM staged_listing WHERE kind = ?1", kind, 0, 0);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_stage_items(struct store *s, enum store_kind kind, const struct store_item *items,
		      size_t n)
{
	sqlite3_stmt *insert = NULL;
	int rc = -EIO;

	pthread_mutex_lock(&s->lock);
	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		goto out;
	insert = store_prepare(s, "INSERT OR REPLACE INTO staged_listing (kind, position, id, json) "
			    "VALUES (?, ?, ?, ?)");
	if (!insert)
		goto rollback;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(insert);
		sqlite3_bind_int(insert, 1, kind);
		sqlite3_bind_int64(insert, 2, s->staged[kind] + (sqlite3_int64)i);
		sqlite3_bind_text(insert, 3, items[i].id, -1, SQLITE_STATIC);
		sqlite3_bind_text(insert, 4, items[i].json, -1, SQLITE_STATIC);
		if (sqlite3_step(insert) != SQLITE_DONE) {
			store_fail(s, "staging a listing");
			goto rollback;
		}
	}
	if (store_exec(s, "COMMIT") < 0)
		goto rollback;
	s->staged[kind] += (sqlite3_int64)n;
	rc = 0;
	goto out;
rollback:
	store_exec(s, "ROLLBACK");
out:
	sqlite3_finalize(insert);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_stage_compare(struct store *s, enum store_kind kind, struct store_stage_census *c,
			store_id_fn vanished, void *ctx)
{
	sqlite3_stmt *st;
	sqlite3_int64 staged, cached;
	int step = SQLITE_ERROR, rc;

	memset(c, 0, sizeof(*c));
	pthread_mutex_lock(&s->lock);
	st = store_prepare(s, "SELECT id FROM listing l WHERE kind = ?1 AND " VANISHED);
	if (st) {
		sqlite3_bind_int(st, 1, kind);
		while ((step = sqlite3_step(st)) == SQLITE_ROW) {
			c->vanished++;
			vanished((const char *)sqlite3_column_text(st, 0), ctx);
		}
		sqlite3_finalize(st);
	}
	staged = store_count_kind(s, "SELECT count(*) FROM staged_listing WHERE kind = ?1", kind);
	cached = store_count_kind(s, "SELECT count(*) FROM listing WHERE kind = ?1", kind);
	c->staged = staged > 0 ? (size_t)staged : 0;
	c->cached = cached > 0 ? (size_t)cached : 0;
	rc = step != SQLITE_DONE ? store_fail(s, "comparing a listing") : staged < 0 || cached < 0 ? -EIO : 0;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Brings the index entry of (kind, id) in line with the tables. Lock
 * held, inside the transaction that changed the item. */
int store_reindex(struct store *s, enum store_kind kind, const char *id)
{
	if (s->search && search_index_update(s->search, kind, id) < 0)
		return store_fail(s, "indexing an item");
	return 0;
}

/* The last step of a transaction that changed items, before COMMIT. */
int store_seal_index(struct store *s)
{
	if (s->search && search_index_seal(s->search) < 0)
		return store_fail(s, "sealing the index");
	return 0;
}

/* Notes aside, before a staged listing takes the served one's place, the
 * ids it adds, changes or drops: the index follows them once it has. */
static int note_reindex(struct store *s, enum store_kind kind)
{
	if (!s->search)
		return 0;
	if (store_exec(s, "CREATE TEMP TABLE IF NOT EXISTS reindex_ids (id TEXT PRIMARY KEY)") < 0 ||
	    store_exec(s, "DELETE FROM temp.reindex_ids") < 0)
		return -EIO;
	return store_run_kind(s, "INSERT OR IGNORE INTO temp.reindex_ids SELECT id FROM staged_listing st "
			   "WHERE kind = ?1 AND NOT EXISTS (SELECT 1 FROM listing l WHERE "
			   "l.kind = ?1 AND l.id = st.id AND l.json = st.json) UNION SELECT id "
			   "FROM listing l WHERE kind = ?1 AND " VANISHED, kind, 0, 0);
}

/* Indexes again what note_reindex noted, then seals the index. */
static int reindex_noted(struct store *s, enum store_kind kind)
{
	sqlite3_stmt *st;
	int rc = 0, step;

	if (!s->search)
		return 0;
	st = store_prepare(s, "SELECT id FROM temp.reindex_ids");
	if (!st)
		return -EIO;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = store_reindex(s, kind, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc < 0 ? rc : store_seal_index(s);
}

/* Moves the staged listing of kind in place of the current one and marks
 * it listed; returns how many items were added, changed or removed, or
 * -EIO. Lock held, inside a transaction. */
static int move_stage(struct store *s, enum store_kind kind, bool keep_vanished, time_t listed_at)
{
	sqlite3_int64 changes;

	/* Kept items go after the listed ones, in their order. */
	if (keep_vanished &&
	    store_run_kind(s, "INSERT INTO staged_listing (kind, position, id, json) "
			"SELECT kind, ?2 + row_number() OVER (ORDER BY position), id, json "
			"FROM listing l WHERE kind = ?1 AND " VANISHED, kind, s->staged[kind], 0) < 0)
		return -EIO;
	changes = store_count_kind(s, "SELECT (SELECT count(*) FROM staged_listing st WHERE kind = ?1 "
				"AND NOT EXISTS (SELECT 1 FROM listing l WHERE l.kind = ?1 AND "
				"l.id = st.id AND l.json = st.json)) + (SELECT count(*) FROM "
				"listing l WHERE kind = ?1 AND " VANISHED ")", kind);
	if (changes < 0)
		return -EIO;
	/* A full conversation lives as long as its listing entry does not change. */
	if (kind == STORE_CONVERSATIONS &&
	    store_run_kind(s, "DELETE FROM full_conversation WHERE id IN (SELECT id FROM listing l "
			"WHERE kind = ?1 AND " VANISHED_OR_CHANGED ")", kind, 0, 0) < 0)
		return -EIO;
	if (note_reindex(s, kind) < 0 ||
	    store_run_kind(s, "DELETE FROM listing WHERE kind = ?1", kind, 0, 0) < 0 ||
	    store_run_kind(s, "INSERT INTO listing (kind, position, id, json) SELECT kind, position, "
			"id, json FROM staged_listing WHERE kind = ?1", kind, 0, 0) < 0 ||
	    store_run_kind(s, "INSERT OR REPLACE INTO listed (kind, listed_at, count) VALUES (?1, ?2, "
			"(SELECT count(*) FROM listing WHERE kind = ?1))", kind, listed_at, 0) < 0 ||
	    store_note_first_seen(s, kind, listed_at) < 0 ||
	    store_run_kind(s, "DELETE FROM staged_listing WHERE kind = ?1", kind, 0, 0) < 0 ||
	    reindex_noted(s, kind) < 0)
		return -EIO;
	return changes > INT_MAX ? INT_MAX : (int)changes;
}

int store_stage_commit(struct store *s, enum store_kind kind, bool keep_vanished,
		       time_t listed_at)
{
	bool was_listed;
	int rc = -EIO;

	pthread_mutex_lock(&s->lock);
	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		goto out;
	was_listed = store_listing_exists(s, kind);
	rc = move_stage(s, kind, keep_vanished, listed_at);
	if (rc >= 0 && (rc > 0 || !was_listed) && store_note_listings_changed(s) < 0)
		rc = -EIO;
	if (rc < 0 || store_exec(s, "COMMIT") < 0) {
		store_exec(s, "ROLLBACK");
		rc = -EIO;
		goto out;
	}
	s->staged[kind] = 0;
	/* A first listing, even an empty one, changes what the tree can show. */
	if (rc > 0 || !was_listed) {
		s->generation++;
		s->listings_changed++;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_replace_listing(struct store *s, enum store_kind kind, const struct store_item *items,
			  size_t n, time_t listed_at)
{
	int rc = store_stage_clear(s, kind);

	if (rc == 0)
		rc = store_stage_items(s, kind, items, n);
	return rc < 0 ? rc : store_stage_commit(s, kind, false, listed_at);
}

static const char drop_full_sql[] = "DELETE FROM full_conversation WHERE id = ?";

int store_merge_listing(struct store *s, enum store_kind kind, const struct store_item *items,
			size_t n)
{
	sqlite3_stmt *old = NULL, *upsert = NULL, *first = NULL;
	sqlite3_int64 position = 0;
	int changes = 0, rc = -EIO;

	pthread_mutex_lock(&s->lock);
	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		goto out;
	old = store_prepare(s, "SELECT json, position FROM listing WHERE kind = ? AND id = ?");
	upsert = store_prepare(s, "INSERT OR REPLACE INTO listing (kind, position, id, json) "
			    "VALUES (?, ?, ?, ?)");
	first = store_prepare(s, "SELECT coalesce(min(position), 0) FROM listing WHERE kind = ?");
	if (!old || !upsert || !first)
		goto rollback;
	sqlite3_bind_int(first, 1, kind);
	if (sqlite3_step(first) == SQLITE_ROW)
		position = sqlite3_column_int64(first, 0) - (sqlite3_int64)n;
	for (size_t i = 0; i < n; i++) {
		sqlite3_int64 at = position + (sqlite3_int64)i;
		bool known = false, same = false;

		sqlite3_reset(old);
		sqlite3_bind_int(old, 1, kind);
		sqlite3_bind_text(old, 2, items[i].id, -1, SQLITE_STATIC);
		if (sqlite3_step(old) == SQLITE_ROW) {
			known = true;
			same = strcmp((const char *)sqlite3_column_text(old, 0), items[i].json) == 0;
			at = sqlite3_column_int64(old, 1);
		}
		if (same)
			continue;
		changes++;
		if (known && kind == STORE_CONVERSATIONS &&
		    store_run_with_text(s, drop_full_sql, items[i].id) < 0)
			goto rollback;
		sqlite3_reset(upsert);
		sqlite3_bind_int(upsert, 1, kind);
		sqlite3_bind_int64(upsert, 2, at);
		sqlite3_bind_text(upsert, 3, items[i].id, -1, SQLITE_STATIC);
		sqlite3_bind_text(upsert, 4, items[i].json, -1, SQLITE_STATIC);
		if (sqlite3_step(upsert) != SQLITE_DONE) {
			store_fail(s, "merging a listing");
			goto rollback;
		}
		if (store_reindex(s, kind, items[i].id) < 0)
			goto rollback;
	}
	if (store_note_first_seen(s, kind, time(NULL)) < 0 || store_seal_index(s) < 0 ||
	    (changes > 0 && store_note_listings_changed(s) < 0) || store_exec(s, "COMMIT") < 0)
		goto rollback;
	if (changes > 0) {
		s->generation++;
		s->listings_changed++;
	}
	rc = changes;
	goto out;
rollback:
	store_exec(s, "ROLLBACK");
out:
	sqlite3_finalize(old);
	sqlite3_finalize(upsert);
	sqlite3_finalize(first);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_rewrite_listing(struct store *s, enum store_kind kind, const struct store_item *items,
			  size_t n)
{
	sqlite3_stmt *update = NULL;
	int rc = -EIO;

	pthread_mutex_lock(&s->lock);
	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		goto out;
	update = store_prepare(s, "UPDATE listing SET json = ? WHERE kind = ? AND id = ?");
	if (!update)
		goto rollback;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(update);
		sqlite3_bind_text(update, 1, items[i].json, -1, SQLITE_STATIC);
		sqlite3_bind_int(update, 2, kind);
		sqlite3_bind_text(update, 3, items[i].id, -1, SQLITE_STATIC);
		if (sqlite3_step(update) != SQLITE_DONE) {
			store_fail(s, "rewriting a listing");
			goto rollback;
		}
		if (sqlite3_changes(s->db) > 0 && store_reindex(s, kind, items[i].id) < 0)
			goto rollback;
	}
	if (store_seal_index(s) < 0 || store_exec(s, "COMMIT") < 0)
		goto rollback;
	rc = 0;
	goto out;
rollback:
	store_exec(s, "ROLLBACK");
out:
	sqlite3_finalize(update);
	pthread_mutex_unlock(&s->lock);
	return rc;
}
