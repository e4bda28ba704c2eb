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
 */
#include "tree.h"

#include "hash.h"
#include "names.h"
#include "feed.h"
#include "kept.h"
#include "log.h"
#include "searchdir.h"
#include "snapshot.h"
#include "status.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Static_assert(TREE_ROOT_INO == SNAPSHOT_ROOT_INO, "the tree's root is its snapshots'");

/* How many readers' versions of each .omifs file are kept, and for how
 * long after a reader's read its next stat shows it the same version:
 * the stat a reader makes to read on, or once more at the end (as cat
 * does), comes that soon; a reader polling the file comes later. */
#define STATUS_VIEWS 8
#define STATUS_READ_ON_NS 100000000LL

struct tree {
	struct sync *sync;
	struct tree_options opts;
	pthread_mutex_t lock;		/* current, every snapshot's refs */
	pthread_mutex_t build_lock;	/* one build at a time */
	struct snapshot *current;
	struct snapshot **live;		/* every snapshot not freed yet */
	size_t n_live, cap_live;
	/* What the kernel may still hold a size of: the snapshot the last
	 * refresh replaced, and the files whose size there differs from
	 * current's (sorted inode numbers), each until the kernel asks its
	 * attributes again. */
	struct snapshot *former;
	uint64_t *former_inos;
	bool *former_asked;
	size_t n_former, former_left;
	uint64_t *reading;		/* inodes being read, until replied */
	size_t n_reading, cap_reading;
	pthread_cond_t read_done;	/* one left reading; with lock */
	pthread_mutex_t status_lock;	/* the files below */
	struct status_shown {
		uint64_t digest;	/* of the text last rendered */
		long changes;		/* how often it changed, mod 1e9 */
		/* What the last stats of it by a few readers saw. */
		struct status_view {
			pid_t reader;		/* 0: none */
			struct timespec at;	/* rendered then */
			struct timespec read_at; /* the reader's last read of it */
			long changes;		/* its mtime's nanoseconds */
			struct buf text;
		} views[STATUS_VIEWS];
	} status_files[STATUS_FILES];
	/* How long reads took (struct status_reads), counted without a lock. */
	_Atomic unsigned long long read_counts[STATUS_READ_BUCKETS + 1];
	_Atomic unsigned long long read_nanoseconds;
	struct feed *feed;		/* .omifs/changes */
	struct kept *kept;		/* renderings of files read in pieces */
	struct searchdir *search;	/* what is below search/ */
	uint64_t search_ino;
	time_t search_mtime;
};

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

static void release(struct tree *t, struct snapshot *snap)
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

/* Takes t->former away; returns it (its reference passes to the caller)
 * or NULL. */
static struct snapshot *drop_former(struct tree *t)
{
	struct snapshot *former;

	pthread_mutex_lock(&t->lock);
	former = t->former;
	t->former = NULL;
	free(t->former_inos);
	free(t->former_asked);
	t->former_inos = NULL;
	t->former_asked = NULL;
	t->n_former = t->former_left = 0;
	pthread_mutex_unlock(&t->lock);
	return former;
}

