/*
 * store_changes: the account's changes as the cache saw them, one row a
 * change, for the change feed (.omifs/changes, omifs changes).
 *
 *   change_log(seq, at, what, kind, id, json)
 *
 * seq counts up and is never reused (AUTOINCREMENT), so that a reader
 * that remembers the last seq it showed misses nothing and shows nothing
 * twice, even after old rows are pruned. json is the item as the change
 * left it, or as it was when removed: a reader names the item's file from
 * it even once the item is gone.
 *
 * Rows are written inside the transaction that makes the change, by
 * store_listing.c; a collection's first complete listing, and the
 * listing of one never completed, write none: that is the cache filling,
 * not the account changing.
 */
#include "store_state.h"

#include <errno.h>
#include <stdbool.h>

/* Whether the cache has a change log: a cache written by an omifs before
 * the feed, opened read-only, has none, which means no change. */
static bool has_log(struct store *s)
{
	return store_query_int(s, "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE "
			       "name = 'change_log')", -1, 0) == 1;
}

int store_log_changes(struct store *s, enum store_kind kind, bool removals)
{
	sqlite3_int64 now = (sqlite3_int64)time(NULL);
	int rc;

	/* Newest last: the listing's first place is the newest item. */
	rc = store_run_kind(s, "INSERT INTO change_log (at, what, kind, id, json) SELECT ?2, "
			 "CASE WHEN EXISTS (SELECT 1 FROM listing l WHERE l.kind = ?1 AND l.id = st.id) "
			 "THEN 1 ELSE 0 END, kind, id, json FROM staged_listing st WHERE kind = ?1 AND "
			 "NOT EXISTS (SELECT 1 FROM listing l WHERE l.kind = ?1 AND l.id = st.id AND "
			 "l.json = st.json) ORDER BY position DESC", kind, now, 0);
	if (rc == 0 && removals)
		rc = store_run_kind(s, "INSERT INTO change_log (at, what, kind, id, json) SELECT ?2, 2, "
				 "kind, id, json FROM listing l WHERE kind = ?1 AND NOT EXISTS (SELECT 1 "
				 "FROM staged_listing st WHERE st.kind = ?1 AND st.id = l.id) ORDER BY "
				 "position DESC", kind, now, 0);
	if (rc == 0)
		rc = store_run_kind(s, "DELETE FROM change_log WHERE at < ?2", kind,
				 now - STORE_CHANGES_KEPT, 0);
	return rc;
}

int store_log_change(struct store *s, enum store_kind kind, bool known, const char *id,
		     const char *json)
{
	sqlite3_stmt *st = store_prepare(s, "INSERT INTO change_log (at, what, kind, id, json) "
				      "VALUES (?, ?, ?, ?, ?)");
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	sqlite3_bind_int(st, 2, known ? STORE_CHANGED : STORE_ADDED);
	sqlite3_bind_int(st, 3, kind);
	sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, json, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(s, "noting a change");
	store_finish(s, st);
	return rc;
}

int64_t store_last_change(struct store *s)
{
	sqlite3_int64 seq = 0;

	pthread_mutex_lock(&s->lock);
	if (has_log(s))
		seq = store_query_int(s, "SELECT coalesce(max(seq), 0) FROM change_log", -1, 0);
	pthread_mutex_unlock(&s->lock);
	return seq < 0 ? -EIO : seq;
}

int store_foreach_change(struct store *s, int64_t after, time_t since, store_change_fn fn,
			 void *ctx)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, step = SQLITE_DONE;

	pthread_mutex_lock(&s->lock);
	if (!has_log(s))
		goto out;
	st = store_prepare(s, "SELECT seq, at, what, kind, id, json FROM change_log WHERE seq > ? "
			   "AND at >= ? ORDER BY seq");
	if (!st) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)since);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		int what = sqlite3_column_int(st, 2), kind = sqlite3_column_int(st, 3);
		struct store_change c = {
			.seq = sqlite3_column_int64(st, 0),
			.at = (time_t)sqlite3_column_int64(st, 1),
			.what = (enum store_change_what)what,
			.kind = (enum store_kind)kind,
			.id = (const char *)sqlite3_column_text(st, 4),
			.json = (const char *)sqlite3_column_text(st, 5),
		};

		/* A row of a later omifs (a kind or a change this one does
		 * not know) is passed over, not misread. */
		if (what < STORE_ADDED || what > STORE_REMOVED || kind < 0 || kind >= STORE_KINDS ||
		    !c.id || !c.json)
			continue;
		rc = fn(&c, ctx);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_fail(s, "reading the changes");
out:
	store_finish(s, st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}
