/*
 * fuzz_mcp: arbitrary bytes as the stdin of an MCP server (mcp_serve),
 * with one method that echoes its params and one that fails.
 *
 * Invariants: every reply is one line of a JSON object with "jsonrpc":
 * "2.0", an id (null when the request's could not be read) and exactly
 * one of result and error (an error with an integer code and a string
 * message); there are never more replies than input lines; the server
 * reads to the end and returns 0.
 */
#include "buf.h"
#include "fuzz.h"
#include "jsontext.h"
#include "mcp.h"

#include <stdint.h>
#include <string.h>

static json_object *echo(json_object *params, void *ctx, struct mcp_error *err)
{
	(void)ctx;
	(void)err;
	return params ? json_object_get(params) : json_object_new_object();
}

static json_object *refuse(json_object *params, void *ctx, struct mcp_error *err)
{
	(void)params;
	(void)ctx;
	return mcp_fail(err, MCP_INVALID_PARAMS, "refused");
}

static const struct mcp_method methods[] = { { "echo", echo }, { "refuse", refuse } };

static void check_reply(const char *line, size_t len)
{
	json_object *msg = json_text_parse(line, len), *v, *e;
	int has_result, has_error;

	FUZZ_CHECK(msg && json_object_is_type(msg, json_type_object), "reply not an object: %.*s",
		   (int)len, line);
	FUZZ_CHECK(json_object_object_get_ex(msg, "jsonrpc", &v) &&
		   strcmp(json_object_get_string(v), "2.0") == 0, "no jsonrpc 2.0: %.*s", (int)len, line);
	FUZZ_CHECK(json_object_object_get_ex(msg, "id", &v), "no id: %.*s", (int)len, line);
	has_result = json_object_object_get_ex(msg, "result", NULL);
	has_error = json_object_object_get_ex(msg, "error", &e);
	FUZZ_CHECK(has_result + has_error == 1, "result and error: %.*s", (int)len, line);
	if (has_error)
		FUZZ_CHECK(json_object_object_get_ex(e, "code", &v) && json_object_is_type(v, json_type_int) &&
			   json_object_object_get_ex(e, "message", &v) &&
			   json_object_is_type(v, json_type_string), "bad error: %.*s", (int)len, line);
	json_object_put(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *in = fmemopen((void *)data, size ? size : 1, "r");
	char *out_text = NULL;
	size_t out_len = 0, lines = 0, replies = 0;
	FILE *out = open_memstream(&out_text, &out_len);

	if (!in || !out)
		abort();
	if (size == 0)
		fgetc(in);	/* fmemopen takes no empty buffer: read its one byte away */
	FUZZ_CHECK(mcp_serve(in, out, methods, 2, NULL) == 0, "serve failed");
	fclose(in);
	fclose(out);
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	for (size_t start = 0, i = 0; i < out_len; i++) {
		if (out_text[i] != '\n')
			continue;
		check_reply(out_text + start, i - start);
		replies++;
		start = i + 1;
	}
	FUZZ_CHECK(out_len == 0 || out_text[out_len - 1] == '\n', "a reply not ended");
	FUZZ_CHECK(replies <= lines, "%zu replies to %zu lines", replies, lines);
	free(out_text);
	return 0;
}
