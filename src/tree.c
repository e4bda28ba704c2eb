/*
 * tree: snapshots of the whole tree, built from the store.
 *
 * A snapshot holds the parsed objects of the three listings and one node
 * per path, indexed by path. It is immutable once built, except for the
 * sizes of transcript.txt and conversation.json, learnt on first use
 * (size_lock). Each call takes a reference to the current snapshot;
 * when the store's generation moves on, the next call builds a new one
 * and the old one goes away with its last reader.
 */
#include "tree.h"

#include "hash.h"
#include "jsontext.h"
#include "log.h"
#include "model.h"
#include "render.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME_MAX_BYTES 255

enum node_kind {
	NODE_DIR,
	NODE_MEMORY,		/* memories/<category>/<id>.txt */
	NODE_ACTION_ITEM,	/* action-items/{open,done}/<id>.txt */
	NODE_SUMMARY,		/* conversations/<day>/<id>/summary.md */
	NODE_CONV_ACTION_ITEMS,	/* .../action-items.md */
	NODE_EVENTS,		/* .../events.md */
	NODE_TRANSCRIPT,	/* .../transcript.txt: needs the transcript */
	NODE_CONV_JSON,		/* .../conversation.json: needs the transcript */
	NODE_STATUS,		/* .omifs/status */
};

struct node {
	enum node_kind kind;
	char *path;
	const char *name;	/* the last component, inside path */
	uint64_t ino;
	time_t mtime;
	off_t size;		/* -1 until known (transcript files) */
	uint64_t digest;	/* of the content, or of the object it comes from */
	void *object;		/* struct memory, action_item, conversation; for
				 * the status file, the snapshot's odd_items */
	struct node *parent;
	struct node **children;
	size_t n_children, cap_children;
	size_t n_subdirs;
};

/* Items that had fields omifs could not read as documented (model.h's
 * odd_fields), for .omifs/status: how many, and the first few ids. */
#define ODD_SAMPLE 3
#define ODD_ID_BYTES 40		/* of an id shown; longer ones are cut */

struct odd_items {
	size_t count;
	char sample[ODD_SAMPLE][ODD_ID_BYTES + sizeof("...")];
};

struct snapshot {
	int refs;		/* guarded by tree.lock */
	uint64_t generation;
	int kind_error[STORE_KINDS]; /* 0 when the kind was listed */
	struct hash *by_path;
	struct node **nodes;	/* every node, for freeing */
	size_t n_nodes, cap_nodes;
	struct node *root;
	struct memory *memories;
	size_t n_memories;
	struct action_item *action_items;
	size_t n_action_items;
	struct conversation *conversations;
	uint64_t *conversation_digests;	/* of each conversation's listing JSON */
	size_t n_conversations;
	struct odd_items odd[STORE_KINDS];
	pthread_mutex_t size_lock;
};

struct tree {
	struct sync *sync;
	struct store *store;
	uid_t uid;
	gid_t gid;
	pthread_mutex_t lock;		/* current, refs */
	pthread_mutex_t build_lock;	/* one build at a time */
	struct snapshot *current;
};

static const char *const kind_dir[STORE_KINDS] = {
	[STORE_MEMORIES] = "memories",
	[STORE_ACTION_ITEMS] = "action-items",
	[STORE_CONVERSATIONS] = "conversations",
};

/* Whether byte c of an id is percent-encoded in its name. */
static bool escaped(unsigned char c)
{
	return c == '/' || c == '%' || c < 0x20 || c == 0x7f;
}

/* Appends the percent-encoding of raw's first n bytes. */
static void put_encoded(struct buf *out, const unsigned char *raw, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		if (escaped(raw[i])) {
			buf_putc(out, '%');
			buf_putc(out, hex[raw[i] >> 4]);
			buf_putc(out, hex[raw[i] & 15]);
		} else {
			buf_putc(out, (char)raw[i]);
		}
	}
}

