/*
 * search_index: the tables behind search_index.h.
 *
 *   search_doc(doc, kind, id, transcript,   one row per indexed item; doc
 *              created, category, speakers) is its rowid in search_text;
 *                                           transcript 1 when the cache had
 *                                           the conversation's full form;
 *                                           created_at (epoch seconds, or
 *                                           NULL), a memory's or a
 *                                           conversation's category, and
 *                                           "\n"-framed lowercase speaker
 *                                           names: what filters test
 *   search_text(title, body, transcript)    FTS5, the text of each item
 *   search_state(key, value)                'version': the index format;
 *                                           'dirty': 1 when the store
 *                                           tables changed since the index
 *                                           last agreed with them
 *
 * Triggers on the store's tables set 'dirty' on any write, and every
 * transaction of ours clears it after updating the index (seal). So a
 * write by an omifs that knows nothing of the index (an older version on
 * the same cache) leaves the index marked stale, and the next open
 * rebuilds it. The triggers use plain SQL only, so that older versions
 * can still write.
 *
 * This file makes, checks and rebuilds those tables, and opens and
 * closes the index; its parts, which share search_index_state.h, write
 * the entries (search_index_write.c) and run queries over them
 * (search_index_query.c).
 */
#include "search_index_state.h"

#include "buf.h"
#include "cjk_tokenizer.h"
#include "search_rank.h"
#include "search_snippet.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* Bump when what is indexed or how changes: every cache is then indexed
 * again on its next open. Formats 3 and 4 also held each pair of
 * adjacent words, to find a phrase of common words through its rarer
 * pairs: on real text (20,000 conversations of English sentences) that
 * made the index 2.7 times its size, 1.9 times the text it indexes, to
 * make phrases 0 to 3 ms faster. Format 6 files conversations by their
 * category too, and gives an item that says no date the one it was first
 * seen at, which the filters then need not look up. */
#define SEARCH_VERSION 6
#define SEARCH_VERSION_TEXT "6"

/* The index's tables in schema @; only main gets the triggers. */
static const char tables_sql[] =
	"CREATE TABLE IF NOT EXISTS @.search_doc ("
	"  doc INTEGER PRIMARY KEY, kind INTEGER NOT NULL, id TEXT NOT NULL,"
	"  transcript INTEGER NOT NULL, created INTEGER, category TEXT, speakers TEXT,"
	"  UNIQUE (kind, id));"
	/* A filter alone lists the newest first. */
	"CREATE INDEX IF NOT EXISTS @.search_doc_created ON search_doc (created);"
	/* The coverage is counted from the conversations without: none, once
	 * everything is fetched. */
	"CREATE INDEX IF NOT EXISTS @.search_doc_transcript ON search_doc (kind, transcript);"
	"CREATE VIRTUAL TABLE IF NOT EXISTS @.search_text USING fts5("
	"  title, body, transcript, tokenize = '" CJK_TOKENIZER_NAME
	" unicode61 remove_diacritics 2');"
	"CREATE TABLE IF NOT EXISTS @.search_state (key TEXT PRIMARY KEY, value INTEGER);"
	"INSERT OR IGNORE INTO @.search_state VALUES ('version', 0), ('dirty', 1);";

static const char drop_sql[] =
	"DROP TABLE IF EXISTS main.search_text; DROP TABLE IF EXISTS main.search_doc;";

#define DIRTY "BEGIN UPDATE search_state SET value = 1 WHERE key = 'dirty' AND value = 0; END;"
static const char triggers_sql[] =
	"CREATE TRIGGER IF NOT EXISTS main.search_listing_i AFTER INSERT ON listing " DIRTY
	"CREATE TRIGGER IF NOT EXISTS main.search_listing_u AFTER UPDATE ON listing " DIRTY
	"CREATE TRIGGER IF NOT EXISTS main.search_listing_d AFTER DELETE ON listing " DIRTY
	"CREATE TRIGGER IF NOT EXISTS main.search_full_i AFTER INSERT ON full_conversation " DIRTY
	"CREATE TRIGGER IF NOT EXISTS main.search_full_u AFTER UPDATE ON full_conversation " DIRTY
	"CREATE TRIGGER IF NOT EXISTS main.search_full_d AFTER DELETE ON full_conversation " DIRTY;

