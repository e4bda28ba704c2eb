/*
 * api_request: one logical request, retried as need be. A part of api
 * (api_state.h); calls api_exchange.c and api.c.
 *
 * Layout of one call (api_get_json):
 *   budget_wait()       waits for the client-side budget and for any
 *                       server order (Retry-After, X-RateLimit-Reset),
 *                       bounded
 *   api_perform_once()  one HTTP exchange on a pooled easy handle
 *   api_classify()      HTTP status + curl code -> api_result
 *   retry or return     transient results back off and go round again
 */
#include "api.h"
#include "api_state.h"

#include "buf.h"
#include "log.h"
#include "page.h"
#include "wire.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CANCEL_POLL 0.1		/* seconds between looks at the cancel check */
#define MINUTE 60.0
#define BACKOFF_FIRST 0.25	/* seconds */
#define BACKOFF_CAP 8.0

static double now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleeps s seconds, or less when the client is cancelled meanwhile. */
static void sleep_seconds(const struct api_client *c, double s)
{
	while (s > 0 && !api_cancelled(c)) {
		double slice = s < CANCEL_POLL ? s : CANCEL_POLL;
		struct timespec ts = { 0, (long)(slice * 1e9) };

		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		s -= slice;
	}
}

/* Takes one request's worth of budget for path, waiting while the wait
 * stays within *allowance (which it reduces); a background request never
 * waits for the budget, since its caller goes on later instead. A wait for a minute window,
 * ours or the one the server reports on a success (X-RateLimit-Remaining:
 * 0 with a reset within the minute), may go past the allowance, two
 * minutes in all at most: the slot comes within the minute, so a reader
 * is slow then, like a busy disk, rather than failed. After a 429 the
 * server is the judge, and its pause is not waited past the allowance.
 * Returns API_OK, API_E_RATE or API_E_CANCELLED. */
static enum api_result budget_wait(struct api_client *c, const char *path, bool transcripts,
				   enum budget_share share, double *allowance,
				   struct api_error *err)
{
	double minute_allowance = 2 * MINUTE;

	for (;;) {
		time_t wall = time(NULL);
		double wait = 0;
		const char *policy = NULL;
		bool per_minute = false, patient;

		pthread_mutex_lock(&c->lock);
		if (c->stats.blocked_until > wall) {
			wait = (double)(c->stats.blocked_until - wall);
			per_minute = c->window_pause && wait <= MINUTE;
			policy = "server's";
		}
		pthread_mutex_unlock(&c->lock);
		if (wait == 0) {
			wait = budget_take(c->budget, path, transcripts, share, &policy);
			if (wait == 0)
				return API_OK;
			per_minute = policy && strcmp(policy, "minute") == 0;
		}
		patient = per_minute && wait <= minute_allowance && share == BUDGET_FOREGROUND;
		if (wait > *allowance && !patient) {
			err->result = API_E_RATE;
			err->http_status = 0;
			snprintf(err->message, sizeof(err->message),
				 "request budget spent; next request possible in %.0f s", ceil(wait));
			return API_E_RATE;
		}
		log_debug("waiting %.1f s for the request budget", wait);
		pthread_mutex_lock(&c->lock);
		c->stats.waiting++;
		c->stats.waiting_for = policy;
		c->stats.waiting_until = time(NULL) + (time_t)ceil(wait);
		pthread_mutex_unlock(&c->lock);
		sleep_seconds(c, wait);
		pthread_mutex_lock(&c->lock);
		c->stats.waiting--;
		pthread_mutex_unlock(&c->lock);
		if (api_cancelled(c)) {
			err->result = API_E_CANCELLED;
			snprintf(err->message, sizeof(err->message), "cancelled: omifs is stopping");
			return API_E_CANCELLED;
		}
		if (patient)
			minute_allowance -= wait;
		else
			*allowance -= wait;
	}
}

/* Records what the server said about its limits. */
static void note_rate_headers(struct api_client *c, const struct response *r)
{
	time_t now = time(NULL);

	pthread_mutex_lock(&c->lock);
	if (r->rate.rate_remaining >= 0)
		c->stats.server_remaining = r->rate.rate_remaining;
	if (r->rate.rate_reset > 0)
		c->stats.server_reset = r->rate.rate_reset;
	if (r->status == 429 || (r->rate.rate_remaining == 0 && r->rate.rate_reset > now)) {
		time_t until = now + 1;
		bool capped = false;	/* until is a pause cut short */

		if (r->rate.retry_after >= 0) {
			until = now + (time_t)ceil(r->rate.retry_after);
			capped = r->rate.retry_capped;
		} else if (r->rate.rate_reset > now) {
			until = r->rate.rate_reset;
			capped = r->rate.reset_capped;
		} else if (r->status == 429) {
			until = now + 60;
		}
		if (r->status != 429 && r->rate.rate_reset > now) {
			until = r->rate.rate_reset;
			capped = r->rate.reset_capped;
		}
		/* Said only of the pause taken: a far reset (a daily
		 * window's) comes with every answer. */
		if (capped)
			log_warn("the server asked for a pause of more than %d s: pausing %d s",
				 WIRE_MAX_SERVER_PAUSE, WIRE_MAX_SERVER_PAUSE);
		if (until > c->stats.blocked_until) {
			c->stats.blocked_until = until;
			/* A success that says the window is used up, not a refusal. */
			c->window_pause = r->status != 429;
		}
	}
	pthread_mutex_unlock(&c->lock);
}

