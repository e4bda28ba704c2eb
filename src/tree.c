/*
 * tree: answers about inodes from refcounted snapshots (snapshot.h).
 *
 * Each call takes a reference to the current snapshot. A new one is
 * built only by tree_refresh, which then tells the kernel what changed,
 * and when a collection is listed for the first time (nothing below it
 * was shown before, so nothing cached needs dropping). The snapshot a
 * refresh replaced stays, as the former one, for the files it sizes
 * otherwise, until the kernel asks their attributes again or the next
 * refresh; any other goes away with its last reader.
 *
 * Files are rendered from the store at read, from the very versions
 * the snapshot names: the store keeps those while a snapshot in use
 * names them (sync_versions_in_use), so a read gives the bytes whose
 * size that snapshot gave, whatever a refresh committed since.
 *
 * This file makes the calls tree.h promises, from the parts that
 * tree_state.h lists.
 */
#include "tree.h"
#include "tree_state.h"

#include "feed.h"
#include "kept.h"
#include "names.h"
#include "searchdir.h"
#include "snapshot.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Static_assert(TREE_ROOT_INO == SNAPSHOT_ROOT_INO, "the tree's root is its snapshots'");

struct tree *tree_new(struct sync *sync, const struct tree_options *opts)
{
	struct tree *t = xcalloc(1, sizeof(*t));
	pthread_condattr_t monotonic;
	int64_t last_change;

	t->sync = sync;
	t->opts = *opts;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&monotonic);
	pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
	pthread_cond_init(&t->read_done, &monotonic);
	pthread_condattr_destroy(&monotonic);
	pthread_mutex_init(&t->build_lock, NULL);
	pthread_mutex_init(&t->status_lock, NULL);
	t->kept = kept_new();
	/* The feed begins empty: it shows what changes while mounted. */
	last_change = sync_last_change(sync);
	t->feed = feed_new(last_change > 0 ? last_change : 0);
	t->search_ino = names_inode("/" SNAPSHOT_SEARCH_DIR, strlen("/" SNAPSHOT_SEARCH_DIR));
	t->search = searchdir_new(sync, t->search_ino, "/" SNAPSHOT_SEARCH_DIR, opts->cache_ttl);
	t->search_mtime = sync_cache_created_at(sync);
	return t;
}

void tree_free(struct tree *t)
{
	struct snapshot *former;

	if (!t)
		return;
	if (t->current)
		tree_release(t, t->current);
	former = tree_drop_former(t);
	if (former)
		tree_release(t, former);
	searchdir_free(t->search);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->read_done);
	free(t->reading);
	free(t->live);
	pthread_mutex_destroy(&t->build_lock);
	pthread_mutex_destroy(&t->status_lock);
	for (int f = 0; f < STATUS_FILES; f++)
		for (int v = 0; v < STATUS_VIEWS; v++)
			buf_free(&t->status_files[f].views[v].text);
	kept_free(t->kept);
	feed_free(t->feed);
	free(t);
}

/* ---- the tree's calls ---- */

int tree_attributes(struct tree *t, uint64_t ino, tree_attribute_fn fn, void *ctx)
{
	struct target to;
	int rc = tree_resolve(t, ino, false, &to);

	if (rc < 0 || !to.snap)
		return rc;	/* search/ has none */
	rc = snapshot_attributes(to.snap, to.node, t->sync, fn, ctx);
	tree_release(t, to.snap);
	return rc;
}

int tree_readlink(struct tree *t, uint64_t ino, struct buf *out)
{
	return searchdir_readlink(t->search, ino, out);
}

int tree_getattr(struct tree *t, uint64_t ino, pid_t reader, struct stat *st, bool *changing)
{
	struct target to;
	int rc = tree_resolve(t, ino, false, &to);

	if (rc < 0)
		return rc;
	if (!to.snap) {
		tree_search_stat(t, &to.entry, st);
		if (changing)
			*changing = false;
		return 0;
	}
	rc = tree_kernel_attributes(t, to.snap, to.node, reader, st, changing);
	tree_release(t, to.snap);
	return rc;
}

int tree_lookup(struct tree *t, uint64_t parent, const char *name, pid_t reader,
		struct stat *st, bool *changing)
{
	struct snapshot *snap;
	struct node *dir, *n;
	struct target to;
	int rc;

