/*
 * snapshot_state: what the snapshot's files share: snapshot.c (the
 * picture and its lookups), and above it snapshot_views.c (the views
 * over the id tree), snapshot_build.c (the pass that makes a snapshot,
 * telling the views of each item) and snapshot_reads.c (what is read
 * from the store when a file is read). Only they include it.
 */
#ifndef OMIFS_SNAPSHOT_STATE_H
#define OMIFS_SNAPSHOT_STATE_H

#include "model.h"
#include "snapshot.h"

/* One parsed item of any collection. */
union item {
	struct memory memory;
	struct action_item action_item;
	struct conversation conversation;
	struct goal goal;
};

/* A conversation on its way to a vault note, noted during the walk.
 * Its name goes to the arena (or is the base's note's, unchanged), where
 * the note's node names it unless it clashes: a heavy account's names
 * are not held twice. The note takes its digest (of the listing JSON)
 * and its mtime from the conversation's transcript.txt, which has both
 * until date_files: 16 bytes a conversation, not 32, at the build's
 * peak. */
struct vault_entry {
	uint32_t transcript;	/* its transcript.txt in the id tree */
	uint32_t name;		/* arena offset of "<name>.md" */
	uint64_t key;		/* hash of its name's names_name_key */
};

struct builder {
	struct snapshot *snap;
	struct snapshot_pool *pool;		/* snap's */
	const struct snapshot *base;		/* whose records to take, or NULL */
	uint32_t first_new;			/* the first record this build adds */
	bool overflow;				/* the pool, staying put, had no room */
	uint8_t *tags;				/* each record's ino_tag, until the
						 * nodes are all in */
	uint64_t *members;			/* snap's, a bit a record: its nodes */
	size_t cap_records;			/* room of both */
	uint32_t *fixed_name;			/* the pool's: constant names */
	uint32_t fixed[24];			/* directories and .omifs files made
						 * before any item: dated by the cache */
	size_t n_fixed;
	size_t base_line[STORE_KINDS];		/* where the walk is in base's lines */
	struct buf name, scratch;
	uint32_t *undated;			/* memories that need first_seen */
	size_t n_undated, cap_undated;
	enum store_kind kind;			/* of the listing being walked */
	/* the views' */
	uint32_t tail;				/* their files from here on are
						 * weighed against the base's */
	uint32_t jsonl[STORE_KINDS];		/* the .jsonl files */
	uint64_t jsonl_digest[STORE_KINDS];	/* folded as their lines come */
	size_t cap_lines[STORE_KINDS];
	uint32_t vault, vault_days, vault_memories, vault_action_items;
	uint32_t vault_goals;			/* SNAPSHOT_NONE: goals not shown */
	struct vault_entry *notes;
	size_t n_notes, cap_notes;
};

/* Parses json as an item of kind: 0, or -EINVAL (nothing to free). */
int snapshot_parse_item(enum store_kind kind, const char *json, union item *out);
void snapshot_free_item(enum store_kind kind, union item *item);

/* Copies s into the arena; returns its offset. */
uint32_t snapshot_arena_add(struct builder *b, const char *s);

/* Adds a node, or returns SNAPSHOT_NONE (logged) when its path, hence its
 * inode number, is taken (or the pool has no room: b->overflow). name_at
 * is an arena offset, or SNAPSHOT_NONE for snapshot_name_for's. */
uint32_t snapshot_add_node(struct builder *b, uint32_t parent, const char *name, uint32_t name_at,
			   enum node_kind kind, uint32_t id);

/* The arena offset of name for a child of parent: the base's node's
 * there when it has that name, or else a copy. */
uint32_t snapshot_name_for(struct builder *b, uint32_t parent, const char *name);

/* The base's record of a child called name of parent when it is one
 * still (its parent is parent's record, its kind kind), or SNAPSHOT_NONE;
 * the caller weighs the rest (its id, its content) before taking it. */
uint32_t snapshot_base_node(const struct builder *b, uint32_t parent, const char *name,
			    enum node_kind kind);
/* Makes the base's record i (and the files following it) nodes of the
 * snapshot being built; false, taking nothing, when another node has the
 * path of one of them. */