void tree_free(struct tree *t)
{
	struct snapshot *former;

	if (!t)
		return;
	if (t->current)
		release(t, t->current);
	former = drop_former(t);
	if (former)
		release(t, former);
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

static bool node_changed(const struct node *was, const struct node *is)
{
	if (snapshot_mtime(was) != snapshot_mtime(is) || was->kind != is->kind)
		return true;
	if (was->kind == NODE_DIR)
		return was->n_children != is->n_children || was->n_subdirs != is->n_subdirs;
	return was->digest != is->digest || (was->kind != NODE_STATUS &&
					     snapshot_size(is) >= 0 &&
					     snapshot_size(was) != snapshot_size(is));
}

static int compare_inos(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The files of old whose size the kernel may hold (a size was learnt)
 * and that now changes or drops: sorted inode numbers, *n of them. */
static uint64_t *changed_files(const struct snapshot *old, const struct snapshot *now, size_t *n)
{
	uint64_t *inos = NULL;
	size_t cap = 0;

	*n = 0;
	for (size_t i = 1; i < old->n_nodes; i++) {
		const struct node *was = &old->nodes[i], *is = snapshot_node(now, was->ino);

		if (was->kind == NODE_DIR || was->kind == NODE_STATUS || snapshot_size(was) < 0 ||
		    (is && !node_changed(was, is)))
			continue;
		inos = xgrow(inos, &cap, *n, sizeof(*inos), 64);
		inos[(*n)++] = was->ino;
	}
	if (*n > 1)
		qsort(inos, *n, sizeof(*inos), compare_inos);
	return inos;
}

/* Builds a snapshot of the store now and makes it current; *old gets the
 * one it replaced (NULL if none), whose reference passes to the caller.
 * With `former` (t->former must be NULL), old also becomes t->former (a
 * reference of its own) for the files it sizes otherwise: reads of those
 * answer from it until the kernel asks their attributes again. Returns
 * -EIO, changing nothing, when the store cannot be read. build_lock
 * held. */
static int replace_current(struct tree *t, bool former, struct snapshot **old)
{
	struct snapshot *snap;
	uint64_t *inos = NULL;
	size_t n = 0;

	*old = NULL;
	snap = snapshot_build_now(t->sync);
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
static bool read_from_former(struct tree *t, uint64_t ino)
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

/* How long, in all, a refresh waits for replies to reads of what it is to
 * invalidate. */
#define REPLY_WAIT_SECONDS 2

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
		if (replace_current(t, false, &old) == 0 && old)
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
		rc = (inside || (*node)->kind != NODE_DIR) && kind >= 0 ? (*snap)->kind_error[kind] : 0;
		if (rc == 0)
			return 0;
		release(t, *snap);
		if (attempt == 0 && sync_ensure_listed(t->sync, kind) != 0)
			break;
	}
	return rc ? rc : -EIO;
}

/*
 * Who answers for an inode, asked once by every call: a node of the
 * snapshot (the id tree, the views and .omifs/, whose bytes render_node
 * makes), or else an entry of search/ (searchdir.h), which hands out the
 * numbers of the queries, links and results.md below it.
 */
struct target {
	struct snapshot *snap;	/* a reference; NULL: search/'s entry */
	struct node *node;
	struct searchdir_entry entry;
};

/* Finds ino's owner: the snapshot's node as enter() finds it (`inside`
 * as there), else search/'s. Returns 0, -ENOENT when neither holds it,
 * or enter()'s error; the caller releases to->snap when set. */
static int resolve(struct tree *t, uint64_t ino, bool inside, struct target *to)
{
	int rc = enter(t, ino, inside, &to->snap, &to->node);

	if (rc != -ENOENT)
		return rc;
	to->snap = NULL;
	return searchdir_getattr(t->search, ino, &to->entry);
}

/* ---- the status file ---- */

static long long ns_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

/* The view of reader (a process; 0: unknown, never shown a text twice)
 * in shown: its own, or the oldest, which it takes over. status_lock
 * held. */
static struct status_view *view_of(struct status_shown *shown, pid_t reader)
{
	struct status_view *oldest = &shown->views[0];

	for (int v = 0; v < STATUS_VIEWS; v++) {
		if (shown->views[v].reader == reader)
			return &shown->views[v];
		if (ns_between(&shown->views[v].at, &oldest->at) > 0)
			oldest = &shown->views[v];
	}
	oldest->reader = reader;
	oldest->at = oldest->read_at = (struct timespec){ 0 };
	buf_reset(&oldest->text);
	return oldest;
}

/* The text of .omifs file `file` now. */
static void render_status_text(struct tree *t, const struct snapshot *snap, enum status_file file,
			       struct buf *out)
{
	struct status *st;

	if (file == STATUS_FILE_CHANGES) {
		feed_copy(t->feed, out);
		return;
	}
	st = xcalloc(1, sizeof(*st));
	sync_status(t->sync, st);
	memcpy(st->odd, snap->odd, sizeof(st->odd));
	st->pid = (long)getpid();
	st->cache_path = t->opts.cache_path;
	for (int i = 0; i <= STATUS_READ_BUCKETS; i++)
		st->reads.counts[i] = atomic_load(&t->read_counts[i]);
	st->reads.seconds = (double)atomic_load(&t->read_nanoseconds) / 1e9;
	if (file == STATUS_FILE_JSON)
		render_status_json(st, out);
	else if (file == STATUS_FILE_METRICS)
		render_metrics(st, out);
	else
		render_status(st, out);
	free(st);
}

/*
 * The status text for a stat by reader. Its attributes are never cached,
 * so the kernel asks them before every read, and drops its cached pages
 * when the mtime differs: the text's changes move the mtime's
 * nanoseconds only, which rsync ignores by default (a second backup
 * copies nothing new) while the kernel does not. Each reader's text is
 * kept, so that its reads after that stat get the very bytes whose
 * length it reported; a stat that comes right after the reader's read
 * (it reads on, or once more at the end, as cat does) is shown the same
 * version, never the next one's tail. Any other stat gets a text made
 * afresh.
 */
static void render_status_file(struct tree *t, const struct snapshot *snap,
			       enum status_file file, pid_t reader, struct buf *out,
			       long *mtime_nsec)
{
	struct status_shown *shown = &t->status_files[file];
	struct status_view *view;
	struct timespec now;
	uint64_t digest;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&t->status_lock);
	view = view_of(shown, reader);
	if (reader && view->text.len && view->read_at.tv_sec &&
	    ns_between(&view->read_at, &now) < STATUS_READ_ON_NS) {
		buf_append(out, view->text.data, view->text.len);
		if (mtime_nsec)
			*mtime_nsec = view->changes;
		pthread_mutex_unlock(&t->status_lock);
		return;
	}
	pthread_mutex_unlock(&t->status_lock);
	render_status_text(t, snap, file, out);
	digest = hash_bytes(out->data, out->len);
	pthread_mutex_lock(&t->status_lock);
	if (digest != shown->digest) {
		shown->digest = digest;
		shown->changes = (shown->changes + 1) % 1000000000;
	}
	view = view_of(shown, reader);
	view->at = now;
	view->changes = shown->changes;
	buf_reset(&view->text);
	buf_append(&view->text, out->data, out->len);
	if (mtime_nsec)
		*mtime_nsec = shown->changes;
	pthread_mutex_unlock(&t->status_lock);
}

