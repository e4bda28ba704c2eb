/*
 * tree_status: the .omifs files' texts (status, status.json, metrics,
 * changes), each reader's kept so that it reads the very bytes its stat
 * was told the length of; and the read-time histogram the metrics show.
 * A part of tree (tree_state.h) that calls none of the others.
 */
#include "tree_state.h"

#include "feed.h"
#include "hash.h"
#include "kept.h"
#include "status.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* For how long a reader that opened a file keeps the version it was
 * shown: the stats it makes to read on, or to read once more at the end
 * (as cat does), come that soon, even on a machine too busy to run it at
 * once (0.1 s was not enough under sanitizers). A reader in the middle
 * of a version keeps it while its reads come that soon. */
#define STATUS_READ_ON_NS 1000000000LL

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
	pthread_mutex_lock(&t->lock);
	st->snapshots = t->n_live;
	for (size_t i = 0; i < t->n_live; i++)
		st->snapshot_bytes += (long long)snapshot_bytes(t->live[i]);
	pthread_mutex_unlock(&t->lock);
	if (file == STATUS_FILE_JSON)
		render_status_json(st, out);
	else if (file == STATUS_FILE_METRICS)
		render_metrics(st, out);
	else
		render_status(st, out);
	free(st);
}

/* Whether reader's stat at `now` is shown the version in view: one made
 * within STATUS_READ_ON_NS, or one it is in the middle of reading and
 * read that soon. status_lock held. */
static bool reader_reads_on(const struct status_view *view, pid_t reader,
			    const struct timespec *now)
{
	if (!reader || !view->text.len)
		return false;
	if (ns_between(&view->at, now) < STATUS_READ_ON_NS)
		return true;
	return view->read_at.tv_sec && ns_between(&view->at, &view->read_at) >= 0 &&
	       !view->read_to_end && ns_between(&view->read_at, now) < STATUS_READ_ON_NS;
}

/* reader looked the file up by its name: it opens it anew, and its next
 * stat is given a new version. Its name is never cached (fs.c), so every
 * open looks it up. */
void tree_status_opened(struct tree *t, enum status_file file, pid_t reader)
{
	struct status_shown *shown = &t->status_files[file];

	pthread_mutex_lock(&t->status_lock);
	for (int v = 0; v < STATUS_VIEWS; v++)
		if (shown->views[v].reader == reader)
			buf_reset(&shown->views[v].text);
	pthread_mutex_unlock(&t->status_lock);
}

/*
 * The status text for a stat by reader. Its attributes are never cached,
 * so the kernel asks them before every read, and drops its cached pages
 * when the mtime differs: the text's changes move the mtime's
 * nanoseconds only, which rsync ignores by default (a second backup
 * copies nothing new) while the kernel does not. Each reader's text is
 * kept, so that its reads after that stat get the very bytes whose
 * length it reported; the stats of a reader that opened the file (it
 * reads on, or once more at the end, as cat does) are shown the same
 * version, never the next one's tail (reader_reads_on). An open, and a
 * stat once the reader's version is older than STATUS_READ_ON_NS and
 * read to its end, get a text made afresh.
 */
void tree_render_status_file(struct tree *t, const struct snapshot *snap,
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
	if (reader_reads_on(view, reader, &now)) {
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

/* Appends the bytes [off, off + size) of the text reader's last stat of
 * file reported, or of a new one, and notes the read. Only those bytes
 * are copied: the change feed can be megabytes, read in pieces. */
void tree_read_status(struct tree *t, const struct snapshot *snap, enum status_file file,
		      pid_t reader, off_t off, size_t size, struct buf *out)
{
	struct buf fresh = BUF_INIT;
	struct status_view *view;

	pthread_mutex_lock(&t->status_lock);
	view = view_of(&t->status_files[file], reader);
	if (view->text.len == 0) {
		pthread_mutex_unlock(&t->status_lock);
		tree_render_status_file(t, snap, file, reader, &fresh, NULL);
		pthread_mutex_lock(&t->status_lock);
		view = view_of(&t->status_files[file], reader);
	}
	view->read_to_end = kept_copy_part(fresh.len ? &fresh : &view->text, off, size, out);
	clock_gettime(CLOCK_MONOTONIC, &view->read_at);
	pthread_mutex_unlock(&t->status_lock);
	buf_free(&fresh);
}

/* Counts a read that began at `started` (CLOCK_MONOTONIC). */
void tree_note_read_time(struct tree *t, const struct timespec *started)
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
