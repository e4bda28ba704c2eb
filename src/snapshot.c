/*
 * snapshot: the compact picture of the tree (see snapshot.h): its arena
 * of names, its nodes and their inode index, and the lookups in them.
 * snapshot_build.c makes one; snapshot_views.c adds the views, and
 * snapshot_reads.c reads what they and the items hold from the store.
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

void snapshot_render_item(enum node_kind kind, enum store_kind collection, const union item *item,
			  struct buf *out)
{
	switch (kind) {
	case NODE_ITEM: collection_of(collection)->render(item, out); break;
	case NODE_SUMMARY: render_summary(&item->conversation, out); break;
	case NODE_CONV_ACTION_ITEMS: render_conversation_action_items(&item->conversation, out); break;
	case NODE_EVENTS: render_events(&item->conversation, out); break;
	case NODE_TRANSCRIPT: render_transcript(&item->conversation, out); break;
	default: break;	/* rendered elsewhere */
	}
}

int snapshot_render(const struct node *n, char *json, struct buf *out, struct buf *note)
{
	enum node_kind kind = (enum node_kind)n->kind;
	union item item;
	int rc;

	if (kind == NODE_CONV_JSON) {
		rc = render_json(json, out) == 0 ? 0 : -EIO;
		free(json);
		return rc;
	}
	rc = kind == NODE_DIR || kind == NODE_STATUS || n->collection < 0
		     ? -EIO : snapshot_parse_item(n->collection, json, &item);
	/* Parsed, the text is not needed: with a 50 MB transcript, that is
	 * 50 MB less at the rendering's peak. */
	free(json);
	if (rc < 0)
		return -EIO;
	snapshot_render_item(kind, n->collection, &item, out);
	if (note && kind == NODE_TRANSCRIPT)
		vault_render_note(&item.conversation, true, note);
	snapshot_free_item(n->collection, &item);
	return 0;
}

/* ---- the arena, the nodes and the inode index ---- */

/* A refresh holds two arrays of them: the record's size is what a node costs. */
_Static_assert(sizeof(struct node) == 40, "a node is 40 bytes");

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
uint32_t snapshot_arena_add_item(struct builder *b, const char *id, uint64_t version)
{
	arena_append(b, &version, sizeof(version));
	return snapshot_arena_add(b, id);
}

/* An item's file whose name is its id followed by its collection's suffix
 * is given the id's offset as its name. */
const char *snapshot_name(const struct snapshot *snap, const struct node *n,
			  char room[SNAPSHOT_NAME_ROOM])
{
	const char *name = snap->arena + n->name, *suffix;
	size_t len, suffix_len;

	if (n->kind != NODE_ITEM || n->name != n->id)
		return name;
	suffix = collection_of((enum store_kind)n->collection)->item_suffix;
	len = strlen(name);
	suffix_len = strlen(suffix);
	/* names_safe_name keeps a name within NAME_MAX, so both fit. */
	memcpy(room, name, len);
	memcpy(room + len, suffix, suffix_len + 1);
	return room;
}

static size_t ino_slot(uint64_t ino, size_t mask)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 32) & mask;
}

/* The hash of the path of a child called name, given its directory's. */
static uint64_t hash_child(uint64_t dir_hash, const char *name)
{
	return hash_more(hash_more(dir_hash, "/", 1), name, strlen(name));
}

/* hash_bytes of the path of node i below the root ("/a/b"; the root's
 * is empty): inode numbers are not kept in the nodes but follow from
 * their names, 8 bytes less a node. */
static uint64_t path_hash(const struct snapshot *snap, uint32_t i)
{
	char room[SNAPSHOT_NAME_ROOM];

	if (i == 0)
		return HASH_START;
	return hash_child(path_hash(snap, snap->nodes[i].parent),
			  snapshot_name(snap, &snap->nodes[i], room));
}

static uint64_t ino_at(const struct snapshot *snap, uint32_t i)
{
	return i == 0 ? SNAPSHOT_ROOT_INO : names_inode_of_hash(path_hash(snap, i));
}

