/*
 * search_index: the tables behind search_index.h.
 *
 *   search_doc(doc, kind, id, transcript,   one row per indexed item; doc
 *              created, category, speakers) is its rowid in search_text;
 *                                           transcript 1 when the cache had
 *                                           the conversation's full form;
 *                                           created_at (epoch seconds, or
 *                                           NULL), a memory's category, and
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
 */
#include "search_index.h"

#include "buf.h"
#include "cjk_tokenizer.h"
#include "jsontext.h"
#include "model.h"
#include "render.h"
#include "search_rank.h"
#include "search_query.h"
#include "search_snippet.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bump when what is indexed or how changes: every cache is then indexed
 * again on its next open. Formats 3 and 4 also held each pair of
 * adjacent words, to find a phrase of common words through its rarer
 * pairs: on real text (20,000 conversations of English sentences) that
 * made the index 2.7 times its size, 1.9 times the text it indexes, to
 * make phrases 0 to 3 ms faster. */
#define SEARCH_VERSION 5
#define SEARCH_VERSION_TEXT "5"

struct search_index {
	sqlite3 *db;
	fts5_tokenizer words;		/* unicode61, for search_query's has_words */
	Fts5Tokenizer *words_instance;
	bool has_first_seen;		/* the store has its first_seen table */
	sqlite3_stmt *get_listing, *get_full, *find_doc, *put_doc, *drop_doc, *add_text,
		*drop_text, *seal, *untranscribed;
};

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

/* What an item's filters test (search_doc's last columns). */
struct item_meta {
	bool dated;
	int64_t created;
	const char *category;	/* borrowed from the parsed item, or NULL */
	struct buf speakers;	/* "\nsam\nspeaker 2\n", or empty */
};

/* Appends "\nname\n", lowercased: how search_doc.speakers holds a name,
 * and how the speaker filter looks for one. */
static void add_framed_name(struct buf *out, const char *name, size_t len)
{
	size_t at = out->len;

	buf_putc(out, '\n');
	buf_append(out, name, len);
	buf_putc(out, '\n');
	for (size_t i = at; i < out->len; i++)
		out->data[i] = (char)tolower((unsigned char)out->data[i]);
}

/* Adds a segment's speaker, as transcript.txt names it, once. */
static void add_speaker(struct buf *speakers, const struct segment *seg)
{
	struct buf plain = BUF_INIT, name = BUF_INIT;

	render_speaker(seg, &plain);
	add_framed_name(&name, plain.data ? plain.data : "", plain.len);
	buf_free(&plain);
	if (!speakers->len || !strstr(speakers->data, name.data)) {
		if (speakers->len)
			speakers->len--;	/* the frames' newlines are shared */
		buf_append(speakers, name.data, name.len);
	}
	buf_free(&name);
}

static void conversation_text(json_object *listed, const char *full, struct buf *title,
			      struct buf *body, struct buf *transcript, struct item_meta *meta)
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
		meta->dated = c.created_at.valid;
		meta->created = (int64_t)c.created_at.when;
		model_free_conversation(&c);
	}
	obj = full ? json_text_parse(full, strlen(full)) : NULL;
	if (obj && model_parse_conversation(obj, &c) == 0) {
		render_transcript(&c, transcript);
		for (size_t i = 0; i < c.n_segments; i++)
			add_speaker(&meta->speakers, &c.segments[i]);
		model_free_conversation(&c);
	}
	json_object_put(obj);
}

static void date_meta(struct item_meta *meta, const struct timestamp *created,
		      const struct timestamp *updated)
{
	const struct timestamp *t = created->valid ? created : updated;

	meta->dated = t->valid;
	meta->created = (int64_t)t->when;
}

/* Writes search_doc's row of an item (doc, or a new one when 0). */
static int put_doc(struct search_index *ix, sqlite3_int64 doc, enum store_kind kind,
		   const char *id, bool transcript, const struct item_meta *meta)
{
	sqlite3_stmt *st = ix->put_doc;

	if (doc)
		sqlite3_bind_int64(st, 1, doc);
	else
		sqlite3_bind_null(st, 1);
	sqlite3_bind_int(st, 2, kind);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, transcript);
	if (meta->dated)
		sqlite3_bind_int64(st, 5, meta->created);
	else
		sqlite3_bind_null(st, 5);
	if (meta->category)
		sqlite3_bind_text(st, 6, meta->category, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	if (meta->speakers.len)
		sqlite3_bind_text(st, 7, meta->speakers.data, (int)meta->speakers.len,
				  SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 7);
	return step_done(st);
}

