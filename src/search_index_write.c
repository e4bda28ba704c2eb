/*
 * search_index_write: the index's entries, written. An item's entry is
 * made from its listing JSON and, for a conversation, its full form: the
 * text in search_text's three columns (title, body, transcript as
 * transcript.txt shows it), and in search_doc what the filters test (its
 * date, a memory's or a conversation's category, a conversation's
 * speakers). The store calls
 * search_index_update for each item it changes, and search_index_seal
 * before it commits; a rebuild indexes every listed item.
 */
#include "search_index_state.h"

#include "buf.h"
#include "jsontext.h"
#include "model.h"
#include "render.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <string.h>

/* Every control byte but the newline becomes a space: snippets may then
 * carry the marks, and terminals see no escape sequences. */
static void clean_text(struct buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if (((unsigned char)b->data[i] < 0x20 && b->data[i] != '\n') || b->data[i] == 0x7f)
			b->data[i] = ' ';
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
	int64_t created;	/* collection.made's: 0 when undated */
	const char *category;	/* borrowed from the parsed item, or NULL */
	struct buf speakers;	/* "\nsam\nspeaker 2\n", or empty */
};

void search_index_framed_name(struct buf *out, const char *name, size_t len)
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
	search_index_framed_name(&name, plain.data ? plain.data : "", plain.len);
	buf_free(&plain);
	if (!speakers->len || !strstr(speakers->data, name.data)) {
		if (speakers->len)
			speakers->len--;	/* the frames' newlines are shared */
		buf_append(speakers, name.data, name.len);
	}
	buf_free(&name);
}

/* The transcript of full, a conversation's full form, and its speakers. */
static void transcript_text(const char *full, struct buf *transcript, struct item_meta *meta)
{
	json_object *obj = json_text_parse(full, strlen(full));
	struct conversation c;

	if (obj && model_parse_conversation(obj, &c) == 0) {
		render_transcript(&c, transcript);
		for (size_t i = 0; i < c.n_segments; i++)
			add_speaker(&meta->speakers, &c.segments[i]);
		model_free_conversation(&c);
	}
	json_object_put(obj);
}

/* Dates an item that says no date by when the cache first saw it, as
 * the tree does; an item not noted yet stays undated, and the queries'
 * date (DATE_SQL) looks it up. */
static void date_first_seen(struct search_index *ix, enum store_kind kind, const char *id,
			    struct item_meta *meta)
{
	sqlite3_stmt *st = ix->get_first_seen;

	if (!st)
		return;
	sqlite3_bind_int(st, 1, kind);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		meta->created = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
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
	if (meta->created)
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

/* An item's entry on its way to the index: its text in its three
 * columns, what its filters test, and the parsed item (of kind's
 * collection) that meta's category is borrowed from. */
struct entry {
	struct buf title, body, transcript;
	struct item_meta meta;
	enum store_kind kind;
	void *object;		/* the parsed item, or NULL */
};

/* Reads e's text and meta from obj, an item of e->kind, and full, a
 * conversation's full form or NULL: 0, or -1 when obj does not parse. */
static int read_entry(struct entry *e, json_object *obj, const char *full)
{
	const struct collection *c = collection_of(e->kind);
	void *object = xcalloc(1, c->object_size);

	if (c->parse(obj, object) < 0) {
		free(object);
		return -1;
	}
	e->object = object;
	c->search_text(object, &e->title, &e->body);
	e->meta.category = c->category ? c->category(object) : NULL;
	e->meta.created = (int64_t)c->made(object);
	if (full)
		transcript_text(full, &e->transcript, &e->meta);
	clean_text(&e->title);
	clean_text(&e->body);
	clean_text(&e->transcript);
	return 0;
}

static void free_entry(struct entry *e)
{
	if (e->object)
		collection_of(e->kind)->free_object(e->object);
	free(e->object);
	buf_free(&e->title);
	buf_free(&e->body);
	buf_free(&e->transcript);
	buf_free(&e->meta.speakers);
}

/* Indexes an item: its text in its three columns, and its row. With no
 * text (the listing JSON is no object the tree would show) returns 1,
 * writing nothing. */
static int index_text(struct search_index *ix, sqlite3_int64 *doc, enum store_kind kind,
		      const char *id, const char *json, const char *full)
{
	struct entry e = { .title = BUF_INIT, .body = BUF_INIT, .transcript = BUF_INIT,
			   .meta = { 0, NULL, BUF_INIT }, .kind = kind };
	json_object *obj = json_text_parse(json, strlen(json));
	int rc = 1;

	if (!obj || !json_object_is_type(obj, json_type_object) || read_entry(&e, obj, full) < 0)
		goto out;
	if (!e.meta.created)
		date_first_seen(ix, kind, id, &e.meta);
	rc = put_doc(ix, *doc, kind, id, full != NULL, &e.meta);
	if (rc < 0)
		goto out;
	if (!*doc)
		*doc = sqlite3_last_insert_rowid(ix->db);
	sqlite3_bind_int64(ix->add_text, 1, *doc);
	bind_buf(ix->add_text, 2, &e.title);
	bind_buf(ix->add_text, 3, &e.body);
	bind_buf(ix->add_text, 4, &e.transcript);
	rc = step_done(ix->add_text);
out:
	free_entry(&e);
	json_object_put(obj);
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
	if (json && collection_of(kind)->transcripts) {
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

int search_index_everything(struct search_index *ix)
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
