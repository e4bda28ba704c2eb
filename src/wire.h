/*
 * wire: the API's words as they travel: results and error bodies in both
 * dialects, the rate-limit headers, base URLs and query strings. Pure
 * functions (but for libcurl's URL parser), no I/O, no state: what api
 * uses on every exchange, and what the tests and fuzz targets read.
 */
#ifndef OMIFS_WIRE_H
#define OMIFS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum api_result {
	API_OK = 0,
	API_E_AUTH,		/* 401 or 403: the key is wrong or lacks rights */
	API_E_NOT_FOUND,	/* 404 */
	API_E_CLIENT,		/* another 4xx */
	API_E_RATE,		/* 429, or the budget is spent: try later */
	API_E_SERVER,		/* 5xx, after retries */
	API_E_NETWORK,		/* unreachable, timed out or cut, after retries */
	API_E_PROTOCOL,		/* an answer that is not what the API promises */
	API_E_CANCELLED,	/* the cancel check said stop, or no time was left */
};

struct api_error {
	enum api_result result;
	long http_status;	/* 0 when no answer came */
	char message[512];	/* for people: what failed and the server's words */
};

/* -errno for a result: EAGAIN for rate limits, EACCES for auth, ENOENT for
 * 404, EIO for the rest; 0 for API_OK. */
int wire_result_errno(enum api_result result);
const char *wire_result_name(enum api_result result);

/* Checks an API base URL as api_new does: https, or http to loopback
 * unless allow_http; no user name or password. Returns it as libcurl
 * writes it (the caller frees it), or NULL with a message in err. Pure
 * but for libcurl's parser; exposed for tests and fuzzing. */
char *wire_check_url(const char *url, bool allow_http, struct api_error *err);

/* The longest pause a server may order (Retry-After, X-RateLimit-Reset):
 * the backend's windows are an hour; anything longer is a broken or
 * hostile server, and a refresh (SIGHUP) may try again sooner. */
#define WIRE_MAX_SERVER_PAUSE 3600

/* What a server says of its limits, from its response headers. */
struct api_rate_headers {
	double retry_after;	/* seconds, 0..WIRE_MAX_SERVER_PAUSE; -1 if absent */
	long rate_remaining;	/* -1 if absent */
	time_t rate_reset;	/* 0 if absent; never past now + WIRE_MAX_SERVER_PAUSE */
	bool retry_capped;	/* Retry-After asked for a longer pause than that */
	bool reset_capped;	/* X-RateLimit-Reset was later than that */
};

/* Reads one header line ("Name: value\r\n", len bytes, not NUL-terminated)
 * into h when it is one of the rate headers; other lines change nothing.
 * A Retry-After that is not a number of seconds (an HTTP date, inf, nan)
 * counts as 60. Pure; exposed for tests and fuzzing. */
void wire_parse_rate_header(const char *line, size_t len, time_t now, struct api_rate_headers *h);

/* Extracts the server's message from an error body in either dialect into
 * out (always NUL-terminated). Pure; exposed for tests and fuzzing. */
void wire_error_message(const char *body, size_t len, char *out, size_t outlen);

/* Percent-encodes s for a URL query into out. */
void wire_query_escape(const char *s, char *out, size_t outlen);

#endif
