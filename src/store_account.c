/*
 * store_account: what the cache keeps about the account rather than its
 * items: numbers under a key (what its server clamps pages to, when it
 * last served no such collection), the API URL it holds, and the
 * requests sent, for the budget.
 */
#include "store_state.h"

#include "buf.h"
#include "collections.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

int store_get_number(struct store *s, const char *key, long long *value)
{
	sqlite3_stmt *st;
	int rc = -EIO, step;

	pthread_mutex_lock(&s->lock);
	st = store_prepare(s, "SELECT value FROM meta WHERE key = ?1");
	if (st) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		step = sqlite3_step(st);
		if (step == SQLITE_ROW)
			*value = sqlite3_column_int64(st, 0);
		rc = step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? -ENOENT
			: store_fail(s, "reading a number kept about the account");
	}
	store_finish(s, st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_set_account_url(struct store *s, const char *url)
{
	int rc = -EIO;

	pthread_mutex_lock(&s->lock);
	if (sqlite3_exec(s->db, "SAVEPOINT account_url", NULL, NULL, NULL) == SQLITE_OK) {
		sqlite3_stmt *st = store_prepare(s, "INSERT INTO account (url) VALUES (?1)");

		if (st && sqlite3_exec(s->db, "DELETE FROM account", NULL, NULL, NULL) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
			rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
		}
		store_finish(s, st);
		sqlite3_exec(s->db, rc == 0 ? "RELEASE account_url"
					    : "ROLLBACK TO account_url; RELEASE account_url",
			     NULL, NULL, NULL);
	}
	if (rc < 0)
		rc = store_fail(s, "keeping the account's URL");
	pthread_mutex_unlock(&s->lock);
	return rc;
}

char *store_account_url(struct store *s)
{
	sqlite3_stmt *st = NULL;
	char *url = NULL;

	pthread_mutex_lock(&s->lock);
	/* Not store_prepare: an older cache opened read-only has no such
	 * table, which is no failure. */
	if (sqlite3_prepare_v2(s->db, "SELECT url FROM account LIMIT 1", -1, &st, NULL) ==
		    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		url = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return url;
}

int store_set_number(struct store *s, const char *key, long long value)
{
	sqlite3_stmt *st;
	int rc = -EIO;

	pthread_mutex_lock(&s->lock);
	st = store_prepare(s, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)");
	if (st) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, value);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0
			: store_fail(s, "keeping a number about the account");
	}
	store_finish(s, st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Forgets the requests sent before `before` and adds n; 0 or -EIO. */
static int put_sends(struct store *s, const char *const *policies, const double *at, size_t n,
		     double before)
{
	sqlite3_stmt *forget = store_prepare(s, "DELETE FROM sent WHERE at < ?1");
	sqlite3_stmt *add = store_prepare(s, "INSERT INTO sent (policy, at) VALUES (?1, ?2)");
	int rc = forget && add ? 0 : -EIO;

	if (rc == 0) {
		sqlite3_bind_double(forget, 1, before);
		if (sqlite3_step(forget) != SQLITE_DONE)
			rc = store_fail(s, "keeping the requests sent");
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		sqlite3_reset(add);
		sqlite3_bind_text(add, 1, policies[i], -1, SQLITE_STATIC);
		sqlite3_bind_double(add, 2, at[i]);
		if (sqlite3_step(add) != SQLITE_DONE)
			rc = store_fail(s, "keeping the requests sent");
	}
	store_finish(s, forget);
	store_finish(s, add);
	return rc;
}

int store_keep_sends(struct store *s, const char *const *policies, const double *at, size_t n,
		     double before)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = store_begin(s);
	if (rc == 0)
		rc = put_sends(s, policies, at, n, before);
	rc = store_end(s, rc);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_foreach_send(struct store *s, store_send_fn fn, void *ctx)
{
	sqlite3_stmt *st;
	int rc = -EIO, step;

	pthread_mutex_lock(&s->lock);
	st = store_prepare(s, "SELECT policy, at FROM sent ORDER BY at");
	while (st && (step = sqlite3_step(st)) == SQLITE_ROW)
		fn((const char *)sqlite3_column_text(st, 0), sqlite3_column_double(st, 1), ctx);
	if (st)
		rc = step == SQLITE_DONE ? 0 : store_fail(s, "reading the requests sent");
	store_finish(s, st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void not_served_key(enum store_kind kind, char key[64])
{
	snprintf(key, 64, "not_served/%s", collection_of(kind)->dir);
}

time_t store_not_served_at(struct store *s, enum store_kind kind)
{
	char key[64];
	long long at;

	not_served_key(kind, key);
	return store_get_number(s, key, &at) == 0 && at > 0 ? (time_t)at : 0;
}

int store_note_not_served(struct store *s, enum store_kind kind, time_t at)
{
	char key[64];

	not_served_key(kind, key);
	return store_set_number(s, key, (long long)at);
}
