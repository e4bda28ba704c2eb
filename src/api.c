/*
 * api: libcurl requests, retries, rate budget, paging.
 *
 * Layout of one call (api_get_json):
 *   budget_wait()      waits for the client-side budget and for any server
 *                      order (Retry-After, X-RateLimit-Reset), bounded
 *   perform_once()     one HTTP exchange on a pooled easy handle
 *   classify()         HTTP status + curl code -> api_result
 *   retry or return    transient results back off and go round again
 *
 * Easy handles are pooled rather than shared: each keeps its own
 * connection cache, so keep-alive connections are reused without the
 * locking a CURLSH would need.
 */
#include "api.h"
#include "api_state.h"

#include "buf.h"
#include "collections.h"
#include "curl_lib.h"
#include "hash.h"
#include "jsontext.h"
#include "log.h"
#include "page.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POOL_MAX 8
/* A page larger than this is refused, not retried: a page of 1,000
 * conversations with long transcripts is tens of MiB. */
#define MAX_BODY (128u << 20)
#define CANCEL_POLL 0.1		/* seconds between looks at the cancel check */
#define MINUTE 60.0
#define BACKOFF_FIRST 0.25	/* seconds */
#define BACKOFF_CAP 8.0

struct api_client {
	const struct curl_lib *curl;
	char *base_url;
	char *auth_header;	/* "Authorization: Bearer ..."; the key lives only here */
	char *cafile;
	char *spool_dir;	/* where listing pages wait, or NULL: in memory */
	long connect_timeout, request_timeout;
	int max_retries;
	struct budget *budget;
	double max_wait;
	api_cancel_fn cancel_check;	/* set once, before any request */
	void *cancel_ctx;

	pthread_mutex_t lock;	/* guards everything below */
	CURL *pool[POOL_MAX];
	int pool_count;
	uint64_t jitter_state;
	struct api_stats stats;
	bool window_pause;	/* blocked_until is the server's window (Remaining: 0
				 * on a success), not a refusal (429) */
	int page_clamps[STORE_KINDS][2]; /* api_page_clamp's, [kind][transcripts] */
};

/* What one HTTP exchange brought back. */
struct response {
	const struct curl_lib *curl;
	CURL *handle;
	long status;
	CURLcode curl_code;
	char curl_error[CURL_ERROR_SIZE];
	struct buf body;	/* what does not go to the page */
	size_t received;	/* body bytes, wherever they went */
	struct page *page;	/* a listing's: where a 2xx body goes */
	bool body_started, into_page;
	bool page_broken;	/* the page cannot be a JSON list of objects */
	bool spool_failed;	/* writing the spool failed (errno in spool_errno) */
	int spool_errno;
	struct api_rate_headers rate;
	bool too_big;
};

static double now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool cancelled(const struct api_client *c)
{
	return c->cancel_check && c->cancel_check(c->cancel_ctx);
}

