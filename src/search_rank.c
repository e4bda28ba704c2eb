/*
 * search_rank: the auxiliary functions and the scoring of search_rank.h.
 *
 * SEARCH_RANK_FUNCTION adds the row it is called on to the ranking
 * bound to it: per phrase of the query the weighted count of its
 * matches in the row (each match counts its column's weight, as in
 * bm25()) and the window of its excerpt (search_snippet.h), and once a
 * query the number of rows in the table and their total length in
 * tokens. It reads no row's length: that costs a lookup
 * per row in FTS5's size table, which only the rows that might be shown
 * pay, read by the caller (an auxiliary function cannot: outside a
 * full-text query FTS5 gives it no sizes). It hands SQLite nothing: a
 * value per row to copy into the ranking cost a third of a common
 * word's first pass.
 */
#include "search_rank.h"

#include "buf.h"
#include "cjk_tokenizer.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define K1 1.2
#define B 0.75

/* Room for one more row of `phrases` counts. */
static void grow(struct search_ranking *r, size_t phrases)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->rows = xrealloc(r->rows, r->cap * sizeof(*r->rows));
		r->counts = xrealloc(r->counts, r->cap * (phrases ? phrases : 1) * sizeof(double));
	}
}

/* The table's rows and tokens, asked of FTS5 with the query's first row
 * only: it reads them from disk at every call. */
static int table_totals(const Fts5ExtensionApi *api, Fts5Context *fts, struct search_ranking *r)
{
	sqlite3_int64 rows = 0, tokens = 0;
	int rc = api->xRowCount(fts, &rows);

	if (rc == SQLITE_OK)
		rc = api->xColumnTotalSize(fts, -1, &tokens);
	r->total_rows = (double)rows;
	r->total_tokens = (double)tokens;
	return rc;
}

/* Whether match x comes before y in FTS5's xInst order: column, then
 * token (then phrase, which the caller's order settles). */
static bool match_before(const struct search_match *x, const struct search_match *y)
{
	return x->column < y->column || (x->column == y->column && x->start < y->start);
}

/* Merges r->matches[0, mid) and [mid, n), each in xInst order, into that
 * order: through r->merged, which then swaps places with r->matches. On
 * a tie the first part's match comes first: its phrases are the
 * earlier. */
static void merge_matches(struct search_ranking *r, size_t mid, size_t n)
{
	const struct search_match *a = r->matches, *b = r->matches + mid;
	struct search_match *out, *was;
	size_t i = 0, j = 0, k = 0, cap;

	if (r->cap_merged < n) {
		r->merged = xrealloc(r->merged, r->cap_matches * sizeof(*r->merged));
		r->cap_merged = r->cap_matches;
	}
	out = r->merged;
	while (i < mid && j < n - mid)
		out[k++] = match_before(&b[j], &a[i]) ? b[j++] : a[i++];
	while (i < mid)
		out[k++] = a[i++];
	while (j < n - mid)
		out[k++] = b[j++];
	was = r->matches;
	cap = r->cap_matches;
	r->matches = r->merged;
	r->cap_matches = r->cap_merged;
	r->merged = was;
	r->cap_merged = cap;
}

/* SEARCH_RANK_FUNCTION(table, ranking, created, weight of column 0, of
 * column 1, ...): as above; a column without a weight weighs 1. */