bool snapshot_take_base_node(struct builder *b, uint32_t i);
/* Notes a node made before any item (a directory, an .omifs file): the
 * cache's creation time dates it. */
void snapshot_fix(struct builder *b, uint32_t i);
/* Marks where the views' files that snapshot_share_tail weighs begin. */
void snapshot_start_tail(struct builder *b);
/* Whether record i was added by this build, so may still be written. */
static inline bool snapshot_is_new(const struct builder *b, uint32_t i)
{
	return i >= b->first_new;
}
/* The first node of the snapshot being built from record i on, in the
 * pool's order (a directory before what it holds), or SNAPSHOT_NONE. */
uint32_t snapshot_next_node(const struct builder *b, uint32_t i);

/* Adds a directory whose files are added right after it, in name order,
 * with nothing else between (snapshot.h's files_follow); SNAPSHOT_NONE
 * as snapshot_add_node. */
uint32_t snapshot_add_files_dir(struct builder *b, uint32_t parent, const char *name,
				uint32_t name_at, uint32_t id);

/* The node of sorted[0..n) (indexes into nodes, in the order of their
 * names, or of their ids when by_id) whose name or id is key, or NULL. */
struct node *snapshot_find(const struct snapshot *snap, const uint32_t *sorted, size_t n,
			   const char *key, bool by_id);

/* Whether parent has a child called name already. */
bool snapshot_name_taken(struct builder *b, uint32_t parent, const char *name);

/* Once every node is in: drops the byte of each inode number the build
 * kept to find nodes by number quickly. */
void snapshot_forget_tags(struct builder *b);

/* In snapshot.c, for snapshot_build.c. snapshot_begin makes the picture
 * with only its root, in b->base's pool or a new one; snapshot_dir_child
 * finds, takes from the base or adds the directory called name under
 * parent (SNAPSHOT_NONE when its name is taken by a file);
 * snapshot_lay_out, once every node is in, lays out each directory's
 * children as a sorted slice and dates directories by their newest file;
 * snapshot_share_tail weighs the views' files from b->tail on against the
 * base's; snapshot_settle leaves a new pool room to grow into and keeps it
 * put; snapshot_builder_free frees what the build kept on the way.
 * snapshot_may_share says whether a build on base may share its pool.
 * snapshot_arena_add_item stores an item's version and id (the node's id
 * offset); snapshot_render_item writes a file's bytes. */
void snapshot_begin(struct builder *b);
uint32_t snapshot_dir_child(struct builder *b, uint32_t parent, const char *name);
void snapshot_lay_out(struct builder *b);
/* Gives each directory the mtime of the newest node inside it. */
void snapshot_date_directories(struct builder *b);
void snapshot_share_tail(struct builder *b);
void snapshot_settle(struct builder *b);
void snapshot_builder_free(struct builder *b);
bool snapshot_may_share(const struct snapshot *base);
uint32_t snapshot_arena_add_item(struct builder *b, const char *id, uint64_t version);
void snapshot_render_item(enum node_kind kind, enum store_kind collection, const union item *item,
			  struct buf *out);

/* The views' part of a build, in this order: their fixed nodes (after
 * the root's others), a line and maybe a note per listed item, their
 * nodes once the walk is over, then, once the children are sorted and
 * the directories' mtimes known, their digests and mtimes. */
void views_start(struct builder *b);
void views_add_line(struct builder *b, uint32_t id, const char *json);
void views_note_conversation(struct builder *b, const struct conversation *c,
			     uint32_t transcript);
void views_add(struct builder *b);
void views_finish(struct builder *b);
void views_free(struct builder *b);

/* In snapshot_views.c, for reading the views too. views_first_note_of
 * gives the first note of day (a "YYYY-MM-DD") in vault/Conversations,
 * in name order: notes of a day are named "<day> HHMM ...", so they are
 * together, and views_note_of_day says whether note i is still one of
 * them. views_subdir gives the directory called name in parent, or
 * NULL. */
size_t views_first_note_of(const struct snapshot *snap, const char *day);
bool views_note_of_day(const struct snapshot *snap, size_t i, const char *day);
const struct node *views_subdir(const struct snapshot *snap, uint32_t parent, const char *name);

#endif
