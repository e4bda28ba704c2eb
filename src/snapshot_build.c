/*
 * snapshot_build: the one pass that makes a snapshot (see snapshot.h).
 *
 * Each listing in the store is read once: every item is parsed, its
 * files are rendered once to learn their sizes and digests, and the
 * parsed item is dropped. Nodes are appended as they come, children
 * after their parents, so one backward walk gives directories their
 * mtimes; the children slices are laid out and sorted at the end. The
 * views (snapshot_views.c) are told of each item on the way.
 *
 * A build on a base (a refresh's) takes the base's records of every item
 * whose version is the one the base shows, with no rendering: a
 * conversation's directory and its files, a memory's file, their ids and
 * names. Only what changed is rendered and added to the pool.
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
#include <malloc.h>
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

/* Takes the base's node called b->name in dir when it shows this
 * version of item id (a conversation's directory with its files); *id_at
 * becomes the offset of its id. Returns the node, or SNAPSHOT_NONE. */
static uint32_t base_item(struct builder *b, uint32_t dir, enum node_kind kind, const char *id,
			  uint64_t version, uint32_t *id_at)
{
	uint32_t i = snapshot_base_node(b, dir, b->name.data, kind);
	const struct node *n = i != SNAPSHOT_NONE ? &b->snap->nodes[i] : NULL;

	if (!n || n->id == SNAPSHOT_NONE || (kind == NODE_DIR && !n->files_follow) ||
	    snapshot_version(b->snap, n->id) != version || strcmp(b->snap->arena + n->id, id) != 0 ||
	    !snapshot_take_base_node(b, i))
		return SNAPSHOT_NONE;
	*id_at = n->id;
	return i;
}

/* The id's offset for a new node: id_at, or a copy. */
static uint32_t new_id(struct builder *b, uint32_t id_at, const char *id, uint64_t version)
{
	return id_at != SNAPSHOT_NONE ? id_at : snapshot_arena_add_item(b, id, version);
}

/* An item that is one file. Undated (a memory of the documented API),
 * it is dated after the walk by when the cache first saw it. Returns the
 * offset of its id (id_at, when not SNAPSHOT_NONE, is one already), or
 * SNAPSHOT_NONE when it has no file. */
static uint32_t add_item_file(struct builder *b, const union item *item, const char *item_id,
			      uint64_t version, uint32_t id_at)
{
	time_t mtime = collection_of(b->kind)->dated(item);
	uint32_t dir = item_directory(b, item, item_id), file;

	if (dir == SNAPSHOT_NONE || !item_name(b, item_id) ||
	    base_item(b, dir, NODE_ITEM, item_id, version, &id_at) != SNAPSHOT_NONE)
		return id_at;
	id_at = new_id(b, id_at, item_id, version);
	file = add_file(b, dir, b->name.data, NODE_ITEM, id_at, item, mtime, 0);
	if (file != SNAPSHOT_NONE && mtime == 0) {
		b->undated = xgrow(b->undated, &b->cap_undated, b->n_undated, sizeof(*b->undated),
				   64);
		b->undated[b->n_undated++] = file;
	}
	return id_at;
}

/* The transcript.txt of conversation directory dir, or SNAPSHOT_NONE. */
static uint32_t transcript_in(const struct snapshot *snap, uint32_t dir)
{
	const struct node *d = &snap->nodes[dir];

	for (uint32_t k = 0; k < d->n_children; k++)
		if (snap->nodes[d->first_child + k].kind == NODE_TRANSCRIPT)
			return d->first_child + k;
	return SNAPSHOT_NONE;
}

/* A conversation's directory and files; returns as add_item_file. Its
 * version is the digest of its listing's JSON. */