/* The text reader's last stat of file reported, or a new one. */
static void read_status(struct tree *t, const struct snapshot *snap, enum status_file file,
			pid_t reader, struct buf *out)
{
	struct status_view *view;

	pthread_mutex_lock(&t->status_lock);
	view = view_of(&t->status_files[file], reader);
	buf_append(out, view->text.data, view->text.len);
	clock_gettime(CLOCK_MONOTONIC, &view->read_at);
	pthread_mutex_unlock(&t->status_lock);
	if (out->len == 0)
		render_status_file(t, snap, file, reader, out, NULL);
}

/* Counts a read that began at `started` (CLOCK_MONOTONIC). */
static void note_read_time(struct tree *t, const struct timespec *started)
{
	struct timespec now;
	double seconds;
	int bucket = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	seconds = (double)(now.tv_sec - started->tv_sec) + (now.tv_nsec - started->tv_nsec) / 1e9;
	while (bucket < STATUS_READ_BUCKETS && seconds > status_read_bounds[bucket])
		bucket++;
	atomic_fetch_add(&t->read_counts[bucket], 1);
	atomic_fetch_add(&t->read_nanoseconds, (unsigned long long)(seconds * 1e9));
}

/* ---- content and attributes ---- */

/* The JSON n is rendered from, at the snapshot's version: 0, 1 when it
 * is another version's (sync_source_json), or -errno. */
