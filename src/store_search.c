/*
 * store_search: searches over the cache's index (search_index.h). A cache
 * that has its own read-only connection for searches runs them there,
 * holding back no read or write of the mount; else under the store's
 * lock.
 */
#include "store_state.h"

#include "search_index.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

bool store_can_search(struct store *s)
{
	return s->search != NULL;
}

enum search_index_state store_index_state(struct store *s)
{
	return s->index_state;
}

int store_search(struct store *s, const struct search_request *req, struct search_hits *hits,
		 char *err, size_t errlen)
{
	int rc;

	if (s->searcher_index) {
		pthread_mutex_lock(&s->search_lock);
		rc = search_index_query(s->searcher_index, req, hits, err, errlen);
		pthread_mutex_unlock(&s->search_lock);
		return rc;
	}
	pthread_mutex_lock(&s->lock);
	if (!s->search) {
		snprintf(err, errlen, "the cache has no search index (see the log)");
		memset(hits, 0, sizeof(*hits));
		rc = -EIO;
	} else {
		rc = search_index_query(s->search, req, hits, err, errlen);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int store_count_untranscribed(struct store *s, size_t *n)
{
	int rc = -EIO;

	pthread_mutex_lock(&s->lock);
	if (s->search)
		rc = search_index_untranscribed(s->search, n);
	pthread_mutex_unlock(&s->lock);
	return rc;
}
