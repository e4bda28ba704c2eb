/*
 * store_files: what the cache keeps about the tree's files: the sizes
 * that take a transcript to learn (rendered_size), and each file's bytes
 * and mtime (file_date), so that a file keeps its date across mounts
 * until its bytes change.
 */
#include "store_state.h"

#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

int store_put_size(struct store *s, uint64_t ino, uint64_t digest, int64_t size)
{
	sqlite3_stmt *st;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	st = store_prepare(s, "INSERT OR REPLACE INTO rendered_size VALUES (?, ?, ?)");
	if (!st) {
		pthread_mutex_unlock(&s->lock);
		return -EIO;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)digest);
	sqlite3_bind_int64(st, 3, size);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = store_fail(s, "keeping a file's size");
	store_finish(s, st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_foreach_size(struct store *s, store_size_fn fn, void *ctx)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	/* Not store_prepare(): a cache from an older omifs, opened read-only, has
	 * no such table, which only means no size is known. */
	if (sqlite3_prepare_v2(s->db, "SELECT ino, digest, size FROM rendered_size", -1, &st,
			       NULL) == SQLITE_OK)
		while (rc == 0 && sqlite3_step(st) == SQLITE_ROW)
			rc = fn((uint64_t)sqlite3_column_int64(st, 0),
				(uint64_t)sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2), ctx);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* A cache opened read-only still dates files for the life of this
 * process: in a copy of its dates that shadows them (SQLite looks in
 * temp first), made when first needed: a search never needs it. Lock
 * held. */
static void dates_writable(struct store *s)
{
	if (!s->readonly || s->dates_copied)
		return;
	s->dates_copied = true;
	if (sqlite3_exec(s->db, "CREATE TEMP TABLE file_date (ino INTEGER PRIMARY KEY, "
			 "digest INTEGER NOT NULL, mtime INTEGER NOT NULL)", NULL, NULL, NULL) != SQLITE_OK ||
	    (s->format == STORE_FORMAT &&
	     sqlite3_exec(s->db, "INSERT INTO temp.file_date SELECT * FROM main.file_date", NULL,
			  NULL, NULL) != SQLITE_OK))
		log_warn("cache: files are dated as if new: %s", sqlite3_errmsg(s->db));
}

int store_foreach_file_date(struct store *s, store_file_date_fn fn, void *ctx)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	dates_writable(s);
	if (sqlite3_prepare_v2(s->db, "SELECT ino, digest, mtime FROM file_date", -1, &st,
			       NULL) == SQLITE_OK) {
		while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
			struct store_file_date row = {
				(uint64_t)sqlite3_column_int64(st, 0),
				(uint64_t)sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
			};

			rc = fn(&row, ctx);
		}
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Writes one file_date row with st (prepared, lock held). */
static int put_file_date(struct store *s, sqlite3_stmt *st, const struct store_file_date *row)
{
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)row->ino);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)row->digest);
	sqlite3_bind_int64(st, 3, row->mtime);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(s, "dating a file");
}

static const char put_file_date_sql[] = "INSERT OR REPLACE INTO file_date VALUES (?, ?, ?)";

int store_put_file_dates(struct store *s, const struct store_file_date *rows, size_t n)
{
	sqlite3_stmt *st;
	int rc;

	if (n == 0)
		return 0;
	/* Read-only, the rows go to a temp copy, made before the
	 * transaction so that no rollback undoes it. */
	pthread_mutex_lock(&s->lock);
	dates_writable(s);
	rc = store_begin(s);
	st = rc == 0 ? store_prepare(s, put_file_date_sql) : NULL;
	if (rc == 0 && !st)
		rc = -EIO;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = put_file_date(s, st, &rows[i]);
	store_finish(s, st);
	rc = store_end(s, rc);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_date_file(struct store *s, uint64_t ino, uint64_t digest, int64_t first,
		    int64_t changed, int64_t *mtime)
{
	struct store_file_date row = { ino, digest, first };
	sqlite3_stmt *st;
	bool same = false;
	int rc = -EIO;

	pthread_mutex_lock(&s->lock);
	dates_writable(s);
	st = store_prepare(s, "SELECT digest, mtime FROM file_date WHERE ino = ?");
	if (st) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
		if (sqlite3_step(st) == SQLITE_ROW) {
			int64_t was = sqlite3_column_int64(st, 1);

			same = (uint64_t)sqlite3_column_int64(st, 0) == digest;
			/* Other bytes move the time, even within its second. */
			row.mtime = same ? was : changed > was ? changed : was + 1;
		}
		store_finish(s, st);
		st = same ? NULL : store_prepare(s, put_file_date_sql);
		rc = same ? 0 : st ? put_file_date(s, st, &row) : -EIO;
		store_finish(s, st);
	}
	*mtime = row.mtime;
	pthread_mutex_unlock(&s->lock);
	return rc;
}
