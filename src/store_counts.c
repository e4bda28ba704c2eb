/*
 * store_counts: what the cache holds, counted: conversations with and
 * without their transcripts, the file's size, and per collection the
 * items a listing lacked, those deleted, and those whose text is kept
 * locked.
 */
#include "store_state.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>

/* One count(*) query; 0 when it fails. s->lock not held. */
static size_t count_rows(struct store *s, const char *sql)
{
	sqlite3_int64 n;

	pthread_mutex_lock(&s->lock);
	n = store_query_int(s, sql, -1, 0);
	pthread_mutex_unlock(&s->lock);
	return n > 0 ? (size_t)n : 0;
}

size_t store_count_full_conversations(struct store *s)
{
	return count_rows(s, "SELECT count(*) FROM full_conversation");
}

size_t store_count_listed_without_full(struct store *s)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM listing WHERE kind = %d AND id NOT IN "
		 "(SELECT id FROM full_conversation)", STORE_CONVERSATIONS);
	return count_rows(s, sql);
}

long long store_size(struct store *s)
{
	sqlite3_int64 bytes;

	pthread_mutex_lock(&s->lock);
	bytes = store_query_int(s, "SELECT page_count * page_size FROM pragma_page_count(), "
				"pragma_page_size()", -1, 0);
	pthread_mutex_unlock(&s->lock);
	return bytes > 0 ? bytes : 0;
}

/* The one number sql (?1 the kind, ?2 a) answers, or -1 after an error.
 * Lock not held. */
static sqlite3_int64 kind_number(struct store *s, const char *sql, enum store_kind kind,
				 sqlite3_int64 a)
{
	sqlite3_int64 n;

	pthread_mutex_lock(&s->lock);
	n = store_query_int(s, sql, kind, a);
	pthread_mutex_unlock(&s->lock);
	return n;
}

int store_count_missing(struct store *s, enum store_kind kind, size_t *pending, size_t *held)
{
	sqlite3_int64 p, h;

	*pending = *held = 0;
	if (s->format < STORE_FORMAT)
		return 0;
	p = kind_number(s, "SELECT count(*) FROM listing WHERE kind = ?1 AND missing = 1", kind, 0);
	h = kind_number(s, "SELECT count(*) FROM listing WHERE kind = ?1 AND missing > 1", kind, 0);
	if (p < 0 || h < 0)
		return -EIO;
	*pending = (size_t)p;
	*held = (size_t)h;
	return 0;
}

int store_count_removed_since(struct store *s, enum store_kind kind, time_t since, size_t *n)
{
	sqlite3_int64 got = kind_number(s, "SELECT count(*) FROM removed WHERE kind = ?1 AND "
					"removed_at >= ?2", kind, (sqlite3_int64)since);

	*n = got > 0 ? (size_t)got : 0;
	return got < 0 ? -EIO : 0;
}

size_t store_count_locked(struct store *s, enum store_kind kind)
{
	sqlite3_int64 n = s->format < STORE_FORMAT ? 0
			: kind_number(s, "SELECT count(*) FROM listing WHERE kind = ?1 AND locked",
				      kind, 0);

	return n > 0 ? (size_t)n : 0;
}

bool store_item_locked(struct store *s, enum store_kind kind, const char *id)
{
	sqlite3_stmt *st;
	bool locked = false;

	if (s->format < STORE_FORMAT)
		return false;
	pthread_mutex_lock(&s->lock);
	st = store_prepare(s, "SELECT locked FROM listing WHERE kind = ? AND id = ?");
	if (st) {
		sqlite3_bind_int(st, 1, kind);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		locked = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0);
		store_finish(s, st);
	}
	pthread_mutex_unlock(&s->lock);
	return locked;
}
