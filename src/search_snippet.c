/*
 * search_snippet: choosing an excerpt's window from a row's matches, and
 * the auxiliary function that writes it out (search_snippet.h).
 *
 * Positions are FTS5's: a token counts unless it is colocated with the
 * one before (the single characters under CJK pairs), which is how FTS5
 * numbers the tokens of a document and of the text an auxiliary function
 * tokenizes.
 */
#include "search_snippet.h"

#include "buf.h"
#include "cjk_tokenizer.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW SEARCH_SNIPPET_TOKENS
#define ELLIPSIS "…"

_Static_assert(WINDOW <= 32, "a window's marks are the bits of a uint32_t");

/* One match of a phrase: tokens [start, end) of column. */
struct instance {
	int column, start, end, phrase;
};

static int instance_at(const Fts5ExtensionApi *api, Fts5Context *fts, int i,
		       struct instance *out)
{
	int rc = api->xInst(fts, i, &out->phrase, &out->column, &out->start);

	out->end = out->start + (rc == SQLITE_OK ? api->xPhraseSize(fts, out->phrase) : 0);
	return rc;
}

/* The window's first token: the matches [start, end) centred, kept inside
 * a column of size tokens and never after start. */
static int centred(int start, int end, int size)
{
	int first = end - start < WINDOW ? start - (WINDOW - (end - start)) / 2 : start;

	if (first > size - WINDOW)
		first = size - WINDOW;
	if (first > start)
		first = start;
	return first < 0 ? 0 : first;
}

/* Marks the tokens of w's column that a match covers. */
static int mark_matches(const Fts5ExtensionApi *api, Fts5Context *fts, int insts,
			struct search_window *w)
{
	int rc = SQLITE_OK;

	w->marks = 0;
	for (int i = 0; rc == SQLITE_OK && i < insts; i++) {
		struct instance m;

		rc = instance_at(api, fts, i, &m);
		if (rc != SQLITE_OK || m.column != w->column)
			continue;
		for (int t = m.start; t < m.end; t++)
			if (t >= w->first && t < w->first + WINDOW)
				w->marks |= (uint32_t)1 << (t - w->first);
	}
	return rc;
}

/* The latest end of the matches left..right, whose ends need not rise
 * with their starts (phrases differ in length). */
static int kept_end(const Fts5ExtensionApi *api, Fts5Context *fts, int left, int right,
		    int *end)
{
	int rc = SQLITE_OK;

	*end = 0;
	for (int i = left; rc == SQLITE_OK && i <= right; i++) {
		struct instance m;

		rc = instance_at(api, fts, i, &m);
		if (rc == SQLITE_OK && m.end > *end)
			*end = m.end;
	}
	return rc;
}

/* FTS5 lists a row's matches in order of column, then position: a
 * window slides over them, keeping those that fit in WINDOW tokens, with
 * a count per phrase of how many it holds. A window beats another by
 * holding more different phrases, then more matches.
 * On a matched row: sets *w to its best window (column 0 from its start,
 * nothing marked, when the query marks no token). Returns SQLITE_OK or
 * the failing FTS5 call's code. */
