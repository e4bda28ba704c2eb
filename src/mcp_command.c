/*
 * mcp_command: omifs's MCP server (mcp_command.h): the session, the tool
 * calls (the tools are mcp_tools.c's), and the resources, the tree's
 * files as omi:///<path>, read through a tree over an offline sync so
 * that bytes and names are a mount's. An offline refresher looks every
 * 2 s for what a mount or an omifs sync wrote to the cache, so answers
 * follow it. An unknown tool or resource is a protocol error.
 */
#include "mcp_command.h"

#include "mcp_state.h"

#include "core.h"
#include "jsontext.h"
#include "sync.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESOURCE_PAGE 200
#define RESOURCE_MAX (8 << 20)		/* the largest resource read whole */
#define RESOURCE_NOT_FOUND (-32002)	/* MCP's code */
#define URI_PREFIX "omi:///"

static json_object *tools_list(json_object *params, void *ctx, struct mcp_error *err)
{
	json_object *result = json_object_new_object(), *list = json_object_new_array();

	(void)params;
	(void)ctx;
	(void)err;
	for (size_t i = 0; i < mcp_tool_count; i++) {
		json_object *t = json_object_new_object();

		json_object_object_add(t, "name", json_object_new_string(mcp_tools[i].name));
		json_object_object_add(t, "description", json_object_new_string(mcp_tools[i].description));
		json_object_object_add(t, "inputSchema",
				       json_text_parse(mcp_tools[i].schema, strlen(mcp_tools[i].schema)));
		json_object_array_add(list, t);
	}
	json_object_object_add(result, "tools", list);
	return result;
}

/* The content of a tool's result: one text. */
static json_object *text_content(const char *text)
{
	json_object *content = json_object_new_array(), *item = json_object_new_object();

	json_object_object_add(item, "type", json_object_new_string("text"));
	json_object_object_add(item, "text", json_object_new_string(text));
	json_object_array_add(content, item);
	return content;
}

static json_object *tools_call(json_object *params, void *ctx, struct mcp_error *err)
{
	struct call c = { ctx, NULL, BUF_INIT, false };
	json_object *name, *result, *structured;
	const struct mcp_tool *tool = NULL;
	struct buf text = BUF_INIT;

	if (!params || !json_object_object_get_ex(params, "name", &name) ||
	    !json_object_is_type(name, json_type_string))
		return mcp_fail(err, MCP_INVALID_PARAMS, "tools/call needs a tool name");
	for (size_t i = 0; i < mcp_tool_count; i++)
		if (strcmp(mcp_tools[i].name, json_object_get_string(name)) == 0)
			tool = &mcp_tools[i];
	if (!tool)
		return mcp_fail(err, MCP_INVALID_PARAMS, "no tool %.100s", json_object_get_string(name));
	if (!json_object_object_get_ex(params, "arguments", &c.args) ||
	    json_object_is_type(c.args, json_type_null))
		c.args = NULL;
	if (c.args && !json_object_is_type(c.args, json_type_object))
		return mcp_fail(err, MCP_INVALID_PARAMS, "arguments must be an object");
	if (!c.args)
		c.args = json_object_new_object();
	else
		json_object_get(c.args);
	structured = tool->call(&c, &text);
	result = json_object_new_object();
	if (structured) {
		json_object_object_add(result, "content", text_content(
			c.text_given ? (text.data ? text.data : "") : json_object_to_json_string_ext(structured,
						JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)));
		json_object_object_add(result, "structuredContent", structured);
	} else {
		json_object_object_add(result, "content", text_content(c.problem.len ? c.problem.data
										     : "failed"));
		json_object_object_add(result, "isError", json_object_new_boolean(true));
	}
	json_object_put(c.args);
	buf_free(&c.problem);
	buf_free(&text);
	return result;
}

/* ---- resources: the tree's files as omi:///<path> ---- */

