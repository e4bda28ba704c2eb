/*
 * api: the client (api.h): its setup; the figures of its requests that
 * the status shows; and what it keeps for them, the request budget and
 * the page sizes the server was seen to clamp to. Requests are made by
 * api_request.c over api_exchange.c's exchanges, listings by api_list.c
 * (api_state.h); this file calls none of them.
 */
#include "api.h"
#include "api_state.h"

#include "buf.h"
#include "collections.h"
#include "curl_lib.h"
#include "wire.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Whether the caller of api_set_cancel_check says to stop. */
bool api_cancelled(const struct api_client *c)
{
	return c->cancel_check && c->cancel_check(c->cancel_ctx);
}

struct api_client *api_new(const struct api_options *opts, struct api_error *err)
{
	const struct curl_lib *curl;
	struct api_client *c;
	char *base_url;
	size_t url_len;

	memset(err, 0, sizeof(*err));
	curl = curl_lib_get(err->message, sizeof(err->message));
	if (!curl || curl->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		err->result = API_E_NETWORK;
		if (curl)
			snprintf(err->message, sizeof(err->message), "libcurl failed to initialise");
		return NULL;
	}
	base_url = wire_check_url(opts->base_url, opts->allow_http, err);
	if (!base_url) {
		curl->global_cleanup();
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->curl = curl;
	c->base_url = base_url;
	url_len = strlen(c->base_url);
	while (url_len > 0 && c->base_url[url_len - 1] == '/')
		c->base_url[--url_len] = '\0';
	{
		struct buf header = BUF_INIT;

		buf_printf(&header, "Authorization: Bearer %s", opts->key);
		c->auth_header = buf_steal(&header);
	}
	c->cafile = opts->cafile ? xstrdup(opts->cafile) : NULL;
	if (opts->spool_beside) {
		const char *slash = strrchr(opts->spool_beside, '/');

		c->spool_dir = slash ? xstrndup(opts->spool_beside,
						(size_t)(slash - opts->spool_beside) + 1)
				     : xstrdup(".");
	}
	c->connect_timeout = opts->connect_timeout;
	c->request_timeout = opts->request_timeout;
	c->max_retries = opts->max_retries;
	c->budget = budget_new(&opts->budget);
	c->max_wait = opts->max_wait;
	c->jitter_state = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)c << 16) ^ 0x9e3779b97f4a7c15ULL;
	c->stats.server_remaining = -1;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void api_free(struct api_client *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->pool_count; i++)
		c->curl->easy_cleanup(c->pool[i]);
	explicit_bzero(c->auth_header, strlen(c->auth_header));
	free(c->auth_header);
	free(c->base_url);
	free(c->cafile);
	free(c->spool_dir);
	budget_free(c->budget);
	pthread_mutex_destroy(&c->lock);
	c->curl->global_cleanup();
	free(c);
}

void api_set_cancel_check(struct api_client *c, api_cancel_fn check, void *ctx)
{
	c->cancel_check = check;
	c->cancel_ctx = ctx;
}

/* The route metrics name path by: a listing, one item ("{id}"), or
 * "other". Constant. */
static const char *route_of(const char *path)
{
	bool one_object;
	const struct collection *c = collection_of_path(path, &one_object);

	return !c ? "other" : one_object ? c->item_route : c->api_path;
}

/* Counts one request of path sent, that ended with http_status (0: no
 * answer) and brought `received` bytes. c->lock held. */
void api_count_request(struct api_stats *stats, const char *path, bool transcripts,
		       long http_status, size_t received)
{
	const char *route = route_of(path), *policy = budget_policy_of(path, transcripts);
	struct status_request_kind *k;

	stats->requests++;
	stats->bytes_received += received;
	for (int i = 0; i < stats->n_by_kind; i++) {
		k = &stats->by_kind[i];
		if (k->route == route && k->policy == policy && k->http_status == http_status) {
			k->count++;
			return;
		}
	}
	if (stats->n_by_kind == STATUS_REQUEST_KINDS)
		return;
	stats->by_kind[stats->n_by_kind++] = (struct status_request_kind){
		.route = route, .policy = policy, .http_status = http_status, .count = 1,
	};
}

void api_note_sent(struct api_client *c, const char *path, size_t received)
{
	const char *policy;

	budget_take(c->budget, path, false, BUDGET_FOREGROUND, &policy);
	/* Counted as sent, too: the status never shows fewer requests sent
	 * than its budget counts. */
	pthread_mutex_lock(&c->lock);
	api_count_request(&c->stats, path, false, 200, received);
	pthread_mutex_unlock(&c->lock);
}

void api_clear_pause(struct api_client *c)
{
	pthread_mutex_lock(&c->lock);
	c->stats.blocked_until = 0;
	pthread_mutex_unlock(&c->lock);
}

void api_get_stats(struct api_client *c, struct api_stats *out)
{
	if (!c) {
		*out = (struct api_stats){ .server_remaining = -1 };
		return;
	}
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->lock);
}

double api_budget_eta(struct api_client *c, const char *path, bool transcripts, long n,
		      struct budget_rate *binding)
{
	return budget_eta(c->budget, path, transcripts, n, binding);
}

double api_budget_next_slot(struct api_client *c, const char *path, bool transcripts,
			    enum budget_share share, const char **policy)
{
	return budget_next_slot(c->budget, path, transcripts, share, policy);
}

double api_budget_spread(struct api_client *c, const char *path, bool transcripts, long n,
			 const char **policy)
{
	*policy = NULL;
	return c ? budget_spread(c->budget, path, transcripts, n, policy) : 0;
}

size_t api_budget_sends(struct api_client *c, struct budget_send **out)
{
	return budget_sends(c->budget, out);
}

void api_budget_add_earlier_send(struct api_client *c, const char *policy, double at)
{
	budget_add_earlier_send(c->budget, policy, at);
}

/* Where path's page clamp is kept, or NULL for a path that is no
 * collection's listing. c->lock held. */
static int *page_clamp_of(struct api_client *c, const char *path, bool transcripts)
{
	bool one_object;
	const struct collection *col = collection_of_path(path, &one_object);

	return col && !one_object ? &c->page_clamps[col->kind][transcripts] : NULL;
}

int api_page_clamp(struct api_client *c, const char *path, bool transcripts)
{
	int *clamp, n = 0;

	pthread_mutex_lock(&c->lock);
	if ((clamp = page_clamp_of(c, path, transcripts)))
		n = *clamp;
	pthread_mutex_unlock(&c->lock);
	return n;
}

int api_page_size(struct api_client *c, const char *path, bool transcripts, int wanted)
{
	int clamp = c ? api_page_clamp(c, path, transcripts) : 0;

	return clamp > 0 && clamp < wanted ? clamp : wanted;
}

void api_set_page_clamp(struct api_client *c, const char *path, bool transcripts, int n)
{
	int *clamp;

	pthread_mutex_lock(&c->lock);
	if ((clamp = page_clamp_of(c, path, transcripts)) && n >= 0)
		*clamp = n;
	pthread_mutex_unlock(&c->lock);
}

int api_budget_status(struct api_client *c, struct status_policy *out, int max)
{
	return c ? budget_status(c->budget, out, max) : 0;
}
