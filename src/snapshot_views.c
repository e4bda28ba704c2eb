/*
 * snapshot_views: the views a snapshot holds beside the id tree (see
 * snapshot.h): the .jsonl files at the root and the markdown vault.
 *
 * They are built from what the id tree's build already walks, so they
 * cost no second pass over the store: a .jsonl file is an index of its
 * lines (where each ends, whose item it is), a note is a node named from
 * its conversation's title. What a file derived from several items holds
 * is known only when it is rendered, from the store, at its first stat
 * (snapshot_reads.c); its digest, folded from its items' digests, says
 * when that rendering, and the size it gave, is out of date.
 */
#include "snapshot_state.h"

#include "collections.h"
#include "hash.h"
#include "names.h"
#include "vault.h"

#include <stdlib.h>
#include <string.h>

static const char vault_dir[] = "vault";
static const char jsonl_suffix[] = ".jsonl";

/* Folds one item's digest and name into a running digest. */
static uint64_t fold(uint64_t digest, uint64_t item, const char *name)
{
	uint64_t parts[3] = { digest, item, hash_bytes(name, strlen(name)) };

	return hash_bytes(parts, sizeof(parts));
}

/* ---- building ---- */

/* A view's directory (this build's, the base's or made) or file (made:
 * its content is known only at the end, when snapshot_share_tail weighs
 * it against the base's). */
static uint32_t add_view(struct builder *b, uint32_t parent, const char *name,
			 enum node_kind kind, int collection)
{
	uint32_t i = parent == SNAPSHOT_NONE ? SNAPSHOT_NONE
		     : kind == NODE_DIR ? snapshot_dir_child(b, parent, name)
		     : snapshot_add_node(b, parent, name, SNAPSHOT_NONE, kind, SNAPSHOT_NONE);

	if (i != SNAPSHOT_NONE && snapshot_is_new(b, i))
		b->snap->nodes[i].collection = (int8_t)collection;
	return i;
}

/* The views' directories, made before anything is listed: snapshot_build
 * gives them the cache's creation time. */
void views_start(struct builder *b)
{
	b->vault = add_view(b, 0, vault_dir, NODE_DIR, -1);
	b->snap->vault_notes = add_view(b, b->vault, "Conversations", NODE_DIR,
					STORE_CONVERSATIONS);
	b->vault_days = add_view(b, b->vault, "Daily", NODE_DIR, STORE_CONVERSATIONS);
	b->vault_memories = add_view(b, b->vault, "Memories", NODE_DIR, STORE_MEMORIES);
	snapshot_fix(b, b->vault);
	snapshot_fix(b, b->snap->vault_notes);
	snapshot_fix(b, b->vault_days);
	snapshot_fix(b, b->vault_memories);
}

/* The views' files that each hold a whole collection. */
static void add_collection_views(struct builder *b)
{
	struct buf name = BUF_INIT;

	for (int k = 0; k < STORE_KINDS; k++) {
		b->jsonl[k] = SNAPSHOT_NONE;
		if (!snapshot_shows(b->snap, k))
			continue;
		buf_reset(&name);
		buf_printf(&name, "%s%s", collection_of(k)->dir, jsonl_suffix);
		b->jsonl[k] = add_view(b, 0, name.data, NODE_JSONL, k);
	}
	b->vault_action_items = add_view(b, b->vault, "Action items.md", NODE_VAULT_ACTION_ITEMS,
					 STORE_ACTION_ITEMS);
	b->vault_goals = snapshot_shows(b->snap, STORE_GOALS)
			 ? add_view(b, b->vault, "Goals.md", NODE_VAULT_GOALS, STORE_GOALS)
			 : SNAPSHOT_NONE;
	buf_free(&name);
}

/* The stored JSON is json-c's plain form, one line, so the line is that
 * text and a newline. */
