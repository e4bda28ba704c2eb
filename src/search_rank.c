/*
 * search_rank: the auxiliary function and the scoring of search_rank.h.
 *
 * The function's value for a row is a blob of doubles: the number of
 * rows in the table, the row's length over the average row length, then
 * per phrase of the query the weighted count of its matches in the row
 * (each match counts its column's weight, as in bm25()), then the row's
 * snippet window (search_snippet.h): column, first token, marks.
 */
#include "search_rank.h"

#include "buf.h"
#include "cjk_tokenizer.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The doubles of a blob besides the counts. */
#define BLOB_FIXED 5

#define K1 1.2
#define B 0.75

/* SEARCH_RANK_FUNCTION(table, weight of column 0, of column 1, ...):
 * the blob above; a column without a weight weighs 1. */
static void match_counts(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx,
			 int n_weights, sqlite3_value **weights)
{
	int phrases = api->xPhraseCount(fts), insts = 0, row_tokens = 0;
	sqlite3_int64 rows = 0, tokens = 0;
	size_t bytes = (size_t)(BLOB_FIXED + phrases) * sizeof(double);
	double *out = sqlite3_malloc64(bytes);
	struct search_window window;
	int rc;

	if (!out) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	memset(out, 0, bytes);
	rc = api->xRowCount(fts, &rows);
	if (rc == SQLITE_OK)
		rc = api->xColumnTotalSize(fts, -1, &tokens);
	if (rc == SQLITE_OK)
		rc = api->xColumnSize(fts, -1, &row_tokens);
	if (rc == SQLITE_OK)
		rc = api->xInstCount(fts, &insts);
	for (int i = 0; rc == SQLITE_OK && i < insts; i++) {
		int phrase, column, offset;

		rc = api->xInst(fts, i, &phrase, &column, &offset);
		if (rc == SQLITE_OK)
			out[2 + phrase] += column < n_weights ? sqlite3_value_double(weights[column])
							      : 1.0;
	}
	if (rc == SQLITE_OK)
		rc = search_window_choose(api, fts, &window);
	if (rc != SQLITE_OK) {
		sqlite3_free(out);
		sqlite3_result_error_code(ctx, rc);
		return;
	}
	out[0] = (double)rows;
	out[1] = rows > 0 && tokens > 0 ? row_tokens / ((double)tokens / (double)rows) : 1.0;
	out[2 + phrases] = window.column;
	out[3 + phrases] = window.first;
	out[4 + phrases] = window.marks;
	sqlite3_result_blob64(ctx, out, bytes, sqlite3_free);
}

int search_rank_register(sqlite3 *db)
{
	fts5_api *api = cjk_fts5_api(db);

	if (!api)
		return -1;
	return api->xCreateFunction(api, SEARCH_RANK_FUNCTION, NULL, match_counts, NULL) ==
			       SQLITE_OK ? 0 : -1;
}

/* Room for one more row of `phrases` counts. */
static void grow(struct search_ranking *r, size_t phrases)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->rows = xrealloc(r->rows, r->cap * sizeof(*r->rows));
		r->counts = xrealloc(r->counts, r->cap * (phrases + 1) * sizeof(double));
	}
}

int search_ranking_add_unranked(struct search_ranking *r, sqlite3_int64 rowid,
				sqlite3_int64 created)
{
	if (r->phrases)
		return -EINVAL;
	grow(r, 0);
	r->counts[r->n] = 1.0;
	r->rows[r->n] = (struct search_ranked){ rowid, 0.0, created, { 1, 0, 0 } };
	r->n++;
	return 0;
}

int search_ranking_add(struct search_ranking *r, sqlite3_int64 rowid, sqlite3_value *counts,
		       sqlite3_int64 created)
{
	/* The type first: asking for the blob converts other values. */
	bool blob_typed = sqlite3_value_type(counts) == SQLITE_BLOB;
	const unsigned char *blob = blob_typed ? sqlite3_value_blob(counts) : NULL;
	size_t bytes = (size_t)sqlite3_value_bytes(counts), phrases;
	double window[3];

	if (!blob || bytes % sizeof(double) || bytes < BLOB_FIXED * sizeof(double))
		return -EINVAL;
	phrases = bytes / sizeof(double) - BLOB_FIXED;
	if (r->n > 0 && phrases != r->phrases)
		return -EINVAL;
	memcpy(window, blob + (2 + phrases) * sizeof(double), sizeof(window));
	if (!(window[0] >= 0 && window[0] <= INT_MAX && window[1] >= 0 && window[1] <= INT_MAX &&
	      window[2] >= 0 && window[2] <= UINT32_MAX))
		return -EINVAL;
	grow(r, phrases);
	r->phrases = phrases;
	/* memcpy: SQLite does not promise a blob aligned for doubles. */
	memcpy(&r->total_rows, blob, sizeof(double));
	r->rows[r->n].rowid = rowid;
	r->rows[r->n].created = created;
	memcpy(&r->counts[r->n * (phrases + 1)], blob + sizeof(double),
	       (phrases + 1) * sizeof(double));
	r->rows[r->n].window = (struct search_window){ (int)window[0], (int)window[1],
						      (uint32_t)window[2] };
	r->n++;
	return 0;
}

static int best_first(const void *a, const void *b)
{
	const struct search_ranked *x = a, *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	return x->rowid < y->rowid ? -1 : x->rowid > y->rowid;
}

void search_ranking_finish(struct search_ranking *r, const struct search_ranked **rows,
			   size_t *n)
{
	size_t stride = r->phrases + 1;
	double *idf = xcalloc(r->phrases ? r->phrases : 1, sizeof(double));

	/* bm25()'s inverse document frequency, with the documents that hold
	 * a phrase counted among the matches. */
	for (size_t p = 0; p < r->phrases; p++) {
		size_t holding = 0;

		for (size_t i = 0; i < r->n; i++)
			holding += r->counts[i * stride + 1 + p] > 0;
		idf[p] = log((r->total_rows - (double)holding + 0.5) / ((double)holding + 0.5));
		if (idf[p] <= 0.0)
			idf[p] = 1e-6;
	}
	for (size_t i = 0; i < r->n; i++) {
		const double *c = &r->counts[i * stride];
		double score = 0.0;

		for (size_t p = 0; p < r->phrases; p++)
			score += idf[p] * (c[1 + p] * (K1 + 1.0)) /
				 (c[1 + p] + K1 * (1.0 - B + B * c[0]));
		r->rows[i].score = score;
	}
	free(idf);
	if (r->n > 1)	/* rows is NULL when nothing matched */
		qsort(r->rows, r->n, sizeof(*r->rows), best_first);
	*rows = r->rows;
	*n = r->n;
}

int search_ranking_date_ties(struct search_ranking *r, size_t limit,
			     int (*created)(void *ctx, sqlite3_int64 rowid, sqlite3_int64 *at),
			     void *ctx)
{
	size_t end = limit && limit < r->n ? limit : r->n;

	for (size_t first = 0, last; first < end; first = last) {
		for (last = first + 1; last < r->n && r->rows[last].score == r->rows[first].score;
		     last++)
			;
		if (last - first < 2)
			continue;
		for (size_t i = first; i < last; i++) {
			int rc = created(ctx, r->rows[i].rowid, &r->rows[i].created);

			if (rc < 0)
				return rc;
		}
		qsort(r->rows + first, last - first, sizeof(*r->rows), best_first);
	}
	return 0;
}

void search_ranking_free(struct search_ranking *r)
{
	free(r->rows);
	free(r->counts);
	*r = (struct search_ranking)SEARCH_RANKING_INIT;
}
