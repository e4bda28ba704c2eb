/*
 * store_open: opening and closing a cache. The tables (described in
 * store.c) are made here, and a cache of an older format brought up to
 * this one in place; a newer one is refused. A cache written by this
 * process gets two more connections to its file, read-only: one for long
 * walks (store_foreach), one for searches; a cache opened read-only is
 * never written, even on read-only media.
 */
#include "store_state.h"

#include "buf.h"
#include "hash.h"
#include "log.h"
#include "search_index.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	s->has_first_seen = sqlite3_exec(s->db, "SELECT 1 FROM main.first_seen LIMIT 1", NULL,
					 NULL, NULL) == SQLITE_OK;
	s->created_at = read_created_at(s);
	s->data_version = store_data_version(s);
	s->listings_changed = store_listings_count_locked(s);
	state = search_index_state(s->db);
	s->index_state = writable ? SEARCH_INDEX_CURRENT : state;
	if (!with_index && state != SEARCH_INDEX_CURRENT)
		return s;
	s->search = search_index_open(s->db, writable, state, s->has_first_seen, err, sizeof(err));
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

/* Every connection is used under a lock of the store's own (s->lock,
 * walk_lock or search_lock), so SQLite's mutex on each connection only
 * costs time: about a tenth of a search. */
#define CONNECTION_MUTEX SQLITE_OPEN_NOMUTEX

/* SQLite's memory statistics, which omifs never reads, take a global
 * mutex on every allocation: off, before SQLite first starts. */
static pthread_once_t library_once = PTHREAD_ONCE_INIT;

static void configure_library(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
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
	if (sqlite3_open_v2(path, &s->searcher, SQLITE_OPEN_READONLY | CONNECTION_MUTEX,
			    NULL) != SQLITE_OK || sqlite3_busy_timeout(s->searcher, 5000) != SQLITE_OK)
		snprintf(err, sizeof(err), "%s", sqlite3_errmsg(s->searcher));
	else
		s->searcher_index = search_index_open(s->searcher, false, SEARCH_INDEX_CURRENT,
						      s->has_first_seen, err, sizeof(err));
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
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | CONNECTION_MUTEX;

	pthread_once(&library_once, configure_library);

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
	/* Without a walker, walks hold the store's lock: slower, not wrong.
	 * A walk reads each page once, in order: a cache of a few pages does
	 * as well as SQLite's 2 MB default, which a heavy account filled for
	 * good at its first build. */
	if (path && (sqlite3_open_v2(path, &s->walker, SQLITE_OPEN_READONLY | CONNECTION_MUTEX,
				     NULL) != SQLITE_OK ||
		     sqlite3_busy_timeout(s->walker, 5000) != SQLITE_OK ||
		     sqlite3_exec(s->walker, "PRAGMA cache_size = 64", NULL, NULL, NULL) != SQLITE_OK)) {
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
	int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | CONNECTION_MUTEX;

	pthread_once(&library_once, configure_library);

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
