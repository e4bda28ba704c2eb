/*
 * mcp: the Model Context Protocol's stdio transport: JSON-RPC 2.0, one
 * message a line on stdin, one reply a line on stdout, and nothing else
 * on stdout. It knows the protocol's framing, errors and version
 * negotiation; what the server offers (its methods, tools and resources)
 * is the caller's (mcp_command.c for omifs).
 *
 * Ownership, one rule: a method gets params borrowed (NULL when the
 * request had none) and returns a result it gives away (mcp_serve puts
 * it), or NULL with *err filled.
 */
#ifndef OMIFS_MCP_H
#define OMIFS_MCP_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>

/* A message longer than this is refused unread (its line is skipped). */
#define MCP_MAX_MESSAGE (1 << 20)

/* JSON-RPC's error codes. */
enum {
	MCP_PARSE_ERROR = -32700,
	MCP_INVALID_REQUEST = -32600,
	MCP_METHOD_NOT_FOUND = -32601,
	MCP_INVALID_PARAMS = -32602,
	MCP_INTERNAL_ERROR = -32603,
};

struct mcp_error {
	int code;
	char message[256];
};

/* Fills err and returns NULL: `return mcp_fail(err, MCP_INVALID_PARAMS,
 * "...", ...);` in a method. */
json_object *mcp_fail(struct mcp_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

typedef json_object *(*mcp_method_fn)(json_object *params, void *ctx, struct mcp_error *err);

struct mcp_method {
	const char *name;
	mcp_method_fn fn;
};

/* The protocol version to answer a client that asked for `asked` (may
 * be NULL): the same when this server speaks it, else the newest it
 * speaks. */
const char *mcp_protocol_version(const char *asked);

/*
 * Answers the messages read from in until its end: a request of a
 * method in methods (n of them) gets the method's result, any other
 * request an error; notifications (no id) get no answer; "ping" is
 * answered here. Malformed lines, batches and oversized messages get
 * JSON-RPC errors, never a crash. Each reply is written on one line and
 * flushed. Returns 0 at the end of in, or -EIO when out cannot be
 * written.
 */
int mcp_serve(FILE *in, FILE *out, const struct mcp_method *methods, size_t n, void *ctx);

#endif
