/*
 * fuzz_search: hostile queries and hostile text through the search index
 * (search_index, cjk_tokenizer) and search's results.
 *
 * Input layout: the bytes up to the first NUL are a memory's content and a
 * conversation's transcript (indexed through the CJK tokenizer as
 * documents); the bytes after it, as a C string, are the query. With no
 * NUL, the whole input is both.
 *
 * Invariants:
 * - a query as typed is never refused (no FTS5 syntax error, whatever
 *   the text): search_run returns 0, or -EINVAL only for a query of
 *   spaces or one over SEARCH_QUERY_MAX bytes;
 * - as raw FTS5 (--fts, or after "fts:"), 0 or -EINVAL (a bad query), never -EIO;
 * - an error comes with a message and no results;
 * - at most the limit asked; scores best first;
 * - every path starts with one of the tree's three roots and holds no
 *   "." or ".." component and no control byte;
 * - snippets and titles hold no newline and no control byte but the marks;
 * - a snippet's marks come in pairs, open then close, never nested;
 * - a link name is at most 255 bytes, without '/';
 * - results.md renders.
 */
#include "buf.h"
#include "fuzz.h"
#include "search.h"
#include "search_snippet.h"
#include "store.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define LIMIT 5

static char *item_json(const char *id, const char *field, const char *text, bool transcript)
{
	json_object *o = json_object_new_object();
	char *out;

	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "created_at", json_object_new_string("2025-06-15T12:00:00Z"));
	if (transcript) {
		json_object *segs = json_object_new_array(), *seg = json_object_new_object();

		json_object_object_add(seg, "text", json_object_new_string(text));
		json_object_object_add(seg, "speaker_id", json_object_new_int(1));
		json_object_array_add(segs, seg);
		json_object_object_add(o, "transcript_segments", segs);
	} else {
		json_object_object_add(o, field, json_object_new_string(text));
	}
	out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	FUZZ_CHECK(out != NULL, "out of memory");
	return out;
}

static void check_path(const char *path)
{
	const char *p = path;

	FUZZ_CHECK(strncmp(p, "conversations/", 14) == 0 || strncmp(p, "memories/", 9) == 0 ||
		   strncmp(p, "action-items/open/", 18) == 0 ||
		   strncmp(p, "action-items/done/", 18) == 0, "path \"%s\"", path);
	for (; *p; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte in \"%s\"", path);
	FUZZ_CHECK(strstr(path, "/./") == NULL && strstr(path, "/../") == NULL, "\"%s\"", path);
}

static void check_line(const char *text, bool marks)
{
	for (const char *p = text; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (marks && (c == 1 || c == 2))
			continue;
		FUZZ_CHECK(c >= 0x20 && c != 0x7f, "control byte 0x%02x in \"%s\"", c, text);
	}
}

static void check_marks(const char *snippet)
{
	bool open = false;

	for (const char *p = snippet; *p; p++) {
		if (*p == SEARCH_MARK_OPEN || *p == SEARCH_MARK_CLOSE) {
			FUZZ_CHECK(open == (*p == SEARCH_MARK_CLOSE), "marks out of turn in \"%s\"",
				   snippet);
			open = !open;
		}
	}
	FUZZ_CHECK(!open, "a mark left open in \"%s\"", snippet);
}

static void check_results(const struct search_results *r)
{
	struct buf md = BUF_INIT;

	FUZZ_CHECK(r->n <= LIMIT, "%zu results", r->n);
	for (size_t i = 0; i < r->n; i++) {
		struct buf name = BUF_INIT;

		check_path(r->items[i].path);
		check_line(r->items[i].snippet, true);
		check_marks(r->items[i].snippet);
		check_line(r->items[i].title, false);
		FUZZ_CHECK(i == 0 || r->items[i - 1].score >= r->items[i].score, "not best first");
		search_link_name(r, i, &name);
		FUZZ_CHECK(name.len > 0 && name.len <= 255 && !memchr(name.data, '/', name.len),
			   "link name \"%s\"", name.data);
		buf_free(&name);
	}
	search_render_markdown("q", r, &md);
	FUZZ_CHECK(md.len > 0, "empty results.md");
	buf_free(&md);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *doc = strndup((const char *)data, size), err[512];
	const uint8_t *nul = memchr(data, 0, size);
	char *query = nul ? strndup((const char *)nul + 1, size - (size_t)(nul + 1 - data))
			  : strdup(doc);
	struct store *s = store_open(NULL, err, sizeof(err));
	char *memory = item_json("m1", "content", doc, false);
	char *conversation = item_json("c/1", "title", doc, false);
	char *full = item_json("c/1", "", doc, true);
	struct store_item memories[] = { { "m1", memory } }, convs[] = { { "c/1", conversation } };
	struct search_results r;
	bool blank = strspn(query ? query : "", " \t\n") == strlen(query ? query : "");
	int rc;

	FUZZ_CHECK(doc && query && s, "setup failed: %s", err);
	FUZZ_CHECK(store_replace_listing(s, STORE_MEMORIES, memories, 1, 1) >= 0, "listing");
	FUZZ_CHECK(store_replace_listing(s, STORE_CONVERSATIONS, convs, 1, 1) >= 0, "listing");
	FUZZ_CHECK(store_put_full_conversation(s, "c/1", full) == 0, "full");
	for (int fts = 0; fts < 2; fts++) {
		struct search_request req = { .query = query, .fts = fts, .limit = LIMIT };

		err[0] = '\0';
		rc = search_run(s, &req, &r, err, sizeof(err));
		FUZZ_CHECK(rc == 0 || rc == -EINVAL, "search_run returned %d (%s)", rc, err);
		FUZZ_CHECK(search_request_is_fts(&req) || rc == 0 || blank ||
			   strlen(query) > SEARCH_QUERY_MAX,
			   "a typed query was refused: %s", err);
		if (rc < 0)
			FUZZ_CHECK(r.n == 0 && err[0], "an error without a message or with results");
		else
			check_results(&r);
		search_results_free(&r);
	}
	store_close(s);
	free(memory);
	free(conversation);
	free(full);
	free(doc);
	free(query);
	return 0;
}
