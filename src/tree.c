/*
 * tree: answers about inodes from refcounted snapshots (snapshot.h).
 *
 * Each call takes a reference to the current snapshot. A new one is
 * built only by tree_refresh, which then tells the kernel what changed,
 * and when a collection is listed for the first time (nothing below it
 * was shown before, so nothing cached needs dropping). The old snapshot
 * goes away with its last reader.
 */
#include "tree.h"

#include "hash.h"
#include "snapshot.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Rendered files being read in several calls (larger than one read):
 * kept so that a 50 MB transcript is rendered once, not once per read,
 * and dropped when the last byte has been read, or by the least recently
 * used when another comes. */
#define RENDERED_KEPT 4
#define ONE_READ (128 * 1024)	/* the most FUSE reads in one call */

struct rendered {
	uint64_t ino, digest;	/* ino 0: the slot is free */
	uint64_t used;		/* tree.clock at the last read */
	struct buf content;
};

struct tree {
	struct sync *sync;
	struct tree_options opts;
	pthread_mutex_t lock;		/* current, every snapshot's refs */
	pthread_mutex_t build_lock;	/* one build at a time */
	struct snapshot *current;
	pthread_mutex_t status_lock;	/* the two below */
	uint64_t status_digest;		/* of the status text last shown */
	long status_changes;		/* how often it changed, mod 1e9 */
	struct buf status_text;		/* what the last stat of it saw */
	pthread_mutex_t rendered_lock;	/* the two below */
	struct rendered rendered[RENDERED_KEPT];
	uint64_t clock;
};

struct tree *tree_new(struct sync *sync, const struct tree_options *opts)
{
	struct tree *t = xcalloc(1, sizeof(*t));

	t->sync = sync;
	t->opts = *opts;
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->build_lock, NULL);
	pthread_mutex_init(&t->status_lock, NULL);
	pthread_mutex_init(&t->rendered_lock, NULL);
	return t;
}

static void release(struct tree *t, struct snapshot *snap)
{
	bool last;

	pthread_mutex_lock(&t->lock);
	last = --snap->refs == 0;
	pthread_mutex_unlock(&t->lock);
	if (last)
		snapshot_free(snap);
}

void tree_free(struct tree *t)
{
	if (!t)
		return;
	if (t->current)
		release(t, t->current);
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->build_lock);
	pthread_mutex_destroy(&t->status_lock);
	buf_free(&t->status_text);
	pthread_mutex_destroy(&t->rendered_lock);
	for (size_t i = 0; i < RENDERED_KEPT; i++)
		buf_free(&t->rendered[i].content);
	free(t);
}

/* Builds a snapshot of the store now and makes it current; *old gets the
 * one it replaced, whose reference passes to the caller (NULL if none).
 * Returns -EIO, changing nothing, when the store cannot be read.
 * build_lock held. */
