/*
 * searchdir: queries as directories (see searchdir.h).
 *
 * A kept query holds everything its directory shows, built once when it
 * is run: the links' names and targets and the bytes of results.md. The
 * last SEARCHDIR_KEPT queries are kept; beyond those, the least recently
 * used goes, but only once the kernel has forgotten it (it caches names
 * and attributes for `hold` seconds after it last asked): until then a
 * stat of results.md would give a size whose bytes are gone. Past
 * SEARCHDIR_MAX_KEPT queries, the least recently used goes anyway.
 */
#include "searchdir.h"

#include "names.h"
#include "search.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESULTS_MD "results.md"

struct link {
	char *name;
	char *target;		/* relative to the query's directory */
	uint64_t ino;
};

struct query {
	char *name;
	uint64_t ino, md_ino;
	uint64_t used;		/* searchdir.clock at the last use */
	time_t used_at;		/* CLOCK_MONOTONIC seconds then */
	bool stale;		/* the cache changed since it ran: run again at the
				 * next lookup of its name */
	struct link *links;
	size_t n_links;
	struct buf md;		/* results.md */
};

struct searchdir {
	struct sync *sync;
	uint64_t dir_ino;
	char *dir_path;
	int hold;		/* seconds the kernel caches what it was told */
	pthread_mutex_t lock;	/* kept, n_kept, clock */
	struct query *kept[SEARCHDIR_MAX_KEPT];
	size_t n_kept;
	uint64_t clock;
};

struct searchdir *searchdir_new(struct sync *sync, uint64_t dir_ino, const char *dir_path,
				int hold)
{
	struct searchdir *sd = xcalloc(1, sizeof(*sd));

	sd->sync = sync;
	sd->hold = hold;
	sd->dir_ino = dir_ino;
	sd->dir_path = xstrdup(dir_path);
	pthread_mutex_init(&sd->lock, NULL);
	return sd;
}

static void free_query(struct query *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n_links; i++) {
		free(q->links[i].name);
		free(q->links[i].target);
	}
	free(q->links);
	buf_free(&q->md);
	free(q->name);
	free(q);
}

void searchdir_free(struct searchdir *sd)
{
	if (!sd)
		return;
	for (size_t i = 0; i < sd->n_kept; i++)
		free_query(sd->kept[i]);
	pthread_mutex_destroy(&sd->lock);
	free(sd->dir_path);
	free(sd);
}

/* The inode number of a path below search/, by the tree's rule. */
static uint64_t ino_of(const struct searchdir *sd, const char *query, const char *name)
{
	struct buf path = BUF_INIT;
	uint64_t ino;

	buf_printf(&path, "%s/%s", sd->dir_path, query);
	if (name)
		buf_printf(&path, "/%s", name);
	ino = names_inode(path.data, path.len);
	buf_free(&path);
	return ino;
}

/* Runs query name and builds what its directory shows. */
static int run_query(struct searchdir *sd, const char *name, struct query **out)
{
	struct search_results results = { 0 };
	struct buf link_name = BUF_INIT;
	char err[256];
	struct query *q;
	struct search_request req = { .query = name, .limit = SEARCHDIR_RESULTS,
				      .deadline_ms = SEARCHDIR_DEADLINE_MS };
	int rc = sync_search(sd->sync, &req, &results, err, sizeof(err));

	if (rc < 0) {
		search_results_free(&results);
		return rc;
	}
	q = xcalloc(1, sizeof(*q));
	q->name = xstrdup(name);
	q->ino = ino_of(sd, name, NULL);
	q->md_ino = ino_of(sd, name, RESULTS_MD);
	q->links = xcalloc(results.n ? results.n : 1, sizeof(*q->links));
	for (size_t i = 0; i < results.n; i++) {
		struct link *l = &q->links[q->n_links++];
		struct buf target = BUF_INIT;

		buf_reset(&link_name);
		search_link_name(&results, i, &link_name);
		buf_printf(&target, "../../%s", results.items[i].path);
		l->name = xstrdup(link_name.data);
		l->target = buf_steal(&target);
		l->ino = ino_of(sd, name, l->name);
	}
	search_render_markdown(name, &results, &q->md);
	buf_free(&link_name);
	search_results_free(&results);
	*out = q;
	return 0;
}