/* Sleeps s seconds, or less when the client is cancelled meanwhile. */
static void sleep_seconds(const struct api_client *c, double s)
{
	while (s > 0 && !cancelled(c)) {
		double slice = s < CANCEL_POLL ? s : CANCEL_POLL;
		struct timespec ts = { 0, (long)(slice * 1e9) };

		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		s -= slice;
	}
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
static void count_request(struct api_stats *stats, const char *path, bool transcripts,
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
	count_request(&c->stats, path, false, 200, received);
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
		if (cancelled(c)) {
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

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
	struct response *r = userdata;
	size_t len = size * n;
	int rc;

	if (r->received + len > MAX_BODY) {
		r->too_big = true;
		return 0;
	}
	r->received += len;
	if (!r->body_started) {
		long status = 0;

		/* The status line is in by now; only a success is a page. */
		r->curl->easy_getinfo(r->handle, CURLINFO_RESPONSE_CODE, &status);
		r->into_page = r->page && status >= 200 && status < 300;
		r->body_started = true;
	}
	if (!r->into_page) {
		buf_append(&r->body, data, len);
		return len;
	}
	/* A broken page is received to its end, kept nowhere: an answer too
	 * large is then known as such (and not retried), as when pages were
	 * judged whole. */
	if (r->page_broken)
		return len;
	rc = page_take(r->page, data, len);
	if (rc > 0)
		r->page_broken = true;
	else if (rc < 0) {
		r->spool_failed = true;
		r->spool_errno = -rc;
	}
	return rc < 0 ? 0 : len;
}

static size_t on_header(char *line, size_t size, size_t n, void *userdata)
{
	struct response *r = userdata;

	wire_parse_rate_header(line, size * n, time(NULL), &r->rate);
	return size * n;
}

static CURL *pool_take(struct api_client *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->pool_count > 0)
		h = c->pool[--c->pool_count];
	pthread_mutex_unlock(&c->lock);
	return h ? h : c->curl->easy_init();
}

static void pool_give(struct api_client *c, CURL *h)
{
	pthread_mutex_lock(&c->lock);
	if (c->pool_count < POOL_MAX) {
		c->pool[c->pool_count++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	if (h)
		c->curl->easy_cleanup(h);
}

/* libcurl's progress callback: non-zero aborts the transfer. */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return cancelled(userdata);
}

/* One HTTP exchange: method on url, with a JSON body when body is set,
 * given at most `timeout` seconds. */
static void perform_once(struct api_client *c, const char *method, const char *url,
			 const char *body, long timeout, struct response *r)
{
	const struct curl_lib *lib = c->curl;
	struct curl_slist *headers = NULL;
	CURL *h = pool_take(c);

	r->status = 0;
	r->curl_error[0] = '\0';
	r->curl = lib;
	r->handle = h;
	if (!h) {
		r->curl_code = CURLE_FAILED_INIT;
		return;
	}
	lib->easy_reset(h);
	headers = lib->slist_append(headers, c->auth_header);
	headers = lib->slist_append(headers, "Accept: application/json");
	if (body) {
		headers = lib->slist_append(headers, "Content-Type: application/json");
		lib->easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	if (strcmp(method, "GET") != 0)
		lib->easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	lib->easy_setopt(h, CURLOPT_URL, url);
	lib->easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	lib->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	lib->easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	lib->easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	lib->easy_setopt(h, CURLOPT_USERAGENT, "omifs/" OMIFS_VERSION);
	lib->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	lib->easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->connect_timeout < timeout ? c->connect_timeout
										  : timeout);
	lib->easy_setopt(h, CURLOPT_TIMEOUT, timeout);
	/* A stalled server: give up when nothing arrives for a whole timeout. */
	lib->easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	lib->easy_setopt(h, CURLOPT_LOW_SPEED_TIME, timeout);
	/* Refused before the body comes when Content-Length says too much. */
	lib->easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MAX_BODY);
	lib->easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	lib->easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	lib->easy_setopt(h, CURLOPT_XFERINFODATA, c);
	lib->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	lib->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->cafile)
		lib->easy_setopt(h, CURLOPT_CAINFO, c->cafile);
	lib->easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	lib->easy_setopt(h, CURLOPT_WRITEDATA, r);
	lib->easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	lib->easy_setopt(h, CURLOPT_HEADERDATA, r);
	lib->easy_setopt(h, CURLOPT_ERRORBUFFER, r->curl_error);
	r->curl_code = lib->easy_perform(h);
	if (r->curl_code == CURLE_FILESIZE_EXCEEDED)
		r->too_big = true;
	if (r->curl_code == CURLE_OK)
		lib->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	/* The header list holds the key: scrub it before it goes back to malloc. */
	explicit_bzero(headers->data, strlen(headers->data));
	lib->slist_free_all(headers);
	pool_give(c, h);
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

/* Turns one exchange into a result and, for failures, a message. A 200
 * goes to *out parsed, or, for a listing (r->page set), stays in the page
 * once the page has proved to be a JSON list of objects. */
static enum api_result classify(struct response *r, json_object **out, struct api_error *err)
{
	char server_msg[400];

	err->http_status = r->status;
	if (r->too_big) {
		snprintf(err->message, sizeof(err->message), "answer larger than %u MiB",
			 MAX_BODY >> 20);
		return API_E_PROTOCOL;
	}
	if (r->page_broken) {
		page_whole(r->page, r->received, err->message, sizeof(err->message));
		return API_E_PROTOCOL;
	}
	if (r->spool_failed) {
		snprintf(err->message, sizeof(err->message), "cannot spool a listing page: %s",
			 strerror(r->spool_errno));
		return API_E_NETWORK;
	}
	if (r->curl_code == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(err->message, sizeof(err->message), "cancelled: omifs is stopping");
		return API_E_CANCELLED;
	}
	if (r->curl_code != CURLE_OK) {
		snprintf(err->message, sizeof(err->message), "%s",
			 r->curl_error[0] ? r->curl_error : r->curl->easy_strerror(r->curl_code));
		return API_E_NETWORK;
	}
	/* A listing succeeds only as a JSON list, whatever 2xx status came
	 * with it: a 204 or a 201 cannot stand for a page. */
	if (r->page && r->status >= 200 && r->status < 300)
		return page_whole(r->page, r->received, err->message, sizeof(err->message)) ? API_OK : API_E_PROTOCOL;
	if ((r->status == 201 || r->status == 204) && r->body.len == 0) {
		*out = NULL;	/* No Content: nothing to parse */
		return API_OK;
	}
	if (r->status == 200 || r->status == 201) {
		json_object *obj = json_text_parse(r->body.data ? r->body.data : "", r->body.len);

		if (!obj) {
			snprintf(err->message, sizeof(err->message),
				 "the server sent a body that is not JSON (%zu bytes)", r->body.len);
			return API_E_PROTOCOL;
		}
		*out = obj;
		return API_OK;
	}
	wire_error_message(r->body.data ? r->body.data : "", r->body.len, server_msg,
			   sizeof(server_msg));
	snprintf(err->message, sizeof(err->message), "HTTP %ld%s%s", r->status,
		 server_msg[0] ? ": " : "", server_msg);
	if (r->status == 401 || r->status == 403)
		return API_E_AUTH;
	if (r->status == 404)
		return API_E_NOT_FOUND;
	if (r->status == 429)
		return API_E_RATE;
	if (r->status >= 500)
		return API_E_SERVER;
	if (r->status >= 300 && r->status < 400) {
		snprintf(err->message, sizeof(err->message),
			 "HTTP %ld: redirects are not followed (check the URL)", r->status);
		return API_E_PROTOCOL;
	}
	return API_E_CLIENT;
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

static void record(struct api_client *c, const char *path, bool transcripts,
		   const struct response *r, enum api_result result, bool retry,
		   const struct api_error *err)
{
	pthread_mutex_lock(&c->lock);
	count_request(&c->stats, path, transcripts, r->status, r->received);
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

/* One logical request, retried as need be; see classify for out and
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
		double started, wait;

		result = budget_wait(c, path, transcripts, share, &allowance, err);
		if (result != API_OK)
			break;
		started = now_monotonic();
		if (attempt == 0)
			deadline = started + fmax(c->max_wait, (double)c->request_timeout);
		if (cancelled(c) || started + 1 > deadline) {
			if (attempt == 0 || cancelled(c)) {
				result = API_E_CANCELLED;
				snprintf(err->message, sizeof(err->message),
					 cancelled(c) ? "cancelled: omifs is stopping"
						      : "no time left for the request");
			}
			break;
		}
		if (page)
			page_open(page, c->spool_dir);
		perform_once(c, method, url.data, body, (long)ceil(fmin(c->request_timeout,
								     deadline - started)), &r);
		note_rate_headers(c, &r);
		result = classify(&r, out, err);
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
		if (result != API_E_RATE) {
			wait = backoff(c, attempt);
			if ((wait > allowance && attempt > 0) || now_monotonic() + wait + 1 > deadline)
				break;
			sleep_seconds(c, wait);
			allowance -= wait;
		}
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
