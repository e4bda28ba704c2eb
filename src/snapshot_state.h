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
 * Its name goes straight to the arena, where the note's node names it
 * unless it clashes: a heavy account's names are not held twice. The
 * note takes its digest (of the listing JSON) and its mtime from the
 * conversation's transcript.txt, which has both until date_files: 16
 * bytes a conversation, not 32, at the build's peak. */
struct vault_entry {
	uint32_t transcript;	/* its transcript.txt in the id tree */
	uint32_t name;		/* arena offset of "<name>.md" */
	uint64_t key;		/* hash of its name's names_name_key */
};

struct builder {
	struct snapshot *snap;
	size_t cap_nodes, arena_len, arena_cap;
	uint8_t *tags;				/* each node's ino_tag, until the
						 * nodes are all in */
	uint32_t fixed_name[NODE_KINDS];	/* arena offsets of constant names */
	struct buf name, scratch;
	uint32_t *undated;			/* memories that need first_seen */
	size_t n_undated, cap_undated;
	enum store_kind kind;			/* of the listing being walked */
	/* the views' */
	uint32_t jsonl[STORE_KINDS];		/* the .jsonl files */
	size_t cap_lines[STORE_KINDS];
	uint32_t vault_days, vault_memories, vault_action_items;
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
 * inode number, is taken. name_at is an arena offset, or SNAPSHOT_NONE to
 * copy name in. */
uint32_t snapshot_add_node(struct builder *b, uint32_t parent, const char *name, uint32_t name_at,
			   enum node_kind kind, uint32_t id);

/* The node of sorted[0..n) (indexes into nodes, in the order of their
 * names, or of their ids when by_id) whose name or id is key, or NULL. */
struct node *snapshot_find(const struct snapshot *snap, const uint32_t *sorted, size_t n,
			   const char *key, bool by_id);

/* Whether parent has a child called name already. */
bool snapshot_name_taken(struct builder *b, uint32_t parent, const char *name);

/* Once every node is in: drops the byte of each inode number the build
 * kept to find nodes by number quickly. */
void snapshot_forget_tags(struct builder *b);

/* In snapshot.c, for snapshot_build.c. snapshot_begin makes the empty
 * picture, its root dated root_mtime; snapshot_dir_child finds or adds
 * the directory called name under parent (SNAPSHOT_NONE when its name is
 * taken by a file); snapshot_lay_out, once every node is in, lays out
 * each directory's children as a sorted slice and dates directories by
 * their newest file; snapshot_shrink gives back the room doubling left
 * over. snapshot_arena_add_item stores an item's version and id (the
 * node's id offset); snapshot_render_item writes a file's bytes. */
void snapshot_begin(struct builder *b, int64_t root_mtime);
uint32_t snapshot_dir_child(struct builder *b, uint32_t parent, const char *name);
void snapshot_lay_out(struct snapshot *snap);
/* Gives each directory the mtime of the newest node inside it. */
void snapshot_date_directories(struct snapshot *snap);
void snapshot_shrink(struct builder *b);
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
