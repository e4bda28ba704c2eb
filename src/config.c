/*
 * config: from the one configuration struct to each layer's options.
 */
#include "config.h"

#include <string.h>

void config_api_options(const struct omifs_config *c, struct api_options *out)
{
	bool backend = c->api_profile && strcmp(c->api_profile, "backend") == 0;

	memset(out, 0, sizeof(*out));
	out->base_url = c->url;
	out->key = c->key;
	out->cafile = c->cafile;
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

void config_sync_options(const struct omifs_config *c, struct sync_options *out)
{
	memset(out, 0, sizeof(*out));
	out->listing_ttl = c->listing_ttl;
	out->page_size = c->page_size;
	out->transcript_batch = c->transcript_batch;
	out->offline = c->offline;
}