/* Runs sql with each '@' replaced by schema. */
static int exec_in(sqlite3 *db, const char *sql, const char *schema)
{
	struct buf text = BUF_INIT;
	int rc;

	for (const char *p = sql; *p; p++) {
		if (*p == '@')
			buf_puts(&text, schema);
		else
			buf_putc(&text, *p);
	}
	rc = sqlite3_exec(db, text.data, NULL, NULL, NULL);
	buf_free(&text);
	return rc == SQLITE_OK ? 0 : -EIO;
}

int search_index_untranscribed(struct search_index *ix, size_t *n)
{
	int rc = -EIO;

	sqlite3_bind_int(ix->untranscribed, 1, STORE_CONVERSATIONS);
	if (sqlite3_step(ix->untranscribed) == SQLITE_ROW) {
		*n = (size_t)sqlite3_column_int64(ix->untranscribed, 0);
		rc = 0;
	}
	sqlite3_reset(ix->untranscribed);
	return rc;
}

/* The value of a search_state key in main, or -1. */
static int state_value(sqlite3 *db, const char *key)
{
	sqlite3_stmt *st = NULL;
	int value = -1;

	if (sqlite3_prepare_v2(db, "SELECT value FROM main.search_state WHERE key = ?", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			value = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	return value;
}

enum search_index_state search_index_state(sqlite3 *db)
{
	if (state_value(db, "version") != SEARCH_VERSION)
		return SEARCH_INDEX_OTHER_VERSION;
	return state_value(db, "dirty") == 0 ? SEARCH_INDEX_CURRENT : SEARCH_INDEX_BEHIND;
}

static int prepare_all(struct search_index *ix, bool writable)
{
	static const struct { size_t offset; const char *sql; } statements[] = {
		{ offsetof(struct search_index, get_listing),
		  "SELECT json FROM main.listing WHERE kind = ? AND id = ?" },
		{ offsetof(struct search_index, get_full),
		  "SELECT json FROM main.full_conversation WHERE id = ?" },
		{ offsetof(struct search_index, find_doc),
		  "SELECT doc FROM search_doc WHERE kind = ? AND id = ?" },
		{ offsetof(struct search_index, put_doc),
		  "INSERT INTO search_doc (doc, kind, id, transcript, created, category, speakers) "
		  "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
		  "transcript = excluded.transcript, created = excluded.created, "
		  "category = excluded.category, speakers = excluded.speakers" },
		{ offsetof(struct search_index, drop_doc), "DELETE FROM search_doc WHERE doc = ?" },
		{ offsetof(struct search_index, add_text),
		  "INSERT INTO search_text (rowid, title, body, transcript) VALUES (?, ?, ?, ?)" },
		{ offsetof(struct search_index, drop_text),
		  "DELETE FROM search_text WHERE rowid = ?" },
		{ offsetof(struct search_index, seal),
		  "UPDATE main.search_state SET value = 0 WHERE key = 'dirty'" },
		{ offsetof(struct search_index, untranscribed),
		  "SELECT count(*) FROM search_doc WHERE kind = ? AND transcript = 0" },
		{ offsetof(struct search_index, get_first_seen),
		  "SELECT at FROM main.first_seen WHERE kind = ? AND id = ?" },
	};

	for (size_t i = 0; i < sizeof(statements) / sizeof(*statements); i++) {
		sqlite3_stmt **st = (sqlite3_stmt **)((char *)ix + statements[i].offset);

		if ((!writable && st == &ix->seal) || (!ix->has_first_seen && st == &ix->get_first_seen))
			continue;
		if (sqlite3_prepare_v3(ix->db, statements[i].sql, -1, SQLITE_PREPARE_PERSISTENT, st,
				       NULL) != SQLITE_OK)
			return -EIO;
	}
	return 0;
}

/* On disk: the tables and triggers, rebuilt when not current. */
static int open_on_disk(struct search_index *ix, enum search_index_state state)
{
	sqlite3 *db = ix->db;
	bool current = state == SEARCH_INDEX_CURRENT;

	if (state == SEARCH_INDEX_OTHER_VERSION &&
	    sqlite3_exec(db, drop_sql, NULL, NULL, NULL) != SQLITE_OK)
		return -EIO;
	if (exec_in(db, tables_sql, "main") < 0 ||
	    sqlite3_exec(db, triggers_sql, NULL, NULL, NULL) != SQLITE_OK ||
	    prepare_all(ix, true) < 0)
		return -EIO;
	if (current)
		return 0;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE; DELETE FROM main.search_doc;"
			     "DELETE FROM main.search_text;", NULL, NULL, NULL) != SQLITE_OK)
		goto rollback;
	if (search_index_everything(ix) < 0 ||
	    sqlite3_exec(db, "UPDATE main.search_state SET value = CASE key WHEN 'version' THEN "
			 SEARCH_VERSION_TEXT " ELSE 0 END; COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto rollback;
	return 0;
rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -EIO;
}

/* Read-only: the index on disk when it is current, else one in memory. */
static int open_read_only(struct search_index *ix, enum search_index_state state)
{
	if (state == SEARCH_INDEX_CURRENT)
		return prepare_all(ix, false);
	if (exec_in(ix->db, tables_sql, "temp") < 0 || prepare_all(ix, false) < 0)
		return -EIO;
	return search_index_everything(ix);
}

/* The index's inner tokenizer on its own, to tell what holds a word. */
static int open_words(struct search_index *ix)
{
	fts5_api *api = cjk_fts5_api(ix->db);
	const char *args[] = { "remove_diacritics", "2" };
	void *ctx = NULL;

	if (!api || api->xFindTokenizer(api, "unicode61", &ctx, &ix->words) != SQLITE_OK ||
	    ix->words.xCreate(ctx, args, 2, &ix->words_instance) != SQLITE_OK)
		return -1;
	return 0;
}

struct search_index *search_index_open(sqlite3 *db, bool writable, enum search_index_state state,
				       bool has_first_seen, char *err, size_t errlen)
{
	struct search_index *ix = xcalloc(1, sizeof(*ix));

	ix->db = db;
	if (cjk_tokenizer_register(db) < 0 ||
	    search_rank_register(db) < 0 || search_snippet_register(db) < 0) {
		snprintf(err, errlen, "this SQLite has no FTS5");
		free(ix);
		return NULL;
	}
	ix->has_first_seen = has_first_seen;
	if (open_words(ix) < 0) {
		snprintf(err, errlen, "this SQLite's FTS5 has no unicode61 tokenizer");
		search_index_close(ix);
		return NULL;
	}
	if ((writable ? open_on_disk(ix, state) : open_read_only(ix, state)) < 0) {
		snprintf(err, errlen, "cannot index the cache: %s", sqlite3_errmsg(db));
		search_index_close(ix);
		return NULL;
	}
	return ix;
}

void search_index_close(struct search_index *ix)
{
	if (!ix)
		return;
	if (ix->words_instance)
		ix->words.xDelete(ix->words_instance);
	sqlite3_finalize(ix->get_listing);
	sqlite3_finalize(ix->get_full);
	sqlite3_finalize(ix->find_doc);
	sqlite3_finalize(ix->put_doc);
	sqlite3_finalize(ix->drop_doc);
	sqlite3_finalize(ix->add_text);
	sqlite3_finalize(ix->drop_text);
	sqlite3_finalize(ix->seal);
	sqlite3_finalize(ix->untranscribed);
	sqlite3_finalize(ix->get_first_seen);
	free(ix);
}
