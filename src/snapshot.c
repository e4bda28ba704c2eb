/*
 * snapshot: the compact picture of the tree (see snapshot.h): the pool of
 * names, nodes and their inode index that snapshots share, each
 * snapshot's own part, and the lookups in them.
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

/* ---- the pool: the records and names its snapshots share ---- */

/* A refresh holds what two snapshots do not share: a record's size is
 * what each new node costs. */
_Static_assert(sizeof(struct node) == 40, "a node is 40 bytes");

/*
 * The pool's three arrays live in mappings of their own. While only the
 * build that makes them uses them, growing one moves its pages rather
 * than copying them (mremap). Once a snapshot is built on them they stay
 * put, since its readers hold their addresses: room left over costs no
 * memory until written, and a later build that fills it starts a pool of
 * its own. A freed mapping goes back to the system at once, whatever
 * malloc's thresholds have become.
 */
struct snapshot_pool {
	struct node *nodes;
	size_t n_nodes, cap_nodes;	/* records made; room for */
	char *arena;
	size_t arena_len, arena_cap;	/* bytes */
	size_t arena_settled;		/* arena_len when its first snapshot was built */
	/* The inode index of every record (open addressing: its index + 1,
	 * 0 empty), which each snapshot reads through its bitmap. Slots are
	 * only ever filled, so a probe that meets an empty one may stop
	 * even while a build fills others. */
	_Atomic uint32_t *by_ino;
	size_t ino_cap;			/* slots */
	size_t indexed;			/* slots filled */
	uint32_t n_dirs;		/* places handed out in the snapshots' dirs */
	uint32_t fixed_name[NODE_KINDS];	/* arena offsets of constant names */
	bool settled;			/* a snapshot is built on it: it stays put */
	atomic_size_t bytes;		/* written, as its last build left it */
	atomic_int refs;		/* the snapshots that share it */
};

/* The arena starts with a version of 0 and an empty name, the root's: an
 * offset that reads as an id of nothing, which a build that ran out of
 * room is given while it gives up. */
#define ARENA_EMPTY ((uint32_t)sizeof(uint64_t))

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

static void pool_release(struct snapshot_pool *pool)
{
	if (!pool || atomic_fetch_sub(&pool->refs, 1) != 1)
		return;
	map_free(pool->nodes, pool->cap_nodes * sizeof(*pool->nodes));
	map_free(pool->arena, pool->arena_cap);
	map_free(pool->by_ino, pool->ino_cap * sizeof(*pool->by_ino));
	free(pool);
}

/* Whether a build on base may add to base's pool rather than start its
 * own: while what no snapshot uses stays under an eighth of what base
 * does (a refresh adds what changed; an edit leaves its old records
 * behind), and its names under half as much again as its first build's. */
static bool pool_worth_sharing(const struct snapshot *base)
{
	const struct snapshot_pool *pool = base->pool;

	return pool->n_nodes - base->n_nodes <= base->n_nodes / 8 + 1024 &&
	       pool->arena_len <= pool->arena_settled + pool->arena_settled / 2;
}

/* The bytes of a bitmap of n bits, in whole words. */
static size_t bitmap_bytes(size_t n)
{
	return (n + 63) / 64 * sizeof(uint64_t);
}

/* Gives the build's own arrays (a byte and a bit a record) room for cap
 * records. */
static void builder_room(struct builder *b, size_t cap)
{
	b->tags = map_resize(b->tags, b->cap_records, cap);
	b->members = map_resize(b->members, bitmap_bytes(b->cap_records), bitmap_bytes(cap));
	b->cap_records = cap;
	b->snap->members = b->members;
	b->snap->member_cap = cap;
}

/* Whether one more slot would fill the pool's index past what probes
 * allow: three quarters, so that they stay short (about two for a hit,
 * eight for a miss at the fullest). The views' files the build has not
 * weighed yet count too: they go in at its end. */
