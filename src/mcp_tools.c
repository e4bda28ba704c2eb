/*
 * mcp_tools: the tools of omifs's MCP server (mcp_state.h):
 *
 * - `search`, `list_conversations` search the index as omifs search
 *   does (a filter alone lists, newest first);
 * - `memories` and `action_items` walk the listing in its order;
 * - `recent_changes` are the change feed's lines;
 * - `read` gives a path of the tree through the server's tree, as a
 *   mount gives it.
 *
 * Every answer is bounded: a page (limit, at most PAGE_MAX) and a cursor
 * for the next. A bad argument is said in the call's problem: a tool
 * error the assistant can read and correct.
 */
#include "mcp_state.h"

#include "collections.h"
#include "feed.h"
#include "jsontext.h"
#include "search.h"
#include "snapshot.h"
#include "store.h"
#include "sync.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_DEFAULT 20
#define PAGE_MAX 100
#define ARG_MAX 4096			/* bytes of one string argument */
#define READ_PAGE (64 * 1024)		/* bytes of a file per `read` */
#define DIR_PAGE 500			/* entries of a directory per `read` */
#define SEARCH_DEADLINE_MS 5000

static void say_problem(struct call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say_problem(struct call *c, const char *fmt, ...)
{
	va_list ap;

	if (c->problem.len)
		return;
	va_start(ap, fmt);
	buf_vprintf(&c->problem, fmt, ap);
	va_end(ap);
}

/* ---- arguments ---- */

/* The string argument name, or NULL when absent (or wrong: said). */
static const char *string_arg(struct call *c, const char *name)
{
	json_object *v;

	if (!json_object_object_get_ex(c->args, name, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	if (!json_object_is_type(v, json_type_string)) {
		say_problem(c, "%s must be a string", name);
		return NULL;
	}
	if (json_object_get_string_len(v) > ARG_MAX) {
		say_problem(c, "%s is longer than %d bytes", name, ARG_MAX);
		return NULL;
	}
	return json_object_get_string(v);
}

/* `limit`: 1 to PAGE_MAX, PAGE_DEFAULT when absent. */
static size_t limit_arg(struct call *c)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(c->args, "limit", &v) || json_object_is_type(v, json_type_null))
		return PAGE_DEFAULT;
	n = json_object_get_int64(v);
	if (!json_object_is_type(v, json_type_int) || n < 1 || n > PAGE_MAX) {
		say_problem(c, "limit must be a whole number from 1 to %d", PAGE_MAX);
		return PAGE_DEFAULT;
	}
	return (size_t)n;
}

/* `cursor`: the nextCursor of an earlier page (a decimal position), 0
 * when absent. */
size_t mcp_cursor_arg(struct call *c)
{
	const char *text = string_arg(c, "cursor");
	char *end;
	unsigned long long n;

	if (!text)
		return 0;
	errno = 0;
	n = strtoull(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || n > SIZE_MAX / 2) {
		say_problem(c, "cursor must be a nextCursor this server gave");
		return 0;
	}
	return (size_t)n;
}

void mcp_add_cursor(json_object *page, size_t next)
{
	char text[32];

	snprintf(text, sizeof(text), "%zu", next);
	json_object_object_add(page, "nextCursor", json_object_new_string(text));
}

/* ---- search and list_conversations ---- */

/* The filters of the arguments kind, since, until, speaker, category. */
static void filter_args(struct call *c, struct search_filters *f)
{
	const char *kind = string_arg(c, "kind"), *since = string_arg(c, "since");
	const char *until = string_arg(c, "until");

	search_filters_init(f);
	if (kind && search_kind_bit(kind, strlen(kind), &f->kinds) < 0)
		say_problem(c, "kind must be memory, conversation, action-item or goal");
	if (since && search_local_day(since, strlen(since), false, &f->after) < 0)
		say_problem(c, "since must be a day, YYYY-MM-DD");
	if (until && search_local_day(until, strlen(until), true, &f->before) < 0)
		say_problem(c, "until must be a day, YYYY-MM-DD");
	f->speaker = (char *)string_arg(c, "speaker");
	f->category = (char *)string_arg(c, "category");
}

static json_object *search_page(struct call *c, const char *query,
				const struct search_filters *f, bool snippets)
{
	size_t limit = limit_arg(c), offset = mcp_cursor_arg(c);
	struct search_request req = { .query = query ? query : "", .filters = f,
				      .limit = offset + limit, .deadline_ms = SEARCH_DEADLINE_MS };
	struct search_results r = { 0 };
	json_object *page, *list;
	struct buf plain = BUF_INIT;
	char err[512];

	if (c->problem.len)
		return NULL;
	if (search_run(c->srv->core->store, &req, &r, err, sizeof(err)) < 0) {
		say_problem(c, "%s", err);
		search_results_free(&r);
		return NULL;
	}
	page = json_object_new_object();
	list = json_object_new_array();
	for (size_t i = offset; i < r.n; i++) {
		const struct search_result *x = &r.items[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "path", json_object_new_string(x->path));
		json_object_object_add(o, "kind", json_object_new_string(collection_of(x->kind)->json_one));
		json_object_object_add(o, "id", json_object_new_string(x->id));
		json_object_object_add(o, "date", json_object_new_string(x->date));
		json_object_object_add(o, "title", json_object_new_string(x->title));
		if (snippets) {
			buf_reset(&plain);
			search_snippet_render(x->snippet, "", "", &plain);
			json_object_object_add(o, "snippet", json_object_new_string(plain.data ? plain.data : ""));
		}
		json_object_array_add(list, o);
	}
	json_object_object_add(page, "total", json_object_new_int64((int64_t)r.total));
	json_object_object_add(page, "partial", json_object_new_boolean(r.partial));
	json_object_object_add(page, "results", list);
	if (offset + limit < r.total)
		mcp_add_cursor(page, offset + limit);
	buf_free(&plain);
	search_results_free(&r);
	return page;
}

static json_object *tool_search(struct call *c, struct buf *text)
{
	struct search_filters f;

	(void)text;
	filter_args(c, &f);
	return search_page(c, string_arg(c, "query"), &f, true);
}

static json_object *tool_list_conversations(struct call *c, struct buf *text)
{
	struct search_filters f;

	(void)text;
	filter_args(c, &f);
	f.kinds = 0;
	search_kind_bit("conversation", strlen("conversation"), &f.kinds);
	return search_page(c, "", &f, false);
}

/* ---- memories and action_items: the listing, filtered by place ---- */

struct item_page {
	enum store_kind kind;
	const char *place, *place_key;	/* the wanted directory (NULL: any), and its name */
	size_t offset, limit, matched;
	json_object *items;
};

static int add_item(const char *id, const char *json, void *ctx)
{
	struct item_page *p = ctx;
	const struct collection *col = collection_of(p->kind);
	json_object *obj = json_text_parse(json, strlen(json));
	void *object = xcalloc(1, col->object_size);
	struct buf place = BUF_INIT, path = BUF_INIT, text = BUF_INIT;

	if (obj && col->parse(obj, object) == 0) {
		col->place(object, &place);
		if (!p->place || strcmp(place.data, p->place) == 0) {
			if (p->matched >= p->offset && p->matched < p->offset + p->limit &&
			    collection_item_path(p->kind, object, id, &path) == 0) {
				json_object *o = json_object_new_object();

				col->render(object, &text);
				json_object_object_add(o, "id", json_object_new_string(id));
				json_object_object_add(o, "path", json_object_new_string(path.data));
				json_object_object_add(o, p->place_key, json_object_new_string(place.data));
				json_object_object_add(o, "text", json_object_new_string(text.data ? text.data : ""));
				json_object_array_add(p->items, o);
			}
			p->matched++;
		}
		col->free_object(object);
	}
	free(object);
	json_object_put(obj);
	buf_free(&place);
	buf_free(&path);
	buf_free(&text);
	return 0;
}

static json_object *item_page(struct call *c, enum store_kind kind, const char *place,
			      const char *place_key)
{
	struct item_page p = { kind, place, place_key, mcp_cursor_arg(c), limit_arg(c), 0, NULL };
	json_object *page;

	if (c->problem.len)
		return NULL;
	p.items = json_object_new_array();
	if (store_foreach(c->srv->core->store, kind, add_item, &p) < 0) {
		json_object_put(p.items);
		say_problem(c, "cannot read the cache");
		return NULL;
	}
	page = json_object_new_object();
	json_object_object_add(page, "total", json_object_new_int64((int64_t)p.matched));
	json_object_object_add(page, "items", p.items);
	if (p.offset + p.limit < p.matched)
		mcp_add_cursor(page, p.offset + p.limit);
	return page;
}

static json_object *tool_memories(struct call *c, struct buf *text)
{
	(void)text;
	return item_page(c, STORE_MEMORIES, string_arg(c, "category"), "category");
}

static json_object *tool_action_items(struct call *c, struct buf *text)
{
	const char *status = string_arg(c, "status");

	(void)text;
	if (status && strcmp(status, "open") != 0 && strcmp(status, "done") != 0 &&
	    strcmp(status, "all") != 0)
		say_problem(c, "status must be open, done or all");
	return item_page(c, STORE_ACTION_ITEMS, status && strcmp(status, "all") != 0 ? status : NULL,
			 "status");
}

/* ---- recent_changes ---- */

struct change_page {
	const struct snapshot *snap;
	size_t limit;
	int64_t last;
	bool more;
	json_object *changes;
	struct buf line;
};

static int add_change(const struct store_change *c, void *ctx)
{
	struct change_page *p = ctx;

	if (json_object_array_length(p->changes) == p->limit) {
		p->more = true;
		return 1;
	}
	buf_reset(&p->line);
	feed_line(c, p->snap, FEED_JSON, &p->line);
	json_object_array_add(p->changes, json_text_parse(p->line.data, p->line.len));
	p->last = c->seq;
	return 0;
}

static json_object *tool_recent_changes(struct call *c, struct buf *text)
{
	struct change_page p = { .limit = limit_arg(c), .line = BUF_INIT };
	const char *since_text = string_arg(c, "since");
	size_t after = mcp_cursor_arg(c);
	time_t since = time(NULL) - 7 * 86400;
	struct snapshot *snap;
	json_object *page;

	(void)text;
	if (since_text && !feed_parse_since(since_text, time(NULL), &since))
		say_problem(c, "since takes " FEED_SINCE_FORMS);
	if (c->problem.len || !(snap = snapshot_build_now(c->srv->core->sync, NULL))) {
		say_problem(c, "cannot read the cache");
		return NULL;
	}
	p.snap = snap;
	p.changes = json_object_new_array();
	if (store_foreach_change(c->srv->core->store, (int64_t)after, since, add_change, &p) < 0) {
		json_object_put(p.changes);
		p.changes = NULL;
		say_problem(c, "cannot read the changes");
	}
	snapshot_free(snap);
	buf_free(&p.line);
	if (!p.changes)
		return NULL;
	page = json_object_new_object();
	json_object_object_add(page, "changes", p.changes);
	if (p.more)
		mcp_add_cursor(page, (size_t)p.last);
	return page;
}

/* ---- read, and the resources: paths of the tree ---- */

/* The inode of path ("" or "/": the root) and its attributes; -errno. */
int mcp_resolve(struct tree *t, const char *path, struct stat *st)
{
	uint64_t ino = TREE_ROOT_INO;
	char *copy = xstrdup(path), *save = NULL;
	int rc = tree_getattr(t, ino, 0, st, NULL);

	for (char *part = strtok_r(copy, "/", &save); rc == 0 && part; part = strtok_r(NULL, "/", &save)) {
		if (strcmp(part, ".") == 0 || strcmp(part, "..") == 0)
			rc = -ENOENT;
		else if (!S_ISDIR(st->st_mode))
			rc = -ENOTDIR;
		else
			rc = tree_lookup(t, ino, part, 0, st, NULL);
		ino = st->st_ino;
	}
	free(copy);
	return rc;
}

/* Appends up to max bytes of file ino from off; -errno. */
int mcp_read_file(struct tree *t, uint64_t ino, off_t off, size_t max, struct buf *out)
{
	int rc = tree_read(t, ino, 0, off, max, out);

	tree_read_done(t, ino);
	return rc;
}

/* How much of text[0..len) to give so as to end on a whole UTF-8
 * character (a page is cut where the next begins). */
static size_t whole_characters(const char *text, size_t len)
{
	size_t start = len;
	unsigned char lead;
	size_t need;

	while (start > 0 && len - start < 4 && ((unsigned char)text[start - 1] & 0xC0) == 0x80)
		start--;
	if (start == 0)
		return len;
	lead = (unsigned char)text[start - 1];
	need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
	return start - 1 + need > len ? start - 1 : len;
}

int mcp_collect_entry(void *ctx, const char *name, const struct stat *st, bool complete,
			 off_t next)
{
	struct entries *e = ctx;

	(void)complete;
	if (e->n == e->max)
		return 1;
	e->items = xgrow(e->items, &e->cap, e->n, sizeof(*e->items), 64);
	e->items[e->n++] = (struct entry){ xstrdup(name), st->st_mode, next };
	return 0;
}

void mcp_free_entries(struct entries *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->items[i].name);
	free(e->items);
}