static void add_match(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx,
		      int nargs, sqlite3_value **args)
{
	struct search_ranking *r =
		nargs >= 2 ? sqlite3_value_pointer(args[0], SEARCH_RANKING_POINTER) : NULL;
	size_t phrases = (size_t)api->xPhraseCount(fts);
	sqlite3_value **weights = args + 2;
	int n_weights = nargs - 2, rc = SQLITE_OK;
	size_t n_matches = 0;
	struct search_ranked *row;
	double *counts;
	int reached[SEARCH_RANK_COLUMNS];	/* per column, the end of its last match */

	if (!r || phrases == 0 || (r->n > 0 && phrases != r->phrases)) {
		sqlite3_result_error(ctx, SEARCH_RANK_FUNCTION " needs its ranking and words", -1);
		return;
	}
	if (r->n == 0) {
		rc = table_totals(api, fts, r);
		for (int c = 0; c < SEARCH_RANK_COLUMNS; c++)
			r->weights[c] = c < n_weights ? sqlite3_value_double(weights[c]) : 1.0;
	}
	grow(r, phrases);
	r->phrases = phrases;
	counts = &r->counts[r->n * phrases];
	memset(reached, 0, sizeof(reached));
	/* Phrase by phrase: xInst's list of every phrase's matches in
	 * order costs a merge and an allocation a row. The matches, merged
	 * into that order here, choose the row's excerpt. */
	for (size_t p = 0; rc == SQLITE_OK && p < phrases; p++) {
		int size = api->xPhraseSize(fts, (int)p), column, offset;
		size_t run = n_matches;
		Fts5PhraseIter it;

		counts[p] = 0.0;
		rc = api->xPhraseFirst(fts, (int)p, &it, &column, &offset);
		for (; rc == SQLITE_OK && column >= 0; api->xPhraseNext(fts, &it, &column, &offset)) {
			counts[p] += column < SEARCH_RANK_COLUMNS ? r->weights[column]
				   : column < n_weights ? sqlite3_value_double(weights[column]) : 1.0;
			if (n_matches == r->cap_matches)
				r->matches = xgrow(r->matches, &r->cap_matches, n_matches,
						   sizeof(*r->matches), 64);
			r->matches[n_matches++] =
				(struct search_match){ column, offset, offset + size, (int)p };
			if (column < SEARCH_RANK_COLUMNS && offset + size > reached[column])
				reached[column] = offset + size;
		}
		if (run > 0 && n_matches > run)
			merge_matches(r, run, n_matches);
	}
	if (rc != SQLITE_OK) {
		sqlite3_result_error_code(ctx, rc);
		return;
	}
	row = &r->rows[r->n];
	*row = (struct search_ranked){
		api->xRowid(fts), 0.0,
		sqlite3_value_type(args[1]) == SQLITE_NULL ? INT64_MIN : sqlite3_value_int64(args[1]),
		r->n, { 0, 0, 0 }, 0 };
	for (int c = 0; c < SEARCH_RANK_COLUMNS; c++)
		row->least_tokens += (uint32_t)reached[c];
	search_window_choose(r->matches, n_matches, phrases, &row->window);
	r->n++;
}

int search_rank_docsize_tokens(const void *docsize, int bytes, sqlite3_int64 *tokens)
{
	const unsigned char *p = docsize, *end = p + (bytes > 0 ? bytes : 0);
	sqlite3_int64 sum = 0;

	if (!docsize)
		return -EINVAL;
	/* SQLite's varints, one a column; a column's size fits 32 bits,
	 * so five bytes at most. */
	while (p < end) {
		uint32_t size = 0;
		int used = 0;

		do {
			if (p == end || used == 5)
				return -EINVAL;
			size = size << 7 | (*p & 0x7f);
			used++;
		} while (*p++ & 0x80);
		sum += size;
	}
	*tokens = sum;
	return 0;
}

int search_rank_register(sqlite3 *db)
{
	fts5_api *api = cjk_fts5_api(db);

	if (!api)
		return -1;
	return api->xCreateFunction(api, SEARCH_RANK_FUNCTION, NULL, add_match, NULL) ==
			       SQLITE_OK ? 0 : -1;
}

