/*
 * api_state: what api's own files share. api.c sets the client up and
 * keeps its stats, budget and page clamps; api_exchange.c makes one HTTP
 * exchange and says what its answer means; api_request.c makes a request
 * of those exchanges (budget waits, retries); api_list.c walks a listing's
 * pages. Each calls only the files listed before it. Nothing else
 * includes it.
 */
#ifndef OMIFS_API_STATE_H
#define OMIFS_API_STATE_H

#include "api.h"
#include "buf.h"
#include "collections.h"
#include "curl_lib.h"
#include "page.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define POOL_MAX 8		/* easy handles kept for later requests */

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

/* Each function's contract is at its definition. */

/* In api.c. */
bool api_cancelled(const struct api_client *c);
void api_count_request(struct api_stats *stats, const char *path, bool transcripts,
		       long http_status, size_t received);

/* In api_exchange.c. */
void api_perform_once(struct api_client *c, const char *method, const char *url,
		      const char *body, long timeout, struct response *r);
enum api_result api_classify(struct response *r, json_object **out, struct api_error *err);

/* In api_request.c. */
/* One GET of a listing page into page (opened by the call; the caller
 * closes it when the result is API_OK), with api_request's retries,
 * budget and error rules; the budget's share as budget_take's. */
enum api_result api_get_page(struct api_client *c, const char *path, const char *query,
			     struct page *page, enum budget_share share, struct api_error *err);

#endif
