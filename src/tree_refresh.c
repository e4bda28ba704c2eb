/*
 * tree_refresh: a refresh. It builds the snapshot of the store now,
 * carries the sizes learnt over to what did not change, and tells the
 * kernel every inode and name that changed, came or went, once the reads
 * of them awaiting their reply are answered. A part of tree
 * (tree_state.h); calls tree_snapshots.c.
 */
#include "tree_state.h"

#include "searchdir.h"
#include "snapshot.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

/* How long, in all, a refresh waits for replies to reads of what it is to
 * invalidate. */
#define REPLY_WAIT_SECONDS 2

/* Waits until no read of ino awaits its reply, or until `until`. The
 * kernel's invalidation of an inode makes it ignore the size a reply
 * crossing it implies: a reply that came from the new snapshot, shorter
 * than the kernel's size, would be padded with zeros to that size. */
static void await_replies(struct tree *t, uint64_t ino, const struct timespec *until)
{
	bool reading;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	do {
		reading = tree_being_read(t, ino);
		if (reading)
			rc = pthread_cond_timedwait(&t->read_done, &t->lock, until);
	} while (reading && rc == 0);
	pthread_mutex_unlock(&t->lock);
}

/* What report_changes carries through snapshot_diff. */
struct report {
	struct tree *t;
	const struct snapshot *old, *now;
	tree_invalidate_fn invalidate;
	void *ctx;
	struct timespec until;		/* of the waits for replies */
};

static void report_path(const struct node *was, struct node *is, uint64_t ino, uint64_t dir_ino,
			void *ctx)
{
	struct report *r = ctx;
	char room[SNAPSHOT_NAME_ROOM];

	/* A transcript's size, and the date learnt with it, stay known while
	 * its source is the same. */
	if (was && is && is->digest == was->digest && snapshot_size(is) < 0) {
		snapshot_learn_size(is, snapshot_size(was));
		atomic_store_explicit(&is->mtime, snapshot_mtime(r->old, was), memory_order_relaxed);
	}
	if (!is) {
		await_replies(r->t, ino, &r->until);
		r->invalidate(ino, dir_ino, snapshot_name(r->old, was, room), r->ctx);
		r->invalidate(dir_ino, 0, NULL, r->ctx);
	} else if (!was) {
		r->invalidate(0, dir_ino, snapshot_name(r->now, is, room), r->ctx);
		r->invalidate(dir_ino, 0, NULL, r->ctx);
	} else if (tree_node_changed(r->old, was, r->now, is)) {
		await_replies(r->t, ino, &r->until);
		r->invalidate(ino, 0, NULL, r->ctx);
	}
}

/* Calls invalidate for what differs between two snapshots: inodes that
 * changed, entries that went away (and their directories), entries that
 * came (a lookup that failed before may be cached as absent). Sizes
 * learnt in old carry over to unchanged nodes of now. */
static void report_changes(struct tree *t, const struct snapshot *old, struct snapshot *now,
			   tree_invalidate_fn invalidate, void *ctx)
{
	struct report r = { t, old, now, invalidate, ctx, { 0, 0 } };

	clock_gettime(CLOCK_MONOTONIC, &r.until);
	r.until.tv_sec += REPLY_WAIT_SECONDS;
	snapshot_diff(old, now, report_path, &r);
}

/* Every query's results may have changed: the kernel forgets them all. */
struct forget {
	struct tree *t;
	tree_invalidate_fn invalidate;
	void *ctx;
};

static void forget_query(const char *name, void *ctx)
{
	struct forget *f = ctx;

	f->invalidate(0, f->t->search_ino, name, f->ctx);
}

void tree_refresh(struct tree *t, tree_invalidate_fn invalidate, void *ctx)
{
	struct snapshot *old, *former, *now = NULL;

	pthread_mutex_lock(&t->build_lock);
	/* The last refresh's invalidations went out long ago: what the kernel
	 * has not asked since, it asks before its next read. Dropped before
	 * the build, so that a refresh holds two snapshots at most. */
	former = tree_drop_former(t);
	if (former)
		tree_release(t, former);
	if (tree_replace_current(t, true, &old) == 0) {
		pthread_mutex_lock(&t->lock);
		now = t->current;
		now->refs++;
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&t->build_lock);
	if (old && now) {
		report_changes(t, old, now, invalidate, ctx);
		tree_former_told(t);
	}
	if (now) {
		struct forget f = { t, invalidate, ctx };

		searchdir_forget(t->search, forget_query, &f);
	}
	if (old)
		tree_release(t, old);
	if (now)
		tree_release(t, now);
	/* A heavy account's listing and build leave tens of MiB free in the
	 * heap: given back rather than kept until the next refresh. */
	malloc_trim(0);
}