static time_t monotonic_seconds(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec;
}

/* Marks q used now. sd->lock held. */
static void touch(struct searchdir *sd, struct query *q)
{
	q->used = ++sd->clock;
	q->used_at = monotonic_seconds();
}

/* Keeps q (taking it over): beside the others while fewer than
 * SEARCHDIR_KEPT are kept, or the kernel may still cache all of them;
 * else in place of the least recently used. sd->lock held. */
static void keep(struct searchdir *sd, struct query *q)
{
	size_t oldest = 0;

	for (size_t i = 1; i < sd->n_kept; i++)
		if (sd->kept[i]->used < sd->kept[oldest]->used)
			oldest = i;
	touch(sd, q);
	if (sd->n_kept < SEARCHDIR_KEPT ||
	    (sd->n_kept < SEARCHDIR_MAX_KEPT &&
	     q->used_at - sd->kept[oldest]->used_at <= sd->hold + 1)) {
		sd->kept[sd->n_kept++] = q;
		return;
	}
	free_query(sd->kept[oldest]);
	sd->kept[oldest] = q;
}

/* The kept query whose directory is ino, or called name. sd->lock held. */
static struct query *find_query(struct searchdir *sd, uint64_t ino, const char *name)
{
	for (size_t i = 0; i < sd->n_kept; i++) {
		struct query *q = sd->kept[i];

		if (name ? strcmp(q->name, name) == 0 : q->ino == ino) {
			touch(sd, q);
			return q;
		}
	}
	return NULL;
}

/* Finds ino among the kept queries and their entries. sd->lock held. */
static bool find_entry(struct searchdir *sd, uint64_t ino, struct searchdir_entry *out,
		       struct query **query, struct link **link)
{
	for (size_t i = 0; i < sd->n_kept; i++) {
		struct query *q = sd->kept[i];

		*query = q;
		*link = NULL;
		if (q->ino == ino) {
			*out = (struct searchdir_entry){ ino, SEARCHDIR_QUERY, 4096 };
			return true;
		}
		if (q->md_ino == ino) {
			*out = (struct searchdir_entry){ ino, SEARCHDIR_RESULTS_MD, (int64_t)q->md.len };
			return true;
		}
		for (size_t k = 0; k < q->n_links; k++) {
			if (q->links[k].ino != ino)
				continue;
			*link = &q->links[k];
			*out = (struct searchdir_entry){ ino, SEARCHDIR_LINK,
							 (int64_t)strlen(q->links[k].target) };
			return true;
		}
	}
	return false;
}

/* Puts q (taken over) in place of the kept query of its name, or keeps
 * it beside the others; one that another lookup ran meanwhile, fresh,
 * wins and q goes. sd->lock held. */
static void replace_or_keep(struct searchdir *sd, struct query *q)
{
	for (size_t i = 0; i < sd->n_kept; i++) {
		if (strcmp(sd->kept[i]->name, q->name) != 0)
			continue;
		if (!sd->kept[i]->stale) {
			free_query(q);
			return;
		}
		free_query(sd->kept[i]);
		touch(sd, q);
		sd->kept[i] = q;
		return;
	}
	keep(sd, q);
}

static int lookup_query(struct searchdir *sd, const char *name, struct searchdir_entry *out)
{
	struct query *q;
	bool fresh;
	int rc;

	pthread_mutex_lock(&sd->lock);
	q = find_query(sd, 0, name);
	fresh = q && !q->stale;
	if (fresh)
		*out = (struct searchdir_entry){ q->ino, SEARCHDIR_QUERY, 4096 };
	pthread_mutex_unlock(&sd->lock);
	if (fresh)
		return 0;
	/* Run outside the lock: a query may take a while. Until it is done,
	 * a stale query still answers by inode what the kernel holds. */
	rc = run_query(sd, name, &q);
	if (rc < 0)
		return rc;
	*out = (struct searchdir_entry){ q->ino, SEARCHDIR_QUERY, 4096 };
	pthread_mutex_lock(&sd->lock);
	replace_or_keep(sd, q);
	pthread_mutex_unlock(&sd->lock);
	return 0;
}