/* Indexes an item: its text in its three columns, and its row. With no
 * text (the listing JSON is no object the tree would show) returns 1,
 * writing nothing. */
static int index_text(struct search_index *ix, sqlite3_int64 *doc, enum store_kind kind,
		      const char *id, const char *json, const char *full)
{
	struct buf title = BUF_INIT, body = BUF_INIT, transcript = BUF_INIT;
	struct item_meta meta = { false, 0, NULL, BUF_INIT };
	json_object *obj = json_text_parse(json, strlen(json));
	struct memory m;
	struct action_item a;
	struct goal g;
	bool parsed_memory = false, parsed_item = false, parsed_goal = false;
	int rc = 1;

	if (!obj || !json_object_is_type(obj, json_type_object))
		goto out;
	if (kind == STORE_MEMORIES) {
		if (model_parse_memory(obj, &m) < 0)
			goto out;
		parsed_memory = true;
		add_line(&body, m.content);
		meta.category = m.category;
		date_meta(&meta, &m.created_at, &m.updated_at);
	} else if (kind == STORE_ACTION_ITEMS) {
		if (model_parse_action_item(obj, &a) < 0)
			goto out;
		parsed_item = true;
		add_line(&body, a.description);
		date_meta(&meta, &a.created_at, &a.updated_at);
	} else if (kind == STORE_GOALS) {
		if (model_parse_goal(obj, &g) < 0)
			goto out;
		parsed_goal = true;
		add_line(&title, g.title);
		add_line(&body, g.unit);
		date_meta(&meta, &g.created_at, &g.updated_at);
	} else {
		conversation_text(obj, full, &title, &body, &transcript, &meta);
	}
	clean_text(&title);
	clean_text(&body);
	clean_text(&transcript);
	rc = put_doc(ix, *doc, kind, id, kind == STORE_CONVERSATIONS && full, &meta);
	if (rc < 0)
		goto out;
	if (!*doc)
		*doc = sqlite3_last_insert_rowid(ix->db);
	sqlite3_bind_int64(ix->add_text, 1, *doc);
	bind_buf(ix->add_text, 2, &title);
	bind_buf(ix->add_text, 3, &body);
	bind_buf(ix->add_text, 4, &transcript);
	rc = step_done(ix->add_text);
out:
	if (parsed_memory)
		model_free_memory(&m);
	if (parsed_item)
		model_free_action_item(&a);
	if (parsed_goal)
		model_free_goal(&g);
	json_object_put(obj);
	buf_free(&title);
	buf_free(&body);
	buf_free(&transcript);
	buf_free(&meta.speakers);
	return rc;
}

/* Writes the entry of an item the index has none for (doc 0) or whose
 * text was just removed (doc > 0); an item the tree would not show
 * loses its row. */