static json_object *read_directory(struct call *c, uint64_t ino)
{
	struct entries e = { .max = DIR_PAGE + 1 };
	size_t from = mcp_cursor_arg(c);
	json_object *page, *list;
	int rc;

	if (c->problem.len)
		return NULL;
	rc = tree_readdir(c->srv->tree, ino, (off_t)(from < 2 ? 2 : from), mcp_collect_entry, &e);
	if (rc < 0) {
		mcp_free_entries(&e);
		say_problem(c, "cannot list it: %s", strerror(-rc));
		return NULL;
	}
	page = json_object_new_object();
	list = json_object_new_array();
	for (size_t i = 0; i < e.n && i < DIR_PAGE; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(e.items[i].name));
		json_object_object_add(o, "type", json_object_new_string(
			S_ISDIR(e.items[i].mode) ? "directory" : S_ISLNK(e.items[i].mode) ? "link" : "file"));
		json_object_array_add(list, o);
	}
	json_object_object_add(page, "entries", list);
	if (e.n > DIR_PAGE)
		mcp_add_cursor(page, (size_t)e.items[DIR_PAGE - 1].next);
	mcp_free_entries(&e);
	return page;
}

/* Why path cannot be read: offline, a file whose transcript is not
 * cached yet fails with EIO (or EAGAIN), and the assistant is told so. */