static void append_uri(const char *path, struct buf *out)
{
	static const char keep[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/";

	buf_puts(out, URI_PREFIX);
	for (const char *p = path; *p; p++) {
		if (strchr(keep, *p))
			buf_putc(out, *p);
		else
			buf_printf(out, "%%%02X", (unsigned char)*p);
	}
}

/* The path an omi:/// URI names, or -1 when it is none. */
static int uri_path(const char *uri, struct buf *out)
{
	if (strncmp(uri, URI_PREFIX, strlen(URI_PREFIX)) != 0)
		return -1;
	for (const char *p = uri + strlen(URI_PREFIX); *p; p++) {
		unsigned int byte;

		if (*p != '%') {
			buf_putc(out, *p);
			continue;
		}
		if (sscanf(p + 1, "%2x", &byte) != 1 || !p[1] || !p[2] || byte == 0)
			return -1;
		buf_putc(out, (char)byte);
		p += 2;
	}
	return 0;
}

static const char *mime_type(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot && strcmp(dot, ".md") == 0)
		return "text/markdown";
	if (dot && strcmp(dot, ".json") == 0)
		return "application/json";
	if (dot && strcmp(dot, ".jsonl") == 0)
		return "application/jsonl";
	return "text/plain";
}

struct walk {
	struct tree *tree;
	size_t skip, seen;		/* files passed over so far */
	json_object *list;
	bool more;
};

/* Adds the files below directory ino (at path) to the walk's page, in
 * the order a listing gives them; .omifs/ and search/ are the mount's,
 * not the account's. Stops when the page is full. */
static void walk_directory(struct walk *w, uint64_t ino, struct buf *path)
{
	struct entries e = { .max = SIZE_MAX };
	size_t len = path->len;

	if (tree_readdir(w->tree, ino, 2, mcp_collect_entry, &e) < 0)
		return;
	for (size_t i = 0; i < e.n && !w->more; i++) {
		struct stat st;

		if (len == 0 && (strcmp(e.items[i].name, ".omifs") == 0 ||
				 strcmp(e.items[i].name, "search") == 0))
			continue;
		buf_truncate(path, len);
		buf_printf(path, "%s%s", len ? "/" : "", e.items[i].name);
		if (S_ISDIR(e.items[i].mode)) {
			if (tree_lookup(w->tree, ino, e.items[i].name, 0, &st, NULL) == 0)
				walk_directory(w, st.st_ino, path);
		} else if (S_ISREG(e.items[i].mode) && w->seen++ >= w->skip) {
			json_object *r = json_object_new_object();
			struct buf uri = BUF_INIT;

			if (json_object_array_length(w->list) == RESOURCE_PAGE) {
				w->more = true;
				json_object_put(r);
				break;
			}
			append_uri(path->data, &uri);
			json_object_object_add(r, "uri", json_object_new_string(uri.data));
			json_object_object_add(r, "name", json_object_new_string(path->data));
			json_object_object_add(r, "mimeType", json_object_new_string(mime_type(path->data)));
			json_object_array_add(w->list, r);
			buf_free(&uri);
		}
	}
	buf_truncate(path, len);
	mcp_free_entries(&e);
}

static json_object *resources_list(json_object *params, void *ctx, struct mcp_error *err)
{
	struct server *srv = ctx;
	struct call c = { srv, params, BUF_INIT, false };
	struct walk w = { .tree = srv->tree };
	struct buf path = BUF_INIT;
	json_object *result;

	if (c.args)
		w.skip = mcp_cursor_arg(&c);
	if (c.problem.len) {
		mcp_fail(err, MCP_INVALID_PARAMS, "%s", c.problem.data);
		buf_free(&c.problem);
		return NULL;
	}
	w.list = json_object_new_array();
	walk_directory(&w, TREE_ROOT_INO, &path);
	buf_free(&path);
	result = json_object_new_object();
	json_object_object_add(result, "resources", w.list);
	if (w.more)
		mcp_add_cursor(result, w.skip + RESOURCE_PAGE);
	return result;
}

static json_object *resources_read(json_object *params, void *ctx, struct mcp_error *err)
{
	struct server *srv = ctx;
	json_object *uri, *result, *contents, *item;
	struct buf path = BUF_INIT, text = BUF_INIT;
	struct stat st;
	int rc;

	if (!params || !json_object_object_get_ex(params, "uri", &uri) ||
	    !json_object_is_type(uri, json_type_string))
		return mcp_fail(err, MCP_INVALID_PARAMS, "resources/read needs a uri");
	if (uri_path(json_object_get_string(uri), &path) < 0) {
		buf_free(&path);
		return mcp_fail(err, RESOURCE_NOT_FOUND, "not an omi:/// URI of this server");
	}
	rc = mcp_resolve(srv->tree, path.data ? path.data : "", &st);
	if (rc == 0 && !S_ISREG(st.st_mode))
		rc = -EISDIR;
	if (rc == 0 && st.st_size > RESOURCE_MAX)
		rc = -EFBIG;
	if (rc == 0)
		rc = mcp_read_file(srv->tree, st.st_ino, 0, (size_t)st.st_size, &text);
	if (rc < 0) {
		mcp_fail(err, RESOURCE_NOT_FOUND, "%.200s: %s", path.data ? path.data : "", strerror(-rc));
		buf_free(&path);
		buf_free(&text);
		return NULL;
	}
	result = json_object_new_object();
	contents = json_object_new_array();
	item = json_object_new_object();
	json_object_object_add(item, "uri", json_object_get(uri));
	json_object_object_add(item, "mimeType", json_object_new_string(mime_type(path.data)));
	json_object_object_add(item, "text", json_object_new_string_len(text.data ? text.data : "",
									  (int)text.len));
	json_object_array_add(contents, item);
	json_object_object_add(result, "contents", contents);
	buf_free(&path);
	buf_free(&text);
	return result;
}