/* How many bytes of raw to keep in front of the hash of a long name: the
 * most whose encoding fits in `room`, ending before a UTF-8 lead or ASCII
 * byte so that no character is cut. */
static size_t kept_bytes(const unsigned char *raw, size_t room)
{
	size_t used = 0, keep = 0;

	for (size_t i = 0; raw[i]; i++) {
		if ((raw[i] & 0xC0) != 0x80)
			keep = i;
		used += escaped(raw[i]) ? 3 : 1;
		if (used > room)
			return keep;
	}
	return strlen((const char *)raw);
}

int tree_safe_name(const char *raw, const char *suffix, struct buf *out)
{
	const unsigned char *id = (const unsigned char *)raw;
	size_t start = out->len, slen = strlen(suffix), room;

	if (!raw || !*raw || slen + TREE_NAME_HASH_BYTES > NAME_MAX_BYTES)
		return -1;
	if (strcmp(raw, ".") == 0 || strcmp(raw, "..") == 0) {
		for (const char *p = raw; *p; p++)
			buf_puts(out, "%2E");
	} else {
		put_encoded(out, id, strlen(raw));
	}
	if (out->len - start + slen > NAME_MAX_BYTES) {
		out->len = start;
		room = NAME_MAX_BYTES - slen - TREE_NAME_HASH_BYTES;
		put_encoded(out, id, kept_bytes(id, room));
		buf_printf(out, "~%016" PRIx64, hash_bytes(raw, strlen(raw)));
	}
	buf_puts(out, suffix);
	return 0;
}

void tree_local_day(time_t t, char out[16])
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(out, 16, "%Y-%m-%d", &tm);
}

/* ---- building a snapshot ---- */

static struct node *add_node(struct snapshot *snap, struct node *parent, const char *name,
			     enum node_kind kind, void *object)
{
	struct node *n = xcalloc(1, sizeof(*n));
	struct buf path = BUF_INIT;

	if (parent) {
		buf_puts(&path, parent->path[1] ? parent->path : "");
		buf_putc(&path, '/');
		buf_puts(&path, name);
	} else {
		buf_puts(&path, "/");
	}
	n->path = buf_steal(&path);
	if (hash_add(snap->by_path, n->path, n) != n) {
		log_warn("skipping %s: the name is taken (duplicate id?)", n->path);
		free(n->path);
		free(n);
		return NULL;
	}
	n->name = parent ? strrchr(n->path, '/') + 1 : n->path;
	n->kind = kind;
	n->object = object;
	n->parent = parent;
	n->size = -1;
	/* Inode numbers from the path: stable, and 1 is the root's. */
	n->ino = parent ? hash_bytes(n->path, strlen(n->path)) | 2 : 1;
	if (snap->n_nodes == snap->cap_nodes) {
		snap->cap_nodes = snap->cap_nodes ? snap->cap_nodes * 2 : 1024;
		snap->nodes = xrealloc(snap->nodes, snap->cap_nodes * sizeof(*snap->nodes));
	}
	snap->nodes[snap->n_nodes++] = n;
	if (parent) {
		if (parent->n_children == parent->cap_children) {
			parent->cap_children = parent->cap_children ? parent->cap_children * 2 : 8;
			parent->children = xrealloc(parent->children,
						    parent->cap_children * sizeof(*parent->children));
		}
		parent->children[parent->n_children++] = n;
		if (kind == NODE_DIR)
			parent->n_subdirs++;
	}
	return n;
}

/* The child directory `name` of parent, made if missing. */
static struct node *dir_child(struct snapshot *snap, struct node *parent, const char *name)
{
	struct buf path = BUF_INIT;
	struct node *n;

	buf_printf(&path, "%s/%s", parent->path[1] ? parent->path : "", name);
	n = hash_get(snap->by_path, path.data);
	buf_free(&path);
	return n ? n : add_node(snap, parent, name, NODE_DIR, NULL);
}

