/*
 * search_index: the tables behind search_index.h.
 *
 *   search_doc(doc, kind, id, transcript)   one row per indexed item; doc
 *                                           is its rowid in search_text;
 *                                           transcript 1 when the cache had
 *                                           the conversation's full form
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
 */
#include "search_index.h"

#include "bigram_tokenizer.h"
#include "buf.h"
#include "cjk_tokenizer.h"
#include "jsontext.h"
#include "model.h"
#include "render.h"
#include "search_rank.h"
#include "search_snippet.h"

#include <errno.h>
#include <stddef.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bump when what is indexed or how changes: every cache is then indexed
 * again on its next open. */
#define SEARCH_VERSION 3
#define SEARCH_VERSION_TEXT "3"

struct search_index {
	sqlite3 *db;
	sqlite3_stmt *get_listing, *get_full, *find_doc, *put_doc, *drop_doc, *add_text,
		*drop_text, *seal, *untranscribed;
};

/* The index's tables in schema @; only main gets the triggers. */
static const char tables_sql[] =
	"CREATE TABLE IF NOT EXISTS @.search_doc ("
	"  doc INTEGER PRIMARY KEY, kind INTEGER NOT NULL, id TEXT NOT NULL,"
	"  transcript INTEGER NOT NULL, UNIQUE (kind, id));"
	/* The coverage is counted from the conversations without: none, once
	 * everything is fetched. */
	"CREATE INDEX IF NOT EXISTS @.search_doc_transcript ON search_doc (kind, transcript);"
	"CREATE VIRTUAL TABLE IF NOT EXISTS @.search_text USING fts5("
	"  title, body, transcript, tokenize = '" BIGRAM_TOKENIZER_NAME " " CJK_TOKENIZER_NAME
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

/* Every control byte but the newline becomes a space: snippets may then
 * carry the marks, and terminals see no escape sequences. */
static void clean_text(struct buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if (((unsigned char)b->data[i] < 0x20 && b->data[i] != '\n') || b->data[i] == 0x7f)
			b->data[i] = ' ';
}

static void add_line(struct buf *b, const char *text)
{
	if (!text || !*text)
		return;
	if (b->len)
		buf_putc(b, '\n');
	buf_puts(b, text);
}

static void conversation_text(json_object *listed, const char *full, struct buf *title,
			      struct buf *body, struct buf *transcript)
{
	struct conversation c;
	json_object *obj;

	if (model_parse_conversation(listed, &c) == 0) {
		add_line(title, c.title);
		add_line(body, c.overview);
		for (size_t i = 0; i < c.n_action_items; i++)
			add_line(body, c.action_items[i].description);
		for (size_t i = 0; i < c.n_events; i++) {
			add_line(body, c.events[i].title);
			add_line(body, c.events[i].description);
		}
		model_free_conversation(&c);
	}
	obj = full ? json_text_parse(full, strlen(full)) : NULL;
	if (obj && model_parse_conversation(obj, &c) == 0) {
		render_transcript(&c, transcript);
		model_free_conversation(&c);
	}
	json_object_put(obj);
}

/* The text of an item in its three columns. Returns -1 when the listing
 * JSON is no object the tree would show. */
static int item_text(enum store_kind kind, const char *json, const char *full, struct buf *title,
		     struct buf *body, struct buf *transcript)
{
	json_object *obj = json_text_parse(json, strlen(json));
	struct memory m;
	struct action_item a;
	int rc = 0;

	if (!obj || !json_object_is_type(obj, json_type_object)) {
		rc = -1;
	} else if (kind == STORE_MEMORIES) {
		rc = model_parse_memory(obj, &m);
		if (rc == 0) {
			add_line(body, m.content);
			model_free_memory(&m);
		}
	} else if (kind == STORE_ACTION_ITEMS) {
		rc = model_parse_action_item(obj, &a);
		if (rc == 0) {
			add_line(body, a.description);
			model_free_action_item(&a);
		}
	} else {
		conversation_text(obj, full, title, body, transcript);
	}
	json_object_put(obj);
	clean_text(title);
	clean_text(body);
	clean_text(transcript);
	return rc;
}

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static void bind_buf(sqlite3_stmt *st, int i, const struct buf *b)
{
	sqlite3_bind_text(st, i, b->len ? b->data : "", (int)b->len, SQLITE_STATIC);
}

