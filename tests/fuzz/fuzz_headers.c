/*
 * fuzz_headers: what a server controls in a response's headers, and the
 * API URL a user (or a config file) controls.
 *
 * The input is split at its first NUL: before it, one header line handed
 * to wire_parse_rate_header exactly as libcurl would (len bytes, no
 * terminator); after it, a URL for wire_check_url.
 *
 * Invariants: no pause longer than WIRE_MAX_SERVER_PAUSE comes out of any
 * header, and a capped one says so; a URL accepted without allow_http is
 * https, or http to a loopback host, has no user name or password, and
 * is accepted again, unchanged, as libcurl wrote it.
 */
#include "api.h"
#include "fuzz.h"

#include <curl/curl.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define NOW 1750000000

static void check_header(const char *line, size_t len)
{
	struct api_rate_headers h = { .retry_after = -1, .rate_remaining = -1 };

	wire_parse_rate_header(line, len, NOW, &h);
	FUZZ_CHECK(h.retry_after == -1 || (isfinite(h.retry_after) && h.retry_after >= 0 &&
					   h.retry_after <= WIRE_MAX_SERVER_PAUSE),
		   "Retry-After gave %g s", h.retry_after);
	FUZZ_CHECK(h.rate_reset == 0 || (h.rate_reset > 0 && h.rate_reset <= NOW + WIRE_MAX_SERVER_PAUSE),
		   "X-RateLimit-Reset gave %lld", (long long)h.rate_reset);
}

static bool loopback(const char *host)
{
	unsigned a, b, c, d;
	char tail;

	if (strcmp(host, "[::1]") == 0 || strcasecmp(host, "localhost") == 0 ||
	    strcasecmp(host, "localhost.") == 0)
		return true;
	return sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
	       c < 256 && d < 256;
}

static void check_url(const char *url)
{
	struct api_error err;
	char *out = wire_check_url(url, false, &err), *again, *scheme = NULL, *host = NULL,
	     *user = NULL;
	CURLU *u;

	if (!out) {
		FUZZ_CHECK(err.message[0] != '\0', "refused without a message");
		return;
	}
	u = curl_url();
	FUZZ_CHECK(curl_url_set(u, CURLUPART_URL, out, 0) == CURLUE_OK, "accepted %s, unreadable", out);
	FUZZ_CHECK(curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		   curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK, "no scheme or host: %s", out);
	FUZZ_CHECK(curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_OK, "userinfo in %s", out);
	FUZZ_CHECK(strcmp(scheme, "https") == 0 || (strcmp(scheme, "http") == 0 && loopback(host)),
		   "accepted %s (host %s)", out, host);
	again = wire_check_url(out, false, &err);
	FUZZ_CHECK(again && strcmp(again, out) == 0, "not stable: %s", out);
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	free(again);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t header_len = nul ? (size_t)(nul - data) : size;
	char *header = malloc(header_len ? header_len : 1), *url;

	FUZZ_CHECK(header != NULL, "out of memory");
	memcpy(header, data, header_len);
	check_header(header, header_len);
	free(header);
	if (nul) {
		size_t url_len = size - header_len - 1;

		url = malloc(url_len + 1);
		FUZZ_CHECK(url != NULL, "out of memory");
		memcpy(url, nul + 1, url_len);
		url[url_len] = '\0';
		check_url(url);
		free(url);
	}
	return 0;
}