/* A file whose size is known now: render it once to learn it. */
static void add_file(struct snapshot *snap, struct node *dir, const char *name,
		     enum node_kind kind, void *object, time_t mtime, struct buf *scratch,
		     void (*render)(const void *, struct buf *))
{
	struct node *n = add_node(snap, dir, name, kind, object);

	if (!n)
		return;
	n->mtime = mtime;
	if (render) {
		buf_reset(scratch);
		render(object, scratch);
		n->size = (off_t)scratch->len;
		n->digest = hash_bytes(scratch->data, scratch->len);
	}
}

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

static void render_memory_any(const void *o, struct buf *out) { render_memory(o, out); }
static void render_action_item_any(const void *o, struct buf *out) { render_action_item(o, out); }
static void render_summary_any(const void *o, struct buf *out) { render_summary(o, out); }
static void render_events_any(const void *o, struct buf *out) { render_events(o, out); }
static void render_conv_items_any(const void *o, struct buf *out)
{
	render_conversation_action_items(o, out);
}

/* Parsed objects of one kind, collected from the store. */
struct parsed {
	void *items;
	uint64_t *digests;	/* of each item's JSON */
	size_t n, cap, size;
	int (*parse)(json_object *, void *);
};

static int parse_into(const char *id, const char *json, void *ctx)
{
	struct parsed *p = ctx;
	json_object *obj = json_text_parse(json, strlen(json));

	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 256;
		p->items = xrealloc(p->items, p->cap * p->size);
		p->digests = xrealloc(p->digests, p->cap * sizeof(*p->digests));
	}
	if (obj && p->parse(obj, (char *)p->items + p->n * p->size) == 0)
		p->digests[p->n++] = hash_bytes(json, strlen(json));
	else
		log_warn("skipping unreadable cached item %s", id);
	json_object_put(obj);
	return 0;
}

static int parse_memory_any(json_object *o, void *out) { return model_parse_memory(o, out); }
static int parse_action_item_any(json_object *o, void *out) { return model_parse_action_item(o, out); }
static int parse_conversation_any(json_object *o, void *out) { return model_parse_conversation(o, out); }

/* Parses every item of kind; *digests (may be NULL) gets their JSON's. */
static void *load_kind(struct store *store, enum store_kind kind, size_t size,
		       int (*parse)(json_object *, void *), size_t *n, uint64_t **digests)
{
	struct parsed p = { .size = size, .parse = parse };

	store_foreach(store, kind, parse_into, &p);
	*n = p.n;
	if (digests)
		*digests = p.digests;
	else
		free(p.digests);
	return p.items;
}

/* A memory's mtime: its own timestamps, which the documented API does not
 * send, else when the cache first saw it, which never changes. */
static void build_memories(struct snapshot *snap, struct store *store, struct node *top,
			   struct buf *scratch)
{
	struct buf name = BUF_INIT;
	time_t mtime;

	for (size_t i = 0; i < snap->n_memories; i++) {
		struct memory *m = &snap->memories[i];
		struct node *dir;

		buf_reset(&name);
		if (tree_safe_name(m->category ? m->category : "uncategorized", "", &name) < 0) {
			log_warn("memory %s: unusable category, filed as uncategorized", m->id);
			buf_puts(&name, "uncategorized");
		}
		dir = dir_child(snap, top, name.data);
		buf_reset(&name);
		if (!dir || tree_safe_name(m->id, ".txt", &name) < 0) {
			log_warn("skipping a memory whose id cannot be a file name");
			continue;
		}
		mtime = first_valid(&m->updated_at, &m->created_at, NULL);
		if (mtime == 0)
			mtime = store_first_seen(store, STORE_MEMORIES, m->id);
		add_file(snap, dir, name.data, NODE_MEMORY, m, mtime, scratch, render_memory_any);
	}
	buf_free(&name);
}

