/*
 * api: the Omi Developer API over HTTP.
 *
 * Promises:
 * - The key never travels in clear: http:// is refused except to loopback
 *   (or with allow_http), and TLS certificates are always verified.
 * - Every request carries the key as a bearer token and nothing else does:
 *   no log line, error message or stat holds it, and redirects are never
 *   followed (so the header never reaches another host).
 * - Both error dialects ({"error": {"message"}} and {"detail": ...}) are
 *   read, and the server's own message is put in struct api_error.
 * - 5xx, network failures and malformed bodies are retried with capped,
 *   jittered exponential backoff; 401/403/404 and other 4xx are not.
 * - A client-side budget (budget.h) keeps normal use below the server's
 *   limits; Retry-After and X-RateLimit-Remaining/-Reset are
 *   honoured. A call never waits longer than max_wait for budget; past
 *   that it fails with API_E_RATE instead of hanging its caller.
 * - api_list() pages with offset += items received until an empty page,
 *   and hands each id to the callback once. It asks no more items a page
 *   than the server serves: a short page that is not the last shows what
 *   the server clamps to (api_page_clamp). A page is parsed one item at
 *   a time as it arrives and never held in memory whole when it can wait
 *   in a spool file (spool_beside).
 *
 * Thread-safe: one client serves every FUSE thread.
 */
#ifndef OMIFS_API_H
#define OMIFS_API_H

#include "budget.h"
#include "wire.h"
#include "buf.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct api_client;

struct api_options {
	const char *base_url;	/* e.g. https://api.omi.me/v1/dev; copied */
	const char *key;	/* the secret; copied, wiped by api_free */
	const char *cafile;	/* extra CA bundle, or NULL */
	const char *spool_beside; /* a file (the cache) in whose directory listing
				 * pages wait, unnamed, until they prove whole;
				 * NULL: they wait in memory. Copied. */
	bool allow_http;	/* plain http:// to hosts other than loopback */
	long connect_timeout;	/* seconds */
	long request_timeout;	/* seconds for a whole request */
	int max_retries;	/* extra attempts after a transient failure */
	struct budget_options budget;
	double max_wait;	/* seconds a call may wait for budget */
};


struct api_stats {
	unsigned long requests;	/* HTTP requests sent, retries included */
	unsigned long failures;	/* of which did not succeed */
	unsigned long retries;
	unsigned long rate_limited; /* 429 answers */
	long server_remaining;	/* from X-RateLimit-Remaining; -1 unknown */
	time_t server_reset;	/* from X-RateLimit-Reset; 0 unknown */
	time_t blocked_until;	/* no request before this (server's order) */
	int waiting;		/* calls waiting for the budget right now */
	const char *waiting_for; /* the policy the latest of them waits for */
	time_t waiting_until;	/* ... and until when */
	time_t last_error_at;
	char last_error[512];
	unsigned long long bytes_received; /* response bodies, retries included */
	/* requests by route, policy and HTTP status; the first
	 * STATUS_REQUEST_KINDS kinds seen */
	struct status_request_kind by_kind[STATUS_REQUEST_KINDS];
	int n_by_kind;
};

/* Returns a client, or NULL with a message in err (bad URL, libcurl).
 * The URL is read by libcurl's own parser: a user name or password in it
 * is refused, and "loopback" means localhost, 127.0.0.0/8 or [::1] as
 * libcurl will resolve them. */
struct api_client *api_new(const struct api_options *opts, struct api_error *err);
void api_free(struct api_client *client);

/* While check(ctx) returns true, requests in flight abort (within about a
 * second), waits end and new requests fail at once, with API_E_CANCELLED.
 * Set it before the first request; check must be thread-safe. */
typedef bool (*api_cancel_fn)(void *ctx);
void api_set_cancel_check(struct api_client *client, api_cancel_fn check, void *ctx);

/* Counts, in this client's budget and its requests sent, a GET of path
 * that another client sent just before (the key check, made before the
 * mount's client exists), answered 200 with received bytes. */
void api_note_sent(struct api_client *client, const char *path, size_t received);

/* Forgets a pause the server ordered (Retry-After, X-RateLimit-Reset), so
 * that the next request goes out: for "refresh now". Server pauses are
 * capped at an hour anyway. */
void api_clear_pause(struct api_client *client);

/* GETs base_url + path + "?" + query (query may be NULL) and parses the
 * JSON body into *out (caller owns it, json_object_put). */
enum api_result api_get_json(struct api_client *client, const char *path, const char *query,
			     json_object **out, struct api_error *err);

/* What an api_item_fn returns. */
enum { API_LIST_NEXT = 0, API_LIST_DONE = 1, API_LIST_ABORT = -1 };