static int source_json(struct tree *t, const struct snapshot *snap, const struct node *n,
		       char **json)
{
	bool full = n->kind == NODE_TRANSCRIPT || n->kind == NODE_CONV_JSON;

	return sync_source_json(t->sync, (enum store_kind)n->collection, snapshot_id(snap, n),
				snapshot_version(snap, n->id), full, json);
}

/* Renders n into out; status_nsec: see render_status_file; note: see
 * snapshot_render; *partial (may be NULL): see snapshot_render_view.
 * Returns 0, 1 when the bytes are not the snapshot's version's (so no
 * size may be learnt from them), or -errno. */
static int render_node(struct tree *t, const struct snapshot *snap, const struct node *n,
		       pid_t reader, struct buf *out, long *status_nsec, struct buf *note,
		       bool *partial)
{
	bool ignored;
	char *json;
	int rc, other;

	if (n->kind == NODE_DIR)
		return -EISDIR;
	if (n->kind == NODE_STATUS) {
		if (status_nsec)
			render_status_file(t, snap, (enum status_file)n->id, reader, out,
					   status_nsec);
		else
			read_status(t, snap, (enum status_file)n->id, reader, out);
		return 0;
	}
	if (n->kind == NODE_JSONL)
		return -EIO;	/* sized by the build, read line by line */
	if (n->kind >= NODE_VAULT_NOTE)
		return snapshot_render_view(snap, n, t->sync, out, partial ? partial : &ignored);
	other = source_json(t, snap, n, &json);
	if (other < 0)
		return other;
	rc = snapshot_render(n, json, out, note);
	return rc < 0 ? rc : other;
}

/* What every stat of the mount shares: the owner, one time, blocks of 4 KiB. */
static void owned_stat(const struct tree *t, uint64_t ino, time_t mtime, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = t->opts.uid;
	st->st_gid = t->opts.gid;
	st->st_mtime = st->st_ctime = st->st_atime = mtime;
	st->st_blksize = 4096;
}

static void fill_stat(const struct tree *t, const struct node *n, int64_t size, struct stat *st)
{
	owned_stat(t, n->ino, (time_t)snapshot_mtime(n), st);
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
}

/* Learns n's size and date from its bytes, for this snapshot and for
 * later mounts. */
static void learn_file(struct tree *t, struct node *n, const struct buf *content)
{
	snapshot_learn_size(n, (int64_t)content->len);
	sync_remember_size(t->sync, n->ino, snapshot_kept_digest(n), (int64_t)content->len);
	snapshot_date_learnt(n, t->sync, hash_bytes(content->data, content->len));
}

/* The vault note of transcript n when its size is still to learn. */
static struct node *note_to_learn(const struct snapshot *snap, const struct node *n)
{
	struct node *note = n->kind == NODE_TRANSCRIPT ? snapshot_note_of(snap, snapshot_id(snap, n))
						       : NULL;

	return note && snapshot_size(note) < 0 ? note : NULL;
}

/* The attributes of n, rendering it (and fetching its transcript) when
 * its size is not known yet. */
static int node_attributes(struct tree *t, const struct snapshot *snap, struct node *n,
			   pid_t reader, struct stat *st, bool *changing)
{
	struct buf content = BUF_INIT, note_text = BUF_INIT;
	struct node *note = note_to_learn(snap, n);
	long mtime_nsec = 0;
	int64_t size = snapshot_size(n);
	bool partial = false;
	int rc = 0;

	if (changing)
		*changing = n->kind == NODE_STATUS;
	if (n->kind != NODE_DIR && (size < 0 || n->kind == NODE_STATUS)) {
		rc = render_node(t, snap, n, reader, &content, &mtime_nsec, note ? &note_text : NULL,
				 &partial);
		size = (int64_t)content.len;
		/* A note without its transcript grows when the transcript
		 * comes (a sync beside an offline mount): its size is asked
		 * again each time, never kept. Nor is a size from another
		 * version's transcript. */
		if (((rc == 0 && partial) || rc == 1) && changing)
			*changing = true;
		if (rc == 0 && n->kind != NODE_STATUS && !partial)
			learn_file(t, n, &content);
		if (rc == 0 && note)
			learn_file(t, note, &note_text);
		/* Learning the size was the costly part: the reads that
		 * follow a first stat get the same bytes. */
		if (rc == 0 && n->kind != NODE_STATUS && content.len > KEPT_ONE_READ)
			kept_put(t->kept, n->ino, n->digest, &content);
		buf_free(&content);
		buf_free(&note_text);
	}
	if (rc < 0)
		return rc;
	fill_stat(t, n, size, st);
	if (n->kind == NODE_STATUS)
		st->st_mtim.tv_nsec = st->st_ctim.tv_nsec = mtime_nsec;
	return 0;
}

