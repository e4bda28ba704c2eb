/*
 * snapshot_build: the one pass that makes a snapshot (see snapshot.h).
 *
 * Each listing in the store is read once: every item is parsed, its
 * files are rendered once to learn their sizes and digests, and the
 * parsed item is dropped. Nodes are appended as they come, children
 * after their parents, so one backward walk gives directories their
 * mtimes; the children slices are laid out and sorted at the end. The
 * views (snapshot_views.c) are told of each item on the way.
 */
#include "snapshot_state.h"

#include "collections.h"
#include "hash.h"
#include "jsontext.h"
#include "log.h"
#include "model.h"
#include "names.h"
#include "render.h"
#include "vault.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Whether name is the id at arena offset id followed by the collection's
 * suffix: the name is then not stored (snapshot_name). */
static bool named_after_id(const struct builder *b, const char *name, uint32_t id)
{
	const char *at = b->snap->arena + id;
	size_t len = strlen(at);

	return strncmp(name, at, len) == 0 &&
	       strcmp(name + len, collection_of(b->kind)->item_suffix) == 0;
}

/* A file rendered from item; render is false for the transcript's files,
 * whose content is not known yet and changes with the listing's JSON. */
static uint32_t add_file(struct builder *b, uint32_t dir, const char *name, enum node_kind kind,
			 uint32_t id, const union item *item, int64_t mtime, uint64_t json_digest)
{
	uint32_t named = kind != NODE_ITEM ? b->fixed_name[kind]
			 : named_after_id(b, name, id) ? id : SNAPSHOT_NONE;
	uint32_t i = snapshot_add_node(b, dir, name, named, kind, id);
	struct node *n;

	if (i == SNAPSHOT_NONE)
		return i;
	n = &b->snap->nodes[i];
	n->mtime = mtime;
	n->digest = json_digest;
	if (kind != NODE_TRANSCRIPT && kind != NODE_CONV_JSON) {
		buf_reset(&b->scratch);
		snapshot_render_item(kind, b->kind, item, &b->scratch);
		atomic_init(&n->size, (int64_t)b->scratch.len);
		n->digest = hash_bytes(b->scratch.data, b->scratch.len);
	}
	return i;
}

/* ---- one item of each collection ---- */

/* The directory the item is filed in below its collection's (place:
 * its category, open or done, its day), or SNAPSHOT_NONE. */
static uint32_t item_directory(struct builder *b, const void *object, const char *id)
{
	const struct collection *c = collection_of(b->kind);

	if (!c->place)
		return b->snap->top[b->kind];
	buf_reset(&b->name);
	if (!c->place(object, &b->name))
		log_warn("%s %s cannot say where it belongs: filed under %s", c->one, id,
			 b->name.data);
	return snapshot_dir_child(b, b->snap->top[b->kind], b->name.data);
}

/* The item's name in its directory (into b->name); false when its id
 * cannot be a file name (logged). */
static bool item_name(struct builder *b, const char *id)
{
	const struct collection *c = collection_of(b->kind);

	buf_reset(&b->name);
	if (names_safe_name(id, c->item_suffix, &b->name) == 0)
		return true;
	log_warn("skipping a%s %s whose id cannot be a file name",
		 strchr("aeiou", c->one[0]) ? "n" : "", c->one);
	return false;
}

/* An item that is one file. Undated (a memory of the documented API),
 * it is dated after the walk by when the cache first saw it. */
static void add_item_file(struct builder *b, const union item *item, const char *item_id,
			  uint32_t id)
{
	time_t mtime = collection_of(b->kind)->dated(item);
	uint32_t dir = item_directory(b, item, item_id), file;

	if (dir == SNAPSHOT_NONE || !item_name(b, item_id))
		return;
	file = add_file(b, dir, b->name.data, NODE_ITEM, id, item, mtime, 0);
	if (file != SNAPSHOT_NONE && mtime == 0) {
		b->undated = xgrow(b->undated, &b->cap_undated, b->n_undated, sizeof(*b->undated),
				   64);
		b->undated[b->n_undated++] = file;
	}
}