static int choose_window(const Fts5ExtensionApi *api, Fts5Context *fts, struct search_window *w)
{
	int insts = 0, phrases = api->xPhraseCount(fts), distinct = 0, left = 0, end = 0;
	int best_distinct = 0, best_count = 0, best_start = 0, best_end = 0, size = 0;
	int rc = api->xInstCount(fts, &insts);
	/* Queries have a few phrases: no allocation for them. */
	int few[16] = { 0 }, *held = phrases <= 16 ? few : calloc((size_t)phrases, sizeof(*held));
	struct instance first_kept = { 0 };

	*w = (struct search_window){ 0, 0, 0 };
	if (!held)
		return SQLITE_NOMEM;
	for (int right = 0; rc == SQLITE_OK && right < insts; right++) {
		struct instance m, gone;

		rc = instance_at(api, fts, right, &m);
		if (rc == SQLITE_OK && right > left && m.column != first_kept.column) {
			memset(held, 0, (size_t)phrases * sizeof(*held));
			distinct = 0;
			left = right;
		}
		if (rc != SQLITE_OK)
			break;
		if (right == left) {
			first_kept = m;
			end = m.end;
		}
		end = m.end > end ? m.end : end;
		if (held[m.phrase]++ == 0)
			distinct++;
		while (rc == SQLITE_OK && left < right && end - first_kept.start > WINDOW) {
			rc = instance_at(api, fts, left, &gone);
			if (rc == SQLITE_OK && --held[gone.phrase] == 0)
				distinct--;
			left++;
			if (rc == SQLITE_OK)
				rc = instance_at(api, fts, left, &first_kept);
			if (rc == SQLITE_OK)
				rc = kept_end(api, fts, left, right, &end);
		}
		if (rc == SQLITE_OK && (distinct > best_distinct ||
					(distinct == best_distinct && right - left + 1 > best_count))) {
			best_distinct = distinct;
			best_count = right - left + 1;
			w->column = m.column;
			best_start = first_kept.start;
			best_end = end;
		}
	}
	if (held != few)
		free(held);
	if (rc == SQLITE_OK && best_count > 0)
		rc = api->xColumnSize(fts, w->column, &size);
	if (rc == SQLITE_OK && best_count > 0) {
		w->first = centred(best_start, best_end, size);
		rc = mark_matches(api, fts, insts, w);
	}
	return rc;
}

/* The byte ranges of the window's tokens, as the column is tokenized. */
struct window_tokens {
	int first;		/* the window's first position */
	int position;		/* of the next token */
	int n;			/* tokens seen in the window */
	int start[WINDOW], end[WINDOW];
	bool more;		/* a token follows the window */
};

/* Stops the tokenizer at the first token past the window: SQLITE_DONE,
 * which FTS5's tokenizers take for a stop, not a failure. (FTS5 would
 * count a colocated token that comes first; ours never come first.) */
static int on_token(void *ctx, int tflags, const char *token, int n, int start, int end)
{
	struct window_tokens *t = ctx;

	(void)token;
	(void)n;
	if (tflags & FTS5_TOKEN_COLOCATED) {
		/* A CJK pair's first character, at the pair's position: a
		 * match ending there ends with that character, as a query's
		 * run does (cjk_tokenizer.h). */
		if (t->n > 0 && t->position - 1 == t->first + t->n - 1 && end < t->end[t->n - 1])
			t->end[t->n - 1] = end;
		return SQLITE_OK;
	}
	if (t->position >= t->first + WINDOW) {
		t->more = true;
		return SQLITE_DONE;
	}
	if (t->position >= t->first) {
		t->start[t->n] = start;
		t->end[t->n] = end;
		t->n++;
	}
	t->position++;
	return SQLITE_OK;
}

/* Appends text[from, to) with the marks of the window's tokens; an open
 * mark is always closed, even where tokens' ranges overlap, and a pair
 * that would mark nothing is left out. */
static void put_marked(struct buf *out, const char *text, int from, int to,
		       const struct window_tokens *t, uint32_t marks)
{
	bool inside = false;
	int at = from, opened_at = from;

	for (int i = 0; i < t->n; i++) {
		bool marked = marks >> i & 1;
		int cut;

		if (marked && !inside) {
			cut = t->start[i] > at ? t->start[i] : at;
			buf_append(out, text + at, (size_t)(cut - at));
			buf_putc(out, SEARCH_MARK_OPEN);
			at = opened_at = cut;
			inside = true;
		}
		if (inside && (i == t->n - 1 || !(marks >> (i + 1) & 1))) {
			cut = t->end[i] < at ? at : t->end[i] > to ? to : t->end[i];
			buf_append(out, text + at, (size_t)(cut - at));
			if (cut > opened_at)
				buf_putc(out, SEARCH_MARK_CLOSE);
			else
				out->data[--out->len] = '\0';	/* the open mark */
			at = cut;
			inside = false;
		}
	}
	if (to > at)
		buf_append(out, text + at, (size_t)(to - at));
}

