/*
 * search: index hits (store_search) turned into results with the paths,
 * dates and titles the tree shows, and the text forms of results.
 */
#include "search.h"

#include "jsontext.h"
#include "search_index.h"
#include "names.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TITLE_MAX 80	/* bytes of text kept as a memory's or action item's title */

const char *search_kind_name(enum store_kind kind)
{
	return collection_of(kind)->one;
}

/* A malloc'd line of text: up to its first newline and at most max bytes
 * (not cutting a UTF-8 character), control bytes as spaces. */
static char *one_line(const char *text, size_t max)
{
	size_t len = text ? strcspn(text, "\n") : 0;
	char *line;

	if (len > max) {
		len = max;
		while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
			len--;
	}
	line = xcalloc(1, len + 1);
	for (size_t i = 0; i < len; i++)
		line[i] = (unsigned char)text[i] < 0x20 || text[i] == 0x7f ? ' ' : text[i];
	return line;
}

static char *day_of(time_t when)
{
	char day[16];

	names_local_day(when, day);
	return xstrdup(day);
}

/* Fills r's date and title from hit's item, and appends its path in the
 * tree; -1 when the tree would not show it. A title as the server wrote
 * it is shown whole, a text's start is cut to TITLE_MAX. */
static int item_result(const struct search_hit *hit, json_object *obj,
		       struct search_result *r, struct buf *path)
{
	const struct collection *c = collection_of(hit->kind);
	void *object = xcalloc(1, c->object_size);
	const char *title;
	int rc = -1;

	if (c->parse(obj, object) < 0)
		goto out;
	rc = collection_item_path(hit->kind, object, hit->id, path);
	r->date = hit->created ? day_of((time_t)hit->created) : xstrdup("");
	if (c->title) {
		title = c->title(object);
		r->title = one_line(title && *title ? title : c->untitled, SIZE_MAX);
	} else {
		r->title = one_line(c->text(object), TITLE_MAX);
	}
	c->free_object(object);
out:
	free(object);
	return rc;
}

/* Fills r from a hit; -1 when the tree would not show the item. */
static int make_result(const struct search_hit *hit, struct search_result *r)
{
	json_object *obj = json_text_parse(hit->json, strlen(hit->json));
	struct buf path = BUF_INIT;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (obj && json_object_is_type(obj, json_type_object))
		rc = item_result(hit, obj, r, &path);
	json_object_put(obj);
	r->kind = hit->kind;
	r->id = xstrdup(hit->id);
	r->path = buf_steal(&path);
	r->snippet = xstrdup(hit->snippet);
	for (char *p = r->snippet; *p; p++)
		if (*p == '\n')
			*p = ' ';
	r->score = hit->score;
	return rc;
}

static void free_result(struct search_result *r)
{
	free(r->id);
	free(r->path);
	free(r->title);
	free(r->date);
	free(r->snippet);
}

int search_run(struct store *s, const struct search_request *req, struct search_results *out,
	       char *err, size_t errlen)
{
	struct search_hits hits;
	int rc = store_search(s, req, &hits, err, errlen);

	memset(out, 0, sizeof(*out));
	if (rc < 0) {
		search_hits_free(&hits);
		return rc;
	}
	out->items = xcalloc(hits.n ? hits.n : 1, sizeof(*out->items));
	for (size_t i = 0; i < hits.n; i++) {
		if (make_result(&hits.items[i], &out->items[out->n]) == 0)
			out->n++;
		else
			free_result(&out->items[out->n]);
	}
	/* An item the tree would not show is no match either. */
	out->total = hits.total - (hits.n - out->n);
	out->partial = hits.partial;
	search_hits_free(&hits);
	return 0;
}

void search_results_free(struct search_results *r)
{
	for (size_t i = 0; i < r->n; i++)
		free_result(&r->items[i]);
	free(r->items);
	memset(r, 0, sizeof(*r));
}

