/*
 * wire: reading and writing the API's words (see wire.h).
 */
#include "wire.h"

#include "buf.h"
#include "curl_lib.h"
#include "jsontext.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *wire_result_name(enum api_result result)
{
	switch (result) {
	case API_OK: return "ok";
	case API_E_AUTH: return "not authorized";
	case API_E_NOT_FOUND: return "not found";
	case API_E_CLIENT: return "request refused";
	case API_E_RATE: return "rate limited";
	case API_E_SERVER: return "server error";
	case API_E_NETWORK: return "network error";
	case API_E_PROTOCOL: return "bad answer";
	case API_E_CANCELLED: return "cancelled";
	}
	return "unknown";
}

int wire_result_errno(enum api_result result)
{
	switch (result) {
	case API_OK: return 0;
	case API_E_RATE: return -EAGAIN;
	case API_E_AUTH: return -EACCES;
	case API_E_NOT_FOUND: return -ENOENT;
	default: return -EIO;
	}
}

static void copy_string(char *out, size_t outlen, const char *s)
{
	snprintf(out, outlen, "%s", s);
}

/* Appends a JSON value as readable text: strings bare, lists of FastAPI
 * validation errors as their "msg" fields, anything else as JSON. */
static void describe_detail(json_object *detail, struct buf *out)
{
	if (json_object_is_type(detail, json_type_string)) {
		buf_puts(out, json_object_get_string(detail));
		return;
	}
	if (json_object_is_type(detail, json_type_array)) {
		size_t n = json_object_array_length(detail);

		for (size_t i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(detail, i), *msg, *loc;

			if (i > 0)
				buf_puts(out, "; ");
			if (json_object_object_get_ex(e, "msg", &msg)) {
				if (json_object_object_get_ex(e, "loc", &loc)) {
					buf_puts(out, json_object_to_json_string_ext(
						      loc, JSON_C_TO_STRING_PLAIN));
					buf_puts(out, ": ");
				}
				/* A JSON null here is a NULL json_object: no string. */
				buf_puts(out, msg ? json_object_get_string(msg) : "null");
			} else {
				buf_puts(out, json_object_to_json_string_ext(
					      e, JSON_C_TO_STRING_PLAIN));
			}
		}
		return;
	}
	buf_puts(out, json_object_to_json_string_ext(detail, JSON_C_TO_STRING_PLAIN));
}

void wire_error_message(const char *body, size_t len, char *out, size_t outlen)
{
	json_object *root = json_text_parse(body, len), *error, *v;
	struct buf msg = BUF_INIT;

	if (json_object_object_get_ex(root, "error", &error)) {
		/* documented dialect: {"error": {"message": ..., "code": ...}} */
		if (json_object_object_get_ex(error, "message", &v))
			describe_detail(v, &msg);
		else
			describe_detail(error, &msg);
		if (json_object_object_get_ex(error, "code", &v) &&
		    json_object_is_type(v, json_type_string))
			buf_printf(&msg, " (%s)", json_object_get_string(v));
	} else if (json_object_object_get_ex(root, "detail", &v)) {
		/* backend dialect: {"detail": string | list | object} */
		describe_detail(v, &msg);
	} else if (len > 0) {
		/* not JSON, or an unknown shape: show the start of it */
		buf_append(&msg, body, len > 200 ? 200 : len);
	}
	/* The message ends up in logs and on terminals: no control bytes. */
	for (size_t i = 0; i < msg.len; i++)
		if ((unsigned char)msg.data[i] < 0x20 || msg.data[i] == 0x7f)
			msg.data[i] = ' ';
	copy_string(out, outlen, msg.data ? msg.data : "");
	buf_free(&msg);
	json_object_put(root);
}