	if (changing)
		*changing = false;
	if (parent == t->search_ino)
		return tree_search_lookup(t, parent, name, st);
	rc = tree_resolve(t, parent, true, &to);
	if (rc < 0)
		return rc;
	if (!to.snap)
		return tree_search_lookup(t, parent, name, st);
	snap = to.snap;
	dir = to.node;
	n = dir->kind == NODE_DIR ? snapshot_child(snap, dir, name) : NULL;
	if (n && tree_attributes_wait(t, snap, n)) {
		/* Never cached: the kernel asks getattr next, which lists or
		 * fetches without holding the directory. */
		tree_fill_stat(t, snap, snapshot_ino(snap, n), n, 0, st);
		if (changing)
			*changing = true;
		tree_release(t, snap);
		return 0;
	}
	if (n && n->kind == NODE_STATUS)
		tree_status_opened(t, (enum status_file)n->id, reader);
	rc = dir->kind != NODE_DIR ? -ENOTDIR
	     : n ? tree_kernel_attributes(t, snap, n, reader, st, changing) : -ENOENT;
	tree_release(t, snap);
	return rc;
}

int tree_readdir(struct tree *t, uint64_t ino, off_t offset, tree_fill_fn fill, void *ctx)
{
	char room[SNAPSHOT_NAME_ROOM];
	struct snapshot *snap;
	struct node *dir;
	struct target to;
	struct stat st;
	int rc = tree_resolve(t, ino, true, &to);

	if (rc < 0)
		return rc;
	if (!to.snap)
		return tree_search_readdir(t, &to.entry, offset, fill, ctx);
	snap = to.snap;
	dir = to.node;
	if (dir->kind != NODE_DIR) {
		tree_release(t, snap);
		return -ENOTDIR;
	}
	if (offset <= 0) {
		tree_fill_stat(t, snap, ino, dir, 0, &st);
		if (fill(ctx, ".", &st, true, 1) != 0)
			goto done;
	}
	if (offset <= 1) {
		tree_fill_stat(t, snap, snapshot_ino(snap, snapshot_parent(snap, dir)),
			       snapshot_parent(snap, dir), 0, &st);
		if (fill(ctx, "..", &st, false, 2) != 0)
			goto done;
	}
	for (size_t i = offset > 2 ? (size_t)offset - 2 : 0; i < snapshot_n_children(snap, dir);
	     i++) {
		const struct node *c = snapshot_child_at(snap, dir, i);
		uint64_t c_ino = snapshot_ino(snap, c);
		int64_t size = snapshot_size(c);
		bool complete = c->kind == NODE_DIR ||
				(size >= 0 && c->kind != NODE_STATUS &&
				 !tree_read_from_former(t, c_ino));

		tree_fill_stat(t, snap, c_ino, c, complete ? size : 0, &st);
		if (fill(ctx, snapshot_name(snap, c, room), &st, complete, (off_t)i + 3) != 0)
			break;
	}
done:
	tree_release(t, snap);
	return 0;
}

int tree_open(struct tree *t, uint64_t ino, bool *changing)
{
	struct target to;
	int rc = tree_resolve(t, ino, false, &to);

	*changing = false;
	if (rc < 0)
		return rc;
	if (!to.snap)
		return to.entry.kind == SEARCHDIR_RESULTS_MD ? 0 : -EISDIR;
	*changing = to.node->kind == NODE_STATUS;
	rc = to.node->kind == NODE_DIR ? -EISDIR : 0;
	tree_release(t, to.snap);
	return rc;
}

int tree_read(struct tree *t, uint64_t ino, pid_t reader, off_t off, size_t size,
	      struct buf *out)
{
	struct buf content = BUF_INIT;
	struct timespec started;
	struct snapshot *snap;
	struct target to;
	struct node *n;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &started);
	tree_note_reading(t, ino);
	rc = tree_resolve_to_read(t, ino, &to);
	if (rc < 0 || !to.snap) {
		if (rc == 0)
			rc = searchdir_read(t->search, ino, off, size, out);
		tree_note_read_time(t, &started);
		return rc;
	}
	snap = to.snap;
	n = to.node;
	if (n->kind == NODE_JSONL) {
		rc = snapshot_read_lines(snap, n, t->sync, off, size, out);
	} else if (n->kind == NODE_STATUS) {
		tree_read_status(t, snap, (enum status_file)n->id, reader, off, size, out);
		rc = 0;
	} else if (!kept_read(t->kept, ino, n->digest, off, size, out)) {
		rc = tree_render_node(t, snap, n, reader, &content, NULL, NULL, NULL);
		if (rc >= 0 && !kept_copy_part(&content, off, size, out) && rc == 0)
			kept_put(t->kept, ino, n->digest, &content);
	}
	buf_free(&content);
	/* The .omifs files' own reads are not counted: reading the metrics
	 * must not change them under their reader. */
	if (n->kind != NODE_STATUS)
		tree_note_read_time(t, &started);
	tree_release(t, snap);
	return rc < 0 ? rc : 0;
}