static void say_unreadable(struct call *c, const char *path, int rc)
{
	say_problem(c, "%s: %s%s", path, rc == -EINVAL ? "not a file" : strerror(-rc),
		    rc == -EIO || rc == -EAGAIN ? " (its transcript may be not cached yet: a mount "
						 "or omifs sync fetches it)" : "");
}

static json_object *tool_read(struct call *c, struct buf *text)
{
	const char *path = string_arg(c, "path");
	size_t off = mcp_cursor_arg(c), end;
	json_object *page;
	struct stat st;
	int rc;

	if (!path && !c->problem.len)
		say_problem(c, "path is required: a path of the tree, such as memories.jsonl");
	if (c->problem.len)
		return NULL;
	rc = mcp_resolve(c->srv->tree, path, &st);
	if (rc < 0) {
		say_unreadable(c, path, rc);
		return NULL;
	}
	if (S_ISDIR(st.st_mode))
		return read_directory(c, st.st_ino);
	rc = S_ISREG(st.st_mode) ? mcp_read_file(c->srv->tree, st.st_ino, (off_t)off, READ_PAGE, text)
				 : -EINVAL;
	if (rc < 0) {
		say_unreadable(c, path, rc);
		return NULL;
	}
	c->text_given = true;
	end = off + text->len < (size_t)st.st_size ? whole_characters(text->data, text->len)
						    : text->len;
	buf_truncate(text, end);
	page = json_object_new_object();
	json_object_object_add(page, "path", json_object_new_string(path));
	json_object_object_add(page, "size", json_object_new_int64((int64_t)st.st_size));
	json_object_object_add(page, "offset", json_object_new_int64((int64_t)off));
	json_object_object_add(page, "length", json_object_new_int64((int64_t)end));
	if (off + end < (size_t)st.st_size)
		mcp_add_cursor(page, off + end);
	return page;
}

