/*
 * store_versions: the versions an item had before its current one
 * (old_version, and removed for deleted items), read by the version a
 * snapshot names, and pruned once no snapshot can name them.
 */
#include "store_state.h"

#include "hash.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

char *store_get_version(struct store *s, enum store_kind kind, const char *id, uint64_t version,
			bool full)
{
	sqlite3_stmt *st;
	char *json;

	pthread_mutex_lock(&s->lock);
	st = store_prepare(s, "SELECT json FROM listing WHERE kind = ? AND id = ?");
	if (st) {
		sqlite3_bind_int(st, 1, kind);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	}
	json = store_first_text(s, st);
	if (json && hash_bytes(json, strlen(json)) == version) {
		if (full) {
			free(json);
			st = store_prepare(s, "SELECT json FROM full_conversation WHERE id = ?");
			if (st)
				sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
			json = store_first_text(s, st);
		}
	} else {
		free(json);
		/* A cache of an older omifs (read-only) keeps no other version. */
		st = s->format < STORE_FORMAT ? NULL
		   : store_prepare(s, "SELECT json FROM old_version WHERE kind = ? AND id = ? AND "
				   "version = ? AND full = ?");
		if (st) {
			sqlite3_bind_int(st, 1, kind);
			sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, (sqlite3_int64)version);
			sqlite3_bind_int(st, 4, full);
		}
		json = store_first_text(s, st);
	}
	pthread_mutex_unlock(&s->lock);
	return json;
}

/* Runs sql with ?1 and (when it has one) ?2 bound to integers. Lock held. */
static int run_two(struct store *s, const char *sql, sqlite3_int64 a, sqlite3_int64 b)
{
	sqlite3_stmt *st = store_prepare(s, sql);
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(s, sql);
	store_finish(s, st);
	return rc;
}

int store_prune_versions(struct store *s, uint64_t floor, time_t superseded_before,
			 time_t removed_before)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = run_two(s, "DELETE FROM old_version WHERE superseded <= ?1 AND superseded_at <= ?2",
		     floor > INT64_MAX ? INT64_MAX : (sqlite3_int64)floor, superseded_before);
	if (rc == 0)
		rc = run_two(s, "DELETE FROM removed WHERE removed_at <= ?1",
			     removed_before, 0);
	pthread_mutex_unlock(&s->lock);
	return rc;
}
