/* Unit tests of api's pure parts: error bodies in both dialects, escaping. */
#include "api.h"
#include "unit.h"

#include <errno.h>
#include <stdbool.h>

static const char *message(const char *body)
{
	static char out[256];

	wire_error_message(body, strlen(body), out, sizeof(out));
	return out;
}

static void test_documented_dialect(void)
{
	CHECK_STR(message("{\"error\": {\"message\": \"Invalid API key\", \"code\": \"invalid_api_key\"}}"),
		  "Invalid API key (invalid_api_key)");
	CHECK_STR(message("{\"error\": {\"message\": \"Slow down\"}}"), "Slow down");
}

static void test_backend_dialect(void)
{
	CHECK_STR(message("{\"detail\": \"Not authenticated\"}"), "Not authenticated");
	CHECK_STR(message("{\"detail\": [{\"loc\": [\"query\", \"limit\"], \"msg\": \"not an int\","
			  " \"type\": \"int_parsing\"}, {\"msg\": \"bad date\"}]}"),
		  "[\"query\",\"limit\"]: not an int; bad date");
	CHECK_STR(message("{\"detail\": {\"code\": \"locked\"}}"), "{\"code\":\"locked\"}");
	/* found by fuzzing: a null msg used to crash */
	CHECK_STR(message("{\"detail\": [{\"msg\": null}]}"), "null");
}

static void test_not_json_and_control_bytes(void)
{
	CHECK_STR(message("<html>502 Bad Gateway</html>"), "<html>502 Bad Gateway</html>");
	CHECK_STR(message(""), "");
	CHECK_STR(message("{\"detail\": \"two\\nlines\\u001b[31m\"}"), "two lines [31m");
}

static void test_long_body_is_cut(void)
{
	char body[1000];

	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	CHECK(strlen(message(body)) == 200);
}

static void test_query_escape(void)
{
	char out[64];

	wire_query_escape("2025-01-20T13:50:00+05:30", out, sizeof(out));
	CHECK_STR(out, "2025-01-20T13%3A50%3A00%2B05%3A30");
	wire_query_escape("a/b c", out, 8);
	CHECK(strlen(out) < 8);
}

static void test_result_errno(void)
{
	CHECK(wire_result_errno(API_OK) == 0);
	CHECK(wire_result_errno(API_E_RATE) == -EAGAIN);
	CHECK(wire_result_errno(API_E_NETWORK) == -EIO);
	CHECK(wire_result_errno(API_E_AUTH) == -EACCES);
}

static bool accepted(const char *url, bool allow_http)
{
	struct api_options opts = { .base_url = url, .key = "k", .allow_http = allow_http };
	struct api_error err;
	struct api_client *c = api_new(&opts, &err);

	api_free(c);
	return c != NULL;
}

static void test_plain_http_only_to_loopback(void)
{
	CHECK(accepted("https://api.omi.me/v1/dev", false));
	CHECK(accepted("http://127.0.0.1:8080/v1/dev", false));
	CHECK(accepted("http://127.1.2.3/v1/dev", false));
	CHECK(accepted("http://localhost/v1/dev", false));
	CHECK(accepted("http://[::1]:99/v1/dev", false));
	CHECK(!accepted("http://api.omi.me/v1/dev", false));
	CHECK(!accepted("http://127.evil.example/v1/dev", false));
	CHECK(!accepted("http://localhost.evil.example/", false));
	CHECK(!accepted("ftp://127.0.0.1/", false));
	CHECK(accepted("http://api.omi.me/v1/dev", true));
}

/* Red-team finding: the userinfo was taken for the host. */
static void test_url_tricks(void)
{
	CHECK(!accepted("http://127.0.0.1:x@192.0.2.2:18802/v1/dev", false));
	CHECK(!accepted("http://127.0.0.1@192.0.2.2/v1/dev", false));
	CHECK(!accepted("https://user:secret@api.omi.me/v1/dev", false));
	CHECK(!accepted("http://user@127.0.0.1/v1/dev", false));
	CHECK(accepted("http://127.1/v1/dev", false));
	CHECK(accepted("http://localhost./v1/dev", false));
	CHECK(accepted("http://LOCALHOST:8080/v1/dev", false));
	CHECK(accepted("http://[0:0:0:0:0:0:0:1]:8080/v1/dev", false));
	CHECK(!accepted("http://[::2]/v1/dev", false));
	CHECK(!accepted("http://%31%32%37.0.0.1.evil.example/v1/dev", false));
	CHECK(!accepted("http://127.0.0.1.evil.example/v1/dev", false));
	CHECK(!accepted("http://0x7f000001.evil.example/", false));
	CHECK(!accepted("127.0.0.1/v1/dev", false));
	CHECK(!accepted("", false));
}

/* libcurl writes https://8%38 as https://88/, which it reads back as
 * https://0.0.0.88/: what is kept, and judged, is the URL that reads back
 * as itself (found by fuzz_headers). */
static void test_url_kept_reads_back_as_itself(void)
{
	struct api_error err;
	char *out = wire_check_url("https:/8%38", false, &err), *again;

	CHECK_STR(out, "https://0.0.0.88/");
	again = wire_check_url(out, false, &err);
	CHECK_STR(again, out);
	free(again);
	free(out);
	/* The host connected to is 127.0.0.1, judged as such. */
	out = wire_check_url("http://%31%32%37.1:8080/v1/dev", false, &err);
	CHECK_STR(out, "http://127.0.0.1:8080/v1/dev");
	free(out);
	CHECK(!accepted("http://%31%32%38.1/v1/dev", false));
}

/* Feeds one header line to wire_parse_rate_header at time 1,750,000,000. */
static void header(struct api_rate_headers *h, const char *line)
{
	wire_parse_rate_header(line, strlen(line), 1750000000, h);
}

static void test_rate_headers_say_which_pause_was_capped(void)
{
	struct api_rate_headers h = { .retry_after = -1, .rate_remaining = -1 };

	header(&h, "Retry-After: 30\r\n");
	header(&h, "X-RateLimit-Reset: 1750086400\r\n");	/* a day on */
	CHECK(h.retry_after == 30 && !h.retry_capped);
	CHECK(h.rate_reset == 1750000000 + WIRE_MAX_SERVER_PAUSE && h.reset_capped);
	header(&h, "Retry-After: 7200\r\n");
	header(&h, "X-RateLimit-Reset: 1750000060\r\n");
	CHECK(h.retry_after == WIRE_MAX_SERVER_PAUSE && h.retry_capped);
	CHECK(h.rate_reset == 1750000060 && !h.reset_capped);
}

int main(void)
{
	RUN(test_documented_dialect);
	RUN(test_backend_dialect);
	RUN(test_not_json_and_control_bytes);
	RUN(test_long_body_is_cut);
	RUN(test_query_escape);
	RUN(test_result_errno);
	RUN(test_plain_http_only_to_loopback);
	RUN(test_url_tricks);
	RUN(test_url_kept_reads_back_as_itself);
	RUN(test_rate_headers_say_which_pause_was_capped);
	return UNIT_RESULT();
}