void views_add_line(struct builder *b, uint32_t id, const char *json)
{
	struct snapshot *snap = b->snap;
	enum store_kind k = b->kind;
	size_t n = snap->n_lines[k];
	uint32_t len = (uint32_t)strlen(json) + 1;

	if (n == b->cap_lines[k]) {
		b->cap_lines[k] = n ? n * 2 : 256;
		snap->lines[k] = xrealloc(snap->lines[k], b->cap_lines[k] * sizeof(*snap->lines[k]));
		snap->line_marks[k] = xrealloc(snap->line_marks[k],
					       (b->cap_lines[k] / SNAPSHOT_LINES_STEP + 1) *
						       sizeof(*snap->line_marks[k]));
	}
	if (n % SNAPSHOT_LINES_STEP == 0)
		snap->line_marks[k][n / SNAPSHOT_LINES_STEP] = snap->lines_size[k];
	snap->lines[k][n] = (struct snapshot_line){ .id = id, .len = len };
	snap->n_lines[k]++;
	snap->lines_size[k] += len;
	b->jsonl_digest[k] = fold(b->jsonl_digest[k], hash_bytes(json, len - 1), "");
}

void views_note_conversation(struct builder *b, const struct conversation *c,
			     uint32_t transcript)
{
	b->notes = xgrow(b->notes, &b->cap_notes, b->n_notes, sizeof(*b->notes), 256);
	struct vault_entry *e = &b->notes[b->n_notes++];
	char *key;

	buf_reset(&b->name);
	vault_note_name(c, &b->name);
	key = names_name_key(b->name.data);
	buf_puts(&b->name, ".md");
	*e = (struct vault_entry){ .transcript = transcript,
				   .name = snapshot_name_for(b, b->snap->vault_notes, b->name.data),
				   .key = hash_bytes(key, strlen(key)) };
	free(key);
}

/* Notes whose names collide where case and normalisation do not count
 * (names_name_key) are neighbours in this order: their keys' hashes are
 * equal. Two keys that differ but hash alike only cost a clash suffix. */
static int compare_notes(const void *x, const void *y, void *ctx)
{
	const char *arena = ctx;
	const struct vault_entry *a = x, *b = y;

	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return strcmp(arena + a->name, arena + b->name);
}

static int compare_ids(const void *x, const void *y, void *ctx)
{
	const struct snapshot *snap = ctx;

	return strcmp(snapshot_id(snap, &snap->nodes[*(const uint32_t *)x]),
		      snapshot_id(snap, &snap->nodes[*(const uint32_t *)y]));
}

/* The note called name of conversation id, whose transcript.txt is
 * record transcript: the base's when it is that note still, or made. */
static uint32_t note_node(struct builder *b, const char *name, uint32_t name_at, uint32_t id,
			  uint32_t transcript)
{
	struct snapshot *snap = b->snap;
	uint32_t i = snapshot_base_node(b, snap->vault_notes, name, NODE_VAULT_NOTE);

	if (i != SNAPSHOT_NONE && snap->nodes[i].id == id &&
	    snap->nodes[i].digest == snap->nodes[transcript].digest &&
	    snapshot_take_base_node(b, i))
		return i;
	i = snapshot_add_node(b, snap->vault_notes, name, name_at, NODE_VAULT_NOTE, id);
	/* Only now: adding the note may have moved the nodes. */
	if (i != SNAPSHOT_NONE) {
		snap->nodes[i].digest = snap->nodes[transcript].digest;
		snap->nodes[i].mtime = snapshot_mtime(snap, &snap->nodes[transcript]);
	}
	return i;
}

/* Adds the note of conversation id called as the arena's "<base>.md" at
 * name_at, with its clash suffix before ".md" (of `bits` bits of the id's
 * hash; none when 0); SNAPSHOT_NONE when that name is taken, and then,
 * with 64 bits, logged. */