static uint32_t add_conversation(struct builder *b, const struct conversation *c,
				 const char *item_id, uint64_t version, uint32_t id)
{
	const union item *item = (const union item *)c;
	time_t mtime = collection_of(STORE_CONVERSATIONS)->dated(c);
	uint32_t day = item_directory(b, c, c->id), dir, transcript;

	if (day == SNAPSHOT_NONE || !item_name(b, c->id))
		return id;
	dir = base_item(b, day, NODE_DIR, item_id, version, &id);
	if (dir != SNAPSHOT_NONE) {
		transcript = transcript_in(b->snap, dir);
		if (transcript != SNAPSHOT_NONE)
			views_note_conversation(b, c, transcript);
		return id;
	}
	id = new_id(b, id, item_id, version);
	/* The directory's name is most often the id itself: stored once.
	 * Its files follow it, in name order. */
	dir = snapshot_add_files_dir(b, day, b->name.data,
		       strcmp(b->name.data, b->snap->arena + id) == 0 ? id : SNAPSHOT_NONE, id);
	if (dir == SNAPSHOT_NONE)
		return id;
	add_file(b, dir, "action-items.md", NODE_CONV_ACTION_ITEMS, id, item, mtime, 0);
	add_file(b, dir, "conversation.json", NODE_CONV_JSON, id, item, mtime, version);
	if (c->n_events > 0)
		add_file(b, dir, "events.md", NODE_EVENTS, id, item, mtime, 0);
	add_file(b, dir, "summary.md", NODE_SUMMARY, id, item, mtime, 0);
	transcript = add_file(b, dir, "transcript.txt", NODE_TRANSCRIPT, id, item, mtime,
			      version);
	/* A path whose inode number another took (logged) shows no note. */
	if (transcript != SNAPSHOT_NONE)
		views_note_conversation(b, c, transcript);
	return id;
}

/* How far ahead in the base's lines an item is looked for: a listing
 * keeps its order from one refresh to the next, but for what came or
 * went since. */
#define LINES_LOOKED_AHEAD 16

/* The base's offset of this version of item id, looked for where the walk
 * is in the base's lines, or SNAPSHOT_NONE. */
static uint32_t base_line_id(struct builder *b, const char *id, uint64_t version)
{
	const struct snapshot *base = b->base;
	size_t *at = &b->base_line[b->kind];

	for (size_t k = 0; base && k < LINES_LOOKED_AHEAD && *at + k < base->n_lines[b->kind]; k++) {
		uint32_t off = base->lines[b->kind][*at + k].id;

		if (strcmp(base->arena + off, id) != 0)
			continue;
		*at += k + 1;
		return snapshot_version(base, off) == version ? off : SNAPSHOT_NONE;
	}
	return SNAPSHOT_NONE;
}

/* Every listed item has its line in the collection's .jsonl, even one
 * the id tree cannot show: the file holds the listing as it is. */
static int add_listed_item(const char *id, const char *json, void *ctx)
{
	struct builder *b = ctx;
	const struct collection *c = collection_of(b->kind);
	uint64_t version = hash_bytes(json, strlen(json));
	uint32_t id_at = base_line_id(b, id, version);
	union item item;

	if (snapshot_parse_item(b->kind, json, &item) < 0) {
		log_warn("skipping unreadable cached item %s", id);
	} else {
		if (c->odd_fields(&item))
			status_note_odd(&b->snap->odd[b->kind], id);
		id_at = c->render ? add_item_file(b, &item, id, version, id_at)
				  : add_conversation(b, &item.conversation, id, version, id_at);
		snapshot_free_item(b->kind, &item);
	}
	views_add_line(b, new_id(b, id_at, id, version), json);
	/* A pool that stays put ran out of room: the build starts over. */
	return b->overflow ? -ENOSPC : 0;
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
	struct builder *b = ctx;
	struct node *n = snapshot_node(b->snap, ino);

	if (n && snapshot_is_new(b, (uint32_t)(n - b->snap->nodes)) &&
	    snapshot_size_is_learnt(n->kind) && snapshot_kept_digest(n) == digest && size >= 0)
		snapshot_learn_size(n, size);
	return 0;
}

/* One of .omifs' files, the base's if it has it. */
static void add_status_file(struct builder *b, uint32_t meta, const char *name,
			    enum status_file which)
{
	uint32_t i = snapshot_base_node(b, meta, name, NODE_STATUS);

	if (i == SNAPSHOT_NONE || b->snap->nodes[i].id != which || !snapshot_take_base_node(b, i))
		i = snapshot_add_node(b, meta, name, SNAPSHOT_NONE, NODE_STATUS, which);
	snapshot_fix(b, i);
}