/* The same for any method: body (may be NULL) is sent as JSON. A POST is
 * never retried (it may have taken effect); 201 and 204 are successes, and
 * an empty body leaves *out NULL. */
enum api_result api_request(struct api_client *client, const char *method, const char *path,
			    const char *query, const char *body, json_object **out,
			    struct api_error *err);

/* Called with each new item of a listing (borrowed: keep a reference with
 * json_object_get to outlive the call) and its id, or with id NULL for an
 * item that has no usable one (the caller decides what that means).
 * Returns API_LIST_NEXT to go on, API_LIST_DONE when it has all it
 * wanted, API_LIST_ABORT to fail the listing. */
typedef int (*api_item_fn)(json_object *item, const char *id, void *ctx);

/* Lists a collection. query holds the filters (may be NULL); limit and
 * offset are added. A page is refused whole (API_E_PROTOCOL) only when its
 * structure is broken: not JSON, not a list, an element that is not an
 * object; then no item of it reaches the callback, since a page is
 * checked to its end before its first item is handed over. Items are
 * judged by the callback. An id is a non-empty string
 * or an integer (as its decimal text); NUL bytes in it are written "\0"
 * and backslashes doubled. An id already seen is skipped (servers
 * repeat items across pages). Returns API_OK only after an empty
 * page proved the end, or after fn returned API_LIST_DONE; on any other
 * result the caller must treat what it received as incomplete. */
enum api_result api_list(struct api_client *client, const char *path, const char *query,
			 int page_size, api_item_fn fn, void *ctx, struct api_error *err);

/* The same, with its first page (limit=page_size, offset=0, query) given
 * as the JSON text already received, so that no request is spent on it
 * twice. first_page may be NULL. */
enum api_result api_list_from(struct api_client *client, const char *path, const char *query,
			      int page_size, const char *first_page, api_item_fn fn, void *ctx,
			      struct api_error *err);

/* Where a listing starts and whose budget it spends (api_list_at). */
struct api_list_start {
	size_t offset;		/* a listing resumed: the first item asked */
	const char *first_page;	/* used only when offset is 0 */
	enum budget_share share; /* BUDGET_BACKGROUND: no page waits for the
				 * budget's share; the listing stops with
				 * API_E_RATE, to be continued later */
	bool whole;		/* one request, without limit and offset,
				 * answers the whole listing (a server that
				 * pages none: goals) */
};

/* The same from start. */
enum api_result api_list_at(struct api_client *client, const char *path, const char *query,
			    int page_size, const struct api_list_start *start, api_item_fn fn,
			    void *ctx, struct api_error *err);

/* The most items a page of path's listing (with transcripts or not)
 * holds, as learnt from a short page that was not the last: listings ask
 * that many afterwards. 0: not known. api_set_page_clamp gives what an
 * earlier run learnt (n: 0 forgets). Paths that are no collection's
 * listing have none. */
int api_page_clamp(struct api_client *client, const char *path, bool transcripts);
/* The items a page of path's listing holds when `wanted` are asked:
 * wanted, or the server's clamp when it is smaller (client may be NULL). */
int api_page_size(struct api_client *client, const char *path, bool transcripts, int wanted);
void api_set_page_clamp(struct api_client *client, const char *path, bool transcripts, int n);

/* client may be NULL (a sync that never sends): all zero, no server count. */
void api_get_stats(struct api_client *client, struct api_stats *out);
/* About how long n more GETs of path take at the budget's pace, and what
 * paces them (budget_eta). */
double api_budget_eta(struct api_client *client, const char *path, bool transcripts, long n,
		      struct budget_rate *binding);
/* Seconds until a GET of path fits the budget's share (0: now), and the
 * policy that holds it back (budget_next_slot). */
double api_budget_next_slot(struct api_client *client, const char *path, bool transcripts,
			    enum budget_share share, const char **policy);
/* Seconds n background pages of path take, spread at their share of the
 * budget, and the policy that paces them (budget_spread). */
double api_budget_spread(struct api_client *client, const char *path, bool transcripts, long n,
			 const char **policy);
/* The requests this client sent that still count against a policy, for
 * the next run (budget_sends: *out is the caller's to free), and those an
 * earlier run sent, given before any request (budget_add_earlier_send). */
size_t api_budget_sends(struct api_client *client, struct budget_send **out);
void api_budget_add_earlier_send(struct api_client *client, const char *policy, double at);
/* The client-side budget's policies in force (budget_status; none for a
 * NULL client). */
int api_budget_status(struct api_client *client, struct status_policy *out, int max);

#endif
