/*
 * core: api, store and sync built from the configuration. See core.h.
 */
#include "core.h"

#include "collections.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void core_api_options(const struct omifs_config *c, struct api_options *out)
{
	bool backend = c->api_profile && strcmp(c->api_profile, "backend") == 0;

	memset(out, 0, sizeof(*out));
	out->base_url = c->url;
	out->key = c->key;
	out->cafile = c->cafile;
	/* Pages wait beside the cache they are going to, private like it. */
	out->spool_beside = c->offline ? NULL : c->cache_path;
	out->allow_http = c->allow_http;
	out->connect_timeout = c->connect_timeout;
	out->request_timeout = c->request_timeout;
	out->max_retries = c->retries;
	out->max_wait = c->budget_wait;
	budget_defaults(backend ? BUDGET_BACKEND : BUDGET_DOCUMENTED, &out->budget);
	if (c->per_minute >= 0)
		out->budget.per_minute = c->per_minute;
	if (c->per_day >= 0)
		out->budget.per_day = c->per_day;
	if (c->transcripts_per_hour >= 0)
		out->budget.transcripts_per_hour = c->transcripts_per_hour;
	out->budget.window_scale = c->rate_window_scale;
}

void core_sync_options(const struct omifs_config *c, struct sync_options *out)
{
	memset(out, 0, sizeof(*out));
	out->refresh_interval = c->refresh_interval;
	out->full_refresh_interval = c->full_refresh_interval;
	out->page_size = c->page_size;
	out->transcript_batch = c->transcript_batch;
	/* The largest page with transcripts: 1,000 documented, 25 on the backend. */
	out->transcript_page = c->api_profile && strcmp(c->api_profile, "backend") == 0 ? 25 : 1000;
	if (c->transcript_page > 0)
		out->transcript_page = c->transcript_page;
	out->offline = c->offline;
	out->accept_shrink = c->accept_shrink;
	out->first_memories_page = c->first_memories_page;
}

/* Sends of earlier runs kept beyond this (the longest window, a day) are
 * forgotten. */
#define SENDS_KEPT (24 * 3600)

static void add_earlier_send(const char *policy, double at, void *api)
{
	api_budget_add_earlier_send(api, policy, at);
}

/* Adds this run's requests to those the cache keeps. */
static void keep_sends(struct core *core)
{
	struct budget_send *sends;
	size_t n = api_budget_sends(core->api, &sends);
	const char **policies = xcalloc(n + 1, sizeof(*policies));
	double *at = xcalloc(n + 1, sizeof(*at));

	for (size_t i = 0; i < n; i++) {
		policies[i] = sends[i].policy;
		at[i] = sends[i].at;
	}
	store_keep_sends(core->store, policies, at, n, (double)time(NULL) - SENDS_KEPT);
	free(policies);
	free(at);
	free(sends);
}

struct core *core_open(const struct omifs_config *c, bool readonly, char *err, size_t errlen)
{
	struct core *core = xcalloc(1, sizeof(*core));
	struct api_options api_opts;
	struct sync_options sync_opts;
	struct api_error api_err;
	struct source server;

	core_api_options(c, &api_opts);
	core_sync_options(c, &sync_opts);
	core->api = api_new(&api_opts, &api_err);
	if (!core->api) {
		snprintf(err, errlen, "%s", api_err.message);
		goto fail;
	}
	core->store = readonly && c->cache_path ? store_open_readonly(c->cache_path, true, err, errlen)
						: store_open(c->cache_path, err, errlen);
	if (!core->store)
		goto fail;
	core->keeps_sends = !readonly && !c->offline;
	if (core->keeps_sends) {
		store_foreach_send(core->store, add_earlier_send, core->api);
		/* So that omifs cache list can say whose it is. */
		if (c->cache_path)
			store_set_account_url(core->store, c->url);
	}
	/* main's key check was this listing's first page, sent by a client
	 * of its own: this budget must count it all the same. */
	if (c->first_memories_page)
		api_note_sent(core->api, collection_of(STORE_MEMORIES)->api_path,
			      strlen(c->first_memories_page));
	server = source_of_api(core->api);
	core->sync = sync_new(&server, core->store, &sync_opts);
	return core;
fail:
	core_close(core);
	return NULL;
}

struct core *core_open_cached(const struct omifs_config *c, char *err, size_t errlen)
{
	struct omifs_config offline = *c;

	if (!c->cache_path || access(c->cache_path, F_OK) < 0) {
		snprintf(err, errlen, "nothing is cached for this account yet (%s); mount it or run "
			 "omifs sync first", c->cache_path ? c->cache_path : "no disk cache");
		return NULL;
	}
	offline.offline = true;
	return core_open(&offline, true, err, errlen);
}

void core_close(struct core *core)
{
	if (!core)
		return;
	sync_free(core->sync);
	if (core->keeps_sends)
		keep_sends(core);
	store_close(core->store);
	api_free(core->api);
	free(core);
}