static void add_conversation(struct builder *b, const struct conversation *c, uint32_t id,
			     uint64_t json_digest)
{
	const union item *item = (const union item *)c;
	time_t mtime = collection_of(STORE_CONVERSATIONS)->dated(c);
	uint32_t day = item_directory(b, c, c->id), dir, transcript;

	if (day == SNAPSHOT_NONE || !item_name(b, c->id))
		return;
	/* The directory's name is most often the id itself: stored once. */
	dir = snapshot_add_node(b, day, b->name.data,
		       strcmp(b->name.data, b->snap->arena + id) == 0 ? id : SNAPSHOT_NONE,
		       NODE_DIR, id);
	if (dir == SNAPSHOT_NONE)
		return;
	add_file(b, dir, "summary.md", NODE_SUMMARY, id, item, mtime, 0);
	add_file(b, dir, "action-items.md", NODE_CONV_ACTION_ITEMS, id, item, mtime, 0);
	if (c->n_events > 0)
		add_file(b, dir, "events.md", NODE_EVENTS, id, item, mtime, 0);
	transcript = add_file(b, dir, "transcript.txt", NODE_TRANSCRIPT, id, item, mtime,
			      json_digest);
	add_file(b, dir, "conversation.json", NODE_CONV_JSON, id, item, mtime, json_digest);
	/* A path whose inode number another took (logged) shows no note. */
	if (transcript != SNAPSHOT_NONE)
		views_note_conversation(b, c, transcript);
}

/* Every listed item has its line in the collection's .jsonl, even one
 * the id tree cannot show: the file holds the listing as it is. */
static int add_listed_item(const char *id, const char *json, void *ctx)
{
	struct builder *b = ctx;
	const struct collection *c = collection_of(b->kind);
	uint64_t version = hash_bytes(json, strlen(json));
	uint32_t id_at = snapshot_arena_add_item(b, id, version);
	union item item;

	views_add_line(b, id_at, json);
	if (snapshot_parse_item(b->kind, json, &item) < 0) {
		log_warn("skipping unreadable cached item %s", id);
		return 0;
	}
	if (c->odd_fields(&item))
		status_note_odd(&b->snap->odd[b->kind], id);
	if (c->render)
		add_item_file(b, &item, id, id_at);
	else
		add_conversation(b, &item.conversation, id_at, version);
	snapshot_free_item(b->kind, &item);
	return 0;
}

/* ---- finishing ---- */

#define STRINGIFY(x) #x
#define FORMAT_TAG(v) OMIFS_VERSION "/" STRINGIFY(v)

bool snapshot_size_is_learnt(enum node_kind kind)
{
	return kind == NODE_TRANSCRIPT || kind == NODE_CONV_JSON || kind == NODE_VAULT_NOTE ||
	       kind == NODE_VAULT_DAY || kind == NODE_VAULT_MEMORIES ||
	       kind == NODE_VAULT_ACTION_ITEMS || kind == NODE_VAULT_GOALS;
}

uint64_t snapshot_kept_digest(const struct node *n)
{
	static const char tag[] = FORMAT_TAG(RENDER_FORMAT);
	static const char vault_tag[] = FORMAT_TAG(RENDER_FORMAT) "/vault" STRINGIFY(VAULT_FORMAT);
	bool vault = n->kind >= NODE_VAULT_NOTE;

	return n->digest ^ hash_bytes(vault ? vault_tag : tag,
				      (vault ? sizeof(vault_tag) : sizeof(tag)) - 1);
}

static int take_kept_size(uint64_t ino, uint64_t digest, int64_t size, void *ctx)
{
	struct node *n = snapshot_node(ctx, ino);

	if (n && snapshot_size_is_learnt(n->kind) && snapshot_kept_digest(n) == digest && size >= 0)
		snapshot_learn_size(n, size);
	return 0;
}

