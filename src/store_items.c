/*
 * store_items: the items of the cache one at a time (an item of a
 * listing, a conversation with its transcript, written or read), a
 * listing walked in order, when a listing was made, and when the cache
 * first saw an id.
 */
#include "store_state.h"

#include "buf.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>

/* Gives every id of kind's listing that has none a first-seen time.
 * s->lock held, inside the listing's transaction. */
int store_note_first_seen(struct store *s, enum store_kind kind, time_t at)
{
	sqlite3_stmt *st = store_prepare(s, "INSERT OR IGNORE INTO first_seen (kind, id, at) "
				      "SELECT kind, id, ? FROM listing WHERE kind = ?");
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)at);
	sqlite3_bind_int(st, 2, kind);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(s, "noting first-seen times");
	store_finish(s, st);
	return rc;
}

/* The number the statement sql (a kind and an id bound, in that order)
 * answers for kind's item id, or 0 without a row or on an error. */
static sqlite3_int64 item_number(struct store *s, const char *sql, enum store_kind kind,
				 const char *id)
{
	sqlite3_stmt *st;
	sqlite3_int64 number = 0;

	pthread_mutex_lock(&s->lock);
	st = store_prepare(s, sql);
	if (st) {
		sqlite3_bind_int(st, 1, kind);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			number = sqlite3_column_int64(st, 0);
		store_finish(s, st);
	}
	pthread_mutex_unlock(&s->lock);
	return number;
}

/* A build asks this once for every memory the documented API gives
 * undated, all of them: a statement prepared at each call made a build
 * of 10^6 memories take half a minute. */
time_t store_first_seen(struct store *s, enum store_kind kind, const char *id)
{
	/* A cache from an older omifs, opened read-only, may have no such
	 * table, which is no error worth reporting. */
	if (!s->has_first_seen)
		return 0;
	return (time_t)item_number(s, "SELECT at FROM first_seen WHERE kind = ? AND id = ?", kind,
				   id);
}

