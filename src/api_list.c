/*
 * api_list: a listing, page after page: offset += the items received
 * until an empty page, each id handed on once, pages refused whole when
 * broken (page.h), and a server that ignores offset given up on; or, for
 * a server that pages none, one request whose answer is the whole.
 */
#include "api.h"
#include "api_state.h"

#include "buf.h"
#include "hash.h"
#include "jsontext.h"
#include "page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PAGES 1000000	/* bounds any listing loop */
#define MAX_REPEATED_PAGES 3	/* pages of only known ids before giving up */

/* The state of one listing while its pages are walked. */
struct listing {
	const char *path;
	size_t offset;		/* of the page being walked */
	struct digest_set *seen;	/* a heavy account's 100,000 ids: 2 MiB */
	size_t fresh;		/* new ids on this page */
	bool done;		/* the reader has all it wanted */
	api_item_fn fn;
	void *ctx;
	struct api_error *err;
};

/* Hands one item of a page that proved whole (a JSON object) to l->fn. */
static int list_element(json_object *item, size_t index, void *arg)
{
	struct listing *l = arg;
	char *id = json_text_object_id(item);
	int verdict = API_LIST_NEXT;

	(void)index;
	if (!id) {
		verdict = l->fn(item, NULL, l->ctx);
	} else if (digest_set_add(l->seen, id)) {
		l->fresh++;
		verdict = l->fn(item, id, l->ctx);
		if (verdict != API_LIST_NEXT && verdict != API_LIST_DONE)
			snprintf(l->err->message, sizeof(l->err->message),
				 "%s: the listing held an item omifs refuses (see the log)", l->path);
	}
	free(id);
	l->done = verdict == API_LIST_DONE;
	return verdict != API_LIST_NEXT;
}

/* The query of the page at offset, asking `asked` items of a paged
 * listing. */
static void page_query(struct buf *q, const char *query, bool whole, int asked, size_t offset)
{
	buf_reset(q);
	if (whole)
		buf_puts(q, query ? query : "");
	else
		buf_printf(q, "limit=%d&offset=%zu%s%s", asked, offset, query ? "&" : "",
			   query ? query : "");
}

/* Opens the page to walk: first_page when set, judged as a page from the
 * server would be, else the server's answer to query. Returns API_OK
 * with p open, or the failure with p closed. */
static enum api_result open_page(struct api_client *c, const char *path, const char *query,
				 const char *first_page, enum budget_share share, struct page *p,
				 struct api_error *err)
{
	if (!first_page)
		return api_get_page(c, path, query, p, share, err);
	memset(err, 0, sizeof(*err));
	page_open(p, NULL);
	page_take(p, first_page, strlen(first_page));
	if (!page_whole(p, strlen(first_page), err->message, sizeof(err->message))) {
		page_close(p);
		return err->result = API_E_PROTOCOL;
	}
	return API_OK;
}

enum api_result api_list(struct api_client *c, const char *path, const char *query,
			 int page_size, api_item_fn fn, void *ctx, struct api_error *err)
{
	return api_list_from(c, path, query, page_size, NULL, fn, ctx, err);
}

enum api_result api_list_from(struct api_client *c, const char *path, const char *query,
			      int page_size, const char *first_page, api_item_fn fn, void *ctx,
			      struct api_error *err)
{
	struct api_list_start start = { .first_page = first_page };

	return api_list_at(c, path, query, page_size, &start, fn, ctx, err);
}

enum api_result api_list_at(struct api_client *c, const char *path, const char *query,
			    int page_size, const struct api_list_start *start, api_item_fn fn,
			    void *ctx, struct api_error *err)
{
	struct listing l = { .path = path, .offset = start->offset, .seen = digest_set_new(), .fn = fn,
			     .ctx = ctx, .err = err };
	struct buf q = BUF_INIT;
	bool transcripts = query && strstr(query, "include_transcript=true");
	int repeated = 0, served = api_page_size(c, path, transcripts, page_size), asked = page_size;
	long before = 0, most = 0;	/* items of the page before; the most on a page not the last */
	enum api_result result = API_OK;

	for (int page = 0;; page++) {
		/* The page the caller gave, walked first in place of the server's. */
		const char *given = page == 0 && start->offset == 0 ? start->first_page : NULL;
		struct page p;
		long n;

		if (page >= MAX_PAGES) {
			result = API_E_PROTOCOL;
			snprintf(err->message, sizeof(err->message),
				 "%s: more than %d pages, giving up", path, MAX_PAGES);
			break;
		}
		if (!given)
			asked = served;
		page_query(&q, query, start->whole, asked, l.offset);
		result = open_page(c, path, q.data, given, start->share, &p, err);
		if (result != API_OK)
			break;
		l.fresh = 0;
		n = page_walk(&p, list_element, &l, err->message, sizeof(err->message));
		page_close(&p);
		if (n > 0 && before > most)
			most = before;
		if (n == 0 || l.done)
			break;
		if (n < 0) {
			result = err->result = API_E_PROTOCOL;
			break;
		}
		if (start->whole)
			break;
		/* A server that ignores offset would send the same page forever. */
		repeated = l.fresh == 0 ? repeated + 1 : 0;
		if (repeated >= MAX_REPEATED_PAGES) {
			result = err->result = API_E_PROTOCOL;
			snprintf(err->message, sizeof(err->message),
				 "%s: the server keeps sending items already seen", path);
			break;
		}
		l.offset += (size_t)n;
		before = n;
	}
	/* Every page before the last came short: the server clamps. Once
	 * its clamp is asked, a page short of it only lost locked items. */
	if (result == API_OK && most > 0 && most < asked && asked == page_size)
		api_set_page_clamp(c, path, transcripts, (int)most);
	buf_free(&q);
	digest_set_free(l.seen);
	return result;
}
