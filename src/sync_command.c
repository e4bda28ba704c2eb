/*
 * sync_command: omifs sync. On a terminal it draws a progress bar with
 * counts and an ETA on one line; otherwise it prints a plain line per
 * step, for logs.
 */
#include "sync_command.h"

#include "log.h"
#include "store.h"
#include "sync.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct progress {
	struct sync *sync;
	bool tty;
	time_t started;
	size_t first_done;	/* what the cache already had */
	size_t last_shown;
};

static void format_duration(long seconds, char *out, size_t outlen)
{
	if (seconds >= 3600)
		snprintf(out, outlen, "%ldh%02ldm", seconds / 3600, seconds / 60 % 60);
	else
		snprintf(out, outlen, "%ldm%02lds", seconds / 60, seconds % 60);
}

static void show_progress(size_t done, size_t total, void *ctx)
{
	struct progress *p = ctx;
	long elapsed = (long)(time(NULL) - p->started);
	size_t fetched = done - p->first_done, width = 30, filled;
	struct sync_estimate e;
	double seconds;
	char eta[32] = "?";

	if (p->last_shown == done + 1)
		return;
	p->last_shown = done + 1;
	/* The slower of what the budget allows and what the transfers take. */
	sync_estimate(p->sync, &e);
	seconds = e.seconds;
	if (fetched > 0 && elapsed > 0 && (double)elapsed / fetched * (total - done) > seconds)
		seconds = (double)elapsed / fetched * (total - done);
	if ((fetched > 0 && elapsed > 0) || seconds > 0 || done == total)
		format_duration((long)seconds, eta, sizeof(eta));
	if (!p->tty) {
		printf("transcripts: %zu of %zu cached, ETA %s\n", done, total, eta);
		fflush(stdout);
		return;
	}
	filled = total ? width * done / total : width;
	printf("\rtranscripts [");
	for (size_t i = 0; i < width; i++)
		putchar(i < filled ? '#' : '-');
	printf("] %zu/%zu  ETA %s ", done, total, eta);
	fflush(stdout);
}

/* Says up front what is left and how long the budget makes it take:
 * "80 requests of 25 transcripts, at 25 an hour (transcripts): about
 * 3h12m". */
static void print_plan(struct sync *sync)
{
	struct sync_estimate e;
	char eta[32];

	sync_estimate(sync, &e);
	if (e.missing == 0)
		return;
	format_duration((long)e.seconds, eta, sizeof(eta));
	printf("transcripts: %zu missing: %zu %s of %zu", e.missing, e.pages,
	       e.pages == 1 ? "request" : "requests", e.page);
	if (e.pace.name)
		printf(", at %d per %s (%s policy): about %s", e.pace.limit,
		       e.pace.window >= 86400 ? "day" : e.pace.window >= 3600 ? "hour"
		       : e.pace.window >= 60 ? "minute" : "window",
		       e.pace.name, e.seconds > 0 ? eta : "no wait");
	putchar('\n');
}

int sync_command(const struct omifs_config *c)
{
	struct api_options api_opts;
	struct sync_options sync_opts;
	struct api_error err;
	struct api_client *api;
	struct store *store;
	struct sync *sync;
	struct progress progress = { .tty = isatty(STDOUT_FILENO), .started = time(NULL) };
	char store_err[512];
	size_t count;
	time_t listed_at;
	int rc;

	config_api_options(c, &api_opts);
	/* A sync has nobody waiting on it: pace to the budget, however long. */
	api_opts.max_wait = 7 * 86400;
	config_sync_options(c, &sync_opts);
	api = api_new(&api_opts, &err);
	if (!api) {
		fprintf(stderr, "omifs: %s\n", err.message);
		return 1;
	}
	if (c->first_memories_page)
		api_note_sent(api, "/user/memories");
	store = store_open(c->cache_path, store_err, sizeof(store_err));
	if (!store) {
		fprintf(stderr, "omifs: %s\n", store_err);
		api_free(api);
		return 1;
	}
	sync = sync_new(api, store, &sync_opts);
	progress.sync = sync;
	printf("omifs sync: cache %s\n", c->cache_path);
	rc = sync_list_stale(sync, c->refresh_interval);
	for (int k = 0; rc == 0 && k < STORE_KINDS; k++) {
		static const char *const names[] = { "memories", "action items", "conversations" };

		if (store_listing_info(store, k, &listed_at, &count) == 0)
			printf("%s: %zu\n", names[k], count);
	}
	if (rc == 0)
		print_plan(sync);
	if (rc == 0) {
		store_listing_info(store, STORE_CONVERSATIONS, &listed_at, &count);
		progress.first_done = store_count_full_conversations(store);
		if (progress.first_done > count)
			progress.first_done = count;
		rc = sync_fetch_all_transcripts(sync, show_progress, &progress);
		if (progress.tty)
			putchar('\n');
	}
	if (rc == 0)
		printf("omifs sync: done, everything is cached\n");
	else
		fprintf(stderr, "omifs sync: stopped: %s (run it again to resume)\n",
			rc == -EAGAIN ? "the request budget is spent" :
			rc == -EACCES ? "the key was refused" : strerror(-rc));
	sync_free(sync);
	store_close(store);
	api_free(api);
	return rc == 0 ? 0 : rc == -EACCES ? 2 : 3;
}
