/*
 * snapshot: one immutable picture of the whole tree, built from the store
 * in one pass. It is the tree module's data; nothing else includes it.
 *
 * Promises:
 * - Nodes are fixed-size records in one array, names and ids live in one
 *   string arena, and a directory's children are a slice of one index
 *   array, sorted by name; but a conversation's files are the nodes that
 *   follow its directory's, in name order, and take no slice.
 * - A refresh shares: the records, the arena and the inode index are a
 *   pool that the snapshots of one tree share, and a build given the
 *   current snapshot as its base takes from it every record that stays
 *   as it was (an item whose version did not change, a directory still
 *   there), adding only what is new. A snapshot's own are the bitmap of
 *   its records, its children slices, its directories' counts and dates
 *   (struct snapshot_dir), its .jsonl lines and its notes' index. A
 *   record shared is never written again but for the atomic size and
 *   date of snapshot_learn_size and snapshot_date_learnt, which hold for
 *   every snapshot that has it; the index only gains slots, atomically,
 *   so a snapshot's readers probe it while the next is built. Nothing
 *   parsed is kept: a file's bytes are rendered again from the item's
 *   JSON when it is read (snapshot_render), which gives the very bytes
 *   whose length the build recorded.
 * - Inode numbers derive from the path (64-bit FNV-1a, the root is 1), so
 *   they are the same in every snapshot and on every mount; a node does
 *   not keep its own, snapshot_ino works it out. A node whose path
 *   repeats another's (a duplicate id) is skipped with a log line.
 * - Every file's mtime moves when its bytes do, and never otherwise
 *   (the cache keeps each file's digest and mtime: store_file_date). Its
 *   first bytes take the item's own timestamps; bytes that differ from
 *   those dated before take the time omifs first built them, or never
 *   earlier. Files whose bytes are learnt at their first stat are dated
 *   then (snapshot_date_learnt).
 * - A directory's mtime is the newest inside it, except the root, the
 *   collections' directories and .omifs: they take the cache's creation
 *   time, since they are stat'ed before anything is listed.
 * - Every item is named with its version (store.h): a file is rendered
 *   from exactly the version the snapshot was built from, which the
 *   store keeps while a snapshot in use names it (listings_count).
 * - The sizes of transcript.txt, conversation.json and the vault's files
 *   are -1 until learnt (snapshot_learn_size), and their mtimes are set
 *   then (snapshot_date_learnt): the only changes a built snapshot
 *   allows, both atomic. Everything else may be read from any thread.
 * - The views are built in the same pass (snapshot_views.c): a .jsonl
 *   file is the index of its lines, streamed at read; a vault file made
 *   of several items has a digest folded from theirs, which changes when
 *   any of them does, so a refresh knows it changed without rendering.
 */
#ifndef OMIFS_SNAPSHOT_H
#define OMIFS_SNAPSHOT_H

#include "buf.h"
#include "status.h"
#include "sync.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define SNAPSHOT_ROOT_INO 1
#define SNAPSHOT_NONE UINT32_MAX
#define SNAPSHOT_SEARCH_DIR "search"	/* its content is the tree's (searchdir.h) */

enum node_kind {
	NODE_DIR,
	NODE_ITEM,		/* an item that is one file, rendered by its
				 * collection's render: memories/<category>/<id>.txt,
				 * action-items/{open,done}/<id>.txt, goals/<id>.md */
	NODE_SUMMARY,		/* conversations/<day>/<id>/summary.md */
	NODE_CONV_ACTION_ITEMS,	/* .../action-items.md */
	NODE_EVENTS,		/* .../events.md */
	NODE_TRANSCRIPT,	/* .../transcript.txt: from the full conversation */
	NODE_CONV_JSON,		/* .../conversation.json: from the full conversation */
	NODE_STATUS,		/* .omifs/status and its kin: rendered by the tree;
				 * id: which (enum status_file), not an offset */
	/* The views: computed from several items, or streamed. */
	NODE_JSONL,		/* <collection>.jsonl: a line per listed item */
	NODE_VAULT_NOTE,	/* vault/Conversations/<time> <title>.md */
	NODE_VAULT_DAY,		/* vault/Daily/<day>.md; id: the day */
	NODE_VAULT_MEMORIES,	/* vault/Memories/<category>.md; id: the category's directory */
	NODE_VAULT_ACTION_ITEMS, /* vault/Action items.md */
	NODE_VAULT_GOALS,	/* vault/Goals.md, where goals are shown */
	NODE_KINDS
};