static bool index_full(const struct builder *b)
{
	size_t waiting = b->snap->tail_by_ino ? b->pool->n_nodes - b->tail : 0;

	return (b->pool->indexed + waiting + 1) * 4 > b->pool->ino_cap * 3;
}

/* Room for one more record; false, with b->overflow set, when a pool
 * that stays put has none, in its records or in its index. */
static bool room_for_record(struct builder *b)
{
	struct snapshot_pool *pool = b->pool;
	size_t cap = pool->cap_nodes ? pool->cap_nodes * 2 : 1024;

	if (pool->n_nodes < pool->cap_nodes && !(pool->settled && index_full(b)))
		return true;
	if (pool->settled) {
		b->overflow = true;
		return false;
	}
	pool->nodes = map_resize(pool->nodes, pool->cap_nodes * sizeof(*pool->nodes),
				 cap * sizeof(*pool->nodes));
	pool->cap_nodes = cap;
	b->snap->nodes = pool->nodes;
	builder_room(b, cap);
	return true;
}

/* Appends len bytes to the arena; returns their offset. A pool that stays
 * put and has no room left gives ARENA_EMPTY, with b->overflow set. */
static uint32_t arena_append(struct builder *b, const void *data, size_t len)
{
	struct snapshot_pool *pool = b->pool;
	uint32_t at = (uint32_t)pool->arena_len;

	if (pool->arena_len + len > pool->arena_cap) {
		size_t cap = pool->arena_cap;

		if (pool->settled) {
			b->overflow = true;
			return ARENA_EMPTY;
		}
		while (pool->arena_len + len > cap)
			cap = cap ? cap * 2 : 65536;
		pool->arena = map_resize(pool->arena, pool->arena_cap, cap);
		pool->arena_cap = cap;
		b->snap->arena = pool->arena;
	}
	memcpy(pool->arena + pool->arena_len, data, len);
	pool->arena_len += len;
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
	uint32_t at = arena_append(b, &version, sizeof(version));

	return at == ARENA_EMPTY && b->overflow ? at : snapshot_arena_add(b, id);
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

/* ---- the pool's inode index, and a snapshot's nodes in it ---- */

/* Where ino's probe starts among cap slots: any number of them, so that
 * a settled pool's index takes about the room its records need, not the
 * next power of two. */
static size_t ino_slot(uint64_t ino, size_t cap)
{
	return (size_t)((((ino * 0x9E3779B97F4A7C15ULL) >> 32) * (uint64_t)cap) >> 32);
}

static size_t ino_next(size_t i, size_t cap)
{
	return i + 1 == cap ? 0 : i + 1;
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

static uint64_t ino_of_hash(uint32_t i, uint64_t hash)
{
	return i == 0 ? SNAPSHOT_ROOT_INO : names_inode_of_hash(hash);
}

static uint64_t ino_at(const struct snapshot *snap, uint32_t i)
{
	return ino_of_hash(i, path_hash(snap, i));
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

/* Whether record i of the pool is one of snap's nodes. */
static bool is_member(const struct snapshot *snap, uint32_t i)
{
	return i < snap->member_cap && (snap->members[i / 64] >> (i % 64) & 1);
}

/* snap's node numbered ino among the records of the index slots[0..cap),
 * or SNAPSHOT_NONE. A record of another snapshot is passed over before
 * it is read: the one a build is making may still be half written. */
static uint32_t probe(const struct snapshot *snap, const _Atomic uint32_t *slots, size_t cap,
		      uint64_t ino, const uint8_t *tags)
{
	for (size_t i = ino_slot(ino, cap);; i = ino_next(i, cap)) {
		uint32_t v = atomic_load_explicit(&slots[i], memory_order_relaxed);

		if (v == 0)
			return SNAPSHOT_NONE;
		if (is_member(snap, v - 1) && (!tags || tags[v - 1] == ino_tag(ino)) &&
		    ino_at(snap, v - 1) == ino)
			return v - 1;
	}
}

/* The index of the node numbered ino, or SNAPSHOT_NONE. A build passes
 * each record's ino_tag (tags), so that the other numbers it meets need
 * not be worked out: a byte a record, where keeping whole numbers beside
 * the nodes took 5 MiB at the peak of a 100,000-conversation build. */
static uint32_t find_ino(const struct snapshot *snap, uint64_t ino, const uint8_t *tags)
{
	uint32_t i = probe(snap, snap->pool->by_ino, snap->pool->ino_cap, ino, tags);

	if (i == SNAPSHOT_NONE && snap->tail_by_ino)
		i = probe(snap, snap->tail_by_ino, snap->tail_cap, ino, tags);
	return i;
}

struct node *snapshot_node(const struct snapshot *snap, uint64_t ino)
{
	uint32_t i = find_ino(snap, ino, NULL);

	return i == SNAPSHOT_NONE ? NULL : &snap->nodes[i];
}

/* Puts record index, numbered ino, in the first free slot of its probe
 * in slots[0..cap): a record goes in once. */
static void ino_insert(_Atomic uint32_t *slots, size_t cap, uint32_t index, uint64_t ino)
{
	size_t i = ino_slot(ino, cap);

	while (atomic_load_explicit(&slots[i], memory_order_relaxed))
		i = ino_next(i, cap);
	atomic_store_explicit(&slots[i], index + 1, memory_order_relaxed);
}

uint32_t snapshot_next_node(const struct builder *b, uint32_t i)
{
	size_t n = b->pool->n_nodes;

	while (i < n) {
		uint64_t word = b->members[i / 64] >> (i % 64);

		if (word) {
			i += (uint32_t)__builtin_ctzll(word);
			return i < n ? i : SNAPSHOT_NONE;
		}
		i = (i / 64 + 1) * 64;
	}
	return SNAPSHOT_NONE;
}

/* The node of the snapshot being built at or before record i, going
 * back; SNAPSHOT_NONE past the first. */
static uint32_t previous_node(const struct builder *b, uint32_t i)
{
	for (;;) {
		uint64_t word = b->members[i / 64] << (63 - i % 64);

		if (word)
			return i - (uint32_t)__builtin_clzll(word);
		if (i < 64)
			return SNAPSHOT_NONE;
		i = i / 64 * 64 - 1;
	}
}

static void set_member(struct builder *b, uint32_t i, bool member)
{
	if (member)
		b->members[i / 64] |= 1ULL << (i % 64);
	else
		b->members[i / 64] &= ~(1ULL << (i % 64));
}

/* Whether record i is one of the views' files this build has not
 * weighed yet: those are in the snapshot's tail index. */
static bool in_tail(const struct builder *b, uint32_t i)
{
	return b->snap->tail_by_ino && i >= b->tail;
}

/* Makes *slots an index of cap slots of the build's nodes in [from, to),
 * only while no other snapshot reads it; returns how many it holds. */
static size_t index_remake(struct builder *b, _Atomic uint32_t **slots, size_t *cap,
			   size_t new_cap, uint32_t from, uint32_t to)
{
	size_t n = 0;

	map_free(*slots, *cap * sizeof(**slots));
	*slots = map_resize(NULL, 0, new_cap * sizeof(**slots));
	*cap = new_cap;
	for (uint32_t i = snapshot_next_node(b, from); i != SNAPSHOT_NONE && i < to;
	     i = snapshot_next_node(b, i + 1), n++)
		ino_insert(*slots, new_cap, i, ino_at(b->snap, i));
	return n;
}

/* Puts record i, numbered ino, in the pool's index, where the records
 * before it are already (but the views' files waiting in theirs). A new
 * pool's index doubles once three quarters full; a settled one has room
 * (index_full). */
static void pool_index_add(struct builder *b, uint32_t i, uint64_t ino)
{
	struct snapshot_pool *pool = b->pool;

	if (!pool->settled && index_full(b))
		pool->indexed = index_remake(b, &pool->by_ino, &pool->ino_cap, pool->ino_cap * 2,
					     0, i);
	ino_insert(pool->by_ino, pool->ino_cap, i, ino);
	pool->indexed++;
}

/* Puts record i, numbered ino, the last this build added, in its index:
 * the pool's, or the views' own until they are weighed (doubled once
 * three quarters full: only this build reads it). */
static void index_record(struct builder *b, uint32_t i, uint64_t ino)
{
	struct snapshot *snap = b->snap;

	if (!in_tail(b, i)) {
		pool_index_add(b, i, ino);
		return;
	}
	if ((b->pool->n_nodes - b->tail) * 4 >= snap->tail_cap * 3)
		index_remake(b, &snap->tail_by_ino, &snap->tail_cap, snap->tail_cap * 2, b->tail,
			     i);
	ino_insert(snap->tail_by_ino, snap->tail_cap, i, ino);
}

/* Makes record i, numbered ino, a node of the snapshot being built. A
 * record taken from the base is in the index already. */
static void take_node(struct builder *b, uint32_t i, uint64_t ino)
{
	set_member(b, i, true);
	b->tags[i] = ino_tag(ino);
	if (snapshot_is_new(b, i))
		index_record(b, i, ino);
	b->snap->n_nodes++;
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

/* The base's record at a child called name of parent (numbered ino),
 * when it is still one: the same parent record, the same name, the same
 * kind. */
static uint32_t base_record(const struct builder *b, uint32_t parent, uint64_t ino,
			    const char *name, enum node_kind kind)
{
	char room[SNAPSHOT_NAME_ROOM];
	const struct node *n;
	uint32_t i;

	if (!b->base || (i = find_ino(b->base, ino, NULL)) == SNAPSHOT_NONE)
		return SNAPSHOT_NONE;
	n = &b->snap->nodes[i];
	if (n->parent != parent || n->kind != kind ||
	    strcmp(snapshot_name(b->base, n, room), name) != 0)
		return SNAPSHOT_NONE;
	return i;
}

uint32_t snapshot_base_node(const struct builder *b, uint32_t parent, const char *name,
			    enum node_kind kind)
{
	return b->base ? base_record(b, parent, child_ino(b, parent, name), name, kind)
		       : SNAPSHOT_NONE;
}

bool snapshot_take_base_node(struct builder *b, uint32_t i)
{
	const struct node *n = &b->snap->nodes[i];
	char room[SNAPSHOT_NAME_ROOM];
	uint64_t hash = path_hash(b->snap, i), ino = ino_of_hash(i, hash);

	/* A run whose numbers another took since (a duplicate id) is not
	 * taken: the nodes made in its place say so in the log. */
	if (find_ino(b->snap, ino, b->tags) != SNAPSHOT_NONE)
		return false;
	for (uint32_t k = 0; n->files_follow && k < n->n_children; k++)
		if (find_ino(b->snap, names_inode_of_hash(hash_child(hash, snapshot_name(
				     b->snap, &b->snap->nodes[n->first_child + k], room))),
			     b->tags) != SNAPSHOT_NONE)
			return false;
	take_node(b, i, ino);
	for (uint32_t k = 0; n->files_follow && k < n->n_children; k++) {
		const struct node *file = &b->snap->nodes[n->first_child + k];

		take_node(b, n->first_child + k,
			  names_inode_of_hash(hash_child(hash, snapshot_name(b->snap, file, room))));
	}
	return true;
}

uint32_t snapshot_name_for(struct builder *b, uint32_t parent, const char *name)
{
	uint32_t i = b->base ? find_ino(b->base, child_ino(b, parent, name), NULL)
			     : SNAPSHOT_NONE;

	if (i != SNAPSHOT_NONE && strcmp(b->snap->arena + b->snap->nodes[i].name, name) == 0)
		return b->snap->nodes[i].name;
	return snapshot_arena_add(b, name);
}

/* Adds a record; a directory gets its place in the snapshots' dirs,
 * unless its files follow it. */
static uint32_t add_record(struct builder *b, uint32_t parent, const char *name, uint32_t name_at,
			   enum node_kind kind, uint32_t id, bool files_follow)
{
	struct snapshot *snap = b->snap;
	uint64_t ino = child_ino(b, parent, name);
	uint32_t i;
	struct node *n;

	if (find_ino(snap, ino, b->tags) != SNAPSHOT_NONE) {
		log_taken(snap, parent, name);
		return SNAPSHOT_NONE;
	}
	if (name_at == SNAPSHOT_NONE)
		name_at = snapshot_name_for(b, parent, name);
	if (!room_for_record(b))
		return SNAPSHOT_NONE;
	i = (uint32_t)b->pool->n_nodes++;
	n = &snap->nodes[i];
	memset(n, 0, sizeof(*n));
	n->name = name_at;
	n->id = id;
	n->parent = parent;
	n->kind = (uint8_t)kind;
	n->collection = snap->nodes[parent].collection;
	if (kind != NODE_DIR)
		atomic_init(&n->size, -1);
	else if (files_follow)
		*n = (struct node){ .name = name_at, .id = id, .parent = parent, .kind = NODE_DIR,
				    .collection = n->collection, .files_follow = 1,
				    .first_child = i + 1 };
	else
		n->first_child = b->pool->n_dirs++;
	if (snap->nodes[parent].files_follow)
		snap->nodes[parent].n_children++;
	take_node(b, i, ino);
	snap->n_new++;
	return i;
}

uint32_t snapshot_add_node(struct builder *b, uint32_t parent, const char *name, uint32_t name_at,
			   enum node_kind kind, uint32_t id)
{
	return add_record(b, parent, name, name_at, kind, id, false);
}

uint32_t snapshot_add_files_dir(struct builder *b, uint32_t parent, const char *name,
				uint32_t name_at, uint32_t id)
{
	return add_record(b, parent, name, name_at, NODE_DIR, id, true);
}

bool snapshot_name_taken(struct builder *b, uint32_t parent, const char *name)
{
	return find_ino(b->snap, child_ino(b, parent, name), b->tags) != SNAPSHOT_NONE;
}

/* The directory called name under parent: this build's, the base's, or
 * made. */
uint32_t snapshot_dir_child(struct builder *b, uint32_t parent, const char *name)
{
	uint64_t ino = child_ino(b, parent, name);
	uint32_t i = find_ino(b->snap, ino, b->tags);
	const struct node *n = i != SNAPSHOT_NONE ? &b->snap->nodes[i] : NULL;

	if (n && n->kind == NODE_DIR && !n->files_follow && n->parent == parent)
		return i;
	if (!n && (i = base_record(b, parent, ino, name, NODE_DIR)) != SNAPSHOT_NONE &&
	    !b->snap->nodes[i].files_follow) {
		take_node(b, i, ino);
		return i;
	}
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
 * their parent in the pool (a record taken from the base has its parent
 * taken too, and what a build adds comes after all it takes), so one
 * walk from the end sees a directory after all of it. A directory whose
 * files follow it and that the base has is dated already. */
void snapshot_date_directories(struct builder *b)
{
	struct snapshot *snap = b->snap;

	for (size_t k = 0; k < snap->n_dirs; k++)
		snap->dirs[k].mtime = 0;
	for (uint32_t i = snapshot_next_node(b, b->first_new); i != SNAPSHOT_NONE;
	     i = snapshot_next_node(b, i + 1))
		if (snap->nodes[i].files_follow)
			snap->nodes[i].mtime = 0;
	for (uint32_t i = previous_node(b, (uint32_t)b->pool->n_nodes - 1); i != SNAPSHOT_NONE && i > 0;
	     i = previous_node(b, i - 1)) {
		const struct node *n = &snap->nodes[i];
		struct node *p = &snap->nodes[n->parent];
		int64_t mtime = snapshot_mtime(snap, n);

		if (!p->files_follow) {
			if (mtime > snapshot_dir_of(snap, p)->mtime)
				snapshot_dir_of(snap, p)->mtime = mtime;
		} else if (n->parent >= b->first_new && mtime > p->mtime) {
			p->mtime = mtime;
		}
	}
}

/* Counts each directory's children, gives it its slice of children[]
 * (n_children counting again as the slice fills), and sorts the slices.
 * A directory whose files follow it has them counted and in order. */
void snapshot_lay_out(struct builder *b)
{
	struct snapshot *snap = b->snap;
	uint32_t at = 0;

	snap->n_dirs = b->pool->n_dirs;
	snap->dirs = xcalloc(snap->n_dirs ? snap->n_dirs : 1, sizeof(*snap->dirs));
	for (uint32_t i = snapshot_next_node(b, 1); i != SNAPSHOT_NONE;
	     i = snapshot_next_node(b, i + 1)) {
		const struct node *p = &snap->nodes[snap->nodes[i].parent];

		if (p->files_follow)
			continue;
		snapshot_dir_of(snap, p)->n_children++;
		if (snap->nodes[i].kind == NODE_DIR)
			snapshot_dir_of(snap, p)->n_subdirs++;
	}
	for (size_t k = 0; k < snap->n_dirs; k++) {
		snap->dirs[k].first_child = at;
		at += snap->dirs[k].n_children;
		snap->dirs[k].n_children = 0;
	}
	snap->children = xcalloc(at ? at : 1, sizeof(*snap->children));
	snap->n_slots = at;
	for (uint32_t i = snapshot_next_node(b, 1); i != SNAPSHOT_NONE;
	     i = snapshot_next_node(b, i + 1)) {
		const struct node *p = &snap->nodes[snap->nodes[i].parent];
		struct snapshot_dir *d;

		if (p->files_follow)
			continue;
		d = snapshot_dir_of(snap, p);
		snap->children[d->first_child + d->n_children++] = i;
	}
	for (size_t k = 0; k < snap->n_dirs; k++)
		if (snap->dirs[k].n_children > 1)
			qsort_r(snap->children + snap->dirs[k].first_child, snap->dirs[k].n_children,
				sizeof(uint32_t), compare_names, snap);
	snapshot_date_directories(b);
}

void snapshot_begin(struct builder *b)
{
	struct snapshot *snap = b->snap;
	struct snapshot_pool *pool = b->base ? b->base->pool : NULL;

	if (pool) {
		atomic_fetch_add(&pool->refs, 1);
	} else {
		pool = xcalloc(1, sizeof(*pool));
		atomic_init(&pool->refs, 1);
	}
	snap->pool = b->pool = pool;
	b->fixed_name = pool->fixed_name;
	snap->nodes = pool->nodes;
	snap->arena = pool->arena;
	b->first_new = (uint32_t)pool->n_nodes;
	builder_room(b, pool->cap_nodes ? pool->cap_nodes : 1024);
	if (b->base) {
		take_node(b, 0, SNAPSHOT_ROOT_INO);
		return;
	}
	pool->ino_cap = 2048;
	pool->by_ino = map_resize(NULL, 0, pool->ino_cap * sizeof(*pool->by_ino));
	arena_append(b, &(uint64_t){ 0 }, sizeof(uint64_t));
	room_for_record(b);
	pool->nodes[0] = (struct node){ .name = snapshot_arena_add(b, ""), .id = SNAPSHOT_NONE,
					.kind = NODE_DIR, .collection = -1,
					.first_child = pool->n_dirs++ };
	pool->n_nodes = 1;
	take_node(b, 0, SNAPSHOT_ROOT_INO);
	snap->n_new = 1;
}

void snapshot_fix(struct builder *b, uint32_t i)
{
	if (i != SNAPSHOT_NONE && b->n_fixed < sizeof(b->fixed) / sizeof(b->fixed[0]))
		b->fixed[b->n_fixed++] = i;
}

/* The views' files go in an index of their own until they are weighed:
 * one that takes a base's record instead never enters the pool's, whose
 * slots cannot be emptied while readers probe it. */
void snapshot_start_tail(struct builder *b)
{
	b->tail = (uint32_t)b->pool->n_nodes;
	b->snap->tail_cap = 1024;
	b->snap->tail_by_ino = map_resize(NULL, 0, b->snap->tail_cap * sizeof(*b->snap->tail_by_ino));
}

static void forget_tail_index(struct snapshot *snap)
{
	map_free(snap->tail_by_ino, snap->tail_cap * sizeof(*snap->tail_by_ino));
	snap->tail_by_ino = NULL;
	snap->tail_cap = 0;
}

void snapshot_forget_tags(struct builder *b)
{
	map_free(b->tags, b->cap_records);
	b->tags = NULL;
}

/*
 * Weighs the views' files this build added from record b->tail on: one
 * that is what the base has at its path takes the base's record instead
 * (a vault file of a day nothing changed in), and the ones that stay move
 * down over those that went, so that a refresh leaves nothing of them
 * behind; then they go in the pool's index. They are files in
 * directories without files following, added last: moving one changes
 * its index in its directory's slice, nothing else.
 */
static bool same_file(const struct snapshot *snap, const struct node *a, const struct node *b)
{
	int64_t size = snapshot_size(a);

	return a->kind == b->kind && a->parent == b->parent && a->id == b->id &&
	       a->collection == b->collection && a->digest == b->digest &&
	       snapshot_mtime(snap, a) == snapshot_mtime(snap, b) &&
	       (size < 0 || size == snapshot_size(b)) &&
	       strcmp(snap->arena + a->name, snap->arena + b->name) == 0;
}

/* Puts record to where record from is, in its directory's slice. */
static void renumber(struct builder *b, uint32_t from, uint32_t to)
{
	struct snapshot *snap = b->snap;
	struct snapshot_dir *d = snapshot_dir_of(snap, &snap->nodes[snap->nodes[from].parent]);

	for (uint32_t k = 0; k < d->n_children; k++)
		if (snap->children[d->first_child + k] == from)
			snap->children[d->first_child + k] = to;
	set_member(b, from, false);
	set_member(b, to, true);
}

void snapshot_share_tail(struct builder *b)
{
	struct snapshot *snap = b->snap;
	struct snapshot_pool *pool = b->pool;
	uint32_t to = b->tail;

	for (uint32_t i = b->tail; i < pool->n_nodes; i++) {
		uint64_t ino = ino_at(snap, i);
		uint32_t was = b->base ? find_ino(b->base, ino, NULL) : SNAPSHOT_NONE;

		if (was != SNAPSHOT_NONE && same_file(snap, &snap->nodes[i], &snap->nodes[was])) {
			renumber(b, i, was);
			snap->n_new--;
			continue;
		}
		if (i != to) {
			memcpy(&snap->nodes[to], &snap->nodes[i], sizeof(snap->nodes[i]));
			renumber(b, i, to);
		}
		to++;
	}
	memset(&snap->nodes[to], 0, (pool->n_nodes - to) * sizeof(*snap->nodes));
	pool->n_nodes = to;
	forget_tail_index(snap);
	for (uint32_t i = b->tail; i < to; i++)
		pool_index_add(b, i, ino_at(snap, i));
}

/* Once built: a new pool is left room to grow into, and stays put from
 * now on. Its index is left room for an eighth more records than it
 * has: what pool_worth_sharing lets builds leave behind, and a
 * growing account's new ones. */
void snapshot_settle(struct builder *b)
{
	struct snapshot_pool *pool = b->pool;
	size_t nodes = pool->n_nodes + pool->n_nodes / 4 + 4096;
	size_t arena = pool->arena_len + pool->arena_len / 4 + 65536;
	size_t indexed = pool->n_nodes + pool->n_nodes / 8 + 4096;

	if (!pool->settled) {
		if (indexed * 4 > pool->ino_cap * 3)
			pool->indexed = index_remake(b, &pool->by_ino, &pool->ino_cap,
						     indexed * 4 / 3 + 1, 0,
						     (uint32_t)pool->n_nodes);
		if (pool->cap_nodes < nodes) {
			pool->nodes = map_resize(pool->nodes, pool->cap_nodes * sizeof(*pool->nodes),
						 nodes * sizeof(*pool->nodes));
			pool->cap_nodes = nodes;
		}
		if (pool->arena_cap < arena) {
			pool->arena = map_resize(pool->arena, pool->arena_cap, arena);
			pool->arena_cap = arena;
		}
		b->snap->nodes = pool->nodes;
		b->snap->arena = pool->arena;
		pool->arena_settled = pool->arena_len;
		pool->settled = true;
	}
	atomic_store(&pool->bytes, pool->n_nodes * sizeof(*pool->nodes) + pool->arena_len +
				   pool->ino_cap * sizeof(*pool->by_ino));
}

/* The members bitmap is the snapshot's. */
void snapshot_builder_free(struct builder *b)
{
	snapshot_forget_tags(b);
	b->members = NULL;
}

bool snapshot_may_share(const struct snapshot *base)
{
	return base && base->pool->settled && pool_worth_sharing(base);
}

size_t snapshot_bytes(const struct snapshot *snap)
{
	size_t bytes = sizeof(*snap) + snap->n_slots * sizeof(*snap->children) +
		       snap->n_dirs * sizeof(*snap->dirs) +
		       bitmap_bytes(snap->member_cap) +
		       snap->n_notes * sizeof(*snap->notes_by_id);
	int refs = atomic_load(&snap->pool->refs);

	for (int k = 0; k < STORE_KINDS; k++)
		bytes += snap->n_lines[k] * sizeof(*snap->lines[k]) +
			 (snap->n_lines[k] / SNAPSHOT_LINES_STEP + 1) * sizeof(*snap->line_marks[k]);
	return bytes + atomic_load(&snap->pool->bytes) / (size_t)(refs > 0 ? refs : 1);
}

void snapshot_free(struct snapshot *snap)
{
	if (!snap)
		return;
	free(snap->children);
	free(snap->dirs);
	map_free(snap->members, bitmap_bytes(snap->member_cap));
	forget_tail_index(snap);
	for (int k = 0; k < STORE_KINDS; k++) {
		free(snap->lines[k]);
		free(snap->line_marks[k]);
	}
	free(snap->notes_by_id);
	pool_release(snap->pool);
	free(snap);
}

struct node *snapshot_child_at(const struct snapshot *snap, const struct node *dir, size_t i)
{
	if (dir->files_follow)
		return &snap->nodes[dir->first_child + i];
	return &snap->nodes[snap->children[snapshot_dir_of(snap, dir)->first_child + i]];
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
	char room[SNAPSHOT_NAME_ROOM];
	const struct snapshot_dir *d;

	/* A conversation's five files at most: looked at in turn. */
	for (size_t i = 0; dir->files_follow && i < dir->n_children; i++) {
		struct node *n = &snap->nodes[dir->first_child + i];

		if (strcmp(snapshot_name(snap, n, room), name) == 0)
			return n;
	}
	if (dir->files_follow)
		return NULL;
	d = snapshot_dir_of(snap, dir);
	return snapshot_find(snap, snap->children + d->first_child, d->n_children, name, false);
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
	if (was && was == is && was->files_follow)
		return;
	diff_children(d, was && was->kind == NODE_DIR ? was : NULL,
		      is && is->kind == NODE_DIR ? is : NULL, hash, ino);
}

/* Merges the children of was and is (NULL: a directory with none), both
 * sorted by name. */
static void diff_children(const struct diff *d, const struct node *was, struct node *is,
			  uint64_t dir_hash, uint64_t dir_ino)
{
	char room_was[SNAPSHOT_NAME_ROOM], room_is[SNAPSHOT_NAME_ROOM];
	size_t i = 0, j = 0, n_was = was ? snapshot_n_children(d->old, was) : 0;
	size_t n_is = is ? snapshot_n_children(d->now, is) : 0;

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
