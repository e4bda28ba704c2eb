/*
 * source: the interface sync lists through (source.h), its answers where
 * an operation is missing, and the API client seen as a source.
 */
#include "source.h"

#include <stdio.h>
#include <string.h>

/* The API client's operations, each its api.h namesake. */

static enum api_result api_list_at_op(void *impl, const char *path, const char *query,
				      int page_size, const struct api_list_start *start,
				      api_item_fn fn, void *ctx, struct api_error *err)
{
	return api_list_at(impl, path, query, page_size, start, fn, ctx, err);
}

static enum api_result api_get_json_op(void *impl, const char *path, const char *query,
				       json_object **out, struct api_error *err)
{
	return api_get_json(impl, path, query, out, err);
}

static int api_page_clamp_op(void *impl, const char *path, bool transcripts)
{
	return api_page_clamp(impl, path, transcripts);
}

static int api_page_size_op(void *impl, const char *path, bool transcripts, int wanted)
{
	return api_page_size(impl, path, transcripts, wanted);
}

static void api_set_page_clamp_op(void *impl, const char *path, bool transcripts, int n)
{
	api_set_page_clamp(impl, path, transcripts, n);
}

static double api_budget_eta_op(void *impl, const char *path, bool transcripts, long n,
				struct budget_rate *binding)
{
	return api_budget_eta(impl, path, transcripts, n, binding);
}

static double api_budget_next_slot_op(void *impl, const char *path, bool transcripts,
				      enum budget_share share, const char **policy)
{
	return api_budget_next_slot(impl, path, transcripts, share, policy);
}

static double api_budget_spread_op(void *impl, const char *path, bool transcripts, long n,
				   const char **policy)
{
	return api_budget_spread(impl, path, transcripts, n, policy);
}

static int api_budget_status_op(void *impl, struct status_policy *out, int max)
{
	return api_budget_status(impl, out, max);
}

static void api_clear_pause_op(void *impl)
{
	api_clear_pause(impl);
}

static void api_get_stats_op(void *impl, struct api_stats *out)
{
	api_get_stats(impl, out);
}

static const struct source_ops api_ops = {
	.list_at = api_list_at_op,
	.get_json = api_get_json_op,
	.page_clamp = api_page_clamp_op,
	.page_size = api_page_size_op,
	.set_page_clamp = api_set_page_clamp_op,
	.budget_eta = api_budget_eta_op,
	.budget_next_slot = api_budget_next_slot_op,
	.budget_spread = api_budget_spread_op,
	.budget_status = api_budget_status_op,
	.clear_pause = api_clear_pause_op,
	.get_stats = api_get_stats_op,
};

struct source source_of_api(struct api_client *client)
{
	return (struct source){ .ops = client ? &api_ops : NULL, .impl = client };
}

bool source_serves(const struct source *src)
{
	return src && src->ops;
}

/* src's operation `op`, or NULL where it has none. */
#define OP(src, op) (source_serves(src) ? (src)->ops->op : NULL)

/* What a source without a listing or a read answers. */
static enum api_result no_server(struct api_error *err)
{
	memset(err, 0, sizeof(*err));
	err->result = API_E_NETWORK;
	snprintf(err->message, sizeof(err->message), "no server to ask");
	return API_E_NETWORK;
}

enum api_result source_list_at(const struct source *src, const char *path, const char *query,
			       int page_size, const struct api_list_start *start, api_item_fn fn,
			       void *ctx, struct api_error *err)
{
	if (!OP(src, list_at))
		return no_server(err);
	return src->ops->list_at(src->impl, path, query, page_size, start, fn, ctx, err);
}

enum api_result source_list(const struct source *src, const char *path, const char *query,
			    int page_size, api_item_fn fn, void *ctx, struct api_error *err)
{
	struct api_list_start start = { .share = BUDGET_FOREGROUND };

	return source_list_at(src, path, query, page_size, &start, fn, ctx, err);
}

enum api_result source_get_json(const struct source *src, const char *path, const char *query,
				json_object **out, struct api_error *err)
{
	*out = NULL;
	if (!OP(src, get_json))
		return no_server(err);
	return src->ops->get_json(src->impl, path, query, out, err);
}

int source_page_clamp(const struct source *src, const char *path, bool transcripts)
{
	return OP(src, page_clamp) ? src->ops->page_clamp(src->impl, path, transcripts) : 0;
}

int source_page_size(const struct source *src, const char *path, bool transcripts, int wanted)
{
	return OP(src, page_size) ? src->ops->page_size(src->impl, path, transcripts, wanted)
				  : wanted;
}

void source_set_page_clamp(const struct source *src, const char *path, bool transcripts, int n)
{
	if (OP(src, set_page_clamp))
		src->ops->set_page_clamp(src->impl, path, transcripts, n);
}

double source_budget_eta(const struct source *src, const char *path, bool transcripts, long n,
			 struct budget_rate *binding)
{
	if (OP(src, budget_eta))
		return src->ops->budget_eta(src->impl, path, transcripts, n, binding);
	*binding = (struct budget_rate){ 0 };
	return 0;
}

double source_budget_next_slot(const struct source *src, const char *path, bool transcripts,
			       enum budget_share share, const char **policy)
{
	if (OP(src, budget_next_slot))
		return src->ops->budget_next_slot(src->impl, path, transcripts, share, policy);
	*policy = NULL;
	return 0;
}

double source_budget_spread(const struct source *src, const char *path, bool transcripts, long n,
			    const char **policy)
{
	if (OP(src, budget_spread))
		return src->ops->budget_spread(src->impl, path, transcripts, n, policy);
	*policy = NULL;
	return 0;
}

int source_budget_status(const struct source *src, struct status_policy *out, int max)
{
	return OP(src, budget_status) ? src->ops->budget_status(src->impl, out, max) : 0;
}

void source_clear_pause(const struct source *src)
{
	if (OP(src, clear_pause))
		src->ops->clear_pause(src->impl);
}

void source_get_stats(const struct source *src, struct api_stats *out)
{
	if (OP(src, get_stats))
		src->ops->get_stats(src->impl, out);
	else
		*out = (struct api_stats){ .server_remaining = -1 };
}