int searchdir_lookup(struct searchdir *sd, uint64_t parent, const char *name,
		     struct searchdir_entry *out)
{
	struct query *q;
	int rc = -ENOENT;

	if (parent == sd->dir_ino)
		return lookup_query(sd, name, out);
	pthread_mutex_lock(&sd->lock);
	q = find_query(sd, parent, NULL);
	if (q && strcmp(name, RESULTS_MD) == 0) {
		*out = (struct searchdir_entry){ q->md_ino, SEARCHDIR_RESULTS_MD, (int64_t)q->md.len };
		rc = 0;
	}
	for (size_t i = 0; q && rc < 0 && i < q->n_links; i++) {
		if (strcmp(q->links[i].name, name) != 0)
			continue;
		*out = (struct searchdir_entry){ q->links[i].ino, SEARCHDIR_LINK,
						 (int64_t)strlen(q->links[i].target) };
		rc = 0;
	}
	pthread_mutex_unlock(&sd->lock);
	return rc;
}

int searchdir_getattr(struct searchdir *sd, uint64_t ino, struct searchdir_entry *out)
{
	struct query *q;
	struct link *l;
	bool found;

	pthread_mutex_lock(&sd->lock);
	found = find_entry(sd, ino, out, &q, &l);
	pthread_mutex_unlock(&sd->lock);
	return found ? 0 : -ENOENT;
}

int searchdir_readdir(struct searchdir *sd, uint64_t ino, off_t offset, searchdir_fill_fn fill,
		      void *ctx)
{
	struct query *q;
	size_t at = offset > 2 ? (size_t)offset - 2 : 0;
	int rc = 0;

	pthread_mutex_lock(&sd->lock);
	q = find_query(sd, ino, NULL);
	if (!q)
		rc = -ENOENT;
	if (q && at == 0) {
		struct searchdir_entry e = { q->md_ino, SEARCHDIR_RESULTS_MD, (int64_t)q->md.len };

		if (fill(ctx, RESULTS_MD, &e, 3) != 0)
			q = NULL;
		at = 1;
	}
	for (size_t i = at - (at > 0); q && i < q->n_links; i++) {
		struct searchdir_entry e = { q->links[i].ino, SEARCHDIR_LINK,
					     (int64_t)strlen(q->links[i].target) };

		if (fill(ctx, q->links[i].name, &e, (off_t)i + 4) != 0)
			break;
	}
	pthread_mutex_unlock(&sd->lock);
	return rc;
}

int searchdir_read(struct searchdir *sd, uint64_t ino, off_t off, size_t size, struct buf *out)
{
	struct searchdir_entry e;
	struct query *q;
	struct link *l;
	int rc = -ENOENT;

	pthread_mutex_lock(&sd->lock);
	if (find_entry(sd, ino, &e, &q, &l)) {
		rc = e.kind == SEARCHDIR_RESULTS_MD ? 0 : -EISDIR;
		if (rc == 0 && off >= 0 && (size_t)off < q->md.len)
			buf_append(out, q->md.data + off,
				   size < q->md.len - (size_t)off ? size : q->md.len - (size_t)off);
	}
	pthread_mutex_unlock(&sd->lock);
	return rc;
}

int searchdir_readlink(struct searchdir *sd, uint64_t ino, struct buf *out)
{
	struct searchdir_entry e;
	struct query *q;
	struct link *l;
	int rc = -ENOENT;

	pthread_mutex_lock(&sd->lock);
	if (find_entry(sd, ino, &e, &q, &l)) {
		rc = l ? 0 : -EINVAL;
		if (l)
			buf_puts(out, l->target);
	}
	pthread_mutex_unlock(&sd->lock);
	return rc;
}

void searchdir_forget(struct searchdir *sd, void (*gone)(const char *name, void *ctx), void *ctx)
{
	char *names[SEARCHDIR_MAX_KEPT];
	size_t n;

	pthread_mutex_lock(&sd->lock);
	n = sd->n_kept;
	for (size_t i = 0; i < n; i++) {
		sd->kept[i]->stale = true;
		names[i] = xstrdup(sd->kept[i]->name);
	}
	pthread_mutex_unlock(&sd->lock);
	for (size_t i = 0; i < n; i++) {
		if (gone)
			gone(names[i], ctx);
		free(names[i]);
	}
}
