/*
 * mcp: JSON-RPC 2.0 framing for the MCP stdio transport (mcp.h). A line
 * is read whole (up to MCP_MAX_MESSAGE), parsed by jsontext's one rule,
 * checked for the shape of a request, and dispatched by method name.
 */
#include "mcp.h"

#include "buf.h"
#include "jsontext.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

/* Newest first: the versions this server speaks. */
static const char *const versions[] = { "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05" };

const char *mcp_protocol_version(const char *asked)
{
	for (size_t i = 0; asked && i < sizeof(versions) / sizeof(*versions); i++)
		if (strcmp(asked, versions[i]) == 0)
			return versions[i];
	return versions[1];
}

json_object *mcp_fail(struct mcp_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return NULL;
}

/* Writes one message on its own line; 0 or -EIO. Takes msg. */
static int send_message(FILE *out, json_object *msg)
{
	const char *text = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc = fputs(text, out) < 0 || fputc('\n', out) == EOF || fflush(out) != 0 ? -EIO : 0;

	json_object_put(msg);
	return rc;
}

/* A reply to id (borrowed; NULL: null) holding result (taken) or err. */
static int reply(FILE *out, json_object *id, json_object *result, const struct mcp_error *err)
{
	json_object *msg = json_object_new_object();

	json_object_object_add(msg, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(msg, "id", json_object_get(id));
	if (result) {
		json_object_object_add(msg, "result", result);
	} else {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "code", json_object_new_int(err->code));
		json_object_object_add(e, "message", json_object_new_string(err->message));
		json_object_object_add(msg, "error", e);
	}
	return send_message(out, msg);
}

static int reply_error(FILE *out, json_object *id, int code, const char *message)
{
	struct mcp_error err = { .code = code };

	snprintf(err.message, sizeof(err.message), "%s", message);
	return reply(out, id, NULL, &err);
}

static const struct mcp_method *method_named(const struct mcp_method *methods, size_t n,
					     const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

/* Answers one message, text[0..len). 0, or -EIO when out fails. */
static int handle(FILE *out, const char *text, size_t len, const struct mcp_method *methods,
		  size_t n, void *ctx)
{
	json_object *msg = json_text_parse(text, len), *id = NULL, *method, *params = NULL;
	const struct mcp_method *m;
	struct mcp_error err = { 0 };
	json_object *result;
	bool has_id;
	int rc;

	if (!msg)
		return reply_error(out, NULL, MCP_PARSE_ERROR, "not a JSON text");
	if (!json_object_is_type(msg, json_type_object)) {
		json_object_put(msg);
		return reply_error(out, NULL, MCP_INVALID_REQUEST,
				   "a message is one JSON object (batches are not taken)");
	}
	has_id = json_object_object_get_ex(msg, "id", &id);
	if (has_id && !json_object_is_type(id, json_type_string) &&
	    !json_object_is_type(id, json_type_int)) {
		json_object_put(msg);
		return reply_error(out, NULL, MCP_INVALID_REQUEST, "id must be a string or a number");
	}
	if (!json_object_object_get_ex(msg, "method", &method) ||
	    !json_object_is_type(method, json_type_string)) {
		/* A response to us (we send no requests) or junk. */
		rc = has_id && !json_object_object_get_ex(msg, "result", NULL) &&
		     !json_object_object_get_ex(msg, "error", NULL)
			     ? reply_error(out, id, MCP_INVALID_REQUEST, "no method")
			     : 0;
		json_object_put(msg);
		return rc;
	}
	json_object_object_get_ex(msg, "params", &params);
	if (params && !json_object_is_type(params, json_type_object)) {
		rc = has_id ? reply_error(out, id, MCP_INVALID_PARAMS, "params must be an object") : 0;
		json_object_put(msg);
		return rc;
	}
	if (!has_id) {		/* a notification: nothing to answer */
		json_object_put(msg);
		return 0;
	}
	m = method_named(methods, n, json_object_get_string(method));
	if (strcmp(json_object_get_string(method), "ping") == 0)
		result = json_object_new_object();
	else if (!m)
		result = mcp_fail(&err, MCP_METHOD_NOT_FOUND, "no method %.100s",
				  json_object_get_string(method));
	else
		result = m->fn(params, ctx, &err);
	if (!result && !err.code)
		mcp_fail(&err, MCP_INTERNAL_ERROR, "the method failed");
	rc = reply(out, id, result, &err);
	json_object_put(msg);
	return rc;
}

int mcp_serve(FILE *in, FILE *out, const struct mcp_method *methods, size_t n, void *ctx)
{
	struct buf line = BUF_INIT;
	bool too_long = false;
	int c, rc = 0;

	while (rc == 0 && (c = getc(in)) != EOF) {
		if (c != '\n') {
			if (line.len < MCP_MAX_MESSAGE)
				buf_putc(&line, (char)c);
			else
				too_long = true;
			continue;
		}
		if (too_long)
			rc = reply_error(out, NULL, MCP_INVALID_REQUEST, "message too long");
		else if (line.len > 0 && strspn(line.data, " \t\r") < line.len)
			rc = handle(out, line.data, line.len, methods, n, ctx);
		buf_reset(&line);
		too_long = false;
	}
	buf_free(&line);
	return rc;
}
