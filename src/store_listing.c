/*
 * store_listing: writing listings. A complete listing is staged as it
 * arrives (staged_listing), compared with the served one in SQL, and
 * takes its place in one transaction that also keeps the versions it
 * changes or deletes (old_version, with the transcripts of changed
 * conversations), counts the items it lacks, and keeps the search index
 * in step; a short listing (new conversations, a rewrite of the stored
 * form) is merged.
 */
#include "store_state.h"

#include "buf.h"
#include "search_index.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	if (rc == 0)
		rc = store_run_kind(s, "DELETE FROM stage_progress WHERE kind = ?1", kind, 0, 0);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_stage_pause(struct store *s, enum store_kind kind, const struct store_stage_progress *p)
{
	sqlite3_stmt *st;
	int rc = -EIO;

	pthread_mutex_lock(&s->lock);
	st = store_prepare(s, "INSERT OR REPLACE INTO stage_progress (kind, next_offset, oldest, "
			   "fulls, unsure, skipped, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
	if (st) {
		sqlite3_bind_int(st, 1, kind);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)p->next_offset);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)p->oldest);
		sqlite3_bind_int(st, 4, p->fulls);
		sqlite3_bind_int(st, 5, p->unsure);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)p->skipped);
		sqlite3_bind_int64(st, 7, (sqlite3_int64)p->started_at);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(s, "noting where a listing stopped");
	}
	store_finish(s, st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_stage_resume(struct store *s, enum store_kind kind, struct store_stage_progress *p)
{
	sqlite3_stmt *st;
	int rc = -EIO, step;

	memset(p, 0, sizeof(*p));
	pthread_mutex_lock(&s->lock);
	st = store_prepare(s, "SELECT next_offset, oldest, fulls, unsure, skipped, started_at, "
			   "(SELECT count(*) FROM staged_listing WHERE kind = ?1), (SELECT "
			   "coalesce(max(position) + 1, 0) FROM staged_listing WHERE kind = ?1), "
			   "(SELECT id FROM staged_listing WHERE kind = ?1 ORDER BY position DESC "
			   "LIMIT 1) FROM stage_progress WHERE kind = ?1");
	if (!st)
		goto out;
	sqlite3_bind_int(st, 1, kind);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW && sqlite3_column_int64(st, 6) > 0) {
		p->next_offset = (size_t)sqlite3_column_int64(st, 0);
		p->oldest = (time_t)sqlite3_column_int64(st, 1);
		p->fulls = sqlite3_column_int(st, 2) != 0;
		p->unsure = sqlite3_column_int(st, 3) != 0;
		p->skipped = (size_t)sqlite3_column_int64(st, 4);
		p->started_at = (time_t)sqlite3_column_int64(st, 5);
		p->staged = (size_t)sqlite3_column_int64(st, 6);
		s->staged[kind] = sqlite3_column_int64(st, 7);
		if (sqlite3_column_type(st, 8) == SQLITE_TEXT)
			p->last_id = xstrdup((const char *)sqlite3_column_text(st, 8));
		rc = 1;
	} else {
		rc = step == SQLITE_ROW || step == SQLITE_DONE ? 0
			: store_fail(s, "reading where a listing stopped");
	}
out:
	store_finish(s, st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

size_t store_listing_size(struct store *s, enum store_kind kind)
{
	sqlite3_int64 n;

	pthread_mutex_lock(&s->lock);
	n = store_query_int(s, "SELECT count(*) FROM listing WHERE kind = ?1", kind, 0);
	pthread_mutex_unlock(&s->lock);
	return n > 0 ? (size_t)n : 0;
}

/* Stages n items after those staged already; 0 or -EIO. */
static int stage(struct store *s, enum store_kind kind, const struct store_item *items,
		 const bool *locked, size_t n)
{
	sqlite3_stmt *insert = store_prepare(s, "INSERT OR REPLACE INTO staged_listing (kind, "
					     "position, id, json, locked) VALUES (?, ?, ?, ?, ?)");
	int rc = insert ? 0 : -EIO;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		sqlite3_reset(insert);
		sqlite3_bind_int(insert, 1, kind);
		sqlite3_bind_int64(insert, 2, s->staged[kind] + (sqlite3_int64)i);
		sqlite3_bind_text(insert, 3, items[i].id, -1, SQLITE_STATIC);
		sqlite3_bind_text(insert, 4, items[i].json, -1, SQLITE_STATIC);
		sqlite3_bind_int(insert, 5, locked && locked[i]);
		if (sqlite3_step(insert) != SQLITE_DONE)
			rc = store_fail(s, "staging a listing");
	}
	store_finish(s, insert);
	return rc;
}

int store_stage_items(struct store *s, enum store_kind kind, const struct store_item *items,
		      const bool *locked, size_t n)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = store_begin(s);
	if (rc == 0)
		rc = stage(s, kind, items, locked, n);
	rc = store_end(s, rc);
	if (rc == 0)
		s->staged[kind] += (sqlite3_int64)n;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_stage_compare(struct store *s, enum store_kind kind, struct store_stage_census *c)
{
	sqlite3_int64 staged, cached, vanished, confirmed;

	memset(c, 0, sizeof(*c));
	pthread_mutex_lock(&s->lock);
	staged = store_query_int(s, "SELECT count(*) FROM staged_listing WHERE kind = ?1", kind, 0);
	cached = store_query_int(s, "SELECT count(*) FROM listing WHERE kind = ?1", kind, 0);
	vanished = store_query_int(s, "SELECT count(*) FROM listing l WHERE kind = ?1 AND " VANISHED,
				   kind, 0);
	confirmed = store_query_int(s, "SELECT count(*) FROM listing l WHERE kind = ?1 AND "
				    "missing > 0 AND " VANISHED, kind, 0);
	pthread_mutex_unlock(&s->lock);
	if (staged < 0 || cached < 0 || vanished < 0 || confirmed < 0)
		return -EIO;
	c->staged = (size_t)staged;
	c->cached = (size_t)cached;
	c->vanished = (size_t)vanished;
	c->confirmed = (size_t)confirmed;
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
	store_finish(s, st);
	return rc;
}

/* Runs one of supersede()'s statements: ?1 the kind, ?2 the count, ?3
 * the time, ?4 the id when there is one. */
static int run_superseding(struct store *s, const char *sql, enum store_kind kind,
			   sqlite3_int64 count, const char *id)
{
	sqlite3_stmt *st = store_prepare(s, sql);
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int(st, 1, kind);
	sqlite3_bind_int64(st, 2, count);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	if (id)
		sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(s, "keeping a superseded version");
	store_finish(s, st);
	return rc;
}

/*
 * Keeps, for the snapshots that may name them, the versions of kind that
 * `which` picks (a condition on listing l; "l.id = ?4" with id): their
 * listing entries and, with `fulls`, conversations' full forms, which
 * then leave full_conversation (the new version's transcript is fetched
 * anew). They are superseded at the count this commit makes. Lock held,
 * inside the transaction, before the listing changes.
 */
static int supersede(struct store *s, enum store_kind kind, const char *which, const char *id,
		     bool fulls)
{
	sqlite3_int64 count = store_listings_count_locked(s) + 1;
	struct buf sql = BUF_INIT;
	int rc;

	buf_printf(&sql, "INSERT OR REPLACE INTO old_version (kind, id, version, full, json, "
		   "superseded, superseded_at) SELECT kind, id, omifs_digest(json), 0, json, ?2, ?3 "
		   "FROM listing l WHERE kind = ?1 AND %s", which);
	rc = run_superseding(s, sql.data, kind, count, id);
	if (rc == 0 && fulls && kind == STORE_CONVERSATIONS) {
		buf_reset(&sql);
		buf_printf(&sql, "INSERT OR REPLACE INTO old_version (kind, id, version, full, json, "
			   "superseded, superseded_at) SELECT l.kind, l.id, omifs_digest(l.json), 1, "
			   "f.json, ?2, ?3 FROM listing l JOIN full_conversation f ON f.id = l.id "
			   "WHERE l.kind = ?1 AND %s", which);
		rc = run_superseding(s, sql.data, kind, count, id);
		buf_reset(&sql);
		buf_printf(&sql, "DELETE FROM full_conversation WHERE id IN (SELECT id FROM listing l "
			   "WHERE kind = ?1 AND %s)", which);
		if (rc == 0)
			rc = run_superseding(s, sql.data, kind, count, id);
	}
	buf_free(&sql);
	return rc;
}

/* Moves the vanished items of kind into the staging: kept after the
 * listed ones, in their order, counted missing once more unless the
 * listing was incomplete; then deletes those that `vanished` says are to
 * go, keeping their JSON in `removed`. Lock held, inside a transaction. */
static int settle_vanished(struct store *s, enum store_kind kind, enum store_vanished vanished,
			   time_t listed_at)
{
	static const char *const gone[] = {
		[STORE_KEEP_VANISHED] = NULL, [STORE_COUNT_VANISHED] = NULL,
		[STORE_DELETE_CONFIRMED] = "missing >= 2", [STORE_DELETE_VANISHED] = "missing > 0",
	};
	struct buf sql = BUF_INIT;
	int rc;

	rc = store_run_kind(s, "INSERT INTO staged_listing (kind, position, id, json, missing, locked) "
			 "SELECT kind, ?2 + row_number() OVER (ORDER BY position), id, json, missing + ?3, "
			 "locked FROM listing l WHERE kind = ?1 AND " VANISHED, kind, s->staged[kind],
			 vanished != STORE_KEEP_VANISHED);
	if (rc < 0 || !gone[vanished])
		return rc;
	buf_printf(&sql, "INSERT OR REPLACE INTO removed (kind, id, json, removed_at) SELECT kind, id, "
		   "json, ?2 FROM staged_listing WHERE kind = ?1 AND %s", gone[vanished]);
	rc = store_run_kind(s, sql.data, kind, listed_at, 0);
	buf_reset(&sql);
	buf_printf(&sql, "DELETE FROM staged_listing WHERE kind = ?1 AND %s", gone[vanished]);
	if (rc == 0)
		rc = store_run_kind(s, sql.data, kind, 0, 0);
	buf_free(&sql);
	return rc;
}

/* Moves the staged listing of kind in place of the current one and marks
 * it listed, logging the changes unless this is its first listing;
 * returns how many items were added, changed or removed, or -EIO. Lock
 * held, inside a transaction. */
static int move_stage(struct store *s, enum store_kind kind, enum store_vanished vanished,
		      bool fulls_listed, time_t listed_at, bool was_listed)
{
	sqlite3_int64 changes;

	if (settle_vanished(s, kind, vanished, listed_at) < 0 ||
	    (was_listed && store_log_changes(s, kind, true) < 0))
		return -EIO;
	changes = store_query_int(s, "SELECT (SELECT count(*) FROM staged_listing st WHERE kind = ?1 "
				  "AND NOT EXISTS (SELECT 1 FROM listing l WHERE l.kind = ?1 AND "
				  "l.id = st.id AND l.json = st.json)) + (SELECT count(*) FROM "
				  "listing l WHERE kind = ?1 AND " VANISHED ")", kind, 0);
	if (changes < 0)
		return -EIO;
	if (supersede(s, kind, VANISHED_OR_CHANGED, NULL, !fulls_listed) < 0 || note_reindex(s, kind) < 0 ||
	    store_run_kind(s, "DELETE FROM listing WHERE kind = ?1", kind, 0, 0) < 0 ||
	    store_run_kind(s, "INSERT INTO listing (kind, position, id, json, missing, locked) SELECT "
			"kind, position, id, json, missing, locked FROM staged_listing WHERE kind = ?1",
			kind, 0, 0) < 0 ||
	    store_run_kind(s, "INSERT OR REPLACE INTO listed (kind, listed_at, count) VALUES (?1, ?2, "
			"(SELECT count(*) FROM listing WHERE kind = ?1))", kind, listed_at, 0) < 0 ||
	    store_note_first_seen(s, kind, listed_at) < 0 ||
	    store_run_kind(s, "DELETE FROM staged_listing WHERE kind = ?1", kind, 0, 0) < 0 ||
	    store_run_kind(s, "DELETE FROM stage_progress WHERE kind = ?1", kind, 0, 0) < 0 ||
	    reindex_noted(s, kind) < 0)
		return -EIO;
	return changes > INT_MAX ? INT_MAX : (int)changes;
}

/* Shows what is staged: added and changed items take their place in the
 * listing served, nothing is dropped. Returns how many, or -EIO. */
static int show_stage(struct store *s, enum store_kind kind, bool fulls_listed)
{
	sqlite3_int64 changes = store_query_int(s, "SELECT count(*) FROM staged_listing st WHERE "
						"kind = ?1 AND NOT EXISTS (SELECT 1 FROM listing l "
						"WHERE l.kind = ?1 AND l.id = st.id AND "
						"l.json = st.json)", kind, 0);

	if (changes < 0)
		return -EIO;
	if (changes > 0 &&
	    (supersede(s, kind, "EXISTS (SELECT 1 FROM staged_listing st WHERE st.kind = ?1 AND "
		       "st.id = l.id AND st.json <> l.json)", NULL, !fulls_listed) < 0 ||
	     note_reindex(s, kind) < 0 ||
	     store_run_kind(s, "INSERT OR REPLACE INTO listing (kind, position, id, json, missing, "
			 "locked) SELECT kind, position, id, json, 0, locked FROM staged_listing "
			 "WHERE kind = ?1", kind, 0, 0) < 0 ||
	     store_note_first_seen(s, kind, time(NULL)) < 0 || reindex_noted(s, kind) < 0 ||
	     store_note_listings_changed(s) < 0))
		return -EIO;
	return changes > INT_MAX ? INT_MAX : (int)changes;
}

int store_stage_show(struct store *s, enum store_kind kind, bool fulls_listed)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = store_begin(s);
	if (rc == 0)
		rc = show_stage(s, kind, fulls_listed);
	rc = store_end(s, rc);
	if (rc > 0)
		s->listings_changed++;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_stage_commit(struct store *s, enum store_kind kind, enum store_vanished vanished,
		       bool fulls_listed, time_t listed_at)
{
	bool was_listed = false;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = store_begin(s);
	if (rc == 0) {
		was_listed = store_listing_exists(s, kind);
		rc = move_stage(s, kind, vanished, fulls_listed, listed_at, was_listed);
	}
	/* A first listing, even an empty one, changes what the tree can show. */
	if (rc >= 0 && (rc > 0 || !was_listed) && store_note_listings_changed(s) < 0)
		rc = -EIO;
	rc = store_end(s, rc);
	if (rc >= 0) {
		s->staged[kind] = 0;
		if (rc > 0 || !was_listed)
			s->listings_changed++;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_replace_listing(struct store *s, enum store_kind kind, const struct store_item *items,
			  size_t n, time_t listed_at)
{
	int rc = store_stage_clear(s, kind);

	if (rc == 0)
		rc = store_stage_items(s, kind, items, NULL, n);
	return rc < 0 ? rc : store_stage_commit(s, kind, STORE_DELETE_VANISHED, false, listed_at);
}

/* Puts n items in the listing served, ahead of it, logging them once the
 * collection was listed; returns how many were added or changed, or
 * -EIO. */
static int merge(struct store *s, enum store_kind kind, const struct store_item *items, size_t n)
{
	sqlite3_stmt *old, *upsert, *first;
	sqlite3_int64 position = 0;
	bool logged = store_listing_exists(s, kind);
	int changes = 0, rc = -EIO;

	old = store_prepare(s, "SELECT json, position FROM listing WHERE kind = ? AND id = ?");
	upsert = store_prepare(s, "INSERT OR REPLACE INTO listing (kind, position, id, json) "
			    "VALUES (?, ?, ?, ?)");
	first = store_prepare(s, "SELECT coalesce(min(position), 0) FROM listing WHERE kind = ?");
	if (!old || !upsert || !first)
		goto out;
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
		if (known && supersede(s, kind, "l.id = ?4", items[i].id, true) < 0)
			goto out;
		sqlite3_reset(upsert);
		sqlite3_bind_int(upsert, 1, kind);
		sqlite3_bind_int64(upsert, 2, at);
		sqlite3_bind_text(upsert, 3, items[i].id, -1, SQLITE_STATIC);
		sqlite3_bind_text(upsert, 4, items[i].json, -1, SQLITE_STATIC);
		if (sqlite3_step(upsert) != SQLITE_DONE) {
			store_fail(s, "merging a listing");
			goto out;
		}
		if (store_reindex(s, kind, items[i].id) < 0 ||
		    (logged && store_log_change(s, kind, known, items[i].id, items[i].json) < 0))
			goto out;
	}
	if (store_note_first_seen(s, kind, time(NULL)) == 0 &&
	    (changes == 0 || store_note_listings_changed(s) == 0))
		rc = changes;
out:
	store_finish(s, old);
	store_finish(s, upsert);
	store_finish(s, first);
	return rc;
}

int store_merge_listing(struct store *s, enum store_kind kind, const struct store_item *items,
			size_t n)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = store_begin(s);
	if (rc == 0)
		rc = merge(s, kind, items, n);
	rc = store_end(s, rc);
	if (rc > 0)
		s->listings_changed++;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Gives n listed items a new JSON in their place; 0 or -EIO. */
static int rewrite(struct store *s, enum store_kind kind, const struct store_item *items, size_t n)
{
	sqlite3_stmt *update = store_prepare(s, "UPDATE listing SET json = ? WHERE kind = ? AND "
					     "id = ?");
	int rc = update ? 0 : -EIO;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		/* The snapshot built from the old form may still read it. */
		rc = supersede(s, kind, "l.id = ?4", items[i].id, false);
		if (rc < 0)
			break;
		sqlite3_reset(update);
		sqlite3_bind_text(update, 1, items[i].json, -1, SQLITE_STATIC);
		sqlite3_bind_int(update, 2, kind);
		sqlite3_bind_text(update, 3, items[i].id, -1, SQLITE_STATIC);
		if (sqlite3_step(update) != SQLITE_DONE)
			rc = store_fail(s, "rewriting a listing");
		else if (sqlite3_changes(s->db) > 0)
			rc = store_reindex(s, kind, items[i].id);
	}
	store_finish(s, update);
	return rc;
}

int store_rewrite_listing(struct store *s, enum store_kind kind, const struct store_item *items,
			  size_t n)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = store_begin(s);
	if (rc == 0)
		rc = rewrite(s, kind, items, n);
	rc = store_end(s, rc);
	pthread_mutex_unlock(&s->lock);
	return rc;
}
