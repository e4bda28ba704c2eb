/*
 * sync_command: omifs sync. Progress goes to stderr, like rclone -P: on a
 * terminal a bar with counts and an ETA on one line, otherwise a plain
 * line per step, for logs; -q silences it. stdout holds only what --json
 * asks for, a summary object at the end. Ctrl-C cancels what is in flight
 * and says how far it got (exit 130).
 */
#include "sync_command.h"

#include "collections.h"
#include "core.h"
#include "store.h"
#include "sync.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct progress {
	struct core *core;
	bool tty;
	bool quiet;
	time_t started;
	size_t first_done;	/* what the cache already had */
	size_t last_shown;
	pthread_mutex_t print_lock; /* one line at a time: show_progress, tell_waits */
	atomic_bool finished;	/* tell_waits stops */
	time_t told_until;	/* the wait tell_waits told of last */
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

	if (p->quiet || p->last_shown == done + 1)
		return;
	p->last_shown = done + 1;
	/* The slower of what the budget allows and what the transfers take. */
	sync_estimate(p->core->sync, &e);
	seconds = e.seconds;
	if (fetched > 0 && elapsed > 0 && (double)elapsed / fetched * (total - done) > seconds)
		seconds = (double)elapsed / fetched * (total - done);
	if ((fetched > 0 && elapsed > 0) || seconds > 0 || done == total)
		format_duration((long)seconds, eta, sizeof(eta));
	pthread_mutex_lock(&p->print_lock);
	if (!p->tty) {
		fprintf(stderr, "transcripts: %zu of %zu cached, ETA %s\n", done, total, eta);
	} else {
		filled = total ? width * done / total : width;
		fprintf(stderr, "\rtranscripts [");
		for (size_t i = 0; i < width; i++)
			fputc(i < filled ? '#' : '-', stderr);
		fprintf(stderr, "] %zu/%zu  ETA %s \033[K", done, total, eta);
	}
	pthread_mutex_unlock(&p->print_lock);
}

/* How many conversations the cache lists: a complete listing's count, or
 * what an unfinished one listed so far (*complete false). */
static size_t conversations_listed(struct store *store, bool *complete)
{
	time_t listed_at;
	size_t count;

	*complete = store_listing_info(store, STORE_CONVERSATIONS, &listed_at, &count) == 0;
	return *complete ? count : store_listing_size(store, STORE_CONVERSATIONS);
}

/* Tells what a request waits for, when one waits: "waiting for the
 * transcripts policy: next request in 41m00s; 625 of 700 cached; about
 * 3h12m left". On a terminal the line counts down; in a log it comes
 * once per wait. */
static void tell_wait(struct progress *p)
{
	struct api_stats st;
	struct sync_estimate e;
	time_t now = time(NULL);
	size_t cached, listed;
	bool complete;
	char in[32], left[32];

	api_get_stats(p->core->api, &st);
	if (st.waiting == 0 || st.waiting_until <= now || (!p->tty && st.waiting_until == p->told_until))
		return;
	p->told_until = st.waiting_until;
	cached = store_count_full_conversations(p->core->store);
	listed = conversations_listed(p->core->store, &complete);
	format_duration((long)(st.waiting_until - now), in, sizeof(in));
	pthread_mutex_lock(&p->print_lock);
	fprintf(stderr, "%swaiting for the %s policy: next request in %s; %zu of %zu%s cached",
		p->tty ? "\r" : "", st.waiting_for ? st.waiting_for : "request budget's", in,
		cached < listed ? cached : listed, listed, complete ? "" : " listed so far");
	if (complete) {
		sync_estimate(p->core->sync, &e);
		format_duration((long)e.seconds, left, sizeof(left));
		fprintf(stderr, "; about %s left", left);
	}
	fputs(p->tty ? "\033[K" : "\n", stderr);
	pthread_mutex_unlock(&p->print_lock);
}

static void *tell_waits(void *arg)
{
	struct progress *p = arg;
	const struct timespec tick = { .tv_nsec = 250 * 1000 * 1000 };

	for (int n = 0; !atomic_load(&p->finished); n++) {
		if (n % 4 == 0)
			tell_wait(p);
		nanosleep(&tick, NULL);
	}
	return NULL;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* api's cancel check: Ctrl-C abandons the request in flight (and any
 * wait for the budget) at once; what is stored stays stored. */
static bool sync_interrupted(void *ctx)
{
	(void)ctx;
	return interrupted;
}

