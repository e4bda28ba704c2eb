/*
 * snapshot: building the compact picture of the tree (see snapshot.h).
 *
 * One pass over each listing in the store: every item is parsed, its
 * files are rendered once to learn their sizes and digests, and the
 * parsed item is dropped. Nodes are appended as they come, children
 * after their parents, so one backward walk gives directories their
 * mtimes; the children slices are laid out and sorted at the end.
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

int snapshot_parse_item(enum store_kind kind, const char *json, union item *out)
{
	json_object *obj = json_text_parse(json, strlen(json));
	int rc = obj ? collection_of(kind)->parse(obj, out) : -EINVAL;

	json_object_put(obj);
	return rc;
}

void snapshot_free_item(enum store_kind kind, union item *item)
{
	collection_of(kind)->free_object(item);
}

/* The collection each kind of file is rendered from. */
static enum store_kind file_collection(enum node_kind kind)
{
	return kind == NODE_MEMORY ? STORE_MEMORIES
	     : kind == NODE_ACTION_ITEM ? STORE_ACTION_ITEMS : STORE_CONVERSATIONS;
}

static void render_item(enum node_kind kind, const union item *item, struct buf *out)
{
	switch (kind) {
	case NODE_MEMORY: render_memory(&item->memory, out); break;
	case NODE_ACTION_ITEM: render_action_item(&item->action_item, out); break;
	case NODE_SUMMARY: render_summary(&item->conversation, out); break;
	case NODE_CONV_ACTION_ITEMS: render_conversation_action_items(&item->conversation, out); break;
	case NODE_EVENTS: render_events(&item->conversation, out); break;
	case NODE_TRANSCRIPT: render_transcript(&item->conversation, out); break;
	default: break;	/* rendered elsewhere */
	}
}

int snapshot_render(enum node_kind kind, char *json, struct buf *out, struct buf *note)
{
	enum store_kind collection = file_collection(kind);
	union item item;
	int rc;

	if (kind == NODE_CONV_JSON) {
		rc = render_json(json, out) == 0 ? 0 : -EIO;
		free(json);
		return rc;
	}
	rc = kind == NODE_DIR || kind == NODE_STATUS ? -EIO : snapshot_parse_item(collection, json, &item);
	/* Parsed, the text is not needed: with a 50 MB transcript, that is
	 * 50 MB less at the rendering's peak. */
	free(json);
	if (rc < 0)
		return -EIO;
	render_item(kind, &item, out);
	if (note && kind == NODE_TRANSCRIPT)
		vault_render_note(&item.conversation, true, note);
	snapshot_free_item(collection, &item);
	return 0;
}

/* ---- the arena, the nodes and the inode index ---- */

/* A refresh holds two arrays of them: the record's size is what a node costs. */
_Static_assert(sizeof(struct node) == 56, "a node is 56 bytes");

/*
 * The three large arrays of a snapshot live in mappings of their own:
 * growing one moves its pages rather than copying them (mremap), room not
 * written yet costs no memory, and a freed one goes back to the system at
 * once, whatever malloc's thresholds have become. A refresh holds two
 * snapshots, so a copy on growth or a free kept by malloc was a third.
 */
static size_t map_length(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return size ? (size + page - 1) / page * page : page;
}

/* Resizes the mapping p of old_size bytes (NULL: a new, zeroed one) to
 * size bytes; aborts when memory is out, as xrealloc does. */