/* Whether a read of ino awaits its reply. t->lock held. */
static bool being_read(const struct tree *t, uint64_t ino)
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
static struct snapshot *former_while_read(struct tree *t, uint64_t ino, struct node **node)
{
	struct snapshot *former = NULL, *done = NULL;
	long i;

	pthread_mutex_lock(&t->lock);
	i = former_unasked(t, ino);
	if (i >= 0 && being_read(t, ino)) {
		former = t->former;
		former->refs++;
		*node = snapshot_node(former, ino);
	} else if (i >= 0) {
		done = kernel_asked(t, i);
	}
	pthread_mutex_unlock(&t->lock);
	if (done)
		release(t, done);
	return former;
}

/*
 * The attributes the kernel is given of n, a node of the current snapshot
 * snap. A file the last refresh changed whose reads still answer from the
 * former snapshot gives the former attributes, not to be cached, while
 * one of those reads awaits its reply: the kernel copies up to the size
 * it holds when the reply comes, and the new size with the former bytes
 * would be padded with zeros. Otherwise n's, and from then on the file's
 * reads answer from the current snapshot. What no answer here can close:
 * a reply already sent whose copy the kernel makes after it takes these
 * attributes (omifs.1, CACHING AND REFRESH; test_parallel.size_race).
 */
static int kernel_attributes(struct tree *t, const struct snapshot *snap, struct node *n,
			     pid_t reader, struct stat *st, bool *changing)
{
	struct node *was;
	struct snapshot *former = former_while_read(t, n->ino, &was);
	int rc;

	if (former) {
		rc = node_attributes(t, former, was, reader, st, changing);
		if (changing)
			*changing = true;
		release(t, former);
		return rc;
	}
	return node_attributes(t, snap, n, reader, st, changing);
}

/*
 * Whether learning n's attributes would wait for the server: its
 * collection is not listed yet (a view at the top), or its transcript is
 * not fetched yet. A lookup must not wait: the kernel holds the
 * directory's lock through it (libfuse 3.14 does not pass
 * FUSE_PARALLEL_DIROPS on), so every other name there would wait too.
 */
static bool attributes_wait(struct tree *t, const struct snapshot *snap, const struct node *n)
{
	if (n->kind == NODE_DIR || n->kind == NODE_STATUS || snapshot_size(n) >= 0)
		return false;
	if (n->collection >= 0 && snap->kind_error[n->collection])
		return true;
	return (n->kind == NODE_TRANSCRIPT || n->kind == NODE_CONV_JSON ||
		n->kind == NODE_VAULT_NOTE) &&
	       sync_would_fetch_transcript(t->sync, snapshot_id(snap, n));
}

/* ---- search/: queries, links into the tree, results.md ---- */

static void search_stat(const struct tree *t, const struct searchdir_entry *e, struct stat *st)
{
	owned_stat(t, e->ino, t->search_mtime, st);
	st->st_size = (off_t)e->size;
	st->st_nlink = e->kind == SEARCHDIR_QUERY ? 2 : 1;
	st->st_mode = e->kind == SEARCHDIR_QUERY ? S_IFDIR | (0555 & ~t->opts.umask)
		    : e->kind == SEARCHDIR_LINK ? S_IFLNK | 0777 : S_IFREG | (0444 & ~t->opts.umask);
	st->st_blocks = (blkcnt_t)((e->size + 511) / 512);
}

