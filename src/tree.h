/*
 * tree: paths to nodes, directory listings and attributes, over what the
 * store holds (see DESIGN.md for the layout, which is a contract).
 *
 * Promises:
 * - Names come from ids and dates only, made safe (tree_safe_name); an
 *   empty id or a duplicate name is skipped with a log line.
 * - st_size is exactly the number of bytes tree_read gives for the same
 *   snapshot; st_mtime comes from the objects' timestamps (directories:
 *   the newest inside), never the clock; a memory without any has the
 *   store's first-seen time, which never changes. Inode numbers derive
 *   from the path, so they are stable for the life of the mount and
 *   across mounts.
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

/* The "~" and 16 hexadecimal digits that end a shortened name. */
#define TREE_NAME_HASH_BYTES 17

/*
 * Appends to out the file name of a server-given string (an id, a
 * category) followed by suffix, a constant of the program's. The rule:
 * - '/', '%', control bytes (below 0x20) and DEL are written %XX (upper
 *   case hex); a name that is exactly "." or ".." becomes "%2E" or
 *   "%2E%2E"; other bytes, UTF-8 included, stay as they are.
 * - A name that would pass 255 bytes with its suffix is shortened: the
 *   longest start of the encoded string that leaves room and does not cut
 *   a UTF-8 character or an escape, then "~" and the 64-bit FNV-1a hash
 *   of the whole raw string (hash_bytes) as 16 lower-case hex digits,
 *   then the suffix. The same string always gives the same name; two
 *   share one only by a hash collision or when one spells the other's
 *   shortened name (the tree then skips the second as a duplicate).
 * Returns 0, or -1 (out unchanged) when raw is NULL or empty, or when the
 * suffix leaves no room.
 */
int tree_safe_name(const char *raw, const char *suffix, struct buf *out);

/* The local calendar day (TZ) of t as YYYY-MM-DD. */
void tree_local_day(time_t t, char out[16]);

#endif