static void build_action_items(struct snapshot *snap, struct node *top, struct buf *scratch)
{
	struct node *open = dir_child(snap, top, "open"), *done = dir_child(snap, top, "done");
	struct buf name = BUF_INIT;

	for (size_t i = 0; i < snap->n_action_items; i++) {
		struct action_item *a = &snap->action_items[i];

		buf_reset(&name);
		if (tree_safe_name(a->id, ".txt", &name) < 0) {
			log_warn("skipping an action item whose id cannot be a file name");
			continue;
		}
		add_file(snap, a->completed ? done : open, name.data, NODE_ACTION_ITEM, a,
			 first_valid(&a->updated_at, &a->completed_at, &a->created_at), scratch,
			 render_action_item_any);
	}
	buf_free(&name);
}

static void build_conversations(struct snapshot *snap, struct node *top, struct buf *scratch)
{
	struct buf name = BUF_INIT;

	for (size_t i = 0; i < snap->n_conversations; i++) {
		struct conversation *c = &snap->conversations[i];
		struct node *day, *dir;
		char date[16] = "undated";
		time_t mtime = first_valid(&c->finished_at, &c->started_at, &c->created_at);

		if (c->created_at.valid)
			tree_local_day(c->created_at.when, date);
		else
			log_warn("conversation %s has no usable created_at: filed under undated",
				 c->id);
		day = dir_child(snap, top, date);
		buf_reset(&name);
		if (!day || tree_safe_name(c->id, "", &name) < 0) {
			log_warn("skipping a conversation whose id cannot be a file name");
			continue;
		}
		dir = add_node(snap, day, name.data, NODE_DIR, c);
		if (!dir)
			continue;
		add_file(snap, dir, "summary.md", NODE_SUMMARY, c, mtime, scratch,
			 render_summary_any);
		add_file(snap, dir, "action-items.md", NODE_CONV_ACTION_ITEMS, c, mtime, scratch,
			 render_conv_items_any);
		if (c->n_events > 0)
			add_file(snap, dir, "events.md", NODE_EVENTS, c, mtime, scratch,
				 render_events_any);
		/* Their content is unknown until fetched; it changes when the
		 * conversation's listing entry does. */
		add_file(snap, dir, "transcript.txt", NODE_TRANSCRIPT, c, mtime, scratch, NULL);
		add_file(snap, dir, "conversation.json", NODE_CONV_JSON, c, mtime, scratch, NULL);
		for (size_t k = 0; k < dir->n_children; k++)
			if (dir->children[k]->kind == NODE_TRANSCRIPT ||
			    dir->children[k]->kind == NODE_CONV_JSON)
				dir->children[k]->digest = snap->conversation_digests[i];
	}
	buf_free(&name);
}

static int compare_names(const void *a, const void *b)
{
	return strcmp((*(struct node *const *)a)->name, (*(struct node *const *)b)->name);
}

/* Sorts every directory and gives it the newest mtime found inside. */
static time_t finish_dir(struct node *n)
{
	if (n->kind != NODE_DIR)
		return n->mtime;
	if (n->n_children > 1)
		qsort(n->children, n->n_children, sizeof(*n->children), compare_names);
	for (size_t i = 0; i < n->n_children; i++) {
		time_t t = finish_dir(n->children[i]);

		if (t > n->mtime)
			n->mtime = t;
	}
	return n->mtime;
}

/* Copies id into out for one line of text: control bytes become '?', and
 * an id longer than ODD_ID_BYTES is cut before a UTF-8 character and
 * ends with "...". */
static void one_line_id(const char *id, char *out)
{
	size_t n = strlen(id), keep = n;

	if (n > ODD_ID_BYTES) {
		keep = ODD_ID_BYTES;
		while (keep > 0 && ((unsigned char)id[keep] & 0xC0) == 0x80)
			keep--;
	}
	for (size_t i = 0; i < keep; i++)
		out[i] = (unsigned char)id[i] < 0x20 || id[i] == 0x7f ? '?' : id[i];
	strcpy(out + keep, keep < n ? "..." : "");
}