static void snippet_function(const Fts5ExtensionApi *api, Fts5Context *fts,
			     sqlite3_context *ctx, int nargs, sqlite3_value **args)
{
	struct window_tokens t = { 0 };
	struct buf out = BUF_INIT;
	const char *text = NULL;
	int column, n = 0, rc, from, to;
	uint32_t marks;

	if (nargs != 3) {
		sqlite3_result_error(ctx, "wrong number of arguments to " SEARCH_SNIPPET_FUNCTION,
				     -1);
		return;
	}
	column = sqlite3_value_int(args[0]);
	t.first = sqlite3_value_int(args[1]);
	marks = (uint32_t)sqlite3_value_int64(args[2]);
	if (column < 0 || column >= api->xColumnCount(fts) || t.first < 0 ||
	    t.first > INT_MAX - WINDOW) {
		sqlite3_result_error(ctx, "no such window", -1);
		return;
	}
	rc = api->xColumnText(fts, column, &text, &n);
	if (rc == SQLITE_OK && text)
		rc = api->xTokenize(fts, text, n, &t, on_token);
	if (rc != SQLITE_OK && rc != SQLITE_DONE) {
		sqlite3_result_error_code(ctx, rc);
		return;
	}
	if (t.n == 0) {
		sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
		return;
	}
	/* From the column's start, or to its end, the text around the
	 * tokens comes too; elsewhere the cut is marked. */
	from = t.first == 0 ? 0 : t.start[0];
	to = t.more ? t.end[t.n - 1] : n;
	if (from > 0)
		buf_puts(&out, ELLIPSIS);
	put_marked(&out, text, from, to, &t, marks);
	if (t.more)
		buf_puts(&out, ELLIPSIS);
	sqlite3_result_text(ctx, out.data ? out.data : "", (int)out.len, SQLITE_TRANSIENT);
	buf_free(&out);
}

static int rowid_order(const void *a, const void *b)
{
	sqlite3_int64 x = *(const sqlite3_int64 *)a, y = *(const sqlite3_int64 *)b;

	return x < y ? -1 : x > y;
}

/* SEARCH_WINDOW_FUNCTION(table, rowids). */
static void window_function(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx,
			    int nargs, sqlite3_value **args)
{
	const struct search_rowids *wanted =
		nargs == 1 ? sqlite3_value_pointer(args[0], SEARCH_ROWIDS_POINTER) : NULL;
	sqlite3_int64 rowid = api->xRowid(fts);
	struct search_window w;
	int rc;

	if (!wanted) {
		sqlite3_result_error(ctx, SEARCH_WINDOW_FUNCTION " needs its rowids", -1);
		return;
	}
	if (!bsearch(&rowid, wanted->rowids, wanted->n, sizeof(rowid), rowid_order))
		return;	/* NULL: not asked for */
	rc = choose_window(api, fts, &w);
	if (rc != SQLITE_OK)
		sqlite3_result_error_code(ctx, rc);
	else
		sqlite3_result_blob(ctx, &w, sizeof(w), SQLITE_TRANSIENT);
}

int search_snippet_register(sqlite3 *db)
{
	fts5_api *api = cjk_fts5_api(db);

	if (!api)
		return -1;
	if (api->xCreateFunction(api, SEARCH_SNIPPET_FUNCTION, NULL, snippet_function, NULL) !=
		    SQLITE_OK ||
	    api->xCreateFunction(api, SEARCH_WINDOW_FUNCTION, NULL, window_function, NULL) != SQLITE_OK)
		return -1;
	return 0;
}