int search_ranking_add_unranked(struct search_ranking *r, sqlite3_int64 rowid,
				sqlite3_int64 created)
{
	if (r->phrases)
		return -EINVAL;
	grow(r, 0);
	r->rows[r->n] = (struct search_ranked){ rowid, 0.0, created, r->n, { 1, 0, 0 }, 0 };
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

/* bm25()'s inverse document frequency of each phrase, with the rows
 * that hold it counted among the matches. The caller frees it. */
static double *phrase_rarity(const struct search_ranking *r)
{
	double *idf = xcalloc(r->phrases ? r->phrases : 1, sizeof(double));

	for (size_t p = 0; p < r->phrases; p++) {
		size_t holding = 0;

		for (size_t i = 0; i < r->n; i++)
			holding += r->counts[i * r->phrases + p] > 0;
		idf[p] = log((r->total_rows - (double)holding + 0.5) / ((double)holding + 0.5));
		if (idf[p] <= 0.0)
			idf[p] = 1e-6;
	}
	return idf;
}

/* BM25 of a row's counts at `ratio` (its length over the average): it
 * falls as ratio grows, so at the least length a row can have it bounds
 * the row's score from above. */
static double score_at(const struct search_ranking *r, const double *idf, size_t slot,
		       double ratio)
{
	const double *c = &r->counts[slot * r->phrases];
	double score = 0.0;

	for (size_t p = 0; p < r->phrases; p++)
		score += idf[p] * (c[p] * (K1 + 1.0)) / (c[p] + K1 * (1.0 - B + B * ratio));
	return score;
}

/* A length over the table's average length, as BM25 weighs it. */
static double length_ratio(const struct search_ranking *r, double tokens)
{
	if (r->total_rows <= 0 || r->total_tokens <= 0)
		return 1.0;
	return tokens / (r->total_tokens / r->total_rows);
}

/* A row's exact score, its length asked of row_tokens. */
static int score_row(const struct search_ranking *r, const double *idf,
		     struct search_ranked *row, search_row_tokens *row_tokens, void *ctx)
{
	sqlite3_int64 tokens = 0;
	int rc = row_tokens(ctx, row->rowid, &tokens);

	if (rc < 0)
		return rc;
	row->score = score_at(r, idf, row->slot, length_ratio(r, (double)tokens));
	return 0;
}

/* A min-heap of the best `want` scores so far: its root is the score
 * a row must reach to be among them. */
static void heap_offer(double *heap, size_t *n, size_t want, double score)
{
	size_t i;

	if (*n < want) {
		for (i = (*n)++; i > 0 && heap[(i - 1) / 2] > score; i = (i - 1) / 2)
			heap[i] = heap[(i - 1) / 2];
		heap[i] = score;
		return;
	}
	if (score <= heap[0])
		return;
	for (i = 0;;) {	/* the root replaced, sifted down */
		size_t child = 2 * i + 1;

		if (child >= *n)
			break;
		if (child + 1 < *n && heap[child + 1] < heap[child])
			child++;
		if (heap[child] >= score)
			break;
		heap[i] = heap[child];
		i = child;
	}
	heap[i] = score;
}

/* Scores the rows that might be among the best `want`, in the order
 * they came, passing over a row whose bound is below the want-th best
 * score so far; moves those of the best `want` and their ties to the
 * front, and sets *best to their number. (Sorting by bound first would
 * score fewer rows, but costs more than the lengths it saves.) */
static int score_the_best(struct search_ranking *r, const double *idf, size_t want,
			  search_row_tokens *row_tokens, void *ctx, size_t *best)
{
	double *heap = xcalloc(want, sizeof(*heap));
	size_t in_heap = 0, n = 0;
	int rc = 0;

	for (size_t i = 0; i < r->n && rc == 0; i++) {
		struct search_ranked row = r->rows[i];

		if (in_heap == want &&
		    score_at(r, idf, row.slot, length_ratio(r, row.least_tokens)) < heap[0])
			continue;
		rc = score_row(r, idf, &row, row_tokens, ctx);
		if (rc == 0) {
			heap_offer(heap, &in_heap, want, row.score);
			r->rows[i] = r->rows[n];
			r->rows[n++] = row;
		}
	}
	*best = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (r->rows[i].score >= heap[0]) {
			struct search_ranked row = r->rows[i];

			r->rows[i] = r->rows[*best];
			r->rows[(*best)++] = row;
		}
	}
	free(heap);
	return rc;
}

int search_ranking_finish(struct search_ranking *r, size_t want, search_row_tokens *row_tokens,
			  void *ctx)
{
	double *idf = phrase_rarity(r);
	size_t scored = r->n;
	int rc = 0;

	r->ranked = 0;
	if (r->phrases && want > 0 && want < r->n) {
		rc = score_the_best(r, idf, want, row_tokens, ctx, &scored);
	} else {
		for (size_t i = 0; r->phrases && rc == 0 && i < r->n; i++)
			rc = score_row(r, idf, &r->rows[i], row_tokens, ctx);
	}
	free(idf);
	if (rc < 0)
		return rc;
	if (scored > 1)	/* rows is NULL when nothing matched */
		qsort(r->rows, scored, sizeof(*r->rows), best_first);
	/* Past the want-th, only its ties are surely in order. */
	r->ranked = scored;
	if (want > 0 && want < scored) {
		r->ranked = want;
		while (r->ranked < scored && r->rows[r->ranked].score == r->rows[want - 1].score)
			r->ranked++;
	}
	return 0;
}

int search_ranking_date_ties(struct search_ranking *r, size_t limit,
			     int (*created)(void *ctx, sqlite3_int64 rowid, sqlite3_int64 *at),
			     void *ctx)
{
	size_t end = limit && limit < r->ranked ? limit : r->ranked;

	for (size_t first = 0, last; first < end; first = last) {
		for (last = first + 1;
		     last < r->ranked && r->rows[last].score == r->rows[first].score;
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
	free(r->matches);
	free(r->merged);
	*r = (struct search_ranking)SEARCH_RANKING_INIT;
}