static void note_odd(struct odd_items *odd, const char *id, unsigned odd_fields)
{
	if (odd_fields == 0)
		return;
	if (odd->count < ODD_SAMPLE)
		one_line_id(id, odd->sample[odd->count]);
	odd->count++;
}

static void count_odd(struct snapshot *snap)
{
	for (size_t i = 0; i < snap->n_memories; i++)
		note_odd(&snap->odd[STORE_MEMORIES], snap->memories[i].id,
			 snap->memories[i].odd_fields);
	for (size_t i = 0; i < snap->n_action_items; i++)
		note_odd(&snap->odd[STORE_ACTION_ITEMS], snap->action_items[i].id,
			 snap->action_items[i].odd_fields);
	for (size_t i = 0; i < snap->n_conversations; i++)
		note_odd(&snap->odd[STORE_CONVERSATIONS], snap->conversations[i].id,
			 snap->conversations[i].odd_fields);
}

/* The "odd fields" line of .omifs/status, from the snapshot's counts. */
static void describe_odd(const struct odd_items odd[STORE_KINDS], struct buf *out)
{
	buf_printf(out, "\n%-14s ", "odd fields");
	for (int k = 0; k < STORE_KINDS; k++) {
		size_t shown = odd[k].count < ODD_SAMPLE ? odd[k].count : ODD_SAMPLE;

		buf_printf(out, "%s%s: %zu", k ? "; " : "", kind_dir[k], odd[k].count);
		if (odd[k].count == 0)
			continue;
		buf_puts(out, odd[k].count == 1 ? " item (" : " items (");
		for (size_t i = 0; i < shown; i++)
			buf_printf(out, "%s%s", i ? ", " : "", odd[k].sample[i]);
		buf_puts(out, odd[k].count > shown ? ", ...)" : ")");
	}
	buf_putc(out, '\n');
}

static struct snapshot *build_snapshot(struct tree *t, uint64_t generation)
{
	struct snapshot *snap = xcalloc(1, sizeof(*snap));
	struct node *top[STORE_KINDS], *meta;
	struct buf scratch = BUF_INIT;

	snap->generation = generation;
	snap->by_path = hash_new();
	pthread_mutex_init(&snap->size_lock, NULL);
	for (int k = 0; k < STORE_KINDS; k++)
		snap->kind_error[k] = sync_kind_error(t->sync, k);
	snap->memories = load_kind(t->store, STORE_MEMORIES, sizeof(struct memory),
				   parse_memory_any, &snap->n_memories, NULL);
	snap->action_items = load_kind(t->store, STORE_ACTION_ITEMS, sizeof(struct action_item),
				       parse_action_item_any, &snap->n_action_items, NULL);
	snap->conversations = load_kind(t->store, STORE_CONVERSATIONS,
					sizeof(struct conversation), parse_conversation_any,
					&snap->n_conversations, &snap->conversation_digests);
	count_odd(snap);
	snap->root = add_node(snap, NULL, "", NODE_DIR, NULL);
	for (int k = 0; k < STORE_KINDS; k++)
		top[k] = add_node(snap, snap->root, kind_dir[k], NODE_DIR, NULL);
	build_memories(snap, t->store, top[STORE_MEMORIES], &scratch);
	build_action_items(snap, top[STORE_ACTION_ITEMS], &scratch);
	build_conversations(snap, top[STORE_CONVERSATIONS], &scratch);
	finish_dir(snap->root);
	/* The root and the collections' directories are stat'ed before
	 * anything is listed (see kind_needed): a stable mtime, not the newest
	 * item's, keeps a second rsync from touching them. */
	snap->root->mtime = store_created_at(t->store);
	for (int k = 0; k < STORE_KINDS; k++)
		top[k]->mtime = snap->root->mtime;
	meta = add_node(snap, snap->root, ".omifs", NODE_DIR, NULL);
	add_file(snap, meta, "status", NODE_STATUS, snap->odd, 0, &scratch, NULL);
	meta->mtime = snap->root->mtime;
	meta->children[0]->mtime = snap->root->mtime;
	qsort(snap->root->children, snap->root->n_children, sizeof(struct node *), compare_names);
	buf_free(&scratch);
	snap->refs = 1;
	return snap;
}