static int search_lookup(struct tree *t, uint64_t parent, const char *name, struct stat *st)
{
	struct searchdir_entry e;
	int rc = searchdir_lookup(t->search, parent, name, &e);

	if (rc == 0)
		search_stat(t, &e, st);
	return rc;
}

struct search_fill {
	struct tree *t;
	tree_fill_fn fill;
	void *ctx;
};

static int fill_search_entry(void *ctx, const char *name, const struct searchdir_entry *e,
			     off_t next)
{
	struct search_fill *f = ctx;
	struct stat st;

	search_stat(f->t, e, &st);
	return f->fill(f->ctx, name, &st, true, next);
}

/* A query's directory: its own entry, search/, then what searchdir has. */
static int search_readdir(struct tree *t, const struct searchdir_entry *self, off_t offset,
			  tree_fill_fn fill, void *ctx)
{
	struct search_fill f = { t, fill, ctx };
	struct searchdir_entry up = { t->search_ino, SEARCHDIR_QUERY, 4096 };
	struct stat st;

	if (self->kind != SEARCHDIR_QUERY)
		return -ENOTDIR;
	search_stat(t, self, &st);
	if (offset <= 0 && fill(ctx, ".", &st, true, 1) != 0)
		return 0;
	search_stat(t, &up, &st);
	if (offset <= 1 && fill(ctx, "..", &st, false, 2) != 0)
		return 0;
	return searchdir_readdir(t->search, self->ino, offset, fill_search_entry, &f);
}

int tree_attributes(struct tree *t, uint64_t ino, tree_attribute_fn fn, void *ctx)
{
	struct target to;
	int rc = resolve(t, ino, false, &to);

	if (rc < 0 || !to.snap)
		return rc;	/* search/ has none */
	rc = snapshot_attributes(to.snap, to.node, t->sync, fn, ctx);
	release(t, to.snap);
	return rc;
}

int tree_readlink(struct tree *t, uint64_t ino, struct buf *out)
{
	return searchdir_readlink(t->search, ino, out);
}

/* ---- the tree's calls ---- */

int tree_getattr(struct tree *t, uint64_t ino, pid_t reader, struct stat *st, bool *changing)
{
	struct target to;
	int rc = resolve(t, ino, false, &to);

	if (rc < 0)
		return rc;
	if (!to.snap) {
		search_stat(t, &to.entry, st);
		if (changing)
			*changing = false;
		return 0;
	}
	rc = kernel_attributes(t, to.snap, to.node, reader, st, changing);
	release(t, to.snap);
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
		return search_lookup(t, parent, name, st);
	rc = resolve(t, parent, true, &to);
	if (rc < 0)
		return rc;
	if (!to.snap)
		return search_lookup(t, parent, name, st);
	snap = to.snap;
	dir = to.node;
	n = dir->kind == NODE_DIR ? snapshot_child(snap, dir, name) : NULL;
	if (n && attributes_wait(t, snap, n)) {
		/* Never cached: the kernel asks getattr next, which lists or
		 * fetches without holding the directory. */
		fill_stat(t, n, 0, st);
		if (changing)
			*changing = true;
		release(t, snap);
		return 0;
	}
	rc = dir->kind != NODE_DIR ? -ENOTDIR
	     : n ? kernel_attributes(t, snap, n, reader, st, changing) : -ENOENT;
	release(t, snap);
	return rc;
}

int tree_readdir(struct tree *t, uint64_t ino, off_t offset, tree_fill_fn fill, void *ctx)
{
	struct snapshot *snap;
	struct node *dir;
	struct target to;
	struct stat st;
	int rc = resolve(t, ino, true, &to);

	if (rc < 0)
		return rc;
	if (!to.snap)
		return search_readdir(t, &to.entry, offset, fill, ctx);
	snap = to.snap;
	dir = to.node;
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
		bool complete = c->kind == NODE_DIR ||
				(size >= 0 && c->kind != NODE_STATUS && !read_from_former(t, c->ino));

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
	struct target to;
	int rc = resolve(t, ino, false, &to);

	*changing = false;
	if (rc < 0)
		return rc;
	if (!to.snap)
		return to.entry.kind == SEARCHDIR_RESULTS_MD ? 0 : -EISDIR;
	*changing = to.node->kind == NODE_STATUS;
	rc = to.node->kind == NODE_DIR ? -EISDIR : 0;
	release(t, to.snap);
	return rc;
}