/* The mount's own files in .omifs/. */
enum status_file {
	STATUS_FILE_TEXT, STATUS_FILE_JSON, STATUS_FILE_METRICS,
	STATUS_FILE_CHANGES,	/* the change feed (feed.h), not a status */
	STATUS_FILES
};

struct node {
	uint64_t digest;	/* of the content, or of the JSON it comes from */
	_Atomic int64_t mtime;	/* set once built, but for snapshot_date_learnt */
	/* A file has a size, a directory children: a heavy account's
	 * 600,000 nodes take 5 MiB less for sharing the word. Read a size
	 * through snapshot_size, which answers for a directory too. */
	union {
		_Atomic int64_t size;		/* a file's: -1 until known */
		struct {			/* a directory's */
			/* With files_follow, its first file's index and
			 * how many; otherwise its place in each snapshot's
			 * dirs, which says the rest (snapshot_dir_of). */
			uint32_t first_child;
			uint32_t n_children;
		};
	};
	uint32_t name;		/* offset of the name in the arena */
	uint32_t id;		/* offset of the item's raw id, or SNAPSHOT_NONE */
	uint32_t parent;	/* index; the root is its own parent */
	/* A directory whose children are the nodes right after its own, in
	 * name order (a conversation's): fixed with it, so shared with it,
	 * and a heavy account's 450,000 files need no slot in children. */
	unsigned files_follow : 1;
	unsigned kind : 4;		/* enum node_kind */
	/* (NODE_KINDS must stay below 16.) */
	signed collection : 4;		/* enum store_kind the node lies in, or -1 */
};

/* What a snapshot holds of each of its other directories. */
struct snapshot_dir {
	uint32_t first_child;	/* index into snapshot.children */
	uint32_t n_children;
	uint32_t n_subdirs;
	int64_t mtime;
};
#define SNAPSHOT_DIR_SIZE 4096	/* what a directory's stat says */

/* One line of a .jsonl file: the item's stored JSON and a newline. Where
 * it starts is summed from the nearest of the marks kept every
 * SNAPSHOT_LINES_STEP lines: 8 bytes a line, not 16. */
struct snapshot_line {
	uint32_t id;		/* offset of the item's id in the arena */
	uint32_t len;		/* bytes, the newline included */
};

#define SNAPSHOT_LINES_STEP 64

struct snapshot_pool;

struct snapshot {
	struct snapshot_pool *pool;	/* of its records and names (snapshot.c) */
	uint64_t listings_count;	/* the store's, read before the build */
	int kind_error[STORE_KINDS];	/* 0 when the kind was listed */
	struct status_odd odd[STORE_KINDS];	/* items with odd fields */
	struct node *nodes;		/* the pool's; nodes[0] is the root */
	size_t n_nodes;			/* of them this snapshot has */
	size_t n_new;			/* of those, the ones its build added */
	uint32_t *children;
	size_t n_slots;			/* in children */
	struct snapshot_dir *dirs;	/* by a directory's first_child */
	size_t n_dirs;
	char *arena;			/* the pool's */
	size_t shared_bytes;		/* of the pool, once built */
	/* Its nodes among the pool's records, a bit each: the pool's inode
	 * index, which its snapshots share, holds every record. */
	uint64_t *members;
	size_t member_cap;		/* records the bitmap covers */
	/* While it is built only: the views' files' own index, until
	 * snapshot_share_tail has weighed them (snapshot.c). */
	_Atomic uint32_t *tail_by_ino;
	size_t tail_cap;
	uint32_t top[STORE_KINDS];	/* the collections' directories;
					 * SNAPSHOT_NONE: not shown (snapshot_shows) */
	uint32_t vault_notes;		/* vault/Conversations */
	uint32_t *notes_by_id;		/* its notes, by their conversation's id */
	size_t n_notes;
	struct snapshot_line *lines[STORE_KINDS];	/* of each collection's .jsonl */
	size_t n_lines[STORE_KINDS];
	uint64_t *line_marks[STORE_KINDS];	/* where line i * SNAPSHOT_LINES_STEP starts */
	uint64_t lines_size[STORE_KINDS];	/* bytes of them all */
	int refs;			/* the tree's to guard */
};