static uint32_t add_note(struct builder *b, uint32_t name_at, uint32_t id, int bits,
			 uint32_t transcript)
{
	const char *named = b->snap->arena + name_at;

	if (bits == 0)
		return snapshot_name_taken(b, b->snap->vault_notes, named)
			       ? SNAPSHOT_NONE : note_node(b, named, name_at, id, transcript);
	buf_reset(&b->name);
	buf_append(&b->name, named, strlen(named) - strlen(".md"));
	vault_clash_suffix(b->snap->arena + id, bits, &b->name);
	buf_puts(&b->name, ".md");
	if (bits < 64 && snapshot_name_taken(b, b->snap->vault_notes, b->name.data))
		return SNAPSHOT_NONE;
	return note_node(b, b->name.data, SNAPSHOT_NONE, id, transcript);
}

/*
 * The notes, named; each of names that clash gets its id's suffix. A
 * title may spell another note's suffixed name: the note that comes
 * second then takes a longer suffix, which no title made to match a
 * short one can take from it first.
 */
static void add_notes(struct builder *b)
{
	struct snapshot *snap = b->snap;

	if (b->n_notes == 0)
		return;
	qsort_r(b->notes, b->n_notes, sizeof(*b->notes), compare_notes, snap->arena);
	snap->notes_by_id = xcalloc(b->n_notes, sizeof(*snap->notes_by_id));
	for (size_t i = 0; i < b->n_notes; i++) {
		const struct vault_entry *e = &b->notes[i];
		uint32_t id = snap->nodes[e->transcript].id;
		bool clash = (i > 0 && e[-1].key == e->key) ||
			     (i + 1 < b->n_notes && e[1].key == e->key);
		uint32_t note = add_note(b, e->name, id, clash ? 32 : 0, e->transcript);

		if (note == SNAPSHOT_NONE)
			note = add_note(b, e->name, id, 64, e->transcript);
		if (note != SNAPSHOT_NONE)
			snap->notes_by_id[snap->n_notes++] = note;
	}
	qsort_r(snap->notes_by_id, snap->n_notes, sizeof(*snap->notes_by_id), compare_ids, snap);
	/* Named: the list goes before the build takes more (1.6 MiB at
	 * 100,000 conversations, at a refresh's peak). */
	views_free(b);
}

struct node *snapshot_note_of(const struct snapshot *snap, const char *id)
{
	return snapshot_find(snap, snap->notes_by_id, snap->n_notes, id, true);
}

/* Appends n's path below the root. */
static void append_path(const struct snapshot *snap, const struct node *n, struct buf *out)
{
	const struct node *parent = snapshot_parent(snap, n);
	char room[SNAPSHOT_NAME_ROOM];

	if (parent == n)
		return;
	if (parent != &snap->nodes[0]) {
		append_path(snap, parent, out);
		buf_putc(out, '/');
	}
	buf_puts(out, snapshot_name(snap, n, room));
}

static void name_view(const struct snapshot *snap, const struct node *n, snapshot_view_fn fn,
		      void *ctx)
{
	struct buf path = BUF_INIT;

	append_path(snap, n, &path);
	fn(path.data, ctx);
	buf_free(&path);
}

/* The views in vault directory dir (of kind's) that hold the item. */
static void vault_views_in(const struct snapshot *snap, const struct node *dir, const char *id,
			   const char *place, snapshot_view_fn fn, void *ctx)
{
	const struct node *note;

	if (dir == &snap->nodes[snap->vault_notes]) {
		if ((note = snapshot_note_of(snap, id)))
			name_view(snap, note, fn, ctx);
		return;
	}
	for (size_t i = 0; place && i < snapshot_n_children(snap, dir); i++) {
		const struct node *c = snapshot_child_at(snap, dir, i);

		if (c->id != SNAPSHOT_NONE && strcmp(snapshot_id(snap, c), place) == 0)
			name_view(snap, c, fn, ctx);
	}
}

