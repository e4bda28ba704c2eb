/*
 * searchdir: the mount's search/ directory, a part of the tree.
 *
 * Promises:
 * - Any name looked up in search/ is a query. Its directory holds the
 *   matches, best first, as symlinks with readable names ("01 2025-06-30
 *   Mortgage call") pointing into the id tree, and results.md.
 * - A query is run once, at its first lookup, and its results stay the
 *   same until a refresh changes the cache (searchdir_forget) and its
 *   name is looked up again; the last
 *   SEARCHDIR_KEPT queries are kept, and any the kernel may still cache
 *   (up to SEARCHDIR_MAX_KEPT), so that what it shows of a query is
 *   there to read; older ones are run again when looked up again.
 * - Any name is a query (search_query.h); only raw FTS5 after "fts:" can
 *   be refused, with -EINVAL, never an empty directory that looks like
 *   no match.
 * - Listing search/ itself shows nothing: queries are not files.
 * - Inode numbers derive from the path like the tree's, sizes are exact.
 * Thread-safe. Functions return 0 or -errno.
 */
#ifndef OMIFS_SEARCHDIR_H
#define OMIFS_SEARCHDIR_H

#include "buf.h"
#include "sync.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SEARCHDIR_KEPT 32
#define SEARCHDIR_MAX_KEPT 256
#define SEARCHDIR_RESULTS 100	/* matches shown per query */
/* A query ranks for this long at most; results.md then says it stopped. */
#define SEARCHDIR_DEADLINE_MS 2000

enum searchdir_kind { SEARCHDIR_QUERY, SEARCHDIR_LINK, SEARCHDIR_RESULTS_MD };

/* What the tree needs to describe a node of search/. */
struct searchdir_entry {
	uint64_t ino;
	enum searchdir_kind kind;
	int64_t size;		/* a link's: its target's length */
};

struct searchdir;

/* sync is borrowed. dir_ino is search/'s own inode number, dir_path its
 * path ("/search"). */
/* hold: how many seconds the kernel caches the names and attributes it
 * is given (a query it may still show is kept). */
struct searchdir *searchdir_new(struct sync *sync, uint64_t dir_ino, const char *dir_path,
				int hold);
void searchdir_free(struct searchdir *sd);

/* name in directory parent: parent is search/ itself (name is a query,
 * run now unless kept) or a query's directory. */
int searchdir_lookup(struct searchdir *sd, uint64_t parent, const char *name,
		     struct searchdir_entry *out);
int searchdir_getattr(struct searchdir *sd, uint64_t ino, struct searchdir_entry *out);

/* Calls fill for each entry of query directory ino from position
 * offset - 2 on (the tree gives "." and ".."); fill returns non-zero to
 * stop. */
typedef int (*searchdir_fill_fn)(void *ctx, const char *name, const struct searchdir_entry *e,
				 off_t next);
int searchdir_readdir(struct searchdir *sd, uint64_t ino, off_t offset, searchdir_fill_fn fill,
		      void *ctx);

/* results.md's bytes [off, off + size). */
int searchdir_read(struct searchdir *sd, uint64_t ino, off_t off, size_t size, struct buf *out);
/* A link's target. */
int searchdir_readlink(struct searchdir *sd, uint64_t ino, struct buf *out);

/* The cache changed: every kept query runs again at the next lookup of
 * its name, and gone is called with each name, for the kernel to forget
 * its entry in search/. Until then, what the kernel may still hold of
 * a query (found by inode) answers as before. */
void searchdir_forget(struct searchdir *sd, void (*gone)(const char *name, void *ctx), void *ctx);

#endif