static void start_build(struct builder *b, struct sync *sync)
{
	static const struct { enum node_kind kind; const char *name; } fixed[] = {
		{ NODE_SUMMARY, "summary.md" }, { NODE_CONV_ACTION_ITEMS, "action-items.md" },
		{ NODE_EVENTS, "events.md" }, { NODE_TRANSCRIPT, "transcript.txt" },
		{ NODE_CONV_JSON, "conversation.json" }, { NODE_STATUS, "status" },
	};
	struct snapshot *snap = b->snap;
	uint32_t meta;

	snapshot_begin(b, sync_cache_created_at(sync));
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		b->fixed_name[fixed[i].kind] = snapshot_arena_add(b, fixed[i].name);
	/* The collections' own directories are stat'ed before they are
	 * listed: they get a time that does not move, like the root's. */
	for (int k = 0; k < STORE_KINDS; k++) {
		snap->top[k] = SNAPSHOT_NONE;
		if (!snapshot_shows(snap, k))
			continue;
		snap->top[k] = snapshot_add_node(b, 0, collection_of(k)->dir, SNAPSHOT_NONE, NODE_DIR,
						  SNAPSHOT_NONE);
		snap->nodes[snap->top[k]].collection = (int8_t)k;
	}
	meta = snapshot_add_node(b, 0, ".omifs", SNAPSHOT_NONE, NODE_DIR, SNAPSHOT_NONE);
	snapshot_add_node(b, meta, "status", b->fixed_name[NODE_STATUS], NODE_STATUS,
			  STATUS_FILE_TEXT);
	snapshot_add_node(b, meta, "status.json", SNAPSHOT_NONE, NODE_STATUS, STATUS_FILE_JSON);
	snapshot_add_node(b, meta, "metrics", SNAPSHOT_NONE, NODE_STATUS, STATUS_FILE_METRICS);
	snapshot_add_node(b, meta, "changes", SNAPSHOT_NONE, NODE_STATUS, STATUS_FILE_CHANGES);
	snapshot_add_node(b, 0, SNAPSHOT_SEARCH_DIR, SNAPSHOT_NONE, NODE_DIR, SNAPSHOT_NONE);
	views_start(b);
}

/* Files whose bytes a build knows (rendered, or a .jsonl's lines) are
 * dated by it; the others at their first stat (snapshot_date_learnt). */
static bool dated_when_built(const struct node *n)
{
	return n->kind != NODE_DIR && n->kind != NODE_STATUS && !snapshot_size_is_learnt(n->kind);
}

/* A build's dating of its files against the dates the cache keeps. */
enum dated {
	DATED_NOT,		/* the cache has no row for it */
	DATED_SAME,		/* its row holds its bytes */
	DATED_CHANGED,		/* its row holds other bytes: dated anew */
};

struct dating {
	struct snapshot *snap;
	int64_t now;
	uint8_t *dated;		/* enum dated, by node index */
};

/* A file whose row holds its bytes keeps the row's mtime; one whose bytes
 * changed is dated now (or its own time, if later; or the second after
 * the row's). A learnt file takes the row's mtime until its bytes are
 * learnt again. */
static int take_file_date(const struct store_file_date *row, void *ctx)
{
	struct dating *d = ctx;
	struct node *n = snapshot_node(d->snap, row->ino);

	if (!n || n->kind == NODE_DIR || n->kind == NODE_STATUS)
		return 0;
	if (!dated_when_built(n) || row->digest == n->digest) {
		n->mtime = row->mtime;
		d->dated[n - d->snap->nodes] = DATED_SAME;
		return 0;
	}
	/* Moved, even within the second its bytes were dated before. */
	n->mtime = n->mtime > d->now ? n->mtime : d->now;
	if (n->mtime <= row->mtime)
		n->mtime = row->mtime + 1;
	d->dated[n - d->snap->nodes] = DATED_CHANGED;
	return 0;
}

/* Rows written at a time: a first build writes one for every file. */
#define DATES_AT_ONCE 4096

/* Dates every file against the cache's rows, writes the rows of files
 * new or changed, then dates the directories again. A file of a
 * collection not listed yet shows nothing: it gets no row. */