void snapshot_item_views(const struct snapshot *snap, enum store_kind kind, const char *id,
			 const char *place, snapshot_view_fn fn, void *ctx)
{
	const struct node *root = &snap->nodes[0];
	const struct node *vault = snapshot_child(snap, root, vault_dir);

	for (size_t i = 0; i < snapshot_n_children(snap, root); i++) {
		const struct node *c = snapshot_child_at(snap, root, i);

		if (c->kind == NODE_JSONL && c->collection == (int)kind)
			name_view(snap, c, fn, ctx);
	}
	for (size_t i = 0; vault && i < snapshot_n_children(snap, vault); i++) {
		const struct node *c = snapshot_child_at(snap, vault, i);

		if (c->collection != (int)kind)
			continue;
		if (c->kind == NODE_DIR)
			vault_views_in(snap, c, id, place, fn, ctx);
		else
			name_view(snap, c, fn, ctx);
	}
}

struct keyed_name {
	char *key;
	uint32_t node;
};

static int compare_keys(const void *x, const void *y)
{
	const struct keyed_name *a = x, *b = y;

	return strcmp(a->key, b->key);
}

/* A file named after each directory of parent (a day, a category), in
 * `in`, whose id is that directory's name; directories whose names
 * collide where case and normalisation do not count (Work and work) get
 * their name's clash suffix. */
static void add_per_directory(struct builder *b, uint32_t parent, uint32_t in,
			      enum node_kind kind, const char *skip)
{
	struct snapshot *snap = b->snap;
	struct keyed_name *dirs = NULL;
	char room[SNAPSHOT_NAME_ROOM];
	size_t n = 0, cap = 0;

	for (uint32_t i = snapshot_next_node(b, 0); i != SNAPSHOT_NONE;
	     i = snapshot_next_node(b, i + 1)) {
		const struct node *dir = &snap->nodes[i];

		if (dir->parent != parent || dir->kind != NODE_DIR || i == parent ||
		    (skip && strcmp(snapshot_name(snap, dir, room), skip) == 0))
			continue;
		dirs = xgrow(dirs, &cap, n, sizeof(*dirs), 64);
		dirs[n++] = (struct keyed_name){ names_name_key(snapshot_name(snap, dir, room)), i };
	}
	if (n > 0)
		qsort(dirs, n, sizeof(*dirs), compare_keys);
	for (size_t i = 0; i < n; i++) {
		const struct node *dir = &snap->nodes[dirs[i].node];
		bool clash = (i > 0 && strcmp(dirs[i - 1].key, dirs[i].key) == 0) ||
			     (i + 1 < n && strcmp(dirs[i].key, dirs[i + 1].key) == 0);

		buf_reset(&b->name);
		vault_list_name(snapshot_name(snap, dir, room), clash, &b->name);
		snapshot_add_node(b, in, b->name.data, SNAPSHOT_NONE, kind, dir->name);
	}
	for (size_t i = 0; i < n; i++)
		free(dirs[i].key);
	free(dirs);
}

/* The notes, then the files of what several items make, whose content is
 * known only at the end: from b->tail on, they are weighed against the
 * base's (snapshot_share_tail). */
void views_add(struct builder *b)
{
	struct snapshot *snap = b->snap;

	add_notes(b);
	snapshot_start_tail(b);
	add_per_directory(b, snap->top[STORE_CONVERSATIONS], b->vault_days, NODE_VAULT_DAY,
			  "undated");
	add_per_directory(b, snap->top[STORE_MEMORIES], b->vault_memories, NODE_VAULT_MEMORIES,
			  NULL);
	add_collection_views(b);
}

