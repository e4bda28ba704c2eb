/*
 * tree_snapshots: which snapshot answers a call. The current one, built
 * when there is none yet or a collection was listed for the first time;
 * the live ones and their references, whose oldest tells sync which
 * versions to keep; the former one a refresh replaced, which answers the
 * reads of the files it sizes otherwise until the kernel asks their
 * attributes again; and the reads awaiting their reply, which a refresh
 * waits for before it invalidates what they read. A part of tree
 * (tree_state.h) that calls none of the others.
 */
#include "tree_state.h"

#include "feed.h"
#include "searchdir.h"
#include "snapshot.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* Tells sync the oldest listing count a live snapshot was built at: the
 * store keeps every version those snapshots name. t->lock held. */
static void note_versions_in_use(struct tree *t)
{
	uint64_t floor = UINT64_MAX;

	for (size_t i = 0; i < t->n_live; i++)
		if (t->live[i]->listings_count < floor)
			floor = t->live[i]->listings_count;
	sync_versions_in_use(t->sync, floor);
}

/* Counts snap, just built, among the live. t->lock held. */
static void add_live(struct tree *t, struct snapshot *snap)
{
	t->live = xgrow(t->live, &t->cap_live, t->n_live, sizeof(*t->live), 4);
	t->live[t->n_live++] = snap;
	note_versions_in_use(t);
}