static void *map_resize(void *p, size_t old_size, size_t size)
{
	void *q;

	if (p && map_length(old_size) == map_length(size))
		return p;
	q = p ? mremap(p, map_length(old_size), map_length(size), MREMAP_MAYMOVE)
	      : mmap(NULL, map_length(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
	if (q == MAP_FAILED) {
		fputs("omifs: out of memory\n", stderr);
		abort();
	}
	return q;
}

static void map_free(void *p, size_t size)
{
	if (p)
		munmap(p, map_length(size));
}

/* Appends len bytes to the arena; returns their offset. */
static uint32_t arena_append(struct builder *b, const void *data, size_t len)
{
	uint32_t at = (uint32_t)b->arena_len;

	if (b->arena_len + len > b->arena_cap) {
		size_t was = b->arena_cap;

		while (b->arena_len + len > b->arena_cap)
			b->arena_cap = b->arena_cap ? b->arena_cap * 2 : 65536;
		b->snap->arena = map_resize(b->snap->arena, was, b->arena_cap);
		b->snap->arena_size = b->arena_cap;
	}
	memcpy(b->snap->arena + b->arena_len, data, len);
	b->arena_len += len;
	return at;
}

uint32_t snapshot_arena_add(struct builder *b, const char *s)
{
	return arena_append(b, s, strlen(s) + 1);
}

/* Copies id into the arena after its version (snapshot_version); returns
 * the id's offset. */
static uint32_t arena_add_item(struct builder *b, const char *id, uint64_t version)
{
	arena_append(b, &version, sizeof(version));
	return snapshot_arena_add(b, id);
}

static size_t ino_slot(uint64_t ino, size_t mask)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 32) & mask;
}

struct node *snapshot_node(const struct snapshot *snap, uint64_t ino)
{
	for (size_t i = ino_slot(ino, snap->ino_mask);; i = (i + 1) & snap->ino_mask) {
		uint32_t v = snap->by_ino[i];

		if (v == 0)
			return NULL;
		if (snap->nodes[v - 1].ino == ino)
			return &snap->nodes[v - 1];
	}
}

static void ino_insert(struct snapshot *snap, uint32_t index)
{
	size_t i = ino_slot(snap->nodes[index].ino, snap->ino_mask);

	while (snap->by_ino[i])
		i = (i + 1) & snap->ino_mask;
	snap->by_ino[i] = index + 1;
}

/* Keeps the index under three quarters full: probes stay short (about
 * two for a hit, and eight for a miss at the fullest), and a snapshot of
 * 600,000 nodes spends 4 MiB on it rather than 8. */
static void ino_grow(struct snapshot *snap)
{
	size_t cap = snap->ino_mask + 1;

	if (snap->n_nodes * 4 < cap * 3)
		return;
	map_free(snap->by_ino, cap * sizeof(*snap->by_ino));
	snap->ino_mask = cap * 2 - 1;
	snap->by_ino = map_resize(NULL, 0, cap * 2 * sizeof(*snap->by_ino));
	for (size_t i = 0; i < snap->n_nodes; i++)
		ino_insert(snap, (uint32_t)i);
}

/* The path of a child called name of parent, in b->path. */
static void child_path(struct builder *b, uint32_t parent, const char *name)
{
	const struct snapshot *snap = b->snap;
	const char *parts[8];
	size_t n = 0;

	buf_reset(&b->path);
	for (uint32_t i = parent; i != 0 && n < 8; i = snap->nodes[i].parent)
		parts[n++] = snapshot_name(snap, &snap->nodes[i]);
	while (n > 0) {
		buf_putc(&b->path, '/');
		buf_puts(&b->path, parts[--n]);
	}
	buf_putc(&b->path, '/');
	buf_puts(&b->path, name);
}

uint32_t snapshot_add_node(struct builder *b, uint32_t parent, const char *name, uint32_t name_at,
			   enum node_kind kind, uint32_t id)
{
	struct snapshot *snap = b->snap;
	struct node *n;
	uint64_t ino;

	child_path(b, parent, name);
	ino = names_inode(b->path.data, b->path.len);
	if (snapshot_node(snap, ino)) {
		log_warn("skipping %s: the name is taken (duplicate id?)", b->path.data);
		return SNAPSHOT_NONE;
	}
	if (snap->n_nodes == b->cap_nodes) {
		snap->nodes = map_resize(snap->nodes, b->cap_nodes * sizeof(*snap->nodes),
					 b->cap_nodes * 2 * sizeof(*snap->nodes));
		b->cap_nodes *= 2;
	}
	n = &snap->nodes[snap->n_nodes];
	memset(n, 0, sizeof(*n));
	n->ino = ino;
	n->name = name_at != SNAPSHOT_NONE ? name_at : snapshot_arena_add(b, name);
	n->id = id;
	n->parent = parent;
	n->kind = (uint8_t)kind;
	n->collection = snap->nodes[parent].collection;
	atomic_init(&n->size, -1);
	ino_insert(snap, (uint32_t)snap->n_nodes++);
	ino_grow(snap);
	return (uint32_t)(snap->n_nodes - 1);
}