static void free_snapshot(struct snapshot *snap)
{
	for (size_t i = 0; i < snap->n_nodes; i++) {
		free(snap->nodes[i]->path);
		free(snap->nodes[i]->children);
		free(snap->nodes[i]);
	}
	free(snap->nodes);
	hash_free(snap->by_path);
	for (size_t i = 0; i < snap->n_memories; i++)
		model_free_memory(&snap->memories[i]);
	free(snap->memories);
	for (size_t i = 0; i < snap->n_action_items; i++)
		model_free_action_item(&snap->action_items[i]);
	free(snap->action_items);
	for (size_t i = 0; i < snap->n_conversations; i++)
		model_free_conversation(&snap->conversations[i]);
	free(snap->conversations);
	free(snap->conversation_digests);
	pthread_mutex_destroy(&snap->size_lock);
	free(snap);
}

/* ---- using snapshots ---- */

struct tree *tree_new(struct sync *sync, struct store *store)
{
	struct tree *t = xcalloc(1, sizeof(*t));

	t->sync = sync;
	t->store = store;
	t->uid = getuid();
	t->gid = getgid();
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->build_lock, NULL);
	return t;
}

static void release(struct tree *t, struct snapshot *snap)
{
	bool last;

	pthread_mutex_lock(&t->lock);
	last = --snap->refs == 0;
	pthread_mutex_unlock(&t->lock);
	if (last)
		free_snapshot(snap);
}

void tree_free(struct tree *t)
{
	if (!t)
		return;
	if (t->current)
		release(t, t->current);
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->build_lock);
	free(t);
}

/* Whether snap still shows what the store and sync know. t->lock held. */
static bool is_current(struct tree *t, const struct snapshot *snap, uint64_t generation)
{
	if (snap->generation != generation)
		return false;
	for (int k = 0; k < STORE_KINDS; k++)
		if (snap->kind_error[k] != sync_kind_error(t->sync, k))
			return false;
	return true;
}

/* The collection a path lies in, or -1 (the root, .omifs). */
static int path_kind(const char *path)
{
	for (int k = 0; k < STORE_KINDS; k++) {
		size_t len = strlen(kind_dir[k]);

		if (strncmp(path + 1, kind_dir[k], len) == 0 &&
		    (path[len + 1] == '/' || path[len + 1] == '\0'))
			return k;
	}
	return -1;
}

/* Whether reaching path (or listing it, when it is a directory being
 * listed) needs its collection's listing. The root and the collections'
 * own directories do not: the kernel serialises look-ups in a directory
 * (libfuse 3.14 cannot ask for parallel ones), so a first listing held
 * up by a slow server would hold up .omifs/status beside them. */
static int kind_needed(const char *path, bool listing)
{
	int kind = path ? path_kind(path) : -1;

	if (kind >= 0 && !listing && !strchr(path + 1, '/'))
		return -1;
	return kind;
}

/* Returns a reference to the current snapshot, first listing the
 * collection that path needs (kind_needed) if it never was. */
static struct snapshot *acquire(struct tree *t, const char *path, bool listing)
{
	struct snapshot *snap;
	uint64_t generation;
	int kind = kind_needed(path, listing);

	if (kind >= 0)
		sync_ensure_listed(t->sync, kind);
	generation = store_generation(t->store);
	pthread_mutex_lock(&t->lock);
	snap = t->current;
	if (snap && is_current(t, snap, generation)) {
		snap->refs++;
		pthread_mutex_unlock(&t->lock);
		return snap;
	}
	pthread_mutex_unlock(&t->lock);