/* Prints summary on stdout, as --json asks; takes it over. */
static void print_json(json_object *summary)
{
	printf("%s\n", json_object_to_json_string_ext(summary, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(summary);
}

/* The last word on stderr: rc, full, reason as finish has them
 * (refused_alone: reason is the transcripts the server refused alone),
 * done of total transcripts, complete as conversations_listed says. */
static void say_end(const struct omifs_config *c, int rc, bool full, const char *reason,
		    bool refused_alone, size_t done, size_t total, bool complete)
{
	if (interrupted && complete)
		fprintf(stderr, "interrupted: %zu of %zu done; run again to resume\n", done, total);
	else if (interrupted)
		fprintf(stderr, "interrupted: %zu transcripts cached, of %zu conversations listed so "
			"far; run again to resume\n", done, total);
	else if (rc == 0 && !c->quiet)
		fprintf(stderr, "omifs sync: done, everything is cached\n");
	else if (full)
		fprintf(stderr, "omifs sync: stopped: the disk holding the cache %s is full (%s); "
			"free some space and run it again: what is cached stays\n", c->cache_path,
			reason);
	else if (refused_alone)
		fprintf(stderr, "omifs sync: failed: %s (each named above); everything else is "
			"cached: run it again to ask for those again\n", reason);
	else if (reason)
		fprintf(stderr, "omifs sync: failed: the cache %s cannot be read whole: %s (omifs "
			"sync --check tells; move the file away to start anew)\n", c->cache_path,
			reason);
	else if (rc != 0)
		fprintf(stderr, "omifs sync: stopped: %s (run it again to resume)\n",
			rc == -EAGAIN ? "the request budget is spent" :
			rc == -EACCES ? "the key was refused" : strerror(-rc));
}

/* The last word, on stderr for people and with --json on stdout. A cache
 * that failed a read or a write during the run, or is not whole at its
 * end (pages the run never read may be damaged), fails the run: "done"
 * means a whole copy. */
static int finish(const struct omifs_config *c, struct store *store, int rc, time_t started,
		  size_t failed_alone)
{
	size_t count = 0, total = 0, done = store_count_full_conversations(store);
	char cache_error[256], alone_reason[128];
	time_t listed_at, failed_at;
	bool complete, full = false;
	const char *result, *reason = NULL;
	json_object *summary;

	if (rc == 0 && !interrupted)
		store_check(store, true, cache_error, sizeof(cache_error));
	if (store_last_error(store, cache_error, sizeof(cache_error), &failed_at) && !interrupted) {
		rc = -EIO;
		reason = cache_error;
		full = store_out_of_space(store);
	}
	if (rc == 0 && failed_alone && !reason) {
		snprintf(alone_reason, sizeof(alone_reason),
			 "%zu transcript%s refused by the server, each alone", failed_alone,
			 failed_alone == 1 ? " was" : "s were");
		rc = -EIO;
		reason = alone_reason;
	}
	summary = json_object_new_object();
	result = interrupted ? "interrupted" : rc == 0 ? "done" : full ? "disk_full"
		 : rc == -EAGAIN ? "budget_spent" : rc == -EACCES ? "key_refused" : "failed";
	json_object_object_add(summary, "result", json_object_new_string(result));
	if (reason)
		json_object_object_add(summary, "reason", json_object_new_string(reason));
	json_object_object_add(summary, "cache", json_object_new_string(c->cache_path));
	/* An unfinished listing counts what it listed so far. */
	for (int k = 0; k < STORE_KINDS; k++) {
		if (store_listing_info(store, k, &listed_at, &count) < 0)
			count = store_listing_size(store, k);
		json_object_object_add(summary, collection_of(k)->json_key,
				       json_object_new_int64((int64_t)count));
	}
	total = conversations_listed(store, &complete);
	done = done > total ? total : done;
	json_object_object_add(summary, "conversations_listed_completely",
			       json_object_new_boolean(complete));
	json_object_object_add(summary, "transcripts", json_object_new_int64((int64_t)done));
	json_object_object_add(summary, "transcripts_failed",
			       json_object_new_int64((int64_t)failed_alone));
	json_object_object_add(summary, "seconds", json_object_new_int64(time(NULL) - started));
	say_end(c, rc, full, reason, reason == alone_reason, done, total, complete);
	if (c->json)
		print_json(summary);
	else
		json_object_put(summary);
	return interrupted ? 130 : rc == 0 ? 0 : full ? 5 : rc == -EACCES ? 2 : 3;
}

int sync_command_stopped(const struct omifs_config *c, int exit_code, const char *reason)
{
	json_object *summary;

	if (!c->json)
		return exit_code;
	summary = json_object_new_object();
	json_object_object_add(summary, "result", json_object_new_string(
		exit_code == 2 ? "key_refused" : "failed"));
	json_object_object_add(summary, "reason", json_object_new_string(reason));
	if (c->cache_path)
		json_object_object_add(summary, "cache", json_object_new_string(c->cache_path));
	print_json(summary);
	return exit_code;
}

int sync_check_command(const struct omifs_config *c)
{
	char err[512], problem[512];
	/* No file is no cache: store_open_readonly would give an empty one. */
	bool exists = access(c->cache_path, F_OK) == 0;
	struct store *store = exists ? store_open_readonly(c->cache_path, false, err, sizeof(err))
				     : NULL;
	json_object *summary = json_object_new_object();
	int rc = store ? store_check(store, false, problem, sizeof(problem)) : -EIO;

	if (!store)
		snprintf(problem, sizeof(problem), "%s", exists ? err : "there is no such file");
	store_close(store);
	json_object_object_add(summary, "result", json_object_new_string(rc == 0 ? "whole"
										 : "damaged"));
	if (rc < 0)
		json_object_object_add(summary, "reason", json_object_new_string(problem));
	json_object_object_add(summary, "cache", json_object_new_string(c->cache_path));
	if (rc == 0 && !c->quiet)
		fprintf(stderr, "omifs sync --check: the cache %s is whole\n", c->cache_path);
	else if (rc < 0)
		fprintf(stderr, "omifs sync --check: the cache %s is damaged: %s (move it away: "
			"the next omifs sync fetches everything anew)\n", c->cache_path, problem);
	if (c->json)
		print_json(summary);
	else
		json_object_put(summary);
	return rc == 0 ? 0 : 3;
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
	fprintf(stderr, "transcripts: %zu missing: %zu %s of %zu", e.missing, e.pages,
		e.pages == 1 ? "request" : "requests", e.page);
	if (e.pace.name)
		fprintf(stderr, ", at %d per %s (%s policy): about %s", e.pace.limit,
			e.pace.window >= 86400 ? "day" : e.pace.window >= 3600 ? "hour"
			: e.pace.window >= 60 ? "minute" : "window",
			e.pace.name, e.seconds > 0 ? eta : "no wait");
	fputc('\n', stderr);
}

int sync_command(const struct omifs_config *c)
{
	/* A sync has nobody waiting on it: pace to the budget, however long. */
	struct omifs_config patient = *c;
	struct core *core;
	struct progress progress = { .tty = isatty(STDERR_FILENO), .quiet = c->quiet,
				     .started = time(NULL), .print_lock = PTHREAD_MUTEX_INITIALIZER };
	struct sigaction on_int = { .sa_handler = on_interrupt };
	pthread_t waits;
	bool telling = false;
	char err[512];
	size_t count, failed_alone = 0;
	time_t listed_at;
	int rc;

	patient.budget_wait = 7 * 86400;
	core = core_open(&patient, false, err, sizeof(err));
	if (!core) {
		fprintf(stderr, "omifs: %s\n", err);
		return 1;
	}
	/* No SA_RESTART: a blocking call returns, and the cancel check ends
	 * the request it belonged to. */
	sigaction(SIGINT, &on_int, NULL);
	api_set_cancel_check(core->api, sync_interrupted, NULL);
	progress.core = core;
	if (!c->quiet) {
		fprintf(stderr, "omifs sync: cache %s\n", c->cache_path);
		telling = pthread_create(&waits, NULL, tell_waits, &progress) == 0;
	}
	rc = sync_list_stale(core->sync, c->refresh_interval);
	for (int k = 0; rc == 0 && k < STORE_KINDS; k++)
		if (!c->quiet && store_listing_info(core->store, k, &listed_at, &count) == 0)
			fprintf(stderr, "%s: %zu\n", collection_of(k)->label, count);
	if (rc == 0 && !c->quiet)
		print_plan(core->sync);
	if (rc == 0) {
		store_listing_info(core->store, STORE_CONVERSATIONS, &listed_at, &count);
		progress.first_done = store_count_full_conversations(core->store);
		if (progress.first_done > count)
			progress.first_done = count;
		rc = sync_fetch_all_transcripts(core->sync, show_progress, &progress, &failed_alone);
	}
	if (telling) {
		atomic_store(&progress.finished, true);
		pthread_join(waits, NULL);
	}
	if (progress.tty && !c->quiet)
		fputc('\n', stderr);
	rc = finish(c, core->store, rc, progress.started, failed_alone);
	core_close(core);
	return rc;
}