bool snapshot_name_taken(struct builder *b, uint32_t parent, const char *name)
{
	child_path(b, parent, name);
	return snapshot_node(b->snap, names_inode(b->path.data, b->path.len)) != NULL;
}

/* The directory called name under parent, made if missing. */
static uint32_t dir_child(struct builder *b, uint32_t parent, const char *name)
{
	struct node *n;

	child_path(b, parent, name);
	n = snapshot_node(b->snap, names_inode(b->path.data, b->path.len));
	if (n && n->kind == NODE_DIR && n->parent == parent)
		return (uint32_t)(n - b->snap->nodes);
	return snapshot_add_node(b, parent, name, SNAPSHOT_NONE, NODE_DIR, SNAPSHOT_NONE);
}

/* A file rendered from item; render is false for the transcript's files,
 * whose content is not known yet and changes with the listing's JSON. */
static uint32_t add_file(struct builder *b, uint32_t dir, const char *name, enum node_kind kind,
			 uint32_t id, const union item *item, int64_t mtime, uint64_t json_digest)
{
	uint32_t fixed = kind == NODE_MEMORY || kind == NODE_ACTION_ITEM ? SNAPSHOT_NONE
									  : b->fixed_name[kind];
	uint32_t i = snapshot_add_node(b, dir, name, fixed, kind, id);
	struct node *n;

	if (i == SNAPSHOT_NONE)
		return i;
	n = &b->snap->nodes[i];
	n->mtime = mtime;
	n->digest = json_digest;
	if (kind != NODE_TRANSCRIPT && kind != NODE_CONV_JSON) {
		buf_reset(&b->scratch);
		render_item(kind, item, &b->scratch);
		atomic_init(&n->size, (int64_t)b->scratch.len);
		n->digest = hash_bytes(b->scratch.data, b->scratch.len);
	}
	return i;
}

/* ---- one item of each collection ---- */

static time_t first_valid(const struct timestamp *a, const struct timestamp *b,
			  const struct timestamp *c)
{
	if (a && a->valid)
		return a->when;
	if (b && b->valid)
		return b->when;
	if (c && c->valid)
		return c->when;
	return 0;
}

static void note_odd(struct status_odd *odd, const char *id, unsigned odd_fields)
{
	if (odd_fields)
		status_note_odd(odd, id);
}

/* A memory's mtime: its own timestamps, which the documented API does not
 * send, else (after the walk) when the cache first saw it. */
static void add_memory(struct builder *b, const struct memory *m, uint32_t id)
{
	const struct collection *memories = collection_of(STORE_MEMORIES);
	time_t mtime = first_valid(&m->updated_at, &m->created_at, NULL);
	uint32_t dir, file;

	buf_reset(&b->name);
	if (!memories->place(m, &b->name))
		log_warn("memory %s: unusable category, filed as uncategorized", m->id);
	dir = dir_child(b, b->snap->top[STORE_MEMORIES], b->name.data);
	buf_reset(&b->name);
	if (dir == SNAPSHOT_NONE || names_safe_name(m->id, memories->item_suffix, &b->name) < 0) {
		log_warn("skipping a memory whose id cannot be a file name");
		return;
	}
	file = add_file(b, dir, b->name.data, NODE_MEMORY, id, (const union item *)m, mtime, 0);
	if (file != SNAPSHOT_NONE && mtime == 0) {
		b->undated = xgrow(b->undated, &b->cap_undated, b->n_undated, sizeof(*b->undated),
				   64);
		b->undated[b->n_undated++] = file;
	}
}