/* Drops a reference to snap, which goes with its last. */
void tree_release(struct tree *t, struct snapshot *snap)
{
	bool last;

	pthread_mutex_lock(&t->lock);
	last = --snap->refs == 0;
	for (size_t i = 0; last && i < t->n_live; i++) {
		if (t->live[i] == snap) {
			t->live[i] = t->live[--t->n_live];
			note_versions_in_use(t);
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	if (last)
		snapshot_free(snap);
}

/* How long the former snapshot is kept once the kernel has been told
 * what changed (tree_settle): enough for a read(2) under way then. */
#define FORMER_KEPT_SECONDS 3

static double monotonic_seconds(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)now.tv_sec + now.tv_nsec / 1e9;
}

/* Takes t->former away; returns it (its reference passes to the caller)
 * or NULL. t->lock held. */
static struct snapshot *take_former(struct tree *t)
{
	struct snapshot *former = t->former;

	t->former = NULL;
	free(t->former_inos);
	free(t->former_asked);
	t->former_inos = NULL;
	t->former_asked = NULL;
	t->n_former = t->former_left = 0;
	t->former_told = 0;
	return former;
}

/* Takes t->former away; returns it (its reference passes to the caller)
 * or NULL. */
struct snapshot *tree_drop_former(struct tree *t)
{
	struct snapshot *former;

	pthread_mutex_lock(&t->lock);
	former = take_former(t);
	pthread_mutex_unlock(&t->lock);
	return former;
}

/* Notes that the kernel has been told what the last refresh changed:
 * tree_settle counts the former's time from now. */
void tree_former_told(struct tree *t)
{
	pthread_mutex_lock(&t->lock);
	if (t->former)
		t->former_told = monotonic_seconds();
	pthread_mutex_unlock(&t->lock);
}

void tree_settle(struct tree *t)
{
	struct snapshot *former = NULL;

	pthread_mutex_lock(&t->lock);
	if (t->former && t->former_told > 0 &&
	    monotonic_seconds() - t->former_told >= FORMER_KEPT_SECONDS)
		former = take_former(t);
	pthread_mutex_unlock(&t->lock);
	if (former)
		tree_release(t, former);
}

/* Whether the kernel is to forget what it holds of was (a node of old),
 * now is (of now). */
bool tree_node_changed(const struct snapshot *old, const struct node *was,
		       const struct snapshot *now, const struct node *is)
{
	if (snapshot_mtime(old, was) != snapshot_mtime(now, is) || was->kind != is->kind)
		return true;
	if (was->kind == NODE_DIR)
		return snapshot_n_children(old, was) != snapshot_n_children(now, is) ||
		       snapshot_n_subdirs(old, was) != snapshot_n_subdirs(now, is);
	return was->digest != is->digest || (was->kind != NODE_STATUS &&
					     snapshot_size(is) >= 0 &&
					     snapshot_size(was) != snapshot_size(is));
}

static int compare_inos(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The inode numbers changed_files gathers. */
struct inos {
	const struct snapshot *old, *now;
	uint64_t *inos;
	size_t n, cap;
};

static void gather_changed_file(const struct node *was, struct node *is, uint64_t ino,
				uint64_t dir_ino, void *ctx)
{
	struct inos *changed = ctx;

	(void)dir_ino;
	if (!was || was->kind == NODE_DIR || was->kind == NODE_STATUS || snapshot_size(was) < 0 ||
	    (is && !tree_node_changed(changed->old, was, changed->now, is)))
		return;
	changed->inos = xgrow(changed->inos, &changed->cap, changed->n, sizeof(uint64_t), 64);
	changed->inos[changed->n++] = ino;
}

/* The files of old whose size the kernel may hold (a size was learnt)
 * and that now changes or drops: sorted inode numbers, *n of them. */
static uint64_t *changed_files(const struct snapshot *old, const struct snapshot *now, size_t *n)
{
	struct inos changed = { old, now, NULL, 0, 0 };

	snapshot_diff(old, now, gather_changed_file, &changed);
	if (changed.n > 1)
		qsort(changed.inos, changed.n, sizeof(uint64_t), compare_inos);
	*n = changed.n;
	return changed.inos;
}

/* Builds a snapshot of the store now and makes it current; *old gets the
 * one it replaced (NULL if none), whose reference passes to the caller.
 * With `former` (t->former must be NULL), old also becomes t->former (a
 * reference of its own) for the files it sizes otherwise: reads of those
 * answer from it until the kernel asks their attributes again. Returns
 * -EIO, changing nothing, when the store cannot be read. build_lock
 * held. */
int tree_replace_current(struct tree *t, bool former, struct snapshot **old)
{
	struct snapshot *snap;
	uint64_t *inos = NULL;
	size_t n = 0;

	*old = NULL;
	/* current changes only under build_lock: the new one shares its
	 * records with it. */
	snap = snapshot_build_now(t->sync, t->current);
	if (!snap)
		return -EIO;
	snap->refs = 1;
	/* current changes only under build_lock: it can be read here. */
	if (former && t->current)
		inos = changed_files(t->current, snap, &n);
	pthread_mutex_lock(&t->lock);
	add_live(t, snap);
	*old = t->current;
	t->current = snap;
	if (former && *old) {
		t->former = *old;
		t->former->refs++;
		t->former_inos = inos;
		t->former_asked = xcalloc(n ? n : 1, sizeof(bool));
		t->n_former = t->former_left = n;
		t->former_told = 0;
	}
	pthread_mutex_unlock(&t->lock);
	/* A failure leaves the lines for the next build to add. */
	feed_catch_up(t->feed, t->sync, snap);
	return 0;
}

/* Where ino is in t->former_inos when its reads still answer from the
 * former snapshot (the kernel has not asked its attributes since), or
 * -1. t->lock held. */
static long former_unasked(const struct tree *t, uint64_t ino)
{
	uint64_t *at = t->former && t->n_former ? bsearch(&ino, t->former_inos, t->n_former,
							  sizeof(ino), compare_inos) : NULL;

	return at && !t->former_asked[at - t->former_inos] ? at - t->former_inos : -1;
}

/* Whether ino's reads answer from the former snapshot: the kernel has
 * not been given its attributes since the refresh that changed it. */
bool tree_read_from_former(struct tree *t, uint64_t ino)
{
	bool former;

	pthread_mutex_lock(&t->lock);
	former = former_unasked(t, ino) >= 0;
	pthread_mutex_unlock(&t->lock);
	return former;
}

/* The kernel is given ino's attributes from the current snapshot: its
 * reads answer from there from now on. Once it has been given every
 * file's, the former snapshot goes: returned then, its reference the
 * caller's to release. t->lock held. */
static struct snapshot *kernel_asked(struct tree *t, long i)
{
	struct snapshot *done = NULL;

	t->former_asked[i] = true;
	if (--t->former_left == 0) {
		done = t->former;
		t->former = NULL;
	}
	return done;
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
		if (tree_replace_current(t, false, &old) == 0 && old)
			tree_release(t, old);
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
			tree_release(t, *snap);
			return -ENOENT;
		}
		kind = (*node)->collection;
		rc = (inside || (*node)->kind != NODE_DIR) && kind >= 0 ? (*snap)->kind_error[kind] : 0;
		if (rc == 0)
			return 0;
		tree_release(t, *snap);
		if (attempt == 0 && sync_ensure_listed(t->sync, kind) != 0)
			break;
	}
	return rc ? rc : -EIO;
}