/* Writes the entry of an item the index has none for (doc 0) or whose
 * text was just removed (doc > 0). */
static int index_item(struct search_index *ix, sqlite3_int64 doc, enum store_kind kind,
		      const char *id, const char *json, const char *full)
{
	struct buf title = BUF_INIT, body = BUF_INIT, transcript = BUF_INIT;
	int rc = 0;

	if (item_text(kind, json, full, &title, &body, &transcript) < 0) {
		sqlite3_bind_int64(ix->drop_doc, 1, doc);
		rc = doc ? step_done(ix->drop_doc) : 0;
		goto out;
	}
	if (doc)
		sqlite3_bind_int64(ix->put_doc, 1, doc);
	else
		sqlite3_bind_null(ix->put_doc, 1);
	sqlite3_bind_int(ix->put_doc, 2, kind);
	sqlite3_bind_text(ix->put_doc, 3, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(ix->put_doc, 4, kind == STORE_CONVERSATIONS && full);
	if ((rc = step_done(ix->put_doc)) < 0)
		goto out;
	if (!doc)
		doc = sqlite3_last_insert_rowid(ix->db);
	sqlite3_bind_int64(ix->add_text, 1, doc);
	bind_buf(ix->add_text, 2, &title);
	bind_buf(ix->add_text, 3, &body);
	bind_buf(ix->add_text, 4, &transcript);
	rc = step_done(ix->add_text);
out:
	buf_free(&title);
	buf_free(&body);
	buf_free(&transcript);
	return rc;
}

int search_index_update(struct search_index *ix, enum store_kind kind, const char *id)
{
	sqlite3_int64 doc = 0;
	const char *json = NULL, *full = NULL;
	int rc = 0;

	sqlite3_bind_int(ix->find_doc, 1, kind);
	sqlite3_bind_text(ix->find_doc, 2, id, -1, SQLITE_STATIC);
	if (sqlite3_step(ix->find_doc) == SQLITE_ROW)
		doc = sqlite3_column_int64(ix->find_doc, 0);
	sqlite3_reset(ix->find_doc);
	if (doc) {
		sqlite3_bind_int64(ix->drop_text, 1, doc);
		if (step_done(ix->drop_text) < 0)
			return -EIO;
	}
	sqlite3_bind_int(ix->get_listing, 1, kind);
	sqlite3_bind_text(ix->get_listing, 2, id, -1, SQLITE_STATIC);
	if (sqlite3_step(ix->get_listing) == SQLITE_ROW)
		json = (const char *)sqlite3_column_text(ix->get_listing, 0);
	if (json && kind == STORE_CONVERSATIONS) {
		sqlite3_bind_text(ix->get_full, 1, id, -1, SQLITE_STATIC);
		if (sqlite3_step(ix->get_full) == SQLITE_ROW)
			full = (const char *)sqlite3_column_text(ix->get_full, 0);
	}
	if (json) {
		rc = index_item(ix, doc, kind, id, json, full);
	} else if (doc) {
		sqlite3_bind_int64(ix->drop_doc, 1, doc);
		rc = step_done(ix->drop_doc);
	}
	sqlite3_reset(ix->get_listing);
	sqlite3_reset(ix->get_full);
	return rc;
}

int search_index_seal(struct search_index *ix)
{
	return ix->seal ? step_done(ix->seal) : 0;
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

/* Indexes every listed item into emptied tables. Inside a transaction
 * when the index is on disk. */
static int index_everything(struct search_index *ix)
{
	sqlite3_stmt *st = NULL;
	int rc = -EIO, step;

	if (sqlite3_prepare_v2(ix->db, "SELECT l.kind, l.id, l.json, f.json FROM main.listing l "
				       "LEFT JOIN main.full_conversation f ON l.kind = ?1 AND f.id = l.id",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int(st, 1, STORE_CONVERSATIONS);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int kind = sqlite3_column_int(st, 0);

		if (kind < 0 || kind >= STORE_KINDS)
			continue;
		if (index_item(ix, 0, kind, (const char *)sqlite3_column_text(st, 1),
			       (const char *)sqlite3_column_text(st, 2),
			       (const char *)sqlite3_column_text(st, 3)) < 0)
			break;
	}
	if (step == SQLITE_DONE)
		rc = 0;
	sqlite3_finalize(st);
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
		  "INSERT INTO search_doc (doc, kind, id, transcript) VALUES (?, ?, ?, ?) "
		  "ON CONFLICT DO UPDATE SET transcript = excluded.transcript" },
		{ offsetof(struct search_index, drop_doc), "DELETE FROM search_doc WHERE doc = ?" },
		{ offsetof(struct search_index, add_text),
		  "INSERT INTO search_text (rowid, title, body, transcript) VALUES (?, ?, ?, ?)" },
		{ offsetof(struct search_index, drop_text),
		  "DELETE FROM search_text WHERE rowid = ?" },
		{ offsetof(struct search_index, seal),
		  "UPDATE main.search_state SET value = 0 WHERE key = 'dirty'" },
		{ offsetof(struct search_index, untranscribed),
		  "SELECT count(*) FROM search_doc WHERE kind = ? AND transcript = 0" },
	};

	for (size_t i = 0; i < sizeof(statements) / sizeof(*statements); i++) {
		sqlite3_stmt **st = (sqlite3_stmt **)((char *)ix + statements[i].offset);

		if (!writable && st == &ix->seal)
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
	if (index_everything(ix) < 0 ||
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
	return index_everything(ix);
}

struct search_index *search_index_open(sqlite3 *db, bool writable, enum search_index_state state,
				       char *err, size_t errlen)
{
	struct search_index *ix = xcalloc(1, sizeof(*ix));

	ix->db = db;
	if (cjk_tokenizer_register(db) < 0 || bigram_tokenizer_register(db) < 0 ||
	    search_rank_register(db) < 0 || search_snippet_register(db) < 0) {
		snprintf(err, errlen, "this SQLite has no FTS5");
		free(ix);
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
	sqlite3_finalize(ix->get_listing);
	sqlite3_finalize(ix->get_full);
	sqlite3_finalize(ix->find_doc);
	sqlite3_finalize(ix->put_doc);
	sqlite3_finalize(ix->drop_doc);
	sqlite3_finalize(ix->add_text);
	sqlite3_finalize(ix->drop_text);
	sqlite3_finalize(ix->seal);
	sqlite3_finalize(ix->untranscribed);
	free(ix);
}

/* Whether query holds a word character: FTS5 rejects a query of
 * punctuation and spaces with a message that says nothing useful. */
static bool blank(const char *query)
{
	for (const char *p = query; *p; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n')
			return false;
	return true;
}

/* Pass one: every match, with what ranking it needs. */
static const char match_sql[] =
	"SELECT rowid, " SEARCH_RANK_FUNCTION "(search_text, 10.0, 4.0, 1.0) FROM search_text "
	"WHERE search_text MATCH ?1";

/* Pass two, for the matches shown only: a row by its rowid, without the
 * query, and its snippet from the window pass one chose. */
static const char hit_sql[] =
	"SELECT d.kind, d.id, l.json, " SEARCH_SNIPPET_FUNCTION "(search_text, ?2, ?3, ?4) "
	"FROM search_text JOIN search_doc d ON d.doc = search_text.rowid "
	"JOIN main.listing l ON l.kind = d.kind AND l.id = d.id "
	"WHERE search_text.rowid = ?1";

/* Appends the current row of hit_sql to *hits, with score. */
static void add_hit(sqlite3_stmt *st, double score, struct search_hit **hits, size_t *n,
		    size_t *cap)
{
	struct search_hit *h;
	const char *snippet = (const char *)sqlite3_column_text(st, 3);

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*hits = xrealloc(*hits, *cap * sizeof(**hits));
	}
	h = &(*hits)[(*n)++];
	h->kind = (enum store_kind)sqlite3_column_int(st, 0);
	h->id = xstrdup((const char *)sqlite3_column_text(st, 1));
	h->json = xstrdup((const char *)sqlite3_column_text(st, 2));
	h->snippet = xstrdup(snippet ? snippet : "");
	h->score = score;
}

/* Every match of query, ranked. Returns SQLITE_DONE or the failing step's
 * code. */
static int rank_matches(sqlite3 *db, const char *query, struct search_ranking *ranking)
{
	sqlite3_stmt *st = NULL;
	int step;

	if (sqlite3_prepare_v2(db, match_sql, -1, &st, NULL) != SQLITE_OK)
		return SQLITE_INTERNAL;
	sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		if (search_ranking_add(ranking, sqlite3_column_int64(st, 0),
				       sqlite3_column_value(st, 1)) < 0)
			step = SQLITE_INTERNAL;
	sqlite3_finalize(st);
	return step;
}

/* The hits of the ranked rows, best first, up to limit (0: all); a row
 * the tree would not show is passed over. Returns SQLITE_DONE or the
 * failing step's code. */
static int fetch_hits(sqlite3 *db, const struct search_ranked *rows,
		      size_t n_rows, size_t limit, struct search_hit **hits, size_t *n)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int step = SQLITE_DONE;

	if (sqlite3_prepare_v2(db, hit_sql, -1, &st, NULL) != SQLITE_OK)
		return SQLITE_INTERNAL;
	for (size_t i = 0; i < n_rows && (!limit || *n < limit); i++) {
		sqlite3_bind_int64(st, 1, rows[i].rowid);
		sqlite3_bind_int(st, 2, rows[i].window.column);
		sqlite3_bind_int(st, 3, rows[i].window.first);
		sqlite3_bind_int64(st, 4, rows[i].window.marks);
		step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			int kind = sqlite3_column_int(st, 0);

			if (kind >= 0 && kind < STORE_KINDS)
				add_hit(st, rows[i].score, hits, n, &cap);
			step = SQLITE_DONE;
		}
		sqlite3_reset(st);
		if (step != SQLITE_DONE)
			break;
	}
	sqlite3_finalize(st);
	return step;
}

int search_index_query(struct search_index *ix, const char *query, size_t limit,
		       struct search_hit **hits, size_t *n, char *err, size_t errlen)
{
	struct search_ranking ranking = SEARCH_RANKING_INIT;
	const struct search_ranked *rows;
	size_t n_rows;
	int step, rc = 0;
	bool own_transaction;

	*hits = NULL;
	*n = 0;
	if (blank(query) || strlen(query) > SEARCH_QUERY_MAX) {
		snprintf(err, errlen, blank(query) ? "the query is empty"
			 : "the query is longer than %d bytes", SEARCH_QUERY_MAX);
		return -EINVAL;
	}
	/* One read transaction: the second pass applies the first's snippet
	 * windows to the rows, which another process must not rewrite in
	 * between. */
	own_transaction = sqlite3_get_autocommit(ix->db) &&
			  sqlite3_exec(ix->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
	step = rank_matches(ix->db, query, &ranking);
	if (step == SQLITE_DONE) {
		search_ranking_finish(&ranking, &rows, &n_rows);
		step = fetch_hits(ix->db, rows, n_rows, limit, hits, n);
	}
	if (step != SQLITE_DONE) {
		/* The statements prepared: a plain error is the query's
		 * (syntax, an unknown column); the rest is the cache's. */
		rc = step == SQLITE_ERROR ? -EINVAL : -EIO;
		snprintf(err, errlen, "%s", sqlite3_errmsg(ix->db));
		search_hits_free(*hits, *n);
		*hits = NULL;
		*n = 0;
	}
	if (own_transaction)
		sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL);
	search_ranking_free(&ranking);
	return rc;
}

void search_hits_free(struct search_hit *hits, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(hits[i].id);
		free(hits[i].json);
		free(hits[i].snippet);
	}
	free(hits);
}