/* Builds a snapshot of what the store holds now (read through sync).
 * kind_error[k] is copied; a kind with an error is built empty. base (or
 * NULL) is a snapshot of the same tree, alive until this returns, whose
 * records the new one shares where nothing changed (snapshot.h's pool);
 * a pool whose records are mostly no longer in use is not shared, and
 * the build starts a new one. Returns NULL only on a store error
 * (logged). */
struct snapshot *snapshot_build(struct sync *sync, const int kind_error[STORE_KINDS],
				const struct snapshot *base);
/* The same with each kind's error as sync has it now. */
struct snapshot *snapshot_build_now(struct sync *sync, const struct snapshot *base);
/* Frees snap's own, and the pool with the last snapshot that shares it. */
void snapshot_free(struct snapshot *snap);
/* Whether snap shows kind at all: a collection only some servers serve
 * (goals) shows once listed, never when the server said it has none. */
bool snapshot_shows(const struct snapshot *snap, enum store_kind kind);
/* About how many bytes snap holds: its own, and its share of its pool's
 * (the snapshots alive that share it sum to the pool's). */
size_t snapshot_bytes(const struct snapshot *snap);

/* The node with inode number ino, or NULL. */
struct node *snapshot_node(const struct snapshot *snap, uint64_t ino);
/* n's inode number (names_inode of its path; the root's is
 * SNAPSHOT_ROOT_INO): worked out from the names up to the root, not kept. */
uint64_t snapshot_ino(const struct snapshot *snap, const struct node *n);
/* The child of dir called name, or NULL. */
struct node *snapshot_child(const struct snapshot *snap, const struct node *dir,
			    const char *name);
/* Child i (< snapshot_n_children) of dir, in name order. */
struct node *snapshot_child_at(const struct snapshot *snap, const struct node *dir, size_t i);

/* What snap holds of dir, a directory whose files do not follow it. */
static inline struct snapshot_dir *snapshot_dir_of(const struct snapshot *snap,
						   const struct node *dir)
{
	return &snap->dirs[dir->first_child];
}

static inline size_t snapshot_n_children(const struct snapshot *snap, const struct node *dir)
{
	return dir->files_follow ? dir->n_children : snapshot_dir_of(snap, dir)->n_children;
}

/* How many of dir's children are directories. */
static inline size_t snapshot_n_subdirs(const struct snapshot *snap, const struct node *dir)
{
	return dir->files_follow ? 0 : snapshot_dir_of(snap, dir)->n_subdirs;
}

/* Walks old and now side by side, directory by directory, calling fn once
 * for each path below the root that either holds: was and is are its
 * node in each (NULL where it has none), ino its inode number, dir_ino
 * its directory's. Each number is worked out once, from its directory's,
 * rather than from the names up to the root. Below a path that is a
 * directory in one snapshot only, every path is met as gone or come;
 * below a directory whose files follow it and that both share (was ==
 * is), nothing is met: nothing there differs. */
typedef void (*snapshot_diff_fn)(const struct node *was, struct node *is, uint64_t ino,
				 uint64_t dir_ino, void *ctx);
void snapshot_diff(const struct snapshot *old, const struct snapshot *now, snapshot_diff_fn fn,
		   void *ctx);

/* Room for any node's name: a file name's 255 bytes and the NUL. */
#define SNAPSHOT_NAME_ROOM 256

/* n's name. Most names are in the arena; an item's file named after its
 * id shares the id's bytes there (41 bytes less a memory) and is written
 * into room, which the name lives as long as. */
const char *snapshot_name(const struct snapshot *snap, const struct node *n,
			  char room[SNAPSHOT_NAME_ROOM]);

static inline const char *snapshot_id(const struct snapshot *snap, const struct node *n)
{
	return n->id == SNAPSHOT_NONE ? NULL : snap->arena + n->id;
}

/* The version of the item whose id is at arena offset id (a node's id,
 * a line's): kept in the arena just before the id. */
static inline uint64_t snapshot_version(const struct snapshot *snap, uint32_t id)
{
	uint64_t version;

	memcpy(&version, snap->arena + id - sizeof(version), sizeof(version));
	return version;
}