static void add_action_item(struct builder *b, const struct action_item *a, uint32_t id)
{
	const struct collection *action_items = collection_of(STORE_ACTION_ITEMS);
	uint32_t dir;

	buf_reset(&b->name);
	action_items->place(a, &b->name);
	dir = dir_child(b, b->snap->top[STORE_ACTION_ITEMS], b->name.data);
	buf_reset(&b->name);
	if (dir == SNAPSHOT_NONE ||
	    names_safe_name(a->id, action_items->item_suffix, &b->name) < 0) {
		log_warn("skipping an action item whose id cannot be a file name");
		return;
	}
	add_file(b, dir, b->name.data, NODE_ACTION_ITEM, id, (const union item *)a,
		 first_valid(&a->updated_at, &a->completed_at, &a->created_at), 0);
}

static void add_conversation(struct builder *b, const struct conversation *c, uint32_t id,
			     uint64_t json_digest)
{
	const union item *item = (const union item *)c;
	time_t mtime = first_valid(&c->finished_at, &c->started_at, &c->created_at);
	const struct collection *conversations = collection_of(STORE_CONVERSATIONS);
	uint32_t day, dir;

	buf_reset(&b->name);
	if (!conversations->place(c, &b->name))
		log_warn("conversation %s has no usable created_at: filed under undated", c->id);
	day = dir_child(b, b->snap->top[STORE_CONVERSATIONS], b->name.data);
	buf_reset(&b->name);
	if (day == SNAPSHOT_NONE ||
	    names_safe_name(c->id, conversations->item_suffix, &b->name) < 0) {
		log_warn("skipping a conversation whose id cannot be a file name");
		return;
	}
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
	add_file(b, dir, "transcript.txt", NODE_TRANSCRIPT, id, item, mtime, json_digest);
	add_file(b, dir, "conversation.json", NODE_CONV_JSON, id, item, mtime, json_digest);
	views_note_conversation(b, c, dir, json_digest, mtime);
}

/* Every listed item has its line in the collection's .jsonl, even one
 * the id tree cannot show: the file holds the listing as it is. */
