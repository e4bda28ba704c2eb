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
 */
#include "store_state.h"

#include "buf.h"
#include "hash.h"
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

/* The cache's format: 1 (user_version 0) is what omifs wrote before
 * versions; 2 adds them. */
#define STORE_FORMAT 2
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

static const char pragmas[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;";

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS listing ("
	"  kind INTEGER NOT NULL, position INTEGER NOT NULL, id TEXT NOT NULL,"
	"  json TEXT NOT NULL, missing INTEGER NOT NULL DEFAULT 0,"
	"  locked INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (kind, id));"
	"CREATE INDEX IF NOT EXISTS listing_order ON listing (kind, position);"
	"CREATE TABLE IF NOT EXISTS staged_listing ("
	"  kind INTEGER NOT NULL, position INTEGER NOT NULL, id TEXT NOT NULL,"
	"  json TEXT NOT NULL, missing INTEGER NOT NULL DEFAULT 0,"
	"  locked INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (kind, id));"
	"CREATE TABLE IF NOT EXISTS stage_progress ("
	"  kind INTEGER PRIMARY KEY, next_offset INTEGER NOT NULL, oldest INTEGER NOT NULL,"
	"  fulls INTEGER NOT NULL, unsure INTEGER NOT NULL, skipped INTEGER NOT NULL,"
	"  started_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS old_version ("
	"  kind INTEGER NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,"
	"  full INTEGER NOT NULL, json TEXT NOT NULL, superseded INTEGER NOT NULL,"
	"  superseded_at INTEGER NOT NULL, PRIMARY KEY (kind, id, version, full));"
	"CREATE TABLE IF NOT EXISTS removed ("
	"  kind INTEGER NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL,"
	"  removed_at INTEGER NOT NULL, PRIMARY KEY (kind, id));"
	"CREATE TABLE IF NOT EXISTS listed ("
	"  kind INTEGER PRIMARY KEY, listed_at INTEGER NOT NULL, count INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS full_conversation ("
	"  id TEXT PRIMARY KEY, json TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS first_seen ("
	"  kind INTEGER NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (kind, id));"
	"CREATE TABLE IF NOT EXISTS change_log ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, what INTEGER NOT NULL,"
	"  kind INTEGER NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS account (url TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS sent (policy TEXT NOT NULL, at REAL NOT NULL);"
	"CREATE TABLE IF NOT EXISTS rendered_size ("
	"  ino INTEGER PRIMARY KEY, digest INTEGER NOT NULL, size INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS file_date ("
	"  ino INTEGER PRIMARY KEY, digest INTEGER NOT NULL, mtime INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO meta VALUES ('created_at', CAST(strftime('%s', 'now') AS INTEGER));"
	"INSERT OR IGNORE INTO meta VALUES ('listings_changed', 0);";

/* What a cache of format 1 lacks; its staging is transient, made anew. */
static const char migrate_from_1[] =
	"ALTER TABLE listing ADD COLUMN missing INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE listing ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;"
	"DROP TABLE IF EXISTS staged_listing;";

/* Logs and remembers a SQLite error, as message says it, and whether the
 * disk was full. s->lock held (or s not shared yet). */
static int fail_with(struct store *s, const char *what, const char *message, bool full)
{
	log_error("cache: %s: %s", what, message);
	s->failed_at = time(NULL);
	snprintf(s->failure, sizeof(s->failure), "%s", message);
	s->out_of_space = full;
	return -EIO;
}

int store_fail(struct store *s, const char *what)
{
	return fail_with(s, what, sqlite3_errmsg(s->db), sqlite3_errcode(s->db) == SQLITE_FULL ||
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

/* PRAGMA data_version: it moves with every commit of another connection. */
static sqlite3_int64 data_version(struct store *s)
{
	return store_query_int(s, "PRAGMA data_version", -1, 0);
}

/* Finishes an opened store; with_index false leaves a read-only store's
 * index unopened unless it is current. Without its index the cache still
 * serves files: search then reports the problem. */
static struct store *ready(struct store *s, bool writable, bool with_index)
{
	char err[256];
	enum search_index_state state;

	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->walk_lock, NULL);
	pthread_mutex_init(&s->search_lock, NULL);
	s->readonly = !writable;
	s->created_at = read_created_at(s);
	s->data_version = data_version(s);
	s->listings_changed = store_listings_count_locked(s);
	state = search_index_state(s->db);
	s->index_state = writable ? SEARCH_INDEX_CURRENT : state;
	if (!with_index && state != SEARCH_INDEX_CURRENT)
		return s;
	s->search = search_index_open(s->db, writable, state, err, sizeof(err));
	if (!s->search)
		log_error("cache: %s; search is off", err);
	return s;
}

/* omifs_digest(text): the version a JSON text names (hash_bytes). */
static void sql_digest(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const unsigned char *text = sqlite3_value_text(argv[0]);

	(void)argc;
	sqlite3_result_int64(ctx, (sqlite3_int64)hash_bytes(text ? (const char *)text : "",
							     (size_t)sqlite3_value_bytes(argv[0])));
}

/* The cache's format: PRAGMA user_version, where 0 is format 1 when the
 * file has a listing and a new file otherwise (0). */
static int read_format(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int format = 0;

	if (sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM pragma_user_version), "
			       "EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'listing')",
			       -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		format = sqlite3_column_int(st, 0) ? sqlite3_column_int(st, 0)
						   : sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	return format;
}

/* Refuses a cache of a format this omifs does not know, naming the omifs
 * that wrote it. Returns 0, or -1 with a message. */
static int check_format(sqlite3 *db, int format, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	char writer[64] = "newer";

	if (format <= STORE_FORMAT)
		return 0;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'written_by'", -1, &st,
			       NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		snprintf(writer, sizeof(writer), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	snprintf(err, errlen, "the cache %s was written by omifs %s (cache format %d); omifs "
		 OMIFS_VERSION " reads formats up to %d: run that omifs, or move the cache away",
		 path, writer, format, STORE_FORMAT);
	return -1;
}

/* Creates the tables, or brings a cache of an older format up to this
 * one in place: nothing is fetched again and learnt sizes stay. Returns
 * 0, or -1 with a message. */
static int prepare_schema(struct store *s, const char *path, char *err, size_t errlen)
{
	char *msg = NULL;
	int format;

	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	format = read_format(s->db);
	if (check_format(s->db, format, path, err, errlen) < 0) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	/* A cache already current is not written: another omifs sharing it
	 * would take that for a commit of its own. */
	if ((format == 1 && sqlite3_exec(s->db, migrate_from_1, NULL, NULL, &msg) != SQLITE_OK) ||
	    sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK ||
	    (format != STORE_FORMAT &&
	     sqlite3_exec(s->db, "PRAGMA user_version = " STRINGIFY(STORE_FORMAT), NULL, NULL,
			  &msg) != SQLITE_OK) ||
	    sqlite3_exec(s->db, "INSERT OR REPLACE INTO meta SELECT 'written_by', '" OMIFS_VERSION "' "
			 "WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = 'written_by' AND "
			 "value = '" OMIFS_VERSION "'); COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		goto fail;
	}
	if (format == 1)
		log_info("cache: brought %s up to format %d", path, STORE_FORMAT);
	s->format = STORE_FORMAT;
	return 0;
fail:
	snprintf(err, errlen, "cannot open the cache %s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
	sqlite3_free(msg);
	return -1;
}

/* What every connection needs first: a wait for other writers, and the
 * digest function. */
static bool connect(struct store *s)
{
	return sqlite3_busy_timeout(s->db, 5000) == SQLITE_OK &&
	       sqlite3_create_function(s->db, "omifs_digest", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
				       NULL, sql_digest, NULL, NULL) == SQLITE_OK;
}

/* Opens s's connection for searches (s->searcher) on the file at path,
 * once s has made its index current; without one, searches hold the
 * store's lock: slower for everything else, not wrong. Returns s. */
static struct store *open_searcher(struct store *s, const char *path)
{
	char err[256] = "";

	if (!path || !s->search)
		return s;
	if (sqlite3_open_v2(path, &s->searcher, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK || sqlite3_busy_timeout(s->searcher, 5000) != SQLITE_OK)
		snprintf(err, sizeof(err), "%s", sqlite3_errmsg(s->searcher));
	else
		s->searcher_index = search_index_open(s->searcher, false, SEARCH_INDEX_CURRENT, err,
						      sizeof(err));
	if (!s->searcher_index) {
		log_warn("cache: a connection for searches: %s", err);
		sqlite3_close(s->searcher);
		s->searcher = NULL;
	}
	return s;
}

struct store *store_open(const char *path, char *err, size_t errlen)
{
	struct store *s = xcalloc(1, sizeof(*s));
	const char *name = path ? path : "(memory)";
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
	    !connect(s) || sqlite3_exec(s->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open the cache %s: %s", name, sqlite3_errmsg(s->db));
		goto fail;
	}
	if (prepare_schema(s, name, err, errlen) < 0)
		goto fail;
	/* Without a walker, walks hold the store's lock: slower, not wrong. */
	if (path && (sqlite3_open_v2(path, &s->walker, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX,
				     NULL) != SQLITE_OK ||
		     sqlite3_busy_timeout(s->walker, 5000) != SQLITE_OK)) {
		log_warn("cache: a second connection for walks: %s", sqlite3_errmsg(s->walker));
		sqlite3_close(s->walker);
		s->walker = NULL;
	}
	return open_searcher(ready(s, true, true), path);
fail:
	sqlite3_close(s->db);
	free(s);
	return NULL;
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

struct store *store_open_readonly(const char *path, bool index_in_memory, char *err,
				  size_t errlen)
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
		/* Opening is lazy: a first read says whether it works (one
		 * row: counting them all reads the whole listing). */
		bool readable = rc == SQLITE_OK && connect(s) &&
				sqlite3_exec(s->db, "SELECT 1 FROM listing LIMIT 1", NULL, NULL,
					     NULL) == SQLITE_OK;
		bool refused = false;

		if (readable) {
			s->format = read_format(s->db);
			refused = check_format(s->db, s->format, path, err, errlen) < 0;
			if (!refused)
				return ready(s, false, index_in_memory);
		} else if (immutable) {
			snprintf(err, errlen, "cannot read the cache %s: %s", path,
				 sqlite3_errmsg(s->db));
		}
		sqlite3_close(s->db);
		free(s);
		if (refused)
			break;
	}
	return NULL;
}

time_t store_created_at(struct store *s)
{
	return s->created_at;
}

void store_read_once(struct store *s)
{
	/* Pages, not KiB: one B-tree path and a few of FTS5's leaves. */
	static const char keep_few[] = "PRAGMA cache_size = 25";

	pthread_mutex_lock(&s->lock);
	sqlite3_exec(s->db, keep_few, NULL, NULL, NULL);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&s->search_lock);
	if (s->searcher)
		sqlite3_exec(s->searcher, keep_few, NULL, NULL, NULL);
	pthread_mutex_unlock(&s->search_lock);
}

void store_close(struct store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_kept; i++) {
		sqlite3_finalize(s->kept[i].st);
		free(s->kept[i].sql);
	}
	search_index_close(s->search);
	search_index_close(s->searcher_index);
	sqlite3_close(s->searcher);
	sqlite3_close(s->walker);
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->walk_lock);
	pthread_mutex_destroy(&s->search_lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
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

time_t store_first_seen(struct store *s, enum store_kind kind, const char *id)
{
	sqlite3_stmt *st = NULL;
	time_t at = 0;

	pthread_mutex_lock(&s->lock);
	/* Not store_prepare(): a cache from an older omifs, opened read-only, has
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

bool store_can_search(struct store *s)
{
	return s->search != NULL;
}

enum search_index_state store_index_state(struct store *s)
{
	return s->index_state;
}

int store_search(struct store *s, const struct search_request *req, struct search_hits *hits,
		 char *err, size_t errlen)
{
	int rc;

	if (s->searcher_index) {
		pthread_mutex_lock(&s->search_lock);
		rc = search_index_query(s->searcher_index, req, hits, err, errlen);
		pthread_mutex_unlock(&s->search_lock);
		return rc;
	}
	pthread_mutex_lock(&s->lock);
	if (!s->search) {
		snprintf(err, errlen, "the cache has no search index (see the log)");
		memset(hits, 0, sizeof(*hits));
		rc = -EIO;
	} else {
		rc = search_index_query(s->search, req, hits, err, errlen);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
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

/* Walks kind's listing on db (the store's lock or walk_lock held), in one
 * read transaction when `snapshot`. Returns fn's first non-zero or 0;
 * *sqlite_rc gets SQLite's failure, or SQLITE_OK. */
static int walk_listing(sqlite3 *db, bool snapshot, enum store_kind kind, store_item_fn fn,
			void *ctx, int *sqlite_rc)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, step = SQLITE_DONE;

	*sqlite_rc = SQLITE_OK;
	if (snapshot && (*sqlite_rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK)
		return 0;
	*sqlite_rc = sqlite3_prepare_v2(db, "SELECT id, json FROM listing WHERE kind = ? "
				       "ORDER BY position", -1, &st, NULL);
	if (*sqlite_rc == SQLITE_OK) {
		sqlite3_bind_int(st, 1, kind);
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

int store_foreach(struct store *s, enum store_kind kind, store_item_fn fn, void *ctx)
{
	int rc, sqlite_rc;

	if (s->walker) {
		pthread_mutex_lock(&s->walk_lock);
		rc = walk_listing(s->walker, true, kind, fn, ctx, &sqlite_rc);
		pthread_mutex_unlock(&s->walk_lock);
		if (sqlite_rc != SQLITE_OK) {
			pthread_mutex_lock(&s->lock);
			rc = fail_with(s, "reading a listing", sqlite3_errstr(sqlite_rc),
				       sqlite_rc == SQLITE_FULL);
			pthread_mutex_unlock(&s->lock);
		}
		return rc;
	}
	pthread_mutex_lock(&s->lock);
	rc = walk_listing(s->db, false, kind, fn, ctx, &sqlite_rc);
	if (sqlite_rc != SQLITE_OK)
		rc = store_fail(s, "reading a listing");
	pthread_mutex_unlock(&s->lock);
	return rc;
}

enum store_elsewhere store_changed_elsewhere(struct store *s)
{
	enum store_elsewhere what = STORE_ELSEWHERE_NOTHING;
	sqlite3_int64 now;

	pthread_mutex_lock(&s->lock);
	now = data_version(s);
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

int store_count_untranscribed(struct store *s, size_t *n)
{
	int rc = -EIO;

	pthread_mutex_lock(&s->lock);
	if (s->search)
		rc = search_index_untranscribed(s->search, n);
	pthread_mutex_unlock(&s->lock);
	return rc;
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

uint64_t store_listings_count(struct store *s)
{
	sqlite3_int64 n;

	pthread_mutex_lock(&s->lock);
	n = store_listings_count_locked(s);
	pthread_mutex_unlock(&s->lock);
	return (uint64_t)n;
}

/* The text of the first column of the first row of st, copied; NULL
 * without one. Finishes st (store_finish). */
static char *first_text(struct store *s, sqlite3_stmt *st)
{
	char *text = NULL;

	if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		text = xstrdup((const char *)sqlite3_column_text(st, 0));
	store_finish(s, st);
	return text;
}

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
	json = first_text(s, st);
	if (json && hash_bytes(json, strlen(json)) == version) {
		if (full) {
			free(json);
			st = store_prepare(s, "SELECT json FROM full_conversation WHERE id = ?");
			if (st)
				sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
			json = first_text(s, st);
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
		json = first_text(s, st);
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

int store_check(struct store *s, bool quick, char *out, size_t outlen)
{
	sqlite3_stmt *st;
	char *first;
	int rc;

	pthread_mutex_lock(&s->lock);
	st = store_prepare(s, quick ? "PRAGMA quick_check(1)" : "PRAGMA integrity_check(1)");
	first = first_text(s, st);
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