static int replace_current(struct tree *t, struct snapshot **old)
{
	int errors[STORE_KINDS];
	struct snapshot *snap;

	*old = NULL;
	for (int k = 0; k < STORE_KINDS; k++)
		errors[k] = sync_kind_error(t->sync, k);
	snap = snapshot_build(t->sync, errors, sync_store_generation(t->sync));
	if (!snap)
		return -EIO;
	snap->refs = 1;
	pthread_mutex_lock(&t->lock);
	*old = t->current;
	t->current = snap;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* Whether snap shows the collections as listed or not as sync has them. */
static bool listings_match(struct tree *t, const struct snapshot *snap)
{
	for (int k = 0; k < STORE_KINDS; k++)
		if (snap->kind_error[k] != sync_kind_error(t->sync, k))
			return false;
	return true;
}

/* A reference to the current snapshot, built first if there is none yet
 * or a collection was listed for the first time since. NULL only when
 * the store cannot be read. */
static struct snapshot *acquire(struct tree *t)
{
	struct snapshot *snap, *old;

	pthread_mutex_lock(&t->lock);
	snap = t->current;
	if (snap && listings_match(t, snap)) {
		snap->refs++;
		pthread_mutex_unlock(&t->lock);
		return snap;
	}
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_lock(&t->build_lock);
	pthread_mutex_lock(&t->lock);
	snap = t->current;
	if (!snap || !listings_match(t, snap)) {
		pthread_mutex_unlock(&t->lock);
		if (replace_current(t, &old) == 0 && old)
			release(t, old);
		pthread_mutex_lock(&t->lock);
		snap = t->current;
	}
	if (snap)
		snap->refs++;
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_unlock(&t->build_lock);
	return snap;
}

/*
 * Finds inode ino in a snapshot it takes a reference to (*snap; the
 * caller releases it when the call returns 0). `inside` is for looking
 * into a directory: below a collection that needs its listing, which is
 * made first if it never was. The root and the collections' directories
 * themselves never wait for one.
 */
static int enter(struct tree *t, uint64_t ino, bool inside, struct snapshot **snap,
		 struct node **node)
{
	int kind, rc;

	for (int attempt = 0; attempt < 2; attempt++) {
		*snap = acquire(t);
		if (!*snap)
			return -EIO;
		*node = snapshot_node(*snap, ino);
		if (!*node) {
			release(t, *snap);
			return -ENOENT;
		}
		kind = (*node)->collection;
		rc = inside && kind >= 0 ? (*snap)->kind_error[kind] : 0;
		if (rc == 0)
			return 0;
		release(t, *snap);
		if (attempt == 0 && sync_ensure_listed(t->sync, kind) != 0)
			break;
	}
	return rc ? rc : -EIO;
}

/* ---- the status file ---- */

/*
 * Renders the status text. Its attributes are never cached, so the kernel
 * asks them before every read, and drops its cached pages when the mtime
 * differs: the text's changes move the mtime's nanoseconds only, which
 * rsync ignores by default (a second backup copies nothing new) while the
 * kernel does not. The text is kept, so that the read after that stat gets
 * the very bytes whose length it reported.
 */
static void render_status_file(struct tree *t, const struct snapshot *snap, struct buf *out,
			  long *mtime_nsec)
{
	struct status *st = xcalloc(1, sizeof(*st));
	uint64_t digest;

	sync_status(t->sync, st);
	memcpy(st->odd, snap->odd, sizeof(st->odd));
	st->pid = (long)getpid();
	render_status(st, out);
	free(st);
	digest = hash_bytes(out->data, out->len);
	pthread_mutex_lock(&t->status_lock);
	if (digest != t->status_digest) {
		t->status_digest = digest;
		t->status_changes = (t->status_changes + 1) % 1000000000;
	}
	buf_reset(&t->status_text);
	buf_append(&t->status_text, out->data, out->len);
	if (mtime_nsec)
		*mtime_nsec = t->status_changes;
	pthread_mutex_unlock(&t->status_lock);
}

/* The status text the last stat reported, or a new one. */
static void read_status(struct tree *t, const struct snapshot *snap, struct buf *out)
{
	pthread_mutex_lock(&t->status_lock);
	buf_append(out, t->status_text.data, t->status_text.len);
	pthread_mutex_unlock(&t->status_lock);
	if (out->len == 0)
		render_status_file(t, snap, out, NULL);
}

/* ---- content and attributes ---- */

static void keep_rendered(struct tree *t, const struct node *n, struct buf *content);

static int source_json(struct tree *t, const struct snapshot *snap, const struct node *n,
		       char **json)
{
	bool full = n->kind == NODE_TRANSCRIPT || n->kind == NODE_CONV_JSON;
	int rc = sync_source_json(t->sync, (enum store_kind)n->collection, snapshot_id(snap, n),
				  full, json);

	/* Gone from the store since the snapshot: a refresh is on its way. */
	return rc == -ENOENT ? -EIO : rc;
}

static int render_node(struct tree *t, const struct snapshot *snap, const struct node *n,
		       struct buf *out, long *status_nsec)
{
	char *json;
	int rc;

	if (n->kind == NODE_DIR)
		return -EISDIR;
	if (n->kind == NODE_STATUS) {
		if (status_nsec)
			render_status_file(t, snap, out, status_nsec);
		else
			read_status(t, snap, out);
		return 0;
	}
	rc = source_json(t, snap, n, &json);
	if (rc < 0)
		return rc;
	rc = snapshot_render((enum node_kind)n->kind, json, out);
	free(json);
	return rc;
}

static void fill_stat(const struct tree *t, const struct node *n, int64_t size, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_uid = t->opts.uid;
	st->st_gid = t->opts.gid;
	st->st_mtime = st->st_ctime = st->st_atime = (time_t)n->mtime;
	if (n->kind == NODE_DIR) {
		st->st_mode = S_IFDIR | (0555 & ~t->opts.umask);
		st->st_nlink = 2 + n->n_subdirs;
		st->st_size = 4096;
	} else {
		st->st_mode = S_IFREG | (0444 & ~t->opts.umask);
		st->st_nlink = 1;
		st->st_size = (off_t)size;
		st->st_blocks = (blkcnt_t)((size + 511) / 512);
	}
	st->st_blksize = 4096;
}

/* The attributes of n, rendering it (and fetching its transcript) when
 * its size is not known yet. */
static int node_attributes(struct tree *t, const struct snapshot *snap, struct node *n,
			   struct stat *st, bool *changing)
{
	struct buf content = BUF_INIT;
	long mtime_nsec = 0;
	int64_t size = snapshot_size(n);
	int rc = 0;

	if (changing)
		*changing = n->kind == NODE_STATUS;
	if (n->kind != NODE_DIR && (size < 0 || n->kind == NODE_STATUS)) {
		rc = render_node(t, snap, n, &content, &mtime_nsec);
		size = (int64_t)content.len;
		if (rc == 0 && n->kind != NODE_STATUS) {
			snapshot_learn_size(n, size);
			sync_remember_size(t->sync, n->ino, snapshot_kept_digest(n), size);
		}
		/* Learning the size was the costly part: the reads that
		 * follow a first stat get the same bytes. */
		if (rc == 0 && n->kind != NODE_STATUS && content.len > ONE_READ)
			keep_rendered(t, n, &content);
		buf_free(&content);
	}
	if (rc == 0)
		fill_stat(t, n, size, st);
	if (rc == 0 && n->kind == NODE_STATUS)
		st->st_mtim.tv_nsec = st->st_ctim.tv_nsec = mtime_nsec;
	return rc;
}

int tree_getattr(struct tree *t, uint64_t ino, struct stat *st, bool *changing)
{
	struct snapshot *snap;
	struct node *n;
	int rc = enter(t, ino, false, &snap, &n);

	if (rc < 0)
		return rc;
	rc = node_attributes(t, snap, n, st, changing);
	release(t, snap);
	return rc;
}

int tree_lookup(struct tree *t, uint64_t parent, const char *name, struct stat *st,
		bool *changing)
{
	struct snapshot *snap;
	struct node *dir, *n;
	int rc = enter(t, parent, true, &snap, &dir);

	if (rc < 0)
		return rc;
	n = dir->kind == NODE_DIR ? snapshot_child(snap, dir, name) : NULL;
	rc = dir->kind != NODE_DIR ? -ENOTDIR : n ? node_attributes(t, snap, n, st, changing)
						  : -ENOENT;
	release(t, snap);
	return rc;
}

int tree_readdir(struct tree *t, uint64_t ino, off_t offset, tree_fill_fn fill, void *ctx)
{
	struct snapshot *snap;
	struct node *dir;
	struct stat st;
	int rc = enter(t, ino, true, &snap, &dir);

	if (rc < 0)
		return rc;
	if (dir->kind != NODE_DIR) {
		release(t, snap);
		return -ENOTDIR;
	}
	if (offset <= 0) {
		fill_stat(t, dir, 0, &st);
		if (fill(ctx, ".", &st, true, 1) != 0)
			goto done;
	}
	if (offset <= 1) {
		fill_stat(t, snapshot_parent(snap, dir), 0, &st);
		if (fill(ctx, "..", &st, false, 2) != 0)
			goto done;
	}
	for (size_t i = offset > 2 ? (size_t)offset - 2 : 0; i < dir->n_children; i++) {
		const struct node *c = snapshot_child_at(snap, dir, i);
		int64_t size = snapshot_size(c);
		bool complete = c->kind == NODE_DIR || (size >= 0 && c->kind != NODE_STATUS);

		fill_stat(t, c, complete ? size : 0, &st);
		if (fill(ctx, snapshot_name(snap, c), &st, complete, (off_t)i + 3) != 0)
			break;
	}
done:
	release(t, snap);
	return 0;
}

int tree_open(struct tree *t, uint64_t ino, bool *changing)
{
	struct snapshot *snap;
	struct node *n;
	int rc = enter(t, ino, false, &snap, &n);

	if (rc < 0)
		return rc;
	*changing = n->kind == NODE_STATUS;
	rc = n->kind == NODE_DIR ? -EISDIR : 0;
	release(t, snap);
	return rc;
}

/* Appends content[off, off + size) to out. Returns whether that reached
 * the end. */
static bool copy_part(const struct buf *content, off_t off, size_t size, struct buf *out)
{
	size_t from = off < 0 ? 0 : (size_t)off;

	if (from >= content->len)
		return true;
	if (size > content->len - from)
		size = content->len - from;
	buf_append(out, content->data + from, size);
	return from + size >= content->len;
}

/* Serves the read from a kept rendering of n, if there is one. */
static bool read_kept(struct tree *t, const struct node *n, off_t off, size_t size,
		      struct buf *out)
{
	bool found = false;

	pthread_mutex_lock(&t->rendered_lock);
	for (size_t i = 0; i < RENDERED_KEPT && !found; i++) {
		struct rendered *r = &t->rendered[i];

		if (r->ino != n->ino || r->digest != n->digest)
			continue;
		found = true;
		r->used = ++t->clock;
		if (copy_part(&r->content, off, size, out)) {
			r->ino = 0;
			buf_free(&r->content);
		}
	}
	pthread_mutex_unlock(&t->rendered_lock);
	return found;
}

/* Keeps content (taking it over) for the reads still to come. */
static void keep_rendered(struct tree *t, const struct node *n, struct buf *content)
{
	struct rendered *oldest;

	pthread_mutex_lock(&t->rendered_lock);
	oldest = &t->rendered[0];
	for (size_t i = 1; i < RENDERED_KEPT; i++)
		if (t->rendered[i].used < oldest->used)
			oldest = &t->rendered[i];
	buf_free(&oldest->content);
	oldest->ino = n->ino;
	oldest->digest = n->digest;
	oldest->used = ++t->clock;
	oldest->content = *content;
	*content = (struct buf)BUF_INIT;
	pthread_mutex_unlock(&t->rendered_lock);
}

int tree_read(struct tree *t, uint64_t ino, off_t off, size_t size, struct buf *out)
{
	struct buf content = BUF_INIT;
	struct snapshot *snap;
	struct node *n;
	int rc = enter(t, ino, false, &snap, &n);

	if (rc < 0)
		return rc;
	if (n->kind == NODE_STATUS || !read_kept(t, n, off, size, out)) {
		rc = render_node(t, snap, n, &content, NULL);
		if (rc == 0 && !copy_part(&content, off, size, out) && n->kind != NODE_STATUS)
			keep_rendered(t, n, &content);
	}
	buf_free(&content);
	release(t, snap);
	return rc;
}

/* ---- refreshing ---- */

static bool node_changed(const struct node *was, const struct node *is)
{
	if (was->mtime != is->mtime || was->kind != is->kind)
		return true;
	if (was->kind == NODE_DIR)
		return was->n_children != is->n_children || was->n_subdirs != is->n_subdirs;
	return was->digest != is->digest || (was->kind != NODE_STATUS &&
					     snapshot_size(is) >= 0 &&
					     snapshot_size(was) != snapshot_size(is));
}

/* Calls invalidate for what differs between two snapshots: inodes that
 * changed, entries that went away (and their directories), entries that
 * came (a lookup that failed before may be cached as absent). Sizes
 * learnt in old carry over to unchanged nodes of now. */
static void report_changes(const struct snapshot *old, const struct snapshot *now,
			   tree_invalidate_fn invalidate, void *ctx)
{
	for (size_t i = 1; i < old->n_nodes; i++) {
		const struct node *was = &old->nodes[i], *dir = snapshot_parent(old, was);
		struct node *is = snapshot_node(now, was->ino);

		/* A transcript's size stays known while its source is the same. */
		if (is && is->digest == was->digest && snapshot_size(is) < 0)
			snapshot_learn_size(is, snapshot_size(was));

		if (!is) {
			invalidate(was->ino, dir->ino, snapshot_name(old, was), ctx);
			invalidate(dir->ino, 0, NULL, ctx);
		} else if (node_changed(was, is)) {
			invalidate(was->ino, 0, NULL, ctx);
		}
	}
	for (size_t i = 1; i < now->n_nodes; i++) {
		const struct node *is = &now->nodes[i];
		const struct node *dir = snapshot_parent(now, is);

		if (!snapshot_node(old, is->ino)) {
			invalidate(0, dir->ino, snapshot_name(now, is), ctx);
			invalidate(dir->ino, 0, NULL, ctx);
		}
	}
}

void tree_refresh(struct tree *t, tree_invalidate_fn invalidate, void *ctx)
{
	struct snapshot *old, *now = NULL;

	pthread_mutex_lock(&t->build_lock);
	if (replace_current(t, &old) == 0) {
		pthread_mutex_lock(&t->lock);
		now = t->current;
		now->refs++;
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&t->build_lock);
	if (old && now)
		report_changes(old, now, invalidate, ctx);
	if (old)
		release(t, old);
	if (now)
		release(t, now);
}