int store_listing_info(struct store *s, enum store_kind kind, time_t *listed_at, size_t *count)
{
	sqlite3_stmt *st;
	int rc = -ENOENT;

	pthread_mutex_lock(&s->lock);
	st = store_prepare(s, "SELECT listed_at, count FROM listed WHERE kind = ?");
	if (!st) {
		rc = -EIO;
	} else {
		sqlite3_bind_int(st, 1, kind);
		if (sqlite3_step(st) == SQLITE_ROW) {
			*listed_at = (time_t)sqlite3_column_int64(st, 0);
			*count = (size_t)sqlite3_column_int64(st, 1);
			rc = 0;
		}
		store_finish(s, st);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Walks the places [first, first + n) of kind's listing on db (the
 * store's lock or walk_lock held), in one read transaction when
 * `snapshot`; n SIZE_MAX: to the end. Returns fn's first non-zero or 0;
 * *sqlite_rc gets SQLite's failure, or SQLITE_OK. */
static int walk_listing(sqlite3 *db, bool snapshot, enum store_kind kind, size_t first, size_t n,
			store_item_fn fn, void *ctx, int *sqlite_rc)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, step = SQLITE_DONE;

	*sqlite_rc = SQLITE_OK;
	if (snapshot && (*sqlite_rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK)
		return 0;
	/* OFFSET skips along the index alone: the rows skipped are not read. */
	*sqlite_rc = sqlite3_prepare_v2(db, "SELECT id, json FROM listing WHERE kind = ? "
				       "ORDER BY position LIMIT ? OFFSET ?", -1, &st, NULL);
	if (*sqlite_rc == SQLITE_OK) {
		sqlite3_bind_int(st, 1, kind);
		sqlite3_bind_int64(st, 2, n > INT64_MAX ? -1 : (sqlite3_int64)n);
		sqlite3_bind_int64(st, 3, first > INT64_MAX ? INT64_MAX : (sqlite3_int64)first);
		while ((step = sqlite3_step(st)) == SQLITE_ROW) {
			rc = fn((const char *)sqlite3_column_text(st, 0),
				(const char *)sqlite3_column_text(st, 1), ctx);
			if (rc != 0)
				break;
		}
		if (rc == 0 && step != SQLITE_DONE)
			*sqlite_rc = step;
	}
	sqlite3_finalize(st);
	if (snapshot)
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	return rc;
}

int store_foreach_from(struct store *s, enum store_kind kind, size_t first, size_t n,
		       store_item_fn fn, void *ctx)
{
	int rc, sqlite_rc;

	if (s->walker) {
		pthread_mutex_lock(&s->walk_lock);
		rc = walk_listing(s->walker, true, kind, first, n, fn, ctx, &sqlite_rc);
		pthread_mutex_unlock(&s->walk_lock);
		if (sqlite_rc != SQLITE_OK) {
			pthread_mutex_lock(&s->lock);
			rc = store_fail_with(s, "reading a listing", sqlite3_errstr(sqlite_rc),
					     sqlite_rc == SQLITE_FULL);
			pthread_mutex_unlock(&s->lock);
		}
		return rc;
	}
	pthread_mutex_lock(&s->lock);
	rc = walk_listing(s->db, false, kind, first, n, fn, ctx, &sqlite_rc);
	if (sqlite_rc != SQLITE_OK)
		rc = store_fail(s, "reading a listing");
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_foreach(struct store *s, enum store_kind kind, store_item_fn fn, void *ctx)
{
	return store_foreach_from(s, kind, 0, SIZE_MAX, fn, ctx);
}

size_t store_listing_place(struct store *s, enum store_kind kind, const char *id)
{
	return (size_t)item_number(s, "SELECT (SELECT count(*) FROM listing AS b WHERE "
				   "b.kind = a.kind AND b.position < a.position) + 1 "
				   "FROM listing AS a WHERE a.kind = ? AND a.id = ?", kind, id);
}

/* Adds a conversation with its transcript unless there is one; 0 or -EIO. */
static int put_full(struct store *s, const char *id, const char *json)
{
	sqlite3_stmt *st = store_prepare(s, "INSERT OR IGNORE INTO full_conversation (id, json) "
					 "VALUES (?, ?)");
	int rc = -EIO;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		store_fail(s, "writing a conversation");
	else
		rc = sqlite3_changes(s->db) > 0 ? store_reindex(s, STORE_CONVERSATIONS, id) : 0;
	store_finish(s, st);
	return rc;
}

int store_put_full_conversation(struct store *s, const char *id, const char *json)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = store_begin(s);
	if (rc == 0)
		rc = put_full(s, id, json);
	rc = store_end(s, rc);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* The text in the first column of the one row sql finds for id (and kind,
 * when kind >= 0), or NULL. Caller frees. */
static char *get_json(struct store *s, const char *sql, int kind, const char *id)
{
	sqlite3_stmt *st;
	char *json = NULL;

	pthread_mutex_lock(&s->lock);
	st = store_prepare(s, sql);
	if (st) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (kind >= 0)
			sqlite3_bind_int(st, 2, kind);
		if (sqlite3_step(st) == SQLITE_ROW)
			json = xstrdup((const char *)sqlite3_column_text(st, 0));
		store_finish(s, st);
	}
	pthread_mutex_unlock(&s->lock);
	return json;
}

char *store_get_full_conversation(struct store *s, const char *id)
{
	return get_json(s, "SELECT json FROM full_conversation WHERE id = ?", -1, id);
}

char *store_get_item(struct store *s, enum store_kind kind, const char *id)
{
	return get_json(s, "SELECT json FROM listing WHERE id = ? AND kind = ?", (int)kind, id);
}

bool store_has_full_conversation(struct store *s, const char *id)
{
	sqlite3_stmt *st;
	bool found = false;

	pthread_mutex_lock(&s->lock);
	st = store_prepare(s, "SELECT 1 FROM full_conversation WHERE id = ?");
	if (st) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		found = sqlite3_step(st) == SQLITE_ROW;
		store_finish(s, st);
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}
