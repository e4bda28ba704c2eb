/*
 * tree_state: what the tree's own files share. tree.c makes the calls
 * tree.h promises from the parts below it, none of which calls it:
 *   tree_search.c     search/'s entries as stats and listings
 *   tree_content.c    the bytes and attributes of the snapshot's nodes
 *   tree_refresh.c    a refresh, and what it tells the kernel
 *   tree_snapshots.c  which snapshot answers: the current one, built when
 *                     need be, the live ones and their references, the
 *                     former one a refresh replaced, the reads awaiting
 *                     their reply
 *   tree_status.c     the .omifs files' texts, and the read-time counts
 * Each calls only those listed after it (tree_search.c: tree_content.c;
 * tree_content.c: tree_snapshots.c and tree_status.c; tree_refresh.c:
 * tree_snapshots.c). Nothing else includes it: tree.h is the module's
 * promise, this is how it keeps it.
 */
#ifndef OMIFS_TREE_STATE_H
#define OMIFS_TREE_STATE_H

#include "tree.h"

#include "feed.h"
#include "kept.h"
#include "searchdir.h"
#include "snapshot.h"
#include "status.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* How many readers' versions of each .omifs file are kept (tree_status.c). */
#define STATUS_VIEWS 8

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
	 * attributes again, or tree_settle lets the former go. */
	struct snapshot *former;
	uint64_t *former_inos;
	bool *former_asked;
	size_t n_former, former_left;
	double former_told;		/* CLOCK_MONOTONIC seconds when the kernel
					 * was told what changed; 0: not yet */
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
			bool read_to_end;	/* that read reached its end */
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

/*
 * Who answers for an inode, asked once by every call: a node of the
 * snapshot (the id tree, the views and .omifs/, whose bytes
 * tree_render_node makes), or else an entry of search/ (searchdir.h),
 * which hands out the numbers of the queries, links and results.md
 * below it.
 */
struct target {
	struct snapshot *snap;	/* a reference; NULL: search/'s entry */
	struct node *node;
	struct searchdir_entry entry;
};

/* Each function's contract is at its definition. */

/* ---- in tree_snapshots.c ---- */

void tree_release(struct tree *t, struct snapshot *snap);
struct snapshot *tree_drop_former(struct tree *t);
void tree_former_told(struct tree *t);
bool tree_node_changed(const struct snapshot *old, const struct node *was,
		       const struct snapshot *now, const struct node *is);
int tree_replace_current(struct tree *t, bool former, struct snapshot **old);
bool tree_read_from_former(struct tree *t, uint64_t ino);
int tree_resolve(struct tree *t, uint64_t ino, bool inside, struct target *to);
int tree_resolve_to_read(struct tree *t, uint64_t ino, struct target *to);
bool tree_being_read(const struct tree *t, uint64_t ino);
void tree_note_reading(struct tree *t, uint64_t ino);
struct snapshot *tree_former_while_read(struct tree *t, uint64_t ino, struct node **node);

/* ---- in tree_status.c ---- */

void tree_render_status_file(struct tree *t, const struct snapshot *snap,
			     enum status_file file, pid_t reader, struct buf *out,
			     long *mtime_nsec);
void tree_read_status(struct tree *t, const struct snapshot *snap, enum status_file file,
		      pid_t reader, off_t off, size_t size, struct buf *out);
void tree_status_opened(struct tree *t, enum status_file file, pid_t reader);
void tree_note_read_time(struct tree *t, const struct timespec *started);

/* ---- in tree_content.c ---- */

int tree_render_node(struct tree *t, const struct snapshot *snap, const struct node *n,
		     pid_t reader, struct buf *out, long *status_nsec, struct buf *note,
		     bool *partial);
void tree_owned_stat(const struct tree *t, uint64_t ino, time_t mtime, struct stat *st);
void tree_fill_stat(const struct tree *t, const struct snapshot *snap, uint64_t ino,
		    const struct node *n, int64_t size, struct stat *st);
int tree_kernel_attributes(struct tree *t, const struct snapshot *snap, struct node *n,
			   pid_t reader, struct stat *st, bool *changing);
bool tree_attributes_wait(struct tree *t, const struct snapshot *snap, const struct node *n);

/* ---- in tree_search.c ---- */

void tree_search_stat(const struct tree *t, const struct searchdir_entry *e, struct stat *st);
int tree_search_lookup(struct tree *t, uint64_t parent, const char *name, struct stat *st);
int tree_search_readdir(struct tree *t, const struct searchdir_entry *self, off_t offset,
			tree_fill_fn fill, void *ctx);

#endif
