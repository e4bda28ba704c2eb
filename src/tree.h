/*
 * tree: inode numbers to nodes, directory listings, attributes and file
 * content, over what the store holds (the layout is a contract: see
 * ARCHITECTURE.md).
 *
 * Promises:
 * - The id tree's names come from ids and dates only, made safe
 *   (names.h); an empty id or a duplicate name is skipped with a log line.
 *   The views (vault/, the .jsonl files) are named from titles (vault.h)
 *   and follow every other promise here.
 * - st_size is exactly the number of bytes tree_read gives for the same
 *   snapshot; st_mtime moves whenever a file's bytes do, and never
 *   otherwise (snapshot.h has the rule; directories: the newest inside).
 *   Inode numbers derive from the path, so they are stable for the life
 *   of the mount and across mounts; the root's is TREE_ROOT_INO.
 * - .omifs/status is the one file whose content changes by itself: its
 *   attributes are flagged `changing` and must not be cached; a change of
 *   its content moves its mtime's nanoseconds, never its seconds.
 * - A collection that has never been listed gives its error (EIO, EAGAIN)
 *   for everything below its directory, never an empty directory, and for
 *   the views made from it (a stat of memories.jsonl lists memories).
 * - What a file holds is rendered at read from the store, never kept.
 *   The size of transcript.txt and conversation.json needs the
 *   transcript, so asking for it may fetch one (in a batch, through sync).
 * - The tree changes only in tree_refresh (and when a collection is
 *   listed for the first time), so what the kernel caches stays true
 *   until tree_refresh says otherwise.
 * - A file is read from the versions its snapshot names, which the store
 *   keeps while the snapshot is in use: a read gives the bytes whose size
 *   the kernel was given (tree_read), whatever a refresh committed since.
 *   tree_refresh must follow every change of the store's listings, for
 *   the change to show.
 *
 * Thread-safe: every call works on a refcounted snapshot. Calls return 0
 * or -errno.
 */
#ifndef OMIFS_TREE_H
#define OMIFS_TREE_H

#include "buf.h"
#include "names.h"
#include "sync.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#define TREE_ROOT_INO 1

struct tree;

/* Who owns every file and which permission bits are cleared. */
struct tree_options {
	uid_t uid;
	gid_t gid;
	mode_t umask;
	int cache_ttl;		/* seconds the kernel caches names and attributes */
	const char *cache_path;	/* shown in .omifs/status; NULL: in memory;
				 * borrowed, must outlive the tree */
};

/* sync is borrowed and must outlive the tree: the tree reads the cache
 * and fetches only through it. */
struct tree *tree_new(struct sync *sync, const struct tree_options *opts);
void tree_free(struct tree *t);

/* The attributes of name in directory parent. *changing (may be NULL) is
 * set for a file whose attributes must not be cached. reader is the
 * process asking (0: unknown): a file made afresh at every stat (the
 * .omifs files) shows a reader that reads on the version it was reading,
 * so that it reads that version whole (see tree_read). */
int tree_lookup(struct tree *t, uint64_t parent, const char *name, pid_t reader,
		struct stat *st, bool *changing);
int tree_getattr(struct tree *t, uint64_t ino, pid_t reader, struct stat *st, bool *changing);

/* Called for each entry of a directory from position `offset` on: "."
 * and ".." are positions 0 and 1. `complete` tells whether st holds every
 * attribute or only the type and inode (an entry whose size would cost a
 * fetch); `next` is the position after this entry. Returns non-zero to
 * stop. */
typedef int (*tree_fill_fn)(void *ctx, const char *name, const struct stat *st, bool complete,
			    off_t next);
int tree_readdir(struct tree *t, uint64_t ino, off_t offset, tree_fill_fn fill, void *ctx);

/* Checks that ino is a file that can be read; sets *changing. */
int tree_open(struct tree *t, uint64_t ino, bool *changing);

/* Appends to out the bytes [off, off + size) of file ino (fewer at its
 * end), for reader (as in tree_getattr: an .omifs file gives the version
 * reader's last stat of it showed). A file read in several calls is
 * rendered once for all of them.
 * A file a refresh changed is read from the snapshot it replaced until
 * the kernel asks the file's attributes again (tree_getattr, tree_lookup,
 * tree_readdir give them), or tree_settle lets that snapshot go: the
 * kernel reads up to the size it holds, and a reply of other bytes would
 * be cut at that size or padded with zeros to it. */
int tree_read(struct tree *t, uint64_t ino, pid_t reader, off_t off, size_t size,
	      struct buf *out);

/* Every tree_read, whatever it returned, is followed by tree_read_done
 * once its reply is sent: until then tree_refresh holds back (up to 2 s)
 * telling the kernel of a change to ino, whose invalidation crossing the
 * reply would have the kernel pad it with zeros to the old size. */
void tree_read_done(struct tree *t, uint64_t ino);

/* The extended attributes of ino (snapshot_attributes): fn gets each
 * name and value, and may return non-zero to stop, which is returned. */
typedef int (*tree_attribute_fn)(const char *name, const char *value, void *ctx);
int tree_attributes(struct tree *t, uint64_t ino, tree_attribute_fn fn, void *ctx);

/* The target of a symbolic link (search/<query>/<match>). */
int tree_readlink(struct tree *t, uint64_t ino, struct buf *out);

/* What changed: the inode ino (its attributes and content), and/or, when
 * name is not NULL, the entry name in directory parent (it went away, or
 * came, or now points elsewhere). */
typedef void (*tree_invalidate_fn)(uint64_t ino, uint64_t parent, const char *name, void *ctx);

/* Brings the tree up to date with the store after a refresh, and calls
 * invalidate for every inode and entry that changed, came or went, so
 * that the kernel's caches can be dropped. Never call it from a FUSE
 * request: the kernel may hold locks the invalidation needs. */
void tree_refresh(struct tree *t, tree_invalidate_fn invalidate, void *ctx);

/* Lets the snapshot the last refresh replaced go a few seconds after the
 * refresh told the kernel what changed, whether or not the kernel asked
 * the changed files' attributes since: a heavy account's mount then
 * holds one snapshot between refreshes, not two. From then on every
 * read(2) asks the attributes first (the kernel's auto_inval_data); what
 * the former snapshot still answered is a read(2) already under way, or
 * a page of a file mapped before the refresh. Cheap; call it every few
 * seconds, never from a FUSE request. */
void tree_settle(struct tree *t);

#endif
