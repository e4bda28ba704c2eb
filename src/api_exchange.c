/*
 * api_exchange: one HTTP exchange on a pooled libcurl easy handle, its
 * body into a buffer or, for a listing's page, into the page as it
 * arrives (page.h), and what its answer means (api_classify). A part of
 * api (api_state.h); calls api.c's api_cancelled.
 *
 * Easy handles are pooled rather than shared: each keeps its own
 * connection cache, so keep-alive connections are reused without the
 * locking a CURLSH would need.
 */
#include "api.h"
#include "api_state.h"

#include "buf.h"
#include "curl_lib.h"
#include "jsontext.h"
#include "page.h"
#include "wire.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* A page larger than this is refused, not retried: a page of 1,000
 * conversations with long transcripts is tens of MiB. */
#define MAX_BODY (128u << 20)

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
	return api_cancelled(userdata);
}

/* One HTTP exchange: method on url, with a JSON body when body is set,
 * given at most `timeout` seconds. */
void api_perform_once(struct api_client *c, const char *method, const char *url,
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

/* What an answer other than a success means: the server's own words in
 * err's message, after the status. */
static enum api_result refusal(const struct response *r, struct api_error *err)
{
	char server_msg[400];

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

/* Turns one exchange into a result and, for failures, a message. A 200
 * goes to *out parsed, or, for a listing (r->page set), stays in the page
 * once the page has proved to be a JSON list of objects. */
enum api_result api_classify(struct response *r, json_object **out, struct api_error *err)
{
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
	return refusal(r, err);
}