	pthread_mutex_lock(&t->build_lock);
	pthread_mutex_lock(&t->lock);
	snap = t->current;
	if (snap && is_current(t, snap, generation)) {
		snap->refs++;
		pthread_mutex_unlock(&t->lock);
		pthread_mutex_unlock(&t->build_lock);
		return snap;
	}
	pthread_mutex_unlock(&t->lock);
	snap = build_snapshot(t, generation);
	pthread_mutex_lock(&t->lock);
	if (t->current && --t->current->refs == 0)
		free_snapshot(t->current);
	t->current = snap;
	snap->refs++;
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_unlock(&t->build_lock);
	return snap;
}

/* Finds path's node. Below a collection that could not be listed nothing
 * exists, and the error says why (open/ and done/ would otherwise show
 * empty). */
static struct node *lookup(const struct snapshot *snap, const char *path, int *error)
{
	int kind = path_kind(path);
	struct node *n;

	if (kind >= 0 && strchr(path + 1, '/') && snap->kind_error[kind]) {
		*error = snap->kind_error[kind];
		return NULL;
	}
	n = hash_get(snap->by_path, path);
	*error = n ? 0 : -ENOENT;
	return n;
}

/* A collection's top directory can be looked up but not listed while the
 * collection has never been listed. */
static int listing_error(const struct snapshot *snap, const struct node *dir)
{
	if (dir->parent != snap->root)
		return 0;
	for (int k = 0; k < STORE_KINDS; k++)
		if (strcmp(dir->name, kind_dir[k]) == 0)
			return snap->kind_error[k];
	return 0;
}

/* The conversation's full JSON, fetched if need be. Caller frees. */
static int full_conversation(struct tree *t, const struct conversation *c, char **json)
{
	int rc = sync_fetch_transcript(t->sync, c->id);

	if (rc < 0)
		return rc;
	*json = store_get_full_conversation(t->store, c->id);
	return *json ? 0 : -EIO;
}

/* Renders a node's content. */
static int render_node(struct tree *t, const struct node *n, struct buf *out)
{
	struct conversation full;
	json_object *obj;
	char *json = NULL;
	int rc;

	switch (n->kind) {
	case NODE_DIR: return -EISDIR;
	case NODE_MEMORY: render_memory(n->object, out); return 0;
	case NODE_ACTION_ITEM: render_action_item(n->object, out); return 0;
	case NODE_SUMMARY: render_summary(n->object, out); return 0;
	case NODE_CONV_ACTION_ITEMS: render_conversation_action_items(n->object, out); return 0;
	case NODE_EVENTS: render_events(n->object, out); return 0;
	case NODE_STATUS:
		sync_describe(t->sync, out);
		describe_odd(n->object, out);
		/* How omifs status/refresh find the process serving this mount. */
		buf_printf(out, "pid            %ld\n", (long)getpid());
		return 0;
	case NODE_TRANSCRIPT:
	case NODE_CONV_JSON:
		break;
	}
	rc = full_conversation(t, n->object, &json);
	if (rc < 0)
		return rc;
	if (n->kind == NODE_CONV_JSON) {
		rc = render_json(json, out) == 0 ? 0 : -EIO;
	} else {
		obj = json_text_parse(json, strlen(json));
		rc = obj && model_parse_conversation(obj, &full) == 0 ? 0 : -EIO;
		if (rc == 0) {
			render_transcript(&full, out);
			model_free_conversation(&full);
		}
		json_object_put(obj);
	}
	free(json);
	return rc;
}

/* The node's size, rendering it (and fetching its transcript) if needed. */
static int node_size(struct tree *t, struct snapshot *snap, struct node *n, off_t *size)
{
	struct buf content = BUF_INIT;
	int rc = 0;

	if (n->kind == NODE_STATUS) {
		rc = render_node(t, n, &content);
		*size = (off_t)content.len;
		buf_free(&content);
		return rc;
	}
	pthread_mutex_lock(&snap->size_lock);
	*size = n->size;
	pthread_mutex_unlock(&snap->size_lock);
	if (*size >= 0)
		return 0;
	rc = render_node(t, n, &content);
	if (rc == 0) {
		pthread_mutex_lock(&snap->size_lock);
		n->size = *size = (off_t)content.len;
		pthread_mutex_unlock(&snap->size_lock);
	}
	buf_free(&content);
	return rc;
}

