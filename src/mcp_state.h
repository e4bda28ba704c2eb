/*
 * mcp_state: what omifs's MCP server's files share (mcp_command.c: the
 * session, tool calls and resources; mcp_tools.c: the tools). Nothing
 * else includes it: mcp_command.h is the module's promise.
 */
#ifndef OMIFS_MCP_STATE_H
#define OMIFS_MCP_STATE_H

#include "buf.h"
#include "core.h"
#include "mcp.h"
#include "tree.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

struct server {
	struct core *core;
	struct tree *tree;	/* over core's sync: read's and the resources' */
};

/* One tool call: its arguments (borrowed, an object) and what went wrong. */
struct call {
	struct server *srv;
	json_object *args;
	struct buf problem;	/* empty: none */
	bool text_given;	/* the tool's text is not its result's JSON */
};

/* A tool gives its structured result, and may put the text the
 * assistant reads in text, setting text_given (else the result's JSON
 * is that text); NULL with the call's problem said when it failed. */
typedef json_object *(*mcp_tool_fn)(struct call *c, struct buf *text);

struct mcp_tool {
	const char *name, *description;
	const char *schema;	/* its arguments' JSON Schema, as JSON text */
	mcp_tool_fn call;
};
extern const struct mcp_tool mcp_tools[];
extern const size_t mcp_tool_count;

/* `cursor` of c's arguments: the nextCursor of an earlier page (a decimal
 * position), 0 when absent (or wrong: said in c->problem). */
size_t mcp_cursor_arg(struct call *c);
/* Sets page's nextCursor to position next. */
void mcp_add_cursor(json_object *page, size_t next);

/* The attributes of path in t ("" or "/": the root); -errno. */
int mcp_resolve(struct tree *t, const char *path, struct stat *st);
/* Appends up to max bytes of file ino from off; -errno. */
int mcp_read_file(struct tree *t, uint64_t ino, off_t off, size_t max, struct buf *out);

/* A directory's entries, gathered by tree_readdir through
 * mcp_collect_entry (ctx: a struct entries) up to max of them; free
 * them with mcp_free_entries. */
struct entry {
	char *name;
	mode_t mode;
	off_t next;	/* the position after it */
};
struct entries {
	struct entry *items;
	size_t n, cap, max;
};
int mcp_collect_entry(void *ctx, const char *name, const struct stat *st, bool complete,
		      off_t next);
void mcp_free_entries(struct entries *e);

#endif