void search_snippet_render(const char *snippet, const char *open, const char *close,
			   struct buf *out)
{
	for (const char *p = snippet; *p; p++) {
		if (*p == SEARCH_MARK_OPEN)
			buf_puts(out, open);
		else if (*p == SEARCH_MARK_CLOSE)
			buf_puts(out, close);
		else
			buf_putc(out, *p);
	}
}

void search_count_line(const struct search_results *r, struct buf *out)
{
	size_t total = r->total < r->n ? r->n : r->total;
	const char *floor = r->partial ? "at least " : "";
	const char *noun = total == 1 ? "match" : "matches";

	if (r->n < total)
		buf_printf(out, "showing %zu of %s%zu %s", r->n, floor, total, noun);
	else
		buf_printf(out, "%s%zu %s", floor, total, noun);
}

void search_render_markdown(const char *query, const struct search_results *r, struct buf *out)
{
	char *q = one_line(query, SEARCH_QUERY_MAX);

	buf_printf(out, "# Search: %s\n\n", q);
	free(q);
	if (r->total == 0) {
		buf_puts(out, "No match.\n");
	} else {
		size_t at = out->len;

		search_count_line(r, out);
		out->data[at] = (char)toupper((unsigned char)out->data[at]);
		buf_printf(out, ", best first%s.\n", r->partial ? "; the search stopped at its time "
							       "limit, so more may match" : "");
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct search_result *x = &r->items[i];

		buf_printf(out, "\n## %zu. %s\n\n", i + 1, x->title);
		buf_printf(out, "- %s, %s\n", search_kind_name(x->kind),
			   *x->date ? x->date : "undated");
		buf_printf(out, "- `%s`\n\n> ", x->path);
		search_snippet_render(x->snippet, "**", "**", out);
		buf_putc(out, '\n');
	}
}

void search_link_name(const struct search_results *r, size_t i, struct buf *out)
{
	struct buf raw = BUF_INIT;
	int width = r->n >= 1000 ? 4 : r->n >= 100 ? 3 : 2;
	const struct search_result *x = &r->items[i];

	buf_printf(&raw, "%0*zu %s", width, i + 1, *x->date ? x->date : "undated");
	/* A title that reads as nothing adds nothing, not a trailing space. */
	buf_putc(&raw, ' ');
	names_visible_text(x->title, NULL, 0, &raw);
	if (raw.data[raw.len - 1] == ' ')
		raw.data[--raw.len] = '\0';
	/* Never refused: the text starts with the rank. */
	names_safe_name(raw.data, "", out);
	buf_free(&raw);
}

void search_coverage(struct store *s, struct search_coverage *out)
{
	size_t counts[STORE_KINDS] = { 0 }, missing;
	time_t listed_at;

	for (int k = 0; k < STORE_KINDS; k++)
		if (store_listing_info(s, k, &listed_at, &counts[k]) < 0)
			counts[k] = 0;
	out->memories = counts[STORE_MEMORIES];
	out->action_items = counts[STORE_ACTION_ITEMS];
	out->conversations = counts[STORE_CONVERSATIONS];
	if (store_count_untranscribed(s, &missing) < 0)
		missing = store_count_listed_without_full(s);
	out->transcripts = missing < out->conversations ? out->conversations - missing : 0;
}

/* Appends n with thousands separators: 1,990. */
static void put_count(struct buf *out, size_t n)
{
	char digits[32];
	int len = snprintf(digits, sizeof(digits), "%zu", n);

	for (int i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			buf_putc(out, ',');
		buf_putc(out, digits[i]);
	}
}

void search_coverage_line(const struct search_coverage *c, struct buf *out)
{
	if (c->transcripts == c->conversations) {
		buf_puts(out, "all ");
		put_count(out, c->conversations);
		buf_puts(out, c->conversations == 1 ? " transcript indexed" : " transcripts indexed");
		return;
	}
	put_count(out, c->transcripts);
	buf_puts(out, " of ");
	put_count(out, c->conversations);
	buf_puts(out, " transcripts indexed; `omifs sync` fetches the rest");
}