static void fill_stat(const struct tree *t, const struct node *n, off_t size, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_uid = t->uid;
	st->st_gid = t->gid;
	st->st_mtime = st->st_ctime = st->st_atime = n->mtime;
	if (n->kind == NODE_DIR) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2 + n->n_subdirs;
		st->st_size = 4096;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = size;
		st->st_blocks = (size + 511) / 512;
	}
	st->st_blksize = 4096;
}

int tree_getattr(struct tree *t, const char *path, struct stat *st)
{
	struct snapshot *snap = acquire(t, path, false);
	struct node *n;
	off_t size = 0;
	int rc;

	n = lookup(snap, path, &rc);
	if (n && n->kind != NODE_DIR)
		rc = node_size(t, snap, n, &size);
	if (n && rc == 0)
		fill_stat(t, n, size, st);
	release(t, snap);
	return rc;
}

int tree_readdir(struct tree *t, const char *path, tree_fill_fn fill, void *ctx)
{
	struct snapshot *snap = acquire(t, path, true);
	struct node *n;
	struct stat st;
	int rc;

	n = lookup(snap, path, &rc);
	if (n && n->kind != NODE_DIR)
		rc = -ENOTDIR;
	if (n && rc == 0)
		rc = listing_error(snap, n);
	if (n && rc == 0) {
		fill_stat(t, n, 0, &st);
		if (fill(ctx, ".", &st, true) == 0 &&
		    fill(ctx, "..", NULL, false) == 0) {
			for (size_t i = 0; i < n->n_children; i++) {
				const struct node *c = n->children[i];
				off_t size;
				bool complete;

				pthread_mutex_lock(&snap->size_lock);
				size = c->size;
				pthread_mutex_unlock(&snap->size_lock);
				complete = c->kind == NODE_DIR || size >= 0;
				fill_stat(t, c, complete ? size : 0, &st);
				if (fill(ctx, c->name, &st, complete) != 0)
					break;
			}
		}
	}
	release(t, snap);
	return rc;
}

/* tree_open and tree_read: out NULL only checks. */
static int open_file(struct tree *t, const char *path, struct buf *out, bool *changing)
{
	struct snapshot *snap = acquire(t, path, false);
	struct node *n;
	int rc;

	n = lookup(snap, path, &rc);
	*changing = n && n->kind == NODE_STATUS;
	if (n && n->kind == NODE_DIR)
		rc = -EISDIR;
	if (n && rc == 0 && out)
		rc = render_node(t, n, out);
	release(t, snap);
	return rc;
}

int tree_open(struct tree *t, const char *path, bool *changing)
{
	return open_file(t, path, NULL, changing);
}

int tree_read(struct tree *t, const char *path, struct buf *out, bool *changing)
{
	return open_file(t, path, out, changing);
}

void tree_refresh(struct tree *t, tree_invalidate_fn invalidate, void *ctx)
{
	struct snapshot *old, *now;

	pthread_mutex_lock(&t->lock);
	old = t->current;
	if (old)
		old->refs++;
	pthread_mutex_unlock(&t->lock);
	now = acquire(t, NULL, false);
	if (old && old != now) {
		for (size_t i = 0; i < old->n_nodes; i++) {
			const struct node *was = old->nodes[i];
			const struct node *is = hash_get(now->by_path, was->path);

			if (was->kind == NODE_DIR && is && is->mtime == was->mtime &&
			    is->n_children == was->n_children)
				continue;
			if (was->kind != NODE_DIR && is && is->digest == was->digest &&
			    is->mtime == was->mtime)
				continue;
			invalidate(was->path, ctx);
		}
	}
	if (old)
		release(t, old);
	release(t, now);
}