void wire_query_escape(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s && o + 4 < outlen; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

/* Whether host, as libcurl's URL parser gives it back, is this machine. */
static bool is_loopback_host(const char *host)
{
	struct in_addr v4;

	if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0 ||
	    strcmp(host, "[::1]") == 0)
		return true;
	/* libcurl writes 127.1 and 0x7f.1 as dotted quads. */
	return inet_pton(AF_INET, host, &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

/* How many times libcurl may rewrite a URL before it reads back as itself. */
#define URL_REWRITES_MAX 4

/* Returns url as libcurl writes it once it no longer changes (the caller
 * frees it), or NULL if libcurl cannot read it or it keeps changing.
 * libcurl does not always write a URL the way it would read it back: it
 * decodes a host's %-escapes after deciding the host is no IPv4 number, so
 * https://8%38 becomes https://88/, which reads back as https://0.0.0.88/. */
static char *url_fixed_point(const struct curl_lib *lib, const char *url)
{
	char *current = xstrdup(url);

	for (int rewrite = 0; rewrite < URL_REWRITES_MAX; rewrite++) {
		CURLU *u = lib->url();
		char *out = NULL;
		bool same;

		if (!u || lib->url_set(u, CURLUPART_URL, current, 0) != CURLUE_OK ||
		    lib->url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK) {
			lib->url_cleanup(u);
			break;
		}
		same = strcmp(out, current) == 0;
		free(current);
		current = xstrdup(out);
		lib->free(out);
		lib->url_cleanup(u);
		if (same)
			return current;
	}
	free(current);
	return NULL;
}

/* libcurl reads the URL, so that the host judged is the host connected to:
 * the URL judged, and returned, is the one libcurl reads back unchanged. */
char *wire_check_url(const char *url, bool allow_http, struct api_error *err)
{
	const struct curl_lib *lib = curl_lib_get(err->message, sizeof(err->message));
	char *scheme = NULL, *user = NULL, *password = NULL, *host = NULL, *out = NULL, *copy,
	     *fixed;
	const char *problem = NULL;
	CURLU *u;

	if (!lib) {
		err->result = API_E_NETWORK;
		return NULL;
	}
	fixed = url_fixed_point(lib, url);
	u = lib->url();
	if (!fixed || !u || lib->url_set(u, CURLUPART_URL, fixed, 0) != CURLUE_OK ||
	    lib->url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    lib->url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		problem = "the API URL cannot be read (it must be https://HOST/...)";
	else if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)
		problem = "the API URL must start with https:// or http://";
	else if (lib->url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
		 lib->url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK)
		problem = "the API URL must not hold a user name or password";
	else if (strcmp(scheme, "http") == 0 && !allow_http && !is_loopback_host(host))
		problem = "refusing to send the key over plain http to another machine "
			  "(use https, or -o allow_http if you must)";
	else if (lib->url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
		problem = "the API URL cannot be read";
	if (problem) {
		err->result = API_E_CLIENT;
		snprintf(err->message, sizeof(err->message), "%s", problem);
	}
	lib->free(scheme);
	lib->free(user);
	lib->free(password);
	lib->free(host);
	lib->url_cleanup(u);
	free(fixed);
	if (problem || !out) {
		lib->free(out);
		return NULL;
	}
	copy = xstrdup(out);
	lib->free(out);
	return copy;
}

/* Parses "Name: value" when the header is `name` (case-insensitive);
 * returns the value or NULL. */
static const char *header_value(const char *line, size_t len, const char *name, char *out,
				size_t outlen)
{
	size_t nlen = strlen(name), vlen;
	const char *v;

	if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
		return NULL;
	v = line + nlen + 1;
	vlen = len - nlen - 1;
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	if (vlen >= outlen)
		vlen = outlen - 1;
	memcpy(out, v, vlen);
	out[vlen] = '\0';
	return out;
}

void wire_parse_rate_header(const char *line, size_t len, time_t now, struct api_rate_headers *h)
{
	char value[64], *end;

	if (header_value(line, len, "Retry-After", value, sizeof(value))) {
		double s = strtod(value, &end);

		/* An HTTP date instead of seconds: wait a minute, the common window.
		 * inf and nan are no number of seconds either. */
		if (end == value || !isfinite(s) || s < 0)
			s = 60;
		h->retry_after = s < WIRE_MAX_SERVER_PAUSE ? s : WIRE_MAX_SERVER_PAUSE;
		h->retry_capped = s > WIRE_MAX_SERVER_PAUSE;
	} else if (header_value(line, len, "X-RateLimit-Remaining", value, sizeof(value))) {
		long v = strtol(value, &end, 10);

		if (end != value)
			h->rate_remaining = v;
	} else if (header_value(line, len, "X-RateLimit-Reset", value, sizeof(value))) {
		long long v = strtoll(value, &end, 10);
		long long latest = (long long)now + WIRE_MAX_SERVER_PAUSE;

		if (end != value && v > 0) {
			h->reset_capped = v > latest;
			h->rate_reset = (time_t)(v < latest ? v : latest);
		}
	}
}