static json_object *resource_templates(json_object *params, void *ctx, struct mcp_error *err)
{
	json_object *result = json_object_new_object();

	(void)params;
	(void)ctx;
	(void)err;
	json_object_object_add(result, "resourceTemplates", json_object_new_array());
	return result;
}

/* ---- the session ---- */

static json_object *initialize(json_object *params, void *ctx, struct mcp_error *err)
{
	json_object *result = json_object_new_object(), *caps = json_object_new_object();
	json_object *info = json_object_new_object(), *asked = NULL, *tools_cap, *res_cap;

	(void)ctx;
	(void)err;
	if (params)
		json_object_object_get_ex(params, "protocolVersion", &asked);
	json_object_object_add(result, "protocolVersion", json_object_new_string(mcp_protocol_version(
		asked && json_object_is_type(asked, json_type_string) ? json_object_get_string(asked)
								       : NULL)));
	tools_cap = json_object_new_object();
	json_object_object_add(tools_cap, "listChanged", json_object_new_boolean(false));
	res_cap = json_object_new_object();
	json_object_object_add(res_cap, "listChanged", json_object_new_boolean(false));
	json_object_object_add(res_cap, "subscribe", json_object_new_boolean(false));
	json_object_object_add(caps, "tools", tools_cap);
	json_object_object_add(caps, "resources", res_cap);
	json_object_object_add(result, "capabilities", caps);
	json_object_object_add(info, "name", json_object_new_string("omifs"));
	json_object_object_add(info, "version", json_object_new_string(OMIFS_VERSION));
	json_object_object_add(result, "serverInfo", info);
	json_object_object_add(result, "instructions", json_object_new_string(
		"The user's Omi account (conversations with summaries and transcripts, memories, "
		"action items, goals) from omifs's local cache, offline. Find with search or the "
		"list tools, then read a path. Transcripts not cached yet cannot be read."));
	return result;
}

static const struct mcp_method methods[] = {
	{ "initialize", initialize },
	{ "tools/list", tools_list },
	{ "tools/call", tools_call },
	{ "resources/list", resources_list },
	{ "resources/read", resources_read },
	{ "resources/templates/list", resource_templates },
};

static void ignore_invalidation(uint64_t ino, uint64_t parent, const char *name, void *ctx)
{
	(void)ino;
	(void)parent;
	(void)name;
	(void)ctx;
}

/* What a mount or an omifs sync wrote to the cache: the tree follows. */
static void cache_changed(void *ctx)
{
	tree_refresh(ctx, ignore_invalidation, NULL);
}

static void settle_tree(void *ctx)
{
	tree_settle(ctx);
}

int mcp_command(const struct omifs_config *c)
{
	struct tree_options opts = { .uid = getuid(), .gid = getgid(), .cache_path = c->cache_path };
	struct server srv = { 0 };
	char err[512];
	int rc;

	srv.core = core_open_cached(c, err, sizeof(err));
	if (!srv.core) {
		fprintf(stderr, "omifs mcp: %s\n", err);
		return MCP_TROUBLE;
	}
	srv.tree = tree_new(srv.core->sync, &opts);
	if (sync_start(srv.core->sync, cache_changed, settle_tree, srv.tree) < 0)
		fprintf(stderr, "omifs mcp: answers will not follow later changes to the cache\n");
	rc = mcp_serve(stdin, stdout, methods, sizeof(methods) / sizeof(*methods), &srv);
	sync_stop(srv.core->sync);
	tree_free(srv.tree);
	core_close(srv.core);
	if (rc < 0)
		fprintf(stderr, "omifs mcp: cannot write to stdout\n");
	return rc < 0 ? MCP_TROUBLE : MCP_OK;
}