static bool is_transient(enum api_result result)
{
	return result == API_E_SERVER || result == API_E_NETWORK || result == API_E_PROTOCOL ||
	       result == API_E_RATE;
}

/* Full jitter in [d/2, d]: spreads retries of concurrent callers. */
static double backoff(struct api_client *c, int attempt)
{
	double d = fmin(BACKOFF_CAP, BACKOFF_FIRST * pow(2, attempt));
	uint64_t x;

	pthread_mutex_lock(&c->lock);
	x = c->jitter_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	c->jitter_state = x;
	pthread_mutex_unlock(&c->lock);
	return d / 2 + d / 2 * (double)(x % 1000) / 1000.0;
}

/* Sleeps before the attempt after `attempt`, taking the wait from
 * *allowance; false, without sleeping, when the wait does not fit in the
 * allowance (after a retry) or before the deadline. */
static bool back_off(struct api_client *c, int attempt, double *allowance, double deadline)
{
	double wait = backoff(c, attempt);

	if ((wait > *allowance && attempt > 0) || now_monotonic() + wait + 1 > deadline)
		return false;
	sleep_seconds(c, wait);
	*allowance -= wait;
	return true;
}

static void record(struct api_client *c, const char *path, bool transcripts,
		   const struct response *r, enum api_result result, bool retry,
		   const struct api_error *err)
{
	pthread_mutex_lock(&c->lock);
	api_count_request(&c->stats, path, transcripts, r->status, r->received);
	if (retry)
		c->stats.retries++;
	if (err->http_status == 429)
		c->stats.rate_limited++;
	if (result != API_OK) {
		c->stats.failures++;
		c->stats.last_error_at = time(NULL);
		snprintf(c->stats.last_error, sizeof(c->stats.last_error), "%s", err->message);
	}
	pthread_mutex_unlock(&c->lock);
}

/* One logical request, retried as need be; see api_classify for out and
 * page. A listing's page is opened here; on API_OK it is the caller's to
 * walk and close, on failure it is closed. After the budget's wait, the
 * attempts, retries and backoff all fit in max(max_wait,
 * request_timeout) seconds. */
static enum api_result request(struct api_client *c, const char *method, const char *path,
			       const char *query, const char *body, json_object **out,
			       struct page *page, enum budget_share share, struct api_error *err)
{
	struct buf url = BUF_INIT;
	double allowance = share == BUDGET_FOREGROUND ? c->max_wait : 0;
	double deadline = 0;	/* set when the first attempt may start */
	bool transcripts = query && strstr(query, "include_transcript=true");
	/* A POST may have taken effect even if its answer was lost. */
	int max_retries = strcmp(method, "POST") == 0 ? 0 : c->max_retries;
	enum api_result result = API_E_NETWORK;

	if (out)
		*out = NULL;
	memset(err, 0, sizeof(*err));
	buf_printf(&url, "%s%s%s%s", c->base_url, path, query ? "?" : "", query ? query : "");
	for (int attempt = 0;; attempt++) {
		struct response r = { .rate = { .retry_after = -1, .rate_remaining = -1 },
				      .page = page };
		double started;

		result = budget_wait(c, path, transcripts, share, &allowance, err);
		if (result != API_OK)
			break;
		started = now_monotonic();
		if (attempt == 0)
			deadline = started + fmax(c->max_wait, (double)c->request_timeout);
		if (api_cancelled(c) || started + 1 > deadline) {
			if (attempt == 0 || api_cancelled(c)) {
				result = API_E_CANCELLED;
				snprintf(err->message, sizeof(err->message),
					 api_cancelled(c) ? "cancelled: omifs is stopping"
							  : "no time left for the request");
			}
			break;
		}
		if (page)
			page_open(page, c->spool_dir);
		api_perform_once(c, method, url.data, body,
				 (long)ceil(fmin(c->request_timeout, deadline - started)), &r);
		note_rate_headers(c, &r);
		result = api_classify(&r, out, err);
		if (page && result != API_OK)
			page_close(page);
		err->result = result;
		record(c, path, transcripts, &r, result, attempt > 0, err);
		log_debug("%s %s%s%s -> %ld (%s), %zu bytes, %.0f ms", method, path, query ? "?" : "",
			  query ? query : "", r.status, wire_result_name(result), r.received,
			  (now_monotonic() - started) * 1000);
		buf_free(&r.body);
		if (result == API_OK || !is_transient(result) || r.too_big || attempt >= max_retries)
			break;
		/* A 429 is waited out by budget_wait (blocked_until); others back off. */
		if (result != API_E_RATE && !back_off(c, attempt, &allowance, deadline))
			break;
		log_info("retrying %s after: %s", path, err->message);
	}
	if (result != API_OK)
		log_info("%s %s failed: %s", method, path, err->message);
	buf_free(&url);
	return result;
}

enum api_result api_get_json(struct api_client *c, const char *path, const char *query,
			     json_object **out, struct api_error *err)
{
	return request(c, "GET", path, query, NULL, out, NULL, BUDGET_FOREGROUND, err);
}

enum api_result api_request(struct api_client *c, const char *method, const char *path,
			    const char *query, const char *body, json_object **out,
			    struct api_error *err)
{
	return request(c, method, path, query, body, out, NULL, BUDGET_FOREGROUND, err);
}

enum api_result api_get_page(struct api_client *c, const char *path, const char *query,
			     struct page *page, enum budget_share share, struct api_error *err)
{
	return request(c, "GET", path, query, NULL, NULL, page, share, err);
}
