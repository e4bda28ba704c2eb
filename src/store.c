/*
 * store: SQLite tables behind store.h.
 *
 *   listing(kind, position, id, json)   the last complete listing per kind
 *   staged_listing(same columns)        a complete listing on its way in
 *   listed(kind, listed_at, count)      when that listing was made
 *   full_conversation(id, json)         conversations with transcripts
 *   first_seen(kind, id, at)            when an id was first stored, for
 *                                       items with no timestamp of their own
 *   search_*                            the full-text index (search_index.c),
 *                                       updated in the same transactions
 *
 * One connection guarded by one mutex: every function is a short
 * transaction, and FUSE threads mostly read the in-memory tree, not this.
 */
#include "store.h"

#include "buf.h"
#include "log.h"
#include "search_index.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct store {
	sqlite3 *db;
	struct search_index *search;	/* NULL when the index cannot be had */
	pthread_mutex_t lock;
	uint64_t generation;
	time_t created_at;
	time_t failed_at;	/* the last SQLite error, for the status file */
	char failure[256];
	sqlite3_int64 staged[STORE_KINDS];	/* items staged per kind */
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS listing ("
	"  kind INTEGER NOT NULL, position INTEGER NOT NULL, id TEXT NOT NULL,"
	"  json TEXT NOT NULL, PRIMARY KEY (kind, id));"
	"CREATE INDEX IF NOT EXISTS listing_order ON listing (kind, position);"
	"CREATE TABLE IF NOT EXISTS staged_listing ("
	"  kind INTEGER NOT NULL, position INTEGER NOT NULL, id TEXT NOT NULL,"
	"  json TEXT NOT NULL, PRIMARY KEY (kind, id));"
	"CREATE TABLE IF NOT EXISTS listed ("
	"  kind INTEGER PRIMARY KEY, listed_at INTEGER NOT NULL, count INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS full_conversation ("
	"  id TEXT PRIMARY KEY, json TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS first_seen ("
	"  kind INTEGER NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (kind, id));"
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS rendered_size ("
	"  ino INTEGER PRIMARY KEY, digest INTEGER NOT NULL, size INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO meta VALUES ('created_at', CAST(strftime('%s', 'now') AS INTEGER));";

/* Logs and remembers a SQLite error. s->lock held (or s not shared yet). */
static int fail(struct store *s, const char *what)
{
	log_error("cache: %s: %s", what, sqlite3_errmsg(s->db));
	s->failed_at = time(NULL);
	snprintf(s->failure, sizeof(s->failure), "%s", sqlite3_errmsg(s->db));
	return -EIO;
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

static time_t read_created_at(struct store *s)
{
	sqlite3_stmt *st = NULL;
	time_t t = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'created_at'", -1, &st,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		t = (time_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return t;
}

/* Finishes an opened store. Without its index the cache still serves
 * files: search then reports the problem. */
static struct store *ready(struct store *s, bool writable)
{
	char err[256];

	sqlite3_busy_timeout(s->db, 5000);
	pthread_mutex_init(&s->lock, NULL);
	s->created_at = read_created_at(s);
	s->search = search_index_open(s->db, writable, err, sizeof(err));
	if (!s->search)
		log_error("cache: %s; search is off", err);
	return s;
}

struct store *store_open(const char *path, char *err, size_t errlen)
{
	struct store *s = xcalloc(1, sizeof(*s));
	char *msg = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;

	if (path) {
		/* Create the file 0600 ourselves: SQLite would honour the umask. */
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd < 0) {
			snprintf(err, errlen, "cannot open the cache %s: %s", path, strerror(errno));
			free(s);
			return NULL;
		}
		fchmod(fd, 0600);
		close(fd);
	}
	/* Another omifs may be writing (a mount and a sync share a cache):
	 * the schema's writes wait for it like every other write. */
	if (sqlite3_open_v2(path ? path : ":memory:", &s->db, flags, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK ||
	    sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open the cache %s: %s", path ? path : "(memory)",
			 msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		sqlite3_close(s->db);
		free(s);
		return NULL;
	}
	return ready(s, true);
}

/* The SQLite URI of a file opened read-only: on read-only media SQLite
 * cannot make the WAL's shared-memory file, so there it must be told the
 * file cannot change (immutable). */
static char *readonly_uri(const char *path, bool immutable)
{
	struct buf uri = BUF_INIT;

	buf_puts(&uri, "file:");
	for (const char *p = path; *p; p++) {
		if (*p == '%' || *p == '?' || *p == '#')
			buf_printf(&uri, "%%%02X", (unsigned char)*p);
		else
			buf_putc(&uri, *p);
	}
	buf_puts(&uri, immutable ? "?immutable=1" : "?mode=ro");
	return buf_steal(&uri);
}

struct store *store_open_readonly(const char *path, char *err, size_t errlen)
{
	int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX;

	/* Nothing cached yet: an empty store, without writing one to disk. */
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return store_open(NULL, err, errlen);
	for (int immutable = 0; immutable < 2; immutable++) {
		struct store *s = xcalloc(1, sizeof(*s));
		char *uri = readonly_uri(path, immutable);
		int rc = sqlite3_open_v2(uri, &s->db, flags, NULL);

		free(uri);
		/* Opening is lazy: a first read says whether it works. */
		if (rc == SQLITE_OK && sqlite3_exec(s->db, "SELECT count(*) FROM listing", NULL, NULL,
						    NULL) == SQLITE_OK)
			return ready(s, false);
		if (immutable)
			snprintf(err, errlen, "cannot read the cache %s: %s", path,
				 sqlite3_errmsg(s->db));
		sqlite3_close(s->db);
		free(s);
	}
	return NULL;
}

time_t store_created_at(struct store *s)
{
	return s->created_at;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	search_index_close(s->search);
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Prepares sql; on failure logs and returns NULL. Lock held. */
static sqlite3_stmt *prepare(struct store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		fail(s, sql);
		return NULL;
	}
	return st;
}

static int exec(struct store *s, const char *sql)
{
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(s, sql);
}

/* Runs a one-parameter statement (text or int) to completion. Lock held. */
static int run_with_text(struct store *s, const char *sql, const char *text)
{
	sqlite3_stmt *st = prepare(s, sql);
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail(s, sql);
	sqlite3_finalize(st);
	return rc;
}

/* Gives every id of kind's listing that has none a first-seen time.
 * s->lock held, inside the listing's transaction. */
static int note_first_seen(struct store *s, enum store_kind kind, time_t at)
{
	sqlite3_stmt *st = prepare(s, "INSERT OR IGNORE INTO first_seen (kind, id, at) "
				      "SELECT kind, id, ? FROM listing WHERE kind = ?");
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)at);
	sqlite3_bind_int(st, 2, kind);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail(s, "noting first-seen times");
	sqlite3_finalize(st);
	return rc;
}

time_t store_first_seen(struct store *s, enum store_kind kind, const char *id)
{
	sqlite3_stmt *st = NULL;
	time_t at = 0;

	pthread_mutex_lock(&s->lock);
	/* Not prepare(): a cache from an older omifs, opened read-only, has
	 * no such table, which is no error worth reporting. */
	if (sqlite3_prepare_v2(s->db, "SELECT at FROM first_seen WHERE kind = ? AND id = ?", -1,
			       &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int(st, 1, kind);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			at = (time_t)sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return at;
}

int store_put_size(struct store *s, uint64_t ino, uint64_t digest, int64_t size)
{
	sqlite3_stmt *st;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	st = prepare(s, "INSERT OR REPLACE INTO rendered_size VALUES (?, ?, ?)");
	if (!st) {
		pthread_mutex_unlock(&s->lock);
		return -EIO;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)digest);
	sqlite3_bind_int64(st, 3, size);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = fail(s, "keeping a file's size");
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_foreach_size(struct store *s, store_size_fn fn, void *ctx)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	/* Not prepare(): a cache from an older omifs, opened read-only, has
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

/* Runs sql to completion with ?1 bound to kind and ?2, ?3 (when sql has
 * them) to a and b. Lock held. */
static int run_kind(struct store *s, const char *sql, int kind, sqlite3_int64 a, sqlite3_int64 b)
{
	sqlite3_stmt *st = prepare(s, sql);
	int rc, params;

	if (!st)
		return -EIO;
	params = sqlite3_bind_parameter_count(st);
	sqlite3_bind_int(st, 1, kind);
	if (params >= 2)
		sqlite3_bind_int64(st, 2, a);
	if (params >= 3)
		sqlite3_bind_int64(st, 3, b);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail(s, sql);
	sqlite3_finalize(st);
	return rc;
}

/* The one integer sql (?1 bound to kind) answers, or -1 on error. Lock held. */
static sqlite3_int64 count_kind(struct store *s, const char *sql, int kind)
{
	sqlite3_stmt *st = prepare(s, sql);
	sqlite3_int64 n = -1;

	if (!st)
		return -1;
	sqlite3_bind_int(st, 1, kind);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		fail(s, sql);
	sqlite3_finalize(st);
	return n;
}

/* Whether kind has been listed before. Lock held. */
static bool listing_exists(struct store *s, enum store_kind kind)
{
	return count_kind(s, "SELECT count(*) FROM listed WHERE kind = ?1", kind) > 0;
}

/* Items of kind's listing that the staged listing lacks (l: the listing). */
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
	rc = run_kind(s, "DELETE FROM staged_listing WHERE kind = ?1", kind, 0, 0);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_stage_items(struct store *s, enum store_kind kind, const struct store_item *items,
		      size_t n)
{
	sqlite3_stmt *insert = NULL;
	int rc = -EIO;

	pthread_mutex_lock(&s->lock);
	if (exec(s, "BEGIN IMMEDIATE") < 0)
		goto out;
	insert = prepare(s, "INSERT OR REPLACE INTO staged_listing (kind, position, id, json) "
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
			fail(s, "staging a listing");
			goto rollback;
		}
	}
	if (exec(s, "COMMIT") < 0)
		goto rollback;
	s->staged[kind] += (sqlite3_int64)n;
	rc = 0;
	goto out;
rollback:
	exec(s, "ROLLBACK");
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
	st = prepare(s, "SELECT id FROM listing l WHERE kind = ?1 AND " VANISHED);
	if (st) {
		sqlite3_bind_int(st, 1, kind);
		while ((step = sqlite3_step(st)) == SQLITE_ROW) {
			c->vanished++;
			vanished((const char *)sqlite3_column_text(st, 0), ctx);
		}
		sqlite3_finalize(st);
	}
	staged = count_kind(s, "SELECT count(*) FROM staged_listing WHERE kind = ?1", kind);
	cached = count_kind(s, "SELECT count(*) FROM listing WHERE kind = ?1", kind);
	c->staged = staged > 0 ? (size_t)staged : 0;
	c->cached = cached > 0 ? (size_t)cached : 0;
	rc = step != SQLITE_DONE ? fail(s, "comparing a listing") : staged < 0 || cached < 0 ? -EIO : 0;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Brings the index entry of (kind, id) in line with the tables. Lock
 * held, inside the transaction that changed the item. */
static int reindex(struct store *s, enum store_kind kind, const char *id)
{
	if (s->search && search_index_update(s->search, kind, id) < 0)
		return fail(s, "indexing an item");
	return 0;
}

/* The last step of a transaction that changed items, before COMMIT. */
static int seal_index(struct store *s)
{
	if (s->search && search_index_seal(s->search) < 0)
		return fail(s, "sealing the index");
	return 0;
}

/* Notes aside, before a staged listing takes the served one's place, the
 * ids it adds, changes or drops: the index follows them once it has. */
static int note_reindex(struct store *s, enum store_kind kind)
{
	if (!s->search)
		return 0;
	if (exec(s, "CREATE TEMP TABLE IF NOT EXISTS reindex_ids (id TEXT PRIMARY KEY)") < 0 ||
	    exec(s, "DELETE FROM temp.reindex_ids") < 0)
		return -EIO;
	return run_kind(s, "INSERT OR IGNORE INTO temp.reindex_ids SELECT id FROM staged_listing st "
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
	st = prepare(s, "SELECT id FROM temp.reindex_ids");
	if (!st)
		return -EIO;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = reindex(s, kind, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc < 0 ? rc : seal_index(s);
}

/* Moves the staged listing of kind in place of the current one and marks
 * it listed; returns how many items were added, changed or removed, or
 * -EIO. Lock held, inside a transaction. */
static int move_stage(struct store *s, enum store_kind kind, bool keep_vanished, time_t listed_at)
{
	sqlite3_int64 changes;

	/* Kept items go after the listed ones, in their order. */
	if (keep_vanished &&
	    run_kind(s, "INSERT INTO staged_listing (kind, position, id, json) "
			"SELECT kind, ?2 + row_number() OVER (ORDER BY position), id, json "
			"FROM listing l WHERE kind = ?1 AND " VANISHED, kind, s->staged[kind], 0) < 0)
		return -EIO;
	changes = count_kind(s, "SELECT (SELECT count(*) FROM staged_listing st WHERE kind = ?1 "
				"AND NOT EXISTS (SELECT 1 FROM listing l WHERE l.kind = ?1 AND "
				"l.id = st.id AND l.json = st.json)) + (SELECT count(*) FROM "
				"listing l WHERE kind = ?1 AND " VANISHED ")", kind);
	if (changes < 0)
		return -EIO;
	/* A full conversation lives as long as its listing entry does not change. */
	if (kind == STORE_CONVERSATIONS &&
	    run_kind(s, "DELETE FROM full_conversation WHERE id IN (SELECT id FROM listing l "
			"WHERE kind = ?1 AND " VANISHED_OR_CHANGED ")", kind, 0, 0) < 0)
		return -EIO;
	if (note_reindex(s, kind) < 0 ||
	    run_kind(s, "DELETE FROM listing WHERE kind = ?1", kind, 0, 0) < 0 ||
	    run_kind(s, "INSERT INTO listing (kind, position, id, json) SELECT kind, position, "
			"id, json FROM staged_listing WHERE kind = ?1", kind, 0, 0) < 0 ||
	    run_kind(s, "INSERT OR REPLACE INTO listed (kind, listed_at, count) VALUES (?1, ?2, "
			"(SELECT count(*) FROM listing WHERE kind = ?1))", kind, listed_at, 0) < 0 ||
	    note_first_seen(s, kind, listed_at) < 0 ||
	    run_kind(s, "DELETE FROM staged_listing WHERE kind = ?1", kind, 0, 0) < 0 ||
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
	if (exec(s, "BEGIN IMMEDIATE") < 0)
		goto out;
	was_listed = listing_exists(s, kind);
	rc = move_stage(s, kind, keep_vanished, listed_at);
	if (rc < 0 || exec(s, "COMMIT") < 0) {
		exec(s, "ROLLBACK");
		rc = -EIO;
		goto out;
	}
	s->staged[kind] = 0;
	/* A first listing, even an empty one, changes what the tree can show. */
	if (rc > 0 || !was_listed)
		s->generation++;
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_search(struct store *s, const char *query, size_t limit, struct search_hit **hits,
		 size_t *n, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	if (!s->search) {
		snprintf(err, errlen, "the cache has no search index (see the log)");
		*hits = NULL;
		*n = 0;
		rc = -EIO;
	} else {
		rc = search_index_query(s->search, query, limit, hits, n, err, errlen);
	}
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
	if (exec(s, "BEGIN IMMEDIATE") < 0)
		goto out;
	old = prepare(s, "SELECT json, position FROM listing WHERE kind = ? AND id = ?");
	upsert = prepare(s, "INSERT OR REPLACE INTO listing (kind, position, id, json) "
			    "VALUES (?, ?, ?, ?)");
	first = prepare(s, "SELECT coalesce(min(position), 0) FROM listing WHERE kind = ?");
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
		    run_with_text(s, drop_full_sql, items[i].id) < 0)
			goto rollback;
		sqlite3_reset(upsert);
		sqlite3_bind_int(upsert, 1, kind);
		sqlite3_bind_int64(upsert, 2, at);
		sqlite3_bind_text(upsert, 3, items[i].id, -1, SQLITE_STATIC);
		sqlite3_bind_text(upsert, 4, items[i].json, -1, SQLITE_STATIC);
		if (sqlite3_step(upsert) != SQLITE_DONE) {
			fail(s, "merging a listing");
			goto rollback;
		}
		if (reindex(s, kind, items[i].id) < 0)
			goto rollback;
	}
	if (note_first_seen(s, kind, time(NULL)) < 0 || seal_index(s) < 0 || exec(s, "COMMIT") < 0)
		goto rollback;
	if (changes > 0)
		s->generation++;
	rc = changes;
	goto out;
rollback:
	exec(s, "ROLLBACK");
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
	if (exec(s, "BEGIN IMMEDIATE") < 0)
		goto out;
	update = prepare(s, "UPDATE listing SET json = ? WHERE kind = ? AND id = ?");
	if (!update)
		goto rollback;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(update);
		sqlite3_bind_text(update, 1, items[i].json, -1, SQLITE_STATIC);
		sqlite3_bind_int(update, 2, kind);
		sqlite3_bind_text(update, 3, items[i].id, -1, SQLITE_STATIC);
		if (sqlite3_step(update) != SQLITE_DONE) {
			fail(s, "rewriting a listing");
			goto rollback;
		}
		if (sqlite3_changes(s->db) > 0 && reindex(s, kind, items[i].id) < 0)
			goto rollback;
	}
	if (seal_index(s) < 0 || exec(s, "COMMIT") < 0)
		goto rollback;
	rc = 0;
	goto out;
rollback:
	exec(s, "ROLLBACK");
out:
	sqlite3_finalize(update);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_listing_info(struct store *s, enum store_kind kind, time_t *listed_at, size_t *count)
{
	sqlite3_stmt *st;
	int rc = -ENOENT;

	pthread_mutex_lock(&s->lock);
	st = prepare(s, "SELECT listed_at, count FROM listed WHERE kind = ?");
	if (!st) {
		rc = -EIO;
	} else {
		sqlite3_bind_int(st, 1, kind);
		if (sqlite3_step(st) == SQLITE_ROW) {
			*listed_at = (time_t)sqlite3_column_int64(st, 0);
			*count = (size_t)sqlite3_column_int64(st, 1);
			rc = 0;
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_foreach(struct store *s, enum store_kind kind, store_item_fn fn, void *ctx)
{
	sqlite3_stmt *st;
	int rc = 0, step;

	pthread_mutex_lock(&s->lock);
	st = prepare(s, "SELECT id, json FROM listing WHERE kind = ? ORDER BY position");
	if (!st) {
		pthread_mutex_unlock(&s->lock);
		return -EIO;
	}
	sqlite3_bind_int(st, 1, kind);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		rc = fn((const char *)sqlite3_column_text(st, 0),
			(const char *)sqlite3_column_text(st, 1), ctx);
		if (rc != 0)
			break;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = fail(s, "reading a listing");
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

uint64_t store_generation(struct store *s)
{
	uint64_t g;

	pthread_mutex_lock(&s->lock);
	g = s->generation;
	pthread_mutex_unlock(&s->lock);
	return g;
}

int store_put_full_conversation(struct store *s, const char *id, const char *json)
{
	sqlite3_stmt *st = NULL;
	int rc = -EIO;

	pthread_mutex_lock(&s->lock);
	if (exec(s, "BEGIN IMMEDIATE") < 0)
		goto out;
	st = prepare(s, "INSERT OR IGNORE INTO full_conversation (id, json) VALUES (?, ?)");
	if (!st)
		goto rollback;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		fail(s, "writing a conversation");
		goto rollback;
	}
	if ((sqlite3_changes(s->db) > 0 && reindex(s, STORE_CONVERSATIONS, id) < 0) ||
	    seal_index(s) < 0 || exec(s, "COMMIT") < 0)
		goto rollback;
	rc = 0;
	goto out;
rollback:
	exec(s, "ROLLBACK");
out:
	sqlite3_finalize(st);
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
	st = prepare(s, sql);
	if (st) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (kind >= 0)
			sqlite3_bind_int(st, 2, kind);
		if (sqlite3_step(st) == SQLITE_ROW)
			json = xstrdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
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
	st = prepare(s, "SELECT 1 FROM full_conversation WHERE id = ?");
	if (st) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		found = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

/* One count(*) query; 0 when it fails. s->lock not held. */
static size_t count_rows(struct store *s, const char *sql)
{
	sqlite3_stmt *st;
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	st = prepare(s, sql);
	if (st) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = (size_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return n;
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
	sqlite3_stmt *st;
	long long bytes = 0;

	pthread_mutex_lock(&s->lock);
	st = prepare(s, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()");
	if (st) {
		if (sqlite3_step(st) == SQLITE_ROW)
			bytes = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return bytes;
}