uint64_t snapshot_ino(const struct snapshot *snap, const struct node *n)
{
	return ino_at(snap, (uint32_t)(n - snap->nodes));
}

/* A byte of an inode number that ino_slot does not look at. */
static uint8_t ino_tag(uint64_t ino)
{
	return (uint8_t)(ino >> 56);
}

/* The index of the node numbered ino, or SNAPSHOT_NONE. A build passes
 * each node's ino_tag (tags), so that the other numbers it meets need
 * not be worked out: a byte a node, where keeping whole numbers beside
 * the nodes took 5 MiB at the peak of a 100,000-conversation build. */
static uint32_t find_ino(const struct snapshot *snap, uint64_t ino, const uint8_t *tags)
{
	for (size_t i = ino_slot(ino, snap->ino_mask);; i = (i + 1) & snap->ino_mask) {
		uint32_t v = snap->by_ino[i];

		if (v == 0)
			return SNAPSHOT_NONE;
		if ((!tags || tags[v - 1] == ino_tag(ino)) && ino_at(snap, v - 1) == ino)
			return v - 1;
	}
}

struct node *snapshot_node(const struct snapshot *snap, uint64_t ino)
{
	uint32_t i = find_ino(snap, ino, NULL);

	return i == SNAPSHOT_NONE ? NULL : &snap->nodes[i];
}

static void ino_insert(struct snapshot *snap, uint32_t index, uint64_t ino)
{
	size_t i = ino_slot(ino, snap->ino_mask);

	while (snap->by_ino[i])
		i = (i + 1) & snap->ino_mask;
	snap->by_ino[i] = index + 1;
}

/* Keeps the index under three quarters full: probes stay short (about
 * two for a hit, and eight for a miss at the fullest), and a snapshot of
 * 600,000 nodes spends 4 MiB on it rather than 8. */
static void ino_grow(struct builder *b)
{
	struct snapshot *snap = b->snap;
	size_t cap = snap->ino_mask + 1;

	if (snap->n_nodes * 4 < cap * 3)
		return;
	map_free(snap->by_ino, cap * sizeof(*snap->by_ino));
	snap->ino_mask = cap * 2 - 1;
	snap->by_ino = map_resize(NULL, 0, cap * 2 * sizeof(*snap->by_ino));
	for (size_t i = 0; i < snap->n_nodes; i++)
		ino_insert(snap, (uint32_t)i, ino_at(snap, (uint32_t)i));
}

/* The inode number of a child called name of parent. */
static uint64_t child_ino(const struct builder *b, uint32_t parent, const char *name)
{
	return names_inode_of_hash(hash_child(path_hash(b->snap, parent), name));
}

/* Logs that the path of a child called name of parent is taken. */
static void log_taken(const struct snapshot *snap, uint32_t parent, const char *name)
{
	const char *parts[16];
	char rooms[16][SNAPSHOT_NAME_ROOM];
	struct buf path = BUF_INIT;
	size_t n = 0;

	for (uint32_t i = parent; i != 0 && n < 16; i = snap->nodes[i].parent, n++)
		parts[n] = snapshot_name(snap, &snap->nodes[i], rooms[n]);
	while (n > 0)
		buf_printf(&path, "/%s", parts[--n]);
	log_warn("skipping %s/%s: the name is taken (duplicate id?)", path.data ? path.data : "",
		 name);
	buf_free(&path);
}

uint32_t snapshot_add_node(struct builder *b, uint32_t parent, const char *name, uint32_t name_at,
			   enum node_kind kind, uint32_t id)
{
	struct snapshot *snap = b->snap;
	uint64_t ino = child_ino(b, parent, name);
	struct node *n;