/* Finds ino's owner: the snapshot's node as enter() finds it (`inside`
 * as there), else search/'s. Returns 0, -ENOENT when neither holds it,
 * or enter()'s error; the caller releases to->snap when set. */
int tree_resolve(struct tree *t, uint64_t ino, bool inside, struct target *to)
{
	int rc = enter(t, ino, inside, &to->snap, &to->node);

	if (rc != -ENOENT)
		return rc;
	to->snap = NULL;
	return searchdir_getattr(t->search, ino, &to->entry);
}

/* Whether a read of ino awaits its reply. t->lock held. */
bool tree_being_read(const struct tree *t, uint64_t ino)
{
	for (size_t i = 0; i < t->n_reading; i++)
		if (t->reading[i] == ino)
			return true;
	return false;
}

/* The former snapshot (a reference) and its node ino, while ino's reads
 * answer from there and one of them awaits its reply; else NULL, and
 * ino's reads answer from the current snapshot from now on (in the same
 * section: a read coming in between would be answered from the former
 * snapshot while the kernel is given the current size). */
struct snapshot *tree_former_while_read(struct tree *t, uint64_t ino, struct node **node)
{
	struct snapshot *former = NULL, *done = NULL;
	long i;

	pthread_mutex_lock(&t->lock);
	i = former_unasked(t, ino);
	if (i >= 0 && tree_being_read(t, ino)) {
		former = t->former;
		former->refs++;
		*node = snapshot_node(former, ino);
	} else if (i >= 0) {
		done = kernel_asked(t, i);
	}
	pthread_mutex_unlock(&t->lock);
	if (done)
		tree_release(t, done);
	return former;
}

/* Whom a read of ino asks: the former snapshot for a file the kernel may
 * still hold its size of, else as tree_resolve() finds it. */
int tree_resolve_to_read(struct tree *t, uint64_t ino, struct target *to)
{
	long i;

	pthread_mutex_lock(&t->lock);
	i = former_unasked(t, ino);
	if (i >= 0) {
		to->snap = t->former;
		to->snap->refs++;
		to->node = snapshot_node(to->snap, ino);
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	pthread_mutex_unlock(&t->lock);
	return tree_resolve(t, ino, false, to);
}

/* Counts a read of ino as awaiting its reply (tree_read_done). */
void tree_note_reading(struct tree *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	t->reading = xgrow(t->reading, &t->cap_reading, t->n_reading, sizeof(*t->reading), 16);
	t->reading[t->n_reading++] = ino;
	pthread_mutex_unlock(&t->lock);
}

void tree_read_done(struct tree *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n_reading; i++) {
		if (t->reading[i] == ino) {
			t->reading[i] = t->reading[--t->n_reading];
			pthread_cond_broadcast(&t->read_done);
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
}