size_t views_first_note_of(const struct snapshot *snap, const char *day)
{
	const struct node *dir = &snap->nodes[snap->vault_notes];
	char room[SNAPSHOT_NAME_ROOM];
	size_t lo = 0, hi = snapshot_n_children(snap, dir);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(snapshot_name(snap, snapshot_child_at(snap, dir, mid), room), day) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool views_note_of_day(const struct snapshot *snap, size_t i, const char *day)
{
	const struct node *dir = &snap->nodes[snap->vault_notes];
	size_t len = strlen(day);
	char room[SNAPSHOT_NAME_ROOM];
	const char *name;

	if (i >= snapshot_n_children(snap, dir))
		return false;
	name = snapshot_name(snap, snapshot_child_at(snap, dir, i), room);
	return strncmp(name, day, len) == 0 && name[len] == ' ';
}

const struct node *views_subdir(const struct snapshot *snap, uint32_t parent, const char *name)
{
	const struct node *n = snapshot_child(snap, &snap->nodes[parent], name);

	return n && n->kind == NODE_DIR ? n : NULL;
}

/* Folds dir's files into n's digest; n takes dir's mtime if newer. */
static void fold_directory(const struct snapshot *snap, const struct node *dir, struct node *n)
{
	char room[SNAPSHOT_NAME_ROOM];

	if (!dir)
		return;
	for (size_t i = 0; i < snapshot_n_children(snap, dir); i++) {
		const struct node *c = snapshot_child_at(snap, dir, i);

		n->digest = fold(n->digest, c->digest, snapshot_name(snap, c, room));
	}
	if (snapshot_mtime(snap, dir) > n->mtime)
		n->mtime = snapshot_mtime(snap, dir);
}

void views_finish(struct builder *b)
{
	struct snapshot *snap = b->snap;
	const struct node *notes = &snap->nodes[snap->vault_notes], *days = &snap->nodes[b->vault_days];
	const struct node *memories = &snap->nodes[b->vault_memories], *dir;
	char room[SNAPSHOT_NAME_ROOM];
	struct node *n;

	for (int k = 0; k < STORE_KINDS; k++) {
		size_t lines = snap->n_lines[k];

		if (b->jsonl[k] == SNAPSHOT_NONE)
			continue;
		/* Built: the room doubling left goes back (a refresh holds two). */
		if (lines) {
			snap->lines[k] = xrealloc(snap->lines[k], lines * sizeof(*snap->lines[k]));
			snap->line_marks[k] = xrealloc(snap->line_marks[k],
						       ((lines - 1) / SNAPSHOT_LINES_STEP + 1) *
							       sizeof(*snap->line_marks[k]));
		}
		n = &snap->nodes[b->jsonl[k]];
		n->digest = b->jsonl_digest[k];
		n->mtime = snapshot_mtime(snap, &snap->nodes[snap->top[k]]);
		atomic_init(&n->size, snap->kind_error[k] ? -1
				      : (int64_t)snap->lines_size[k]);
	}
	for (size_t i = 0; i < snapshot_n_children(snap, days); i++) {
		const char *day;

		n = snapshot_child_at(snap, days, i);
		day = snapshot_id(snap, n);
		for (size_t j = views_first_note_of(snap, day); views_note_of_day(snap, j, day);
		     j++) {
			const struct node *note = snapshot_child_at(snap, notes, j);

			n->digest = fold(n->digest, note->digest, snapshot_name(snap, note, room));
		}
		dir = views_subdir(snap, snap->top[STORE_CONVERSATIONS], day);
		n->mtime = dir ? snapshot_mtime(snap, dir) : 0;
	}
	for (size_t i = 0; i < snapshot_n_children(snap, memories); i++) {
		n = snapshot_child_at(snap, memories, i);
		dir = views_subdir(snap, snap->top[STORE_MEMORIES], snapshot_id(snap, n));
		fold_directory(snap, dir, n);
	}
	if (b->vault_action_items != SNAPSHOT_NONE) {
		n = &snap->nodes[b->vault_action_items];
		fold_directory(snap, views_subdir(snap, snap->top[STORE_ACTION_ITEMS], "open"), n);
		fold_directory(snap, views_subdir(snap, snap->top[STORE_ACTION_ITEMS], "done"), n);
	}
	if (b->vault_goals != SNAPSHOT_NONE)
		fold_directory(snap, &snap->nodes[snap->top[STORE_GOALS]],
			       &snap->nodes[b->vault_goals]);
}

void views_free(struct builder *b)
{
	free(b->notes);
	b->notes = NULL;
	b->n_notes = b->cap_notes = 0;
}