	if (find_ino(snap, ino, b->tags) != SNAPSHOT_NONE) {
		log_taken(snap, parent, name);
		return SNAPSHOT_NONE;
	}
	if (snap->n_nodes == b->cap_nodes) {
		snap->nodes = map_resize(snap->nodes, b->cap_nodes * sizeof(*snap->nodes),
					 b->cap_nodes * 2 * sizeof(*snap->nodes));
		b->tags = map_resize(b->tags, b->cap_nodes, b->cap_nodes * 2);
		b->cap_nodes *= 2;
	}
	n = &snap->nodes[snap->n_nodes];
	memset(n, 0, sizeof(*n));
	n->name = name_at != SNAPSHOT_NONE ? name_at : snapshot_arena_add(b, name);
	n->id = id;
	n->parent = parent;
	n->kind = (uint8_t)kind;
	n->collection = snap->nodes[parent].collection;
	if (kind != NODE_DIR)
		atomic_init(&n->size, -1);
	b->tags[snap->n_nodes] = ino_tag(ino);
	ino_insert(snap, (uint32_t)snap->n_nodes++, ino);
	ino_grow(b);
	return (uint32_t)(snap->n_nodes - 1);
}

bool snapshot_name_taken(struct builder *b, uint32_t parent, const char *name)
{
	return find_ino(b->snap, child_ino(b, parent, name), b->tags) != SNAPSHOT_NONE;
}

/* The directory called name under parent, made if missing. */
uint32_t snapshot_dir_child(struct builder *b, uint32_t parent, const char *name)
{
	uint32_t i = find_ino(b->snap, child_ino(b, parent, name), b->tags);

	if (i != SNAPSHOT_NONE && b->snap->nodes[i].kind == NODE_DIR &&
	    b->snap->nodes[i].parent == parent)
		return i;
	return snapshot_add_node(b, parent, name, SNAPSHOT_NONE, NODE_DIR, SNAPSHOT_NONE);
}

static int compare_names(const void *a, const void *b, void *ctx)
{
	const struct snapshot *snap = ctx;
	char room_a[SNAPSHOT_NAME_ROOM], room_b[SNAPSHOT_NAME_ROOM];

	return strcmp(snapshot_name(snap, &snap->nodes[*(const uint32_t *)a], room_a),
		      snapshot_name(snap, &snap->nodes[*(const uint32_t *)b], room_b));
}

/* Gives each directory the newest mtime inside it: children come after
 * their parent in nodes[], so one walk from the end sees a directory
 * after all of it. */
void snapshot_date_directories(struct snapshot *snap)
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

/* Counts each directory's children, gives it its slice of children[]
 * (n_children counting again as the slice fills), and sorts the slices. */
void snapshot_lay_out(struct snapshot *snap)
{
	uint32_t at = 0;

	for (size_t i = 1; i < snap->n_nodes; i++) {
		struct node *p = &snap->nodes[snap->nodes[i].parent];

		p->n_children++;
		if (snap->nodes[i].kind == NODE_DIR && p->n_subdirs < SNAPSHOT_MAX_SUBDIRS)
			p->n_subdirs++;
	}
	for (size_t i = 0; i < snap->n_nodes; i++) {
		struct node *n = &snap->nodes[i];

		if (n->kind != NODE_DIR)
			continue;
		n->first_child = at;
		at += n->n_children;
		n->n_children = 0;
	}
	snap->children = xcalloc(at ? at : 1, sizeof(*snap->children));
	for (size_t i = 1; i < snap->n_nodes; i++) {
		struct node *p = &snap->nodes[snap->nodes[i].parent];

		snap->children[p->first_child + p->n_children++] = (uint32_t)i;
	}
	for (size_t i = 0; i < snap->n_nodes; i++)
		if (snap->nodes[i].kind == NODE_DIR && snap->nodes[i].n_children > 1)
			qsort_r(snap->children + snap->nodes[i].first_child,
				snap->nodes[i].n_children, sizeof(uint32_t), compare_names, snap);
	snapshot_date_directories(snap);
}