static int index_item(struct search_index *ix, sqlite3_int64 doc, enum store_kind kind,
		      const char *id, const char *json, const char *full)
{
	int rc = index_text(ix, &doc, kind, id, json, full);

	if (rc != 1)
		return rc;
	sqlite3_bind_int64(ix->drop_doc, 1, doc);
	return doc ? step_done(ix->drop_doc) : 0;
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

static int count_token(void *ctx, int flags, const char *token, int len, int start, int end)
{
	(void)flags;
	(void)token;
	(void)len;
	(void)start;
	(void)end;
	++*(int *)ctx;
	return SQLITE_DONE;	/* one is enough */
}

static bool has_words(void *ctx, const char *text, size_t len)
{
	struct search_index *ix = ctx;
	int n = 0;

	if (len == 0 || len > SEARCH_QUERY_MAX)
		return len > 0;
	ix->words.xTokenize(ix->words_instance, &n, FTS5_TOKENIZE_QUERY, text, (int)len,
			    count_token);
	return n > 0;
}

struct search_index *search_index_open(sqlite3 *db, bool writable, enum search_index_state state,
				       char *err, size_t errlen)
{
	struct search_index *ix = xcalloc(1, sizeof(*ix));

	ix->db = db;
	if (cjk_tokenizer_register(db) < 0 ||
	    search_rank_register(db) < 0 || search_snippet_register(db) < 0) {
		snprintf(err, errlen, "this SQLite has no FTS5");
		free(ix);
		return NULL;
	}
	ix->has_first_seen = sqlite3_exec(db, "SELECT 1 FROM main.first_seen LIMIT 1", NULL, NULL,
					  NULL) == SQLITE_OK;
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
	free(ix);
}

/* Whether query holds anything but spaces: FTS5 rejects a query of
 * punctuation and spaces with a message that says nothing useful. */
static bool blank(const char *query)
{
	for (const char *p = query; *p; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n')
			return false;
	return true;
}

/* An item's date: its created_at, else (a memory of the documented API
 * has none) when the cache first saw it, as the tree dates it. A cache
 * of an older omifs, read-only, may have no first_seen table. */
#define DATE_SQL "COALESCE(d.created, (SELECT at FROM main.first_seen f " \
		 "WHERE f.kind = d.kind AND f.id = d.id))"

/* The filters every pass applies, from ?2 on: kinds, after, before,
 * category, speaker; '$' stands for the item's date. */
#define FILTERS_SQL							\
	"(?2 = 0 OR (?2 >> d.kind) & 1) "				\
	"AND (?3 IS NULL OR $ >= ?3) AND (?4 IS NULL OR $ < ?4) "	\
	"AND (?5 IS NULL OR d.category = ?5 COLLATE NOCASE) "		\
	"AND (?6 IS NULL OR instr(d.speakers, ?6) > 0)"

/* Pass one: every match, with what ranking it needs. CROSS JOIN keeps
 * the index's match the outer loop: the filters only test its rows.
 * Without filters, nothing is joined (a fifth of the time of a common
 * word's query): only ties need dates, looked up once ranked. */
#define RANK_SQL "SELECT search_text.rowid, " SEARCH_RANK_FUNCTION \
		 "(search_text, 10.0, 4.0, 1.0), "
static const char match_sql[] =
	RANK_SQL "$ FROM search_text CROSS JOIN search_doc d ON d.doc = search_text.rowid "
	"WHERE search_text MATCH ?1 AND " FILTERS_SQL;
static const char match_unfiltered_sql[] =
	RANK_SQL "NULL FROM search_text WHERE search_text MATCH ?1";

/* A row's date, for ties. */
static const char date_sql[] = "SELECT $ FROM search_doc d WHERE d.doc = ?1";

/* Pass one without words: what the filters let through, less what ?1
 * matches when it is not NULL, with its date. The ranking orders them
 * newest first (an ORDER BY here took a third of the query's time). */
static const char filter_sql[] =
	"SELECT d.doc, $ FROM search_doc d WHERE " FILTERS_SQL
	" AND (?1 IS NULL OR d.doc NOT IN "
	"(SELECT rowid FROM search_text WHERE search_text MATCH ?1))";

/* Prepares sql with each '$' replaced by the item's date as ix knows it.
 * Returns SQLITE_OK or SQLite's code. */
static int prepare_dated(struct search_index *ix, const char *sql, sqlite3_stmt **st)
{
	struct buf text = BUF_INIT;
	int rc;

	for (const char *p = sql; *p; p++) {
		if (*p == '$')
			buf_puts(&text, ix->has_first_seen ? DATE_SQL : "d.created");
		else
			buf_putc(&text, *p);
	}
	rc = sqlite3_prepare_v2(ix->db, text.data, -1, st, NULL);
	buf_free(&text);
	return rc;
}

/* Between the passes, for the matches shown only: their snippets'
 * windows, from one more run of the query over their rowids' range. */
static const char window_sql[] =
	"SELECT rowid, " SEARCH_WINDOW_FUNCTION "(search_text, ?2) FROM search_text "
	"WHERE search_text MATCH ?1 AND rowid BETWEEN ?3 AND ?4 ORDER BY rowid";

/* Pass two, for the matches shown only: a row by its rowid, without the
 * query, and its snippet from its window. */
static const char hit_sql[] =
	"SELECT d.kind, d.id, l.json, " SEARCH_SNIPPET_FUNCTION "(search_text, ?2, ?3, ?4) "
	"FROM search_text JOIN search_doc d ON d.doc = search_text.rowid "
	"JOIN main.listing l ON l.kind = d.kind AND l.id = d.id "
	"WHERE search_text.rowid = ?1";

/* A row's length in tokens, for ranking: FTS5's own record of it. */
static const char row_tokens_sql[] = "SELECT sz FROM search_text_docsize WHERE id = ?1";

/* Appends the current row of hit_sql to out, with score. */
static void add_hit(sqlite3_stmt *st, double score, struct search_hits *out, size_t *cap)
{
	struct search_hit *h;
	const char *snippet = (const char *)sqlite3_column_text(st, 3);

	out->items = xgrow(out->items, cap, out->n, sizeof(*out->items), 16);
	h = &out->items[out->n++];
	h->kind = (enum store_kind)sqlite3_column_int(st, 0);
	h->id = xstrdup((const char *)sqlite3_column_text(st, 1));
	h->json = xstrdup((const char *)sqlite3_column_text(st, 2));
	h->snippet = xstrdup(snippet ? snippet : "");
	h->score = score;
}

static void bind_filters(sqlite3_stmt *st, const struct search_filters *f,
			 const char *speaker)
{
	sqlite3_bind_int(st, 2, (int)f->kinds);
	if (f->after != INT64_MIN)
		sqlite3_bind_int64(st, 3, f->after);
	if (f->before != INT64_MAX)
		sqlite3_bind_int64(st, 4, f->before);
	if (f->category)
		sqlite3_bind_text(st, 5, f->category, -1, SQLITE_STATIC);
	if (speaker)
		sqlite3_bind_text(st, 6, speaker, -1, SQLITE_STATIC);
}

/* Every row that q asks for, ranked (or newest first without words),
 * until the deadline: then *partial. Returns SQLITE_DONE or the failing
 * step's code. */
static int rank_matches(struct search_index *ix, const struct search_query *q,
			const char *speaker, struct search_ranking *ranking)
{
	sqlite3_stmt *st = NULL;
	bool filtered = search_filters_any(&q->filters);
	int date_column = q->match ? 2 : 1, step;

	if (prepare_dated(ix, !q->match ? filter_sql : filtered ? match_sql : match_unfiltered_sql,
			  &st) != SQLITE_OK)
		return SQLITE_INTERNAL;
	if (q->match || q->exclude)
		sqlite3_bind_text(st, 1, q->match ? q->match : q->exclude, -1, SQLITE_STATIC);
	if (filtered || !q->match)
		bind_filters(st, &q->filters, speaker);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 created = sqlite3_column_type(st, date_column) == SQLITE_NULL
					? INT64_MIN : sqlite3_column_int64(st, date_column);
		int added = q->match ? search_ranking_add(ranking, sqlite3_column_int64(st, 0),
							  sqlite3_column_value(st, 1), created)
				     : search_ranking_add_unranked(ranking,
								   sqlite3_column_int64(st, 0),
								   created);

		if (added < 0)
			step = SQLITE_INTERNAL;
	}
	sqlite3_finalize(st);
	return step;
}

/* A row to choose a window for: its rowid, its place in the ranking. */
struct windowed_row {
	sqlite3_int64 rowid;
	size_t row;
};

static int lower_rowid_first(const void *a, const void *b)
{
	const struct windowed_row *x = a, *y = b;

	return x->rowid < y->rowid ? -1 : x->rowid > y->rowid;
}

/* Chooses the windows of rows[from, from + count), count > 0, in one run
 * of the query over their rowids' range. Returns SQLITE_DONE or the
 * failing step's code. */
static int choose_windows(sqlite3 *db, const char *match, struct search_ranking *ranking,
			  size_t from, size_t count)
{
	struct windowed_row *order = xcalloc(count, sizeof(*order));
	sqlite3_int64 *rowids = xcalloc(count, sizeof(*rowids));
	struct search_rowids wanted = { rowids, count };
	sqlite3_stmt *st = NULL;
	size_t found = 0;
	int step = SQLITE_INTERNAL;

	for (size_t i = 0; i < count; i++)
		order[i] = (struct windowed_row){ ranking->rows[from + i].rowid, from + i };
	qsort(order, count, sizeof(*order), lower_rowid_first);
	for (size_t i = 0; i < count; i++)
		rowids[i] = order[i].rowid;
	if (sqlite3_prepare_v2(db, window_sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
	sqlite3_bind_pointer(st, 2, &wanted, SEARCH_ROWIDS_POINTER, NULL);
	sqlite3_bind_int64(st, 3, rowids[0]);
	sqlite3_bind_int64(st, 4, rowids[count - 1]);
	/* The query gives rows in rowid order, as order holds them. */
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 rowid = sqlite3_column_int64(st, 0);
		const void *blob = sqlite3_column_blob(st, 1);

		while (found < count && order[found].rowid < rowid)
			found++;
		if (found < count && order[found].rowid == rowid && blob &&
		    sqlite3_column_bytes(st, 1) == (int)sizeof(struct search_window))
			memcpy(&ranking->rows[order[found].row].window, blob,
			       sizeof(struct search_window));
	}
out:
	sqlite3_finalize(st);
	free(rowids);
	free(order);
	return step;
}

/* The hits of the ranked rows, best first, up to limit (0: all); a row
 * the tree would not show is passed over. match: the query's words
 * (their snippets' windows are chosen here), or NULL. Returns
 * SQLITE_DONE or the failing step's code. */
static int fetch_hits(sqlite3 *db, const char *match, struct search_ranking *ranking,
		      size_t limit, struct search_hits *out)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0, windowed = 0;
	int step = SQLITE_DONE;

	if (sqlite3_prepare_v2(db, hit_sql, -1, &st, NULL) != SQLITE_OK)
		return SQLITE_INTERNAL;
	for (size_t i = 0; i < ranking->ranked && (!limit || out->n < limit); i++) {
		const struct search_ranked *row = &ranking->rows[i];

		/* Windows for as many rows as may still be shown. */
		if (match && i == windowed) {
			size_t count = ranking->ranked - i;

			if (limit && limit - out->n < count)
				count = limit - out->n;
			step = choose_windows(db, match, ranking, i, count);
			if (step != SQLITE_DONE)
				break;
			windowed = i + count;
		}
		sqlite3_bind_int64(st, 1, row->rowid);
		sqlite3_bind_int(st, 2, row->window.column);
		sqlite3_bind_int(st, 3, row->window.first);
		sqlite3_bind_int64(st, 4, row->window.marks);
		step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			int kind = sqlite3_column_int(st, 0);

			if (kind >= 0 && kind < STORE_KINDS)
				add_hit(st, row->score, out, &cap);
			step = SQLITE_DONE;
		}
		sqlite3_reset(st);
		if (step != SQLITE_DONE)
			break;
	}
	sqlite3_finalize(st);
	return step;
}