/* Whom a read of ino asks: the former snapshot for a file the kernel may
 * still hold its size of, else as resolve() finds it. */
static int resolve_to_read(struct tree *t, uint64_t ino, struct target *to)
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
	return resolve(t, ino, false, to);
}

/* Counts a read of ino as awaiting its reply (tree_read_done). */
static void note_reading(struct tree *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	t->reading = xgrow(t->reading, &t->cap_reading, t->n_reading, sizeof(*t->reading), 16);
	t->reading[t->n_reading++] = ino;
	pthread_mutex_unlock(&t->lock);
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
	note_reading(t, ino);
	rc = resolve_to_read(t, ino, &to);
	if (rc < 0 || !to.snap) {
		if (rc == 0)
			rc = searchdir_read(t->search, ino, off, size, out);
		note_read_time(t, &started);
		return rc;
	}
	snap = to.snap;
	n = to.node;
	if (n->kind == NODE_JSONL) {
		rc = snapshot_read_lines(snap, n, t->sync, off, size, out);
	} else if (n->kind == NODE_STATUS || !kept_read(t->kept, n->ino, n->digest, off, size, out)) {
		rc = render_node(t, snap, n, reader, &content, NULL, NULL, NULL);
		if (rc >= 0 && !kept_copy_part(&content, off, size, out) && rc == 0 &&
		    n->kind != NODE_STATUS)
			kept_put(t->kept, n->ino, n->digest, &content);
	}
	buf_free(&content);
	/* The .omifs files' own reads are not counted: reading the metrics
	 * must not change them under their reader. */
	if (n->kind != NODE_STATUS)
		note_read_time(t, &started);
	release(t, snap);
	return rc < 0 ? rc : 0;
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

/* ---- refreshing ---- */

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
		reading = being_read(t, ino);
		if (reading)
			rc = pthread_cond_timedwait(&t->read_done, &t->lock, until);
	} while (reading && rc == 0);
	pthread_mutex_unlock(&t->lock);
}

/* Calls invalidate for what differs between two snapshots: inodes that
 * changed, entries that went away (and their directories), entries that
 * came (a lookup that failed before may be cached as absent). Sizes
 * learnt in old carry over to unchanged nodes of now. */
static void report_changes(struct tree *t, const struct snapshot *old, const struct snapshot *now,
			   tree_invalidate_fn invalidate, void *ctx)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += REPLY_WAIT_SECONDS;
	for (size_t i = 1; i < old->n_nodes; i++) {
		const struct node *was = &old->nodes[i], *dir = snapshot_parent(old, was);
		struct node *is = snapshot_node(now, was->ino);

		/* A transcript's size, and the date learnt with it, stay known
		 * while its source is the same. */
		if (is && is->digest == was->digest && snapshot_size(is) < 0) {
			snapshot_learn_size(is, snapshot_size(was));
			atomic_store_explicit(&is->mtime, snapshot_mtime(was), memory_order_relaxed);
		}

		if (!is || node_changed(was, is))
			await_replies(t, was->ino, &until);
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
	former = drop_former(t);
	if (former)
		release(t, former);
	if (replace_current(t, true, &old) == 0) {
		pthread_mutex_lock(&t->lock);
		now = t->current;
		now->refs++;
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&t->build_lock);
	if (old && now)
		report_changes(t, old, now, invalidate, ctx);
	if (now) {
		struct forget f = { t, invalidate, ctx };

		searchdir_forget(t->search, forget_query, &f);
	}
	if (old)
		release(t, old);
	if (now)
		release(t, now);
}