void snapshot_begin(struct builder *b, int64_t root_mtime)
{
	struct snapshot *snap = b->snap;

	b->cap_nodes = 1024;
	snap->nodes = map_resize(NULL, 0, b->cap_nodes * sizeof(*snap->nodes));
	b->tags = map_resize(NULL, 0, b->cap_nodes);
	snap->ino_mask = 2047;
	snap->by_ino = map_resize(NULL, 0, (snap->ino_mask + 1) * sizeof(*snap->by_ino));
	snap->nodes[0] = (struct node){ .name = snapshot_arena_add(b, ""), .id = SNAPSHOT_NONE,
					.kind = NODE_DIR, .collection = -1, .mtime = root_mtime };
	snap->n_nodes = 1;
	b->tags[0] = ino_tag(SNAPSHOT_ROOT_INO);
	ino_insert(snap, 0, SNAPSHOT_ROOT_INO);
}

void snapshot_forget_tags(struct builder *b)
{
	map_free(b->tags, b->cap_nodes);
	b->tags = NULL;
}

void snapshot_shrink(struct builder *b)
{
	struct snapshot *snap = b->snap;

	snap->nodes = map_resize(snap->nodes, b->cap_nodes * sizeof(*snap->nodes),
				 snap->n_nodes * sizeof(*snap->nodes));
	snap->arena = map_resize(snap->arena, b->arena_cap, b->arena_len);
	snap->arena_size = b->arena_len;
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
	char room[SNAPSHOT_NAME_ROOM];
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct node *node = &snap->nodes[sorted[mid]];
		int c = strcmp(key, by_id ? snapshot_id(snap, node)
					  : snapshot_name(snap, node, room));

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

/* ---- two snapshots side by side ---- */

struct diff {
	const struct snapshot *old, *now;
	snapshot_diff_fn fn;
	void *ctx;
};

static void diff_children(const struct diff *d, const struct node *was, struct node *is,
			  uint64_t dir_hash, uint64_t dir_ino);

/* Meets the path called name in the directory whose path hashes to
 * dir_hash, then what lies below it. */
static void diff_path(const struct diff *d, const struct node *was, struct node *is,
		      const char *name, uint64_t dir_hash, uint64_t dir_ino)
{
	uint64_t hash = hash_child(dir_hash, name), ino = names_inode_of_hash(hash);

	d->fn(was, is, ino, dir_ino, d->ctx);
	diff_children(d, was && was->kind == NODE_DIR ? was : NULL,
		      is && is->kind == NODE_DIR ? is : NULL, hash, ino);
}

/* Merges the children of was and is (NULL: a directory with none), both
 * sorted by name. */
static void diff_children(const struct diff *d, const struct node *was, struct node *is,
			  uint64_t dir_hash, uint64_t dir_ino)
{
	char room_was[SNAPSHOT_NAME_ROOM], room_is[SNAPSHOT_NAME_ROOM];
	size_t i = 0, j = 0, n_was = was ? was->n_children : 0, n_is = is ? is->n_children : 0;

	while (i < n_was || j < n_is) {
		const struct node *a = i < n_was ? snapshot_child_at(d->old, was, i) : NULL;
		struct node *b = j < n_is ? snapshot_child_at(d->now, is, j) : NULL;
		const char *a_name = a ? snapshot_name(d->old, a, room_was) : NULL;
		const char *b_name = b ? snapshot_name(d->now, b, room_is) : NULL;
		int order = !a ? 1 : !b ? -1 : strcmp(a_name, b_name);

		if (order <= 0)
			i++;
		if (order >= 0)
			j++;
		diff_path(d, order <= 0 ? a : NULL, order >= 0 ? b : NULL,
			  order <= 0 ? a_name : b_name, dir_hash, dir_ino);
	}
}

void snapshot_diff(const struct snapshot *old, const struct snapshot *now, snapshot_diff_fn fn,
		   void *ctx)
{
	struct diff d = { old, now, fn, ctx };

	diff_children(&d, &old->nodes[0], &now->nodes[0], HASH_START, SNAPSHOT_ROOT_INO);
}

bool snapshot_shows(const struct snapshot *snap, enum store_kind kind)
{
	return !collection_of(kind)->optional || snap->kind_error[kind] == 0;
}
