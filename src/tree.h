/*
 * tree: paths to nodes, directory listings and attributes, over what the
 * store holds (see DESIGN.md for the layout, which is a contract).
 *
 * Promises:
 * - Names come from ids and dates only, made safe: '/', '%' and control
 *   bytes are percent-encoded, "." and ".." become "%2E" and "%2E%2E";
 *   a name longer than 255 bytes or a duplicate is skipped with a log line.
 * - st_size is exactly the number of bytes tree_read gives for the same
 *   snapshot; st_mtime comes from the objects' timestamps (directories:
 *   the newest inside), never the clock; inode numbers derive from the
 *   path, so they are stable for the life of the mount and across mounts.
 * - A collection that has never been listed gives its error (EIO, EAGAIN)
 *   for everything below its directory, never an empty directory.
 * - The stat of transcript.txt and conversation.json needs the transcript,
 *   so it may fetch one (in a batch, through sync).
 *
 * Thread-safe: every call works on a refcounted snapshot, rebuilt when
 * the store changes. Calls return 0 or -errno.
 */
#ifndef OMIFS_TREE_H
#define OMIFS_TREE_H

#include "buf.h"
#include "store.h"
#include "sync.h"

#include <stdbool.h>
#include <sys/stat.h>

struct tree;

/* sync and store are borrowed and must outlive the tree. */
struct tree *tree_new(struct sync *sync, struct store *store);
void tree_free(struct tree *t);

int tree_getattr(struct tree *t, const char *path, struct stat *st);

/* Called for each entry of a directory, "." and ".." first. `complete`
 * tells whether st holds every attribute or only the type and inode
 * (an entry whose size would cost a fetch). Returns non-zero to stop. */
typedef int (*tree_fill_fn)(void *ctx, const char *name, const struct stat *st, bool complete);
int tree_readdir(struct tree *t, const char *path, tree_fill_fn fill, void *ctx);

/* Checks that path is a file that can be read; sets *changing for files
 * whose content changes by itself (.omifs/status), which must not be
 * cached. Renders nothing. */
int tree_open(struct tree *t, const char *path, bool *changing);

/* Appends the whole content of the file at path to out. *changing is set
 * for files whose content changes by itself (.omifs/status), which must
 * not be cached. */
int tree_read(struct tree *t, const char *path, struct buf *out, bool *changing);

/* Called for each path whose content or attributes changed. */
typedef void (*tree_invalidate_fn)(const char *path, void *ctx);

/* Brings the tree up to date with the store after a refresh, and calls
 * invalidate for every path that changed or went away, so that the
 * kernel's caches can be dropped. */
void tree_refresh(struct tree *t, tree_invalidate_fn invalidate, void *ctx);

/* Percent-encodes a server-given string into a file name with the given
 * suffix. Returns 0, or -1 when it cannot be one (empty or too long). */
int tree_safe_name(const char *raw, const char *suffix, struct buf *out);

/* The local calendar day (TZ) of t as YYYY-MM-DD. */
void tree_local_day(time_t t, char out[16]);

#endif