static int date_files(struct snapshot *snap, struct sync *sync)
{
	struct dating d = { .snap = snap, .now = time(NULL), .dated = xcalloc(snap->n_nodes, 1) };
	struct store_file_date *rows = xmalloc(DATES_AT_ONCE * sizeof(*rows));
	size_t n = 0;
	int rc = sync_foreach_file_date(sync, take_file_date, &d);

	for (size_t i = 0; rc == 0 && i < snap->n_nodes; i++) {
		const struct node *node = &snap->nodes[i];
		uint64_t digest = node->digest;

		if (d.dated[i] == DATED_SAME || node->kind == NODE_DIR || node->kind == NODE_STATUS ||
		    (node->collection >= 0 && snap->kind_error[node->collection]))
			continue;
		if (!dated_when_built(node)) {
			if (snapshot_size(node) < 0)
				continue;
			digest = 0;	/* learnt before dates were kept: bytes unknown */
		}
		rows[n++] = (struct store_file_date){ snapshot_ino(snap, node), digest,
						      snapshot_mtime(node) };
		if (n == DATES_AT_ONCE) {
			sync_put_file_dates(sync, rows, n);
			n = 0;
		}
	}
	if (rc == 0)
		sync_put_file_dates(sync, rows, n);
	free(d.dated);
	free(rows);
	snapshot_date_directories(snap);
	return rc;
}

void snapshot_date_learnt(struct node *n, uint64_t ino, struct sync *sync, uint64_t digest)
{
	int64_t was = snapshot_mtime(n), now = (int64_t)time(NULL);

	atomic_store_explicit(&n->mtime, sync_date_file(sync, ino, digest, was,
							 was > now ? was : now),
			      memory_order_relaxed);
}

struct snapshot *snapshot_build(struct sync *sync, const int kind_error[STORE_KINDS])
{
	struct snapshot *snap = xcalloc(1, sizeof(*snap));
	struct builder b = { .snap = snap, .name = BUF_INIT, .scratch = BUF_INIT };
	int64_t created = sync_cache_created_at(sync);
	struct timespec began, ended;
	size_t fixed;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &began);

	snap->listings_count = sync_listings_count(sync);
	memcpy(snap->kind_error, kind_error, sizeof(snap->kind_error));
	start_build(&b, sync);
	fixed = snap->n_nodes;
	for (int k = 0; k < STORE_KINDS && rc == 0; k++) {
		b.kind = (enum store_kind)k;
		if (!kind_error[k])
			rc = sync_foreach_listed(sync, (enum store_kind)k, add_listed_item, &b);
	}
	/* Outside the walk: the store is not re-entrant. */
	for (size_t i = 0; i < b.n_undated; i++) {
		struct node *n = &snap->nodes[b.undated[i]];

		n->mtime = sync_first_seen(sync, n->collection, snapshot_id(snap, n));
	}
	views_add(&b);
	snapshot_forget_tags(&b);
	snapshot_lay_out(snap);
	views_finish(&b);
	if (rc == 0)
		rc = sync_foreach_size(sync, take_kept_size, snap);
	if (rc == 0)
		rc = date_files(snap, sync);
	/* Built: the arrays give back the room their doubling left, since a
	 * refresh keeps two snapshots alive at once. */
	snapshot_shrink(&b);
	/* The directories and .omifs' files made before any item (the root,
	 * the collections, .omifs, search/, vault/'s): the cache's birth. */
	for (size_t i = 0; i < fixed; i++)
		if (snap->nodes[i].kind == NODE_DIR || snap->nodes[i].kind == NODE_STATUS)
			snap->nodes[i].mtime = created;
	free(b.undated);
	views_free(&b);
	buf_free(&b.name);
	buf_free(&b.scratch);
	if (rc != 0) {
		snapshot_free(snap);
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &ended);
	log_info("snapshot: %zu nodes, %.1f MiB, built in %.0f ms", snap->n_nodes,
		 snapshot_bytes(snap) / 1048576.0,
		 (ended.tv_sec - began.tv_sec) * 1e3 + (ended.tv_nsec - began.tv_nsec) / 1e6);
	return snap;
}

struct snapshot *snapshot_build_now(struct sync *sync)
{
	int errors[STORE_KINDS];

	for (int k = 0; k < STORE_KINDS; k++)
		errors[k] = sync_kind_error(sync, k);
	return snapshot_build(sync, errors);
}