static int add_listed_item(const char *id, const char *json, void *ctx)
{
	struct builder *b = ctx;
	uint64_t version = hash_bytes(json, strlen(json));
	uint32_t id_at = arena_add_item(b, id, version);
	union item item;

	views_add_line(b, id_at, json);
	if (snapshot_parse_item(b->kind, json, &item) < 0) {
		log_warn("skipping unreadable cached item %s", id);
		return 0;
	}
	if (b->kind == STORE_MEMORIES) {
		note_odd(&b->snap->odd[b->kind], item.memory.id, item.memory.odd_fields);
		add_memory(b, &item.memory, id_at);
	} else if (b->kind == STORE_ACTION_ITEMS) {
		note_odd(&b->snap->odd[b->kind], item.action_item.id, item.action_item.odd_fields);
		add_action_item(b, &item.action_item, id_at);
	} else {
		note_odd(&b->snap->odd[b->kind], item.conversation.id, item.conversation.odd_fields);
		add_conversation(b, &item.conversation, id_at, version);
	}
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
	       kind == NODE_VAULT_ACTION_ITEMS;
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

static int compare_names(const void *a, const void *b, void *ctx)
{
	const struct snapshot *snap = ctx;

	return strcmp(snapshot_name(snap, &snap->nodes[*(const uint32_t *)a]),
		      snapshot_name(snap, &snap->nodes[*(const uint32_t *)b]));
}

/* Gives each directory the newest mtime inside it: children come after
 * their parent in nodes[], so one walk from the end sees a directory
 * after all of it. */
static void date_directories(struct snapshot *snap)
{
	for (size_t i = 0; i < snap->n_nodes; i++)
		if (snap->nodes[i].kind == NODE_DIR)
			snap->nodes[i].mtime = 0;
	for (size_t i = snap->n_nodes - 1; i > 0; i--) {
		struct node *p = &snap->nodes[snap->nodes[i].parent];

		if (snap->nodes[i].mtime > p->mtime)
			p->mtime = snap->nodes[i].mtime;
	}
}

/* Lays out every directory's children as a sorted slice, then dates the
 * directories. */
static void finish(struct snapshot *snap)
{
	uint32_t *fill = xcalloc(snap->n_nodes, sizeof(*fill));
	uint32_t at = 0;

	for (size_t i = 1; i < snap->n_nodes; i++) {
		struct node *p = &snap->nodes[snap->nodes[i].parent];

		p->n_children++;
		if (snap->nodes[i].kind == NODE_DIR && p->n_subdirs < SNAPSHOT_MAX_SUBDIRS)
			p->n_subdirs++;
	}
	for (size_t i = 0; i < snap->n_nodes; i++) {
		snap->nodes[i].first_child = at;
		at += snap->nodes[i].n_children;
	}
	snap->children = xcalloc(at ? at : 1, sizeof(*snap->children));
	for (size_t i = 1; i < snap->n_nodes; i++) {
		struct node *p = &snap->nodes[snap->nodes[i].parent];

		snap->children[p->first_child + fill[snap->nodes[i].parent]++] = (uint32_t)i;
	}
	free(fill);
	for (size_t i = 0; i < snap->n_nodes; i++)
		if (snap->nodes[i].n_children > 1)
			qsort_r(snap->children + snap->nodes[i].first_child,
				snap->nodes[i].n_children, sizeof(uint32_t), compare_names, snap);
	date_directories(snap);
}

static void start(struct builder *b, struct sync *sync)
{
	static const struct { enum node_kind kind; const char *name; } fixed[] = {
		{ NODE_SUMMARY, "summary.md" }, { NODE_CONV_ACTION_ITEMS, "action-items.md" },
		{ NODE_EVENTS, "events.md" }, { NODE_TRANSCRIPT, "transcript.txt" },
		{ NODE_CONV_JSON, "conversation.json" }, { NODE_STATUS, "status" },
	};
	struct snapshot *snap = b->snap;
	uint32_t meta;

	b->cap_nodes = 1024;
	snap->nodes = map_resize(NULL, 0, b->cap_nodes * sizeof(*snap->nodes));
	snap->ino_mask = 2047;
	snap->by_ino = map_resize(NULL, 0, (snap->ino_mask + 1) * sizeof(*snap->by_ino));
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		b->fixed_name[fixed[i].kind] = snapshot_arena_add(b, fixed[i].name);
	snap->nodes[0] = (struct node){ .ino = SNAPSHOT_ROOT_INO, .name = snapshot_arena_add(b, ""),
					.id = SNAPSHOT_NONE, .kind = NODE_DIR, .collection = -1,
					.mtime = sync_cache_created_at(sync) };
	atomic_init(&snap->nodes[0].size, -1);
	snap->n_nodes = 1;
	ino_insert(snap, 0);
	/* The collections' own directories are stat'ed before they are
	 * listed: they get a time that does not move, like the root's. */
	for (int k = 0; k < STORE_KINDS; k++) {
		snap->top[k] = snapshot_add_node(b, 0, collection_of(k)->dir, SNAPSHOT_NONE, NODE_DIR,
						  SNAPSHOT_NONE);
		snap->nodes[snap->top[k]].collection = (int8_t)k;
	}
	meta = snapshot_add_node(b, 0, ".omifs", SNAPSHOT_NONE, NODE_DIR, SNAPSHOT_NONE);
	snapshot_add_node(b, meta, "status", b->fixed_name[NODE_STATUS], NODE_STATUS,
			  STATUS_FILE_TEXT);
	snapshot_add_node(b, meta, "status.json", SNAPSHOT_NONE, NODE_STATUS, STATUS_FILE_JSON);
	snapshot_add_node(b, meta, "metrics", SNAPSHOT_NONE, NODE_STATUS, STATUS_FILE_METRICS);
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
		rows[n++] = (struct store_file_date){ node->ino, digest, snapshot_mtime(node) };
		if (n == DATES_AT_ONCE) {
			sync_put_file_dates(sync, rows, n);
			n = 0;
		}
	}
	if (rc == 0)
		sync_put_file_dates(sync, rows, n);
	free(d.dated);
	free(rows);
	date_directories(snap);
	return rc;
}

void snapshot_date_learnt(struct node *n, struct sync *sync, uint64_t digest)
{
	int64_t was = snapshot_mtime(n), now = (int64_t)time(NULL);

	atomic_store_explicit(&n->mtime, sync_date_file(sync, n->ino, digest, was,
							 was > now ? was : now),
			      memory_order_relaxed);
}