static void start_build(struct builder *b)
{
	static const struct { enum node_kind kind; const char *name; } fixed[] = {
		{ NODE_SUMMARY, "summary.md" }, { NODE_CONV_ACTION_ITEMS, "action-items.md" },
		{ NODE_EVENTS, "events.md" }, { NODE_TRANSCRIPT, "transcript.txt" },
		{ NODE_CONV_JSON, "conversation.json" },
	};
	struct snapshot *snap = b->snap;
	uint32_t meta;

	snapshot_begin(b);
	for (size_t i = 0; !b->base && i < sizeof(fixed) / sizeof(fixed[0]); i++)
		b->fixed_name[fixed[i].kind] = snapshot_arena_add(b, fixed[i].name);
	snapshot_fix(b, 0);
	/* The collections' own directories are stat'ed before they are
	 * listed: they get a time that does not move, like the root's. */
	for (int k = 0; k < STORE_KINDS; k++) {
		snap->top[k] = SNAPSHOT_NONE;
		if (!snapshot_shows(snap, k))
			continue;
		snap->top[k] = snapshot_dir_child(b, 0, collection_of(k)->dir);
		if (snap->top[k] != SNAPSHOT_NONE && snapshot_is_new(b, snap->top[k]))
			snap->nodes[snap->top[k]].collection = (int8_t)k;
		snapshot_fix(b, snap->top[k]);
	}
	meta = snapshot_dir_child(b, 0, ".omifs");
	if (meta == SNAPSHOT_NONE)
		return;
	snapshot_fix(b, meta);
	add_status_file(b, meta, "status", STATUS_FILE_TEXT);
	add_status_file(b, meta, "status.json", STATUS_FILE_JSON);
	add_status_file(b, meta, "metrics", STATUS_FILE_METRICS);
	add_status_file(b, meta, "changes", STATUS_FILE_CHANGES);
	snapshot_fix(b, snapshot_dir_child(b, 0, SNAPSHOT_SEARCH_DIR));
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
	struct builder *b;
	int64_t now;
	uint8_t *dated;		/* enum dated, by record from b->first_new */
};

/* A file whose row holds its bytes keeps the row's mtime; one whose bytes
 * changed is dated now (or its own time, if later; or the second after
 * the row's). A learnt file takes the row's mtime until its bytes are
 * learnt again. A file taken from the base is dated already. */
static int take_file_date(const struct store_file_date *row, void *ctx)
{
	struct dating *d = ctx;
	struct node *n = snapshot_node(d->b->snap, row->ino);
	uint32_t i = n ? (uint32_t)(n - d->b->snap->nodes) : 0;

	if (!n || !snapshot_is_new(d->b, i) || n->kind == NODE_DIR || n->kind == NODE_STATUS)
		return 0;
	if (!dated_when_built(n) || row->digest == n->digest) {
		n->mtime = row->mtime;
		d->dated[i - d->b->first_new] = DATED_SAME;
		return 0;
	}
	/* Moved, even within the second its bytes were dated before. */
	n->mtime = n->mtime > d->now ? n->mtime : d->now;
	if (n->mtime <= row->mtime)
		n->mtime = row->mtime + 1;
	d->dated[i - d->b->first_new] = DATED_CHANGED;
	return 0;
}

/* Rows written at a time: a first build writes one for every file. */
#define DATES_AT_ONCE 4096

/* Dates every file the build added against the cache's rows, writes the
 * rows of files new or changed, then dates the directories again. A file
 * of a collection not listed yet shows nothing: it gets no row. */
static int date_files(struct builder *b, struct sync *sync)
{
	struct snapshot *snap = b->snap;
	struct dating d = { .b = b, .now = time(NULL), .dated = xcalloc(snap->n_new + 1, 1) };
	struct store_file_date *rows = xmalloc(DATES_AT_ONCE * sizeof(*rows));
	size_t n = 0;
	int rc = sync_foreach_file_date(sync, take_file_date, &d);

	for (uint32_t i = snapshot_next_node(b, b->first_new); rc == 0 && i != SNAPSHOT_NONE;
	     i = snapshot_next_node(b, i + 1)) {
		const struct node *node = &snap->nodes[i];
		uint64_t digest = node->digest;

		if (d.dated[i - b->first_new] == DATED_SAME || node->kind == NODE_DIR ||
		    node->kind == NODE_STATUS ||
		    (node->collection >= 0 && snap->kind_error[node->collection]))
			continue;
		if (!dated_when_built(node)) {
			if (snapshot_size(node) < 0)
				continue;
			digest = 0;	/* learnt before dates were kept: bytes unknown */
		}
		rows[n++] = (struct store_file_date){ snapshot_ino(snap, node), digest,
						      snapshot_mtime(snap, node) };
		if (n == DATES_AT_ONCE) {
			sync_put_file_dates(sync, rows, n);
			n = 0;
		}
	}
	if (rc == 0)
		sync_put_file_dates(sync, rows, n);
	free(d.dated);
	free(rows);
	snapshot_date_directories(b);
	return rc;
}

