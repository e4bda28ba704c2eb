/*
 * source: where sync gets an account's items from, as one interface.
 *
 * The Omi API client is one source (source_of_api); a unit test's fake
 * server is another, so that sync's listing rules (what a listing
 * deletes, holds back or continues) are tested in C without a mount.
 *
 * Each operation keeps the contract of the api.h function of the same
 * name. A source may leave any operation NULL, and the call then answers
 * as a server that names no limit and no page clamp would: a fake writes
 * only what its test needs. A listing or a read it lacks fails with
 * API_E_NETWORK. A NULL source, or one without ops, is no server at all:
 * an offline sync's.
 */
#ifndef OMIFS_SOURCE_H
#define OMIFS_SOURCE_H

#include "api.h"

#include <json-c/json.h>
#include <stdbool.h>

struct source_ops {
	enum api_result (*list_at)(void *impl, const char *path, const char *query,
				   int page_size, const struct api_list_start *start,
				   api_item_fn fn, void *ctx, struct api_error *err);
	enum api_result (*get_json)(void *impl, const char *path, const char *query,
				    json_object **out, struct api_error *err);
	int (*page_clamp)(void *impl, const char *path, bool transcripts);
	int (*page_size)(void *impl, const char *path, bool transcripts, int wanted);
	void (*set_page_clamp)(void *impl, const char *path, bool transcripts, int n);
	double (*budget_eta)(void *impl, const char *path, bool transcripts, long n,
			     struct budget_rate *binding);
	double (*budget_next_slot)(void *impl, const char *path, bool transcripts,
				   enum budget_share share, const char **policy);
	double (*budget_spread)(void *impl, const char *path, bool transcripts, long n,
				const char **policy);
	int (*budget_status)(void *impl, struct status_policy *out, int max);
	void (*clear_pause)(void *impl);
	void (*get_stats)(void *impl, struct api_stats *out);
};

/* A value: copy it freely. impl is borrowed and must outlive every copy. */
struct source {
	const struct source_ops *ops;
	void *impl;
};

/* The API client as a source; client may be NULL (no server). */
struct source source_of_api(struct api_client *client);

/* Whether src is a server at all. */
bool source_serves(const struct source *src);

/* The operations, each as its api.h namesake, src may be NULL. */
enum api_result source_list_at(const struct source *src, const char *path, const char *query,
			       int page_size, const struct api_list_start *start, api_item_fn fn,
			       void *ctx, struct api_error *err);
/* source_list_at from the top, at the foreground's pace (api_list). */
enum api_result source_list(const struct source *src, const char *path, const char *query,
			    int page_size, api_item_fn fn, void *ctx, struct api_error *err);
enum api_result source_get_json(const struct source *src, const char *path, const char *query,
				json_object **out, struct api_error *err);
int source_page_clamp(const struct source *src, const char *path, bool transcripts);
int source_page_size(const struct source *src, const char *path, bool transcripts, int wanted);
void source_set_page_clamp(const struct source *src, const char *path, bool transcripts, int n);
double source_budget_eta(const struct source *src, const char *path, bool transcripts, long n,
			 struct budget_rate *binding);
double source_budget_next_slot(const struct source *src, const char *path, bool transcripts,
			       enum budget_share share, const char **policy);
double source_budget_spread(const struct source *src, const char *path, bool transcripts, long n,
			    const char **policy);
int source_budget_status(const struct source *src, struct status_policy *out, int max);
void source_clear_pause(const struct source *src);
void source_get_stats(const struct source *src, struct api_stats *out);

#endif