struct snapshot *snapshot_build(struct sync *sync, const int kind_error[STORE_KINDS])
{
	struct snapshot *snap = xcalloc(1, sizeof(*snap));
	struct builder b = { .snap = snap, .path = BUF_INIT, .name = BUF_INIT,
			     .scratch = BUF_INIT, .vault_names = BUF_INIT };
	int64_t created = sync_cache_created_at(sync);
	struct timespec began, ended;
	size_t fixed;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &began);

	snap->listings_count = sync_listings_count(sync);
	memcpy(snap->kind_error, kind_error, sizeof(snap->kind_error));
	start(&b, sync);
	fixed = snap->n_nodes;
	for (int k = 0; k < STORE_KINDS && rc == 0; k++) {
		b.kind = (enum store_kind)k;
		if (!kind_error[k])
			rc = sync_foreach_listed(sync, (enum store_kind)k, add_listed_item, &b);
	}
	/* Outside the walk: the store is not re-entrant. */
	for (size_t i = 0; i < b.n_undated; i++)
		snap->nodes[b.undated[i]].mtime =
			sync_first_seen(sync, STORE_MEMORIES, snapshot_id(snap, &snap->nodes[b.undated[i]]));
	views_add(&b);
	finish(snap);
	views_finish(&b);
	if (rc == 0)
		rc = sync_foreach_size(sync, take_kept_size, snap);
	if (rc == 0)
		rc = date_files(snap, sync);
	/* Built: the arrays give back the room their doubling left, since a
	 * refresh keeps two snapshots alive at once. */
	snap->nodes = map_resize(snap->nodes, b.cap_nodes * sizeof(*snap->nodes),
				 snap->n_nodes * sizeof(*snap->nodes));
	snap->arena = map_resize(snap->arena, b.arena_cap, b.arena_len);
	snap->arena_size = b.arena_len;
	/* The directories and .omifs' files made before any item (the root,
	 * the collections, .omifs, search/, vault/'s): the cache's birth. */
	for (size_t i = 0; i < fixed; i++)
		if (snap->nodes[i].kind == NODE_DIR || snap->nodes[i].kind == NODE_STATUS)
			snap->nodes[i].mtime = created;
	free(b.undated);
	views_free(&b);
	buf_free(&b.path);
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

size_t snapshot_bytes(const struct snapshot *snap)
{
	size_t bytes = sizeof(*snap) + snap->n_nodes * (sizeof(*snap->nodes) + sizeof(*snap->children)) +
		       snap->arena_size + (snap->ino_mask + 1) * sizeof(*snap->by_ino) +
		       snap->n_notes * sizeof(*snap->notes_by_id);

	for (int k = 0; k < STORE_KINDS; k++)
		bytes += snap->n_lines[k] * sizeof(*snap->lines[k]);
	return bytes;
}

void snapshot_free(struct snapshot *snap)
{
	if (!snap)
		return;
	map_free(snap->nodes, snap->n_nodes * sizeof(*snap->nodes));
	free(snap->children);
	map_free(snap->arena, snap->arena_size);
	map_free(snap->by_ino, (snap->ino_mask + 1) * sizeof(*snap->by_ino));
	for (int k = 0; k < STORE_KINDS; k++)
		free(snap->lines[k]);
	free(snap->notes_by_id);
	free(snap);
}

struct node *snapshot_child_at(const struct snapshot *snap, const struct node *dir, size_t i)
{
	return &snap->nodes[snap->children[dir->first_child + i]];
}

struct node *snapshot_find(const struct snapshot *snap, const uint32_t *sorted, size_t n,
			   const char *key, bool by_id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct node *node = &snap->nodes[sorted[mid]];
		int c = strcmp(key, by_id ? snapshot_id(snap, node) : snapshot_name(snap, node));

		if (c == 0)
			return node;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

struct node *snapshot_child(const struct snapshot *snap, const struct node *dir,
			    const char *name)
{
	return snapshot_find(snap, snap->children + dir->first_child, dir->n_children, name, false);
}