/* search_ranking_finish's lookup: a row's length. */
static int row_tokens(void *ctx, sqlite3_int64 rowid, sqlite3_int64 *tokens)
{
	sqlite3_stmt *st = ctx;
	int step, rc;

	sqlite3_bind_int64(st, 1, rowid);
	step = sqlite3_step(st);
	rc = step != SQLITE_ROW ? -EIO
				: search_rank_docsize_tokens(sqlite3_column_blob(st, 0),
							     sqlite3_column_bytes(st, 0), tokens);
	sqlite3_reset(st);
	return rc;
}

/* search_ranking_date_ties's lookup: a row's date, INT64_MIN for none. */
static int row_date(void *ctx, sqlite3_int64 rowid, sqlite3_int64 *at)
{
	sqlite3_stmt *st = ctx;
	int step;

	sqlite3_bind_int64(st, 1, rowid);
	step = sqlite3_step(st);
	*at = step == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
		      ? sqlite3_column_int64(st, 0) : INT64_MIN;
	sqlite3_reset(st);
	return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -EIO;
}

/* Orders the ties among the first limit rows newest first (pass one
 * read no dates without filters). Returns SQLITE_DONE or an error code. */
static int date_ties(struct search_index *ix, struct search_ranking *ranking, size_t limit)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (prepare_dated(ix, date_sql, &st) != SQLITE_OK)
		return SQLITE_INTERNAL;
	rc = search_ranking_date_ties(ranking, limit, row_date, st);
	sqlite3_finalize(st);
	return rc < 0 ? SQLITE_IOERR : SQLITE_DONE;
}