/* ---- the tool table ---- */

#define PAGE_PROPERTIES \
	"\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100,\"description\":\"at most this many (default 20)\"}," \
	"\"cursor\":{\"type\":\"string\",\"description\":\"the nextCursor of the previous page\"}"
#define DAY_PROPERTIES \
	"\"since\":{\"type\":\"string\",\"description\":\"created from this day, YYYY-MM-DD\"}," \
	"\"until\":{\"type\":\"string\",\"description\":\"created through this day, YYYY-MM-DD\"},"

const struct mcp_tool mcp_tools[] = {
	{ "search",
	  "Search the Omi account (conversation titles, overviews, transcripts, memories, "
	  "action items, goals) in the local cache. Any text is a query; also \"phrases\", OR, "
	  "-word, prefix*, and the filters kind:, after:, before:, speaker:, category:. Best "
	  "matches first; each with its path (give it to read), kind, date, title and snippet.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"query\":{\"type\":\"string\",\"description\":\"what to find\"},"
	  "\"kind\":{\"type\":\"string\",\"enum\":[\"memory\",\"conversation\",\"action-item\",\"goal\"]},"
	  DAY_PROPERTIES
	  "\"speaker\":{\"type\":\"string\",\"description\":\"said by this speaker\"},"
	  "\"category\":{\"type\":\"string\"}," PAGE_PROPERTIES "}}",
	  tool_search },
	{ "read",
	  "Read a file of the Omi tree by its path, as the mount shows it (a summary.md, a "
	  "transcript.txt, a memory, a vault note, memories.jsonl), 64 KiB a page; a directory "
	  "gives its entries. Paths come from search and the list tools; \"\" is the root.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"path\":{\"type\":\"string\",\"description\":\"such as conversations/2025-06-30/<id>/summary.md\"},"
	  "\"cursor\":{\"type\":\"string\",\"description\":\"the nextCursor of the previous page\"}},"
	  "\"required\":[\"path\"]}",
	  tool_read },
	{ "list_conversations",
	  "List conversations, newest first, optionally within a date range: path, date, title.",
	  "{\"type\":\"object\",\"properties\":{" DAY_PROPERTIES PAGE_PROPERTIES "}}",
	  tool_list_conversations },
	{ "memories",
	  "List memories (what Omi learnt about the user), optionally of one category, in the "
	  "account's order: id, path, category and the memory's text.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"category\":{\"type\":\"string\",\"description\":\"such as work or interests\"},"
	  PAGE_PROPERTIES "}}",
	  tool_memories },
	{ "action_items",
	  "List action items: open (default all), done or all: id, path, status and text.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"status\":{\"type\":\"string\",\"enum\":[\"open\",\"done\",\"all\"]},"
	  PAGE_PROPERTIES "}}",
	  tool_action_items },
	{ "recent_changes",
	  "What changed in the account, oldest first: each item added, changed or removed, with "
	  "its path, the views it is in, and a conversation's title. Default: the last 7 days.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"since\":{\"type\":\"string\",\"description\":\"YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z], or an age: 30m, 2h, 7d\"},"
	  PAGE_PROPERTIES "}}",
	  tool_recent_changes },
};

const size_t mcp_tool_count = sizeof(mcp_tools) / sizeof(*mcp_tools);