void snapshot_date_learnt(struct node *n, uint64_t ino, struct sync *sync, uint64_t digest)
{
	int64_t was = atomic_load_explicit(&n->mtime, memory_order_relaxed);
	int64_t now = (int64_t)time(NULL);

	atomic_store_explicit(&n->mtime, sync_date_file(sync, ino, digest, was,
							 was > now ? was : now),
			      memory_order_relaxed);
}

/* The build itself, on base's pool (NULL: a new one). *overflow is set
 * when that pool, staying put, had no room for what changed. */
static struct snapshot *build_on(struct sync *sync, const int kind_error[STORE_KINDS],
				 const struct snapshot *base, bool *overflow)
{
	struct snapshot *snap = xcalloc(1, sizeof(*snap));
	struct builder b = { .snap = snap, .base = base, .name = BUF_INIT, .scratch = BUF_INIT };
	int64_t created = sync_cache_created_at(sync);
	struct timespec began, ended;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &began);

	snap->listings_count = sync_listings_count(sync);
	memcpy(snap->kind_error, kind_error, sizeof(snap->kind_error));
	start_build(&b);
	for (int k = 0; k < STORE_KINDS && rc == 0 && !b.overflow; k++) {
		b.kind = (enum store_kind)k;
		if (!kind_error[k])
			rc = sync_foreach_listed(sync, (enum store_kind)k, add_listed_item, &b);
	}
	if (b.overflow)
		goto done;
	/* Outside the walk: the store is not re-entrant. */
	for (size_t i = 0; i < b.n_undated; i++) {
		struct node *n = &snap->nodes[b.undated[i]];

		n->mtime = sync_first_seen(sync, n->collection, snapshot_id(snap, n));
	}
	views_add(&b);
	if (b.overflow)
		goto done;
	snapshot_forget_tags(&b);
	/* The walk parsed every item: the heap it left goes back before the
	 * snapshot's own arrays are made. */
	malloc_trim(0);
	snapshot_lay_out(&b);
	views_finish(&b);
	if (rc == 0)
		rc = sync_foreach_size(sync, take_kept_size, &b);
	if (rc == 0)
		rc = date_files(&b, sync);
	if (rc == 0)
		snapshot_share_tail(&b);
	/* The directories and .omifs' files made before any item (the root,
	 * the collections, .omifs, search/, vault/'s): the cache's birth. */
	for (size_t i = 0; i < b.n_fixed; i++) {
		struct node *n = &snap->nodes[b.fixed[i]];

		if (n->kind == NODE_DIR)
			snapshot_dir_of(snap, n)->mtime = created;
		else if (snapshot_is_new(&b, b.fixed[i]))
			n->mtime = created;
	}
done:
	free(b.undated);
	views_free(&b);
	buf_free(&b.name);
	buf_free(&b.scratch);
	*overflow = b.overflow;
	if (rc != 0 || b.overflow) {
		snapshot_builder_free(&b);
		snapshot_free(snap);
		return NULL;
	}
	snapshot_settle(&b);
	snapshot_builder_free(&b);
	clock_gettime(CLOCK_MONOTONIC, &ended);
	log_info("snapshot: %zu nodes (%zu new), %.1f MiB, built in %.0f ms", snap->n_nodes,
		 snap->n_new, snapshot_bytes(snap) / 1048576.0,
		 (ended.tv_sec - began.tv_sec) * 1e3 + (ended.tv_nsec - began.tv_nsec) / 1e6);
	return snap;
}

struct snapshot *snapshot_build(struct sync *sync, const int kind_error[STORE_KINDS],
				const struct snapshot *base)
{
	bool overflow = false;
	struct snapshot *snap = build_on(sync, kind_error,
					 snapshot_may_share(base) ? base : NULL, &overflow);

	if (!snap && overflow) {
		log_info("snapshot: the pool it shared is full; building on a pool of its own");
		snap = build_on(sync, kind_error, NULL, &overflow);
	}
	return snap;
}

struct snapshot *snapshot_build_now(struct sync *sync, const struct snapshot *base)
{
	int errors[STORE_KINDS];

	for (int k = 0; k < STORE_KINDS; k++)
		errors[k] = sync_kind_error(sync, k);
	return snapshot_build(sync, errors, base);
}