/* Ranks the best `want` rows (0: all), ties by date when pass one read
 * none. Returns SQLITE_DONE or an error code. */
static int rank_best(struct search_index *ix, const struct search_query *q,
		     struct search_ranking *ranking, size_t want)
{
	sqlite3_stmt *st = NULL;
	int rc;

	/* Without words no row has a score, nor needs its length. */
	if (q->match && sqlite3_prepare_v2(ix->db, row_tokens_sql, -1, &st, NULL) != SQLITE_OK)
		return SQLITE_INTERNAL;
	rc = search_ranking_finish(ranking, want, row_tokens, st);
	sqlite3_finalize(st);
	if (rc < 0)
		return SQLITE_IOERR;
	return q->match && !search_filters_any(&q->filters) ? date_ties(ix, ranking, want)
							     : SQLITE_DONE;
}

bool search_request_is_fts(const struct search_request *req)
{
	return req->fts || strncmp(req->query, SEARCH_FTS_PREFIX, strlen(SEARCH_FTS_PREFIX)) == 0;
}

/* Reads req into q: as FTS5 when asked, else as search_query reads it;
 * the options' filters on top. */
static void read_request(struct search_index *ix, const struct search_request *req,
			 struct search_query *q)
{
	const char *text = req->query;

	if (search_request_is_fts(req)) {
		if (!req->fts)
			text += strlen(SEARCH_FTS_PREFIX);
		memset(q, 0, sizeof(*q));
		search_filters_init(&q->filters);
		if (!blank(text))
			q->match = xstrdup(text);
	} else {
		search_query_parse(text, has_words, ix, q);
	}
	if (req->filters)
		search_filters_add(&q->filters, req->filters);
}

