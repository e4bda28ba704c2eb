/*
 * search: full-text queries over the cache, as results that point into
 * the mount's id tree. Used by `omifs search` and by the mount's search/
 * directory; sends no request.
 *
 * A result's path is where the tree files the item (collection_item_path)
 * (names_safe_name, the local day of created_at, "undated",
 * "uncategorized", open/done), relative to the mount's root:
 *   conversations/<YYYY-MM-DD>/<id>
 *   memories/<category>/<id>.txt
 *   action-items/{open,done}/<id>.txt
 *
 * Strings in results are owned by the results; functions return 0 or
 * -errno unless they say otherwise.
 */
#ifndef OMIFS_SEARCH_H
#define OMIFS_SEARCH_H

#include "buf.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>

struct search_result {
	enum store_kind kind;
	char *id;
	char *path;	/* in the id tree, as above */
	char *title;	/* one line: a conversation's title, else the start of the text */
	char *date;	/* the local day (YYYY-MM-DD) it was made, or first seen
			 * when it says none; "" when neither is known */
	char *snippet;	/* one line, the matched words between SEARCH_MARK_OPEN/CLOSE */
	double score;	/* higher is better */
};

struct search_results {
	struct search_result *items;
	size_t n;
	size_t total;	/* how many matched: n of them are here */
	bool partial;	/* the deadline stopped the ranking: total is a floor */
};

/* Runs req (search_index.h; the query language is search_query.h's) and
 * fills out, best first. A query that is empty or too long, or raw FTS5
 * that is not valid, gives -EINVAL, and a failing cache -EIO, with a
 * message in err; out is then empty. Free out with search_results_free
 * in every case. */
int search_run(struct store *s, const struct search_request *req, struct search_results *out,
	       char *err, size_t errlen);
void search_results_free(struct search_results *r);

/* "memories", "action item", "conversation": what a result is. */
const char *search_kind_name(enum store_kind kind);

/* Appends snippet with its marks replaced by open and close. */
void search_snippet_render(const char *snippet, const char *open, const char *close,
			   struct buf *out);

/* Appends how many matched: "62 matches", "showing 20 of 62 matches"
 * when the limit left some out, with "at least" when the deadline did. */
void search_count_line(const struct search_results *r, struct buf *out);

/* Appends results.md: the query and how many matched
 * (search_count_line), then per result its rank, date, kind, title, path
 * and snippet (matches in **bold**). Deterministic for the same
 * results. */
void search_render_markdown(const char *query, const struct search_results *r, struct buf *out);

/* Appends the file name of result i (0-based) of a search/<query>
 * directory, "01 2025-06-30 Mortgage call with Sam", made safe
 * (names_safe_name) and unique within the results by its rank. */
void search_link_name(const struct search_results *r, size_t i, struct buf *out);

/* How much of the account the index covers. */
struct search_coverage {
	size_t conversations, transcripts;	/* listed; of those, with transcript indexed */
	size_t memories, action_items;
};
void search_coverage(struct store *s, struct search_coverage *out);

/* Appends "1,690 of 1,990 transcripts indexed; `omifs sync` fetches the
 * rest" (or "all 1,990 transcripts indexed"), no newline. */
void search_coverage_line(const struct search_coverage *c, struct buf *out);

#endif