static inline struct node *snapshot_parent(const struct snapshot *snap, const struct node *n)
{
	return &snap->nodes[n->parent];
}

/* A file's size, -1 until known; a directory's is SNAPSHOT_DIR_SIZE. */
static inline int64_t snapshot_size(const struct node *n)
{
	if (n->kind == NODE_DIR)
		return SNAPSHOT_DIR_SIZE;
	return atomic_load_explicit(&n->size, memory_order_relaxed);
}

/* Sets a file's size; a directory's never changes. */
static inline void snapshot_learn_size(struct node *n, int64_t size)
{
	if (n->kind != NODE_DIR)
		atomic_store_explicit(&n->size, size, memory_order_relaxed);
}

static inline int64_t snapshot_mtime(const struct snapshot *snap, const struct node *n)
{
	if (n->kind == NODE_DIR && !n->files_follow)
		return snapshot_dir_of(snap, n)->mtime;
	return atomic_load_explicit(&n->mtime, memory_order_relaxed);
}

/* Dates n (inode number ino), a file whose bytes were learnt at its
 * first stat (digest: of those bytes), as snapshot.h promises; through
 * sync, which keeps the date. */
void snapshot_date_learnt(struct node *n, uint64_t ino, struct sync *sync, uint64_t digest);

/* What a size learnt for n is kept in the cache under (sync_remember_size):
 * the digest of its source, this version's formats folded in. Only
 * transcript.txt and conversation.json sizes are kept; a build takes back
 * those whose digest still matches. */
uint64_t snapshot_kept_digest(const struct node *n);

/* Whether files of this kind have their size learnt (-1 until then) and
 * kept in the cache across mounts, rather than computed by the build. */
bool snapshot_size_is_learnt(enum node_kind kind);

/* Renders a view (NODE_VAULT_*), reading its items through sync; a note
 * may fetch its transcript. *partial is set for a note rendered without
 * its transcript (offline, not cached yet): a rendering that changes when
 * the transcript comes, with no change of digest. Returns 0, 1 when a
 * note's transcript is not its version's (sync_source_json), or -errno
 * (-EIO when the store no longer keeps a version the snapshot names). */
int snapshot_render_view(const struct snapshot *snap, const struct node *n, struct sync *sync,
			 struct buf *out, bool *partial);

/* Appends the bytes [off, off + size) of a .jsonl file (fewer at its
 * end), reading only the lines they cover. -EIO, with out left as it
 * was, when the store no longer keeps a version the snapshot names. */
int snapshot_read_lines(const struct snapshot *snap, const struct node *n, struct sync *sync,
			off_t off, size_t size, struct buf *out);

/* Calls fn with the name and value of each extended attribute of n
 * (user.omi.id, ...: see omifs.1) that its item has; n without any is
 * fine. Returns 0, fn's non-zero value, or -errno reading the item. */
typedef int (*snapshot_attribute_fn)(const char *name, const char *value, void *ctx);
int snapshot_attributes(const struct snapshot *snap, const struct node *n, struct sync *sync,
			snapshot_attribute_fn fn, void *ctx);

/* The vault note of conversation id, or NULL. */
struct node *snapshot_note_of(const struct snapshot *snap, const char *id);

/* Calls fn with the path below the root of each view that holds an item
 * of kind with this id, filed in directory `place` of the id tree (its
 * day, its category; NULL when the collection has none): its .jsonl, its
 * vault note, the vault file of its day or category, or of its whole
 * collection. A view the item has left (a removed item's note) is not
 * named. */
typedef void (*snapshot_view_fn)(const char *path, void *ctx);
void snapshot_item_views(const struct snapshot *snap, enum store_kind kind, const char *id,
			 const char *place, snapshot_view_fn fn, void *ctx);

/* Renders file n from json: the item's listing JSON,
 * or the full conversation's for transcript.txt and conversation.json.
 * Takes json over (frees it as soon as it is parsed). For transcript.txt,
 * note (when not NULL) gets the conversation's vault note from the same
 * parse, the costly part: a backup that learns transcripts' sizes learns
 * the notes' on the way. Returns 0, or -EIO when json cannot be read as
 * that item. */
int snapshot_render(const struct node *n, char *json, struct buf *out, struct buf *note);

#endif