/* The speaker filter's name as search_doc.speakers holds it, or NULL. */
static char *speaker_key(const char *name)
{
	struct buf key = BUF_INIT;

	if (!name)
		return NULL;
	add_framed_name(&key, name, strlen(name));
	return buf_steal(&key);
}

static int64_t monotonic_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* Stops a query at its deadline (a monotonic_ns time). */
static int past_deadline(void *ctx)
{
	return monotonic_ns() > *(int64_t *)ctx;
}

int search_index_query(struct search_index *ix, const struct search_request *req,
		       struct search_hits *out, char *err, size_t errlen)
{
	struct search_ranking ranking = SEARCH_RANKING_INIT;
	struct search_query q;
	int step, rc = 0;
	bool own_transaction;
	int64_t deadline = 0;
	char *speaker = NULL;

	memset(out, 0, sizeof(*out));
	if (blank(req->query) && !(req->filters && search_filters_any(req->filters))) {
		snprintf(err, errlen, "the query is empty");
		return -EINVAL;
	}
	if (strlen(req->query) > SEARCH_QUERY_MAX) {
		snprintf(err, errlen, "the query is longer than %d bytes", SEARCH_QUERY_MAX);
		return -EINVAL;
	}
	read_request(ix, req, &q);
	if (!search_query_asks(&q)) {
		search_query_free(&q);
		return 0;	/* punctuation only: nothing to find */
	}
	speaker = speaker_key(q.filters.speaker);
	if (req->deadline_ms > 0) {
		deadline = monotonic_ns() + (int64_t)req->deadline_ms * 1000000;
		sqlite3_progress_handler(ix->db, 1000, past_deadline, &deadline);
	}
	/* One read transaction: the second pass finds the first's rows
	 * again, which another process must not rewrite in between. */
	own_transaction = sqlite3_get_autocommit(ix->db) &&
			  sqlite3_exec(ix->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
	step = rank_matches(ix, &q, speaker, &ranking);
	if (step == SQLITE_INTERRUPT) {
		out->partial = true;
		step = SQLITE_DONE;
	}
	sqlite3_progress_handler(ix->db, 0, NULL, NULL);
	if (step == SQLITE_DONE)
		step = rank_best(ix, &q, &ranking, req->limit);
	if (step == SQLITE_DONE)
		step = fetch_hits(ix->db, q.match, &ranking, req->limit, out);
	/* Rows passed over can leave the ranked ones too few: rank all. */
	if (step == SQLITE_DONE && out->n < req->limit && ranking.ranked < ranking.n) {
		bool partial = out->partial;

		search_hits_free(out);
		out->partial = partial;
		step = rank_best(ix, &q, &ranking, 0);
		if (step == SQLITE_DONE)
			step = fetch_hits(ix->db, q.match, &ranking, req->limit, out);
	}
	out->total = ranking.n;
	if (step != SQLITE_DONE) {
		/* The statements prepared: a plain error is the query's
		 * (FTS5 syntax, an unknown column); the rest is the cache's. */
		rc = step == SQLITE_ERROR ? -EINVAL : -EIO;
		snprintf(err, errlen, "%s", sqlite3_errmsg(ix->db));
		search_hits_free(out);
	}
	if (own_transaction)
		sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL);
	search_ranking_free(&ranking);
	search_query_free(&q);
	free(speaker);
	return rc;
}

void search_hits_free(struct search_hits *hits)
{
	for (size_t i = 0; i < hits->n; i++) {
		free(hits->items[i].id);
		free(hits->items[i].json);
		free(hits->items[i].snippet);
	}
	free(hits->items);
	hits->items = NULL;
	hits->n = hits->total = 0;
	hits->partial = false;
}
