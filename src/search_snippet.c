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

_Static_assert(2 * WINDOW <= 32, "a window's near tokens are the bits of a uint32_t");

/* The window's first token: the matches [start, end) centred, never
 * after start. */
static int centred(int start, int end)
{
	int first = end - start < WINDOW ? start - (WINDOW - (end - start)) / 2 : start;

	return first < 0 ? 0 : first;
}

/* The latest end of m[left, right], whose ends need not rise with their
 * starts (phrases differ in length). */
static int kept_end(const struct search_match *m, size_t left, size_t right)
{
	int end = 0;

	for (size_t i = left; i <= right; i++)
		if (m[i].end > end)
			end = m[i].end;
	return end;
}

/* A window slides over the matches, in order, keeping those that fit in
 * WINDOW tokens of one column, with a count per phrase of how many it
 * holds. A window beats another by holding more different phrases, then
 * more matches. This runs for every row a query matches: it allocates
 * nothing for a query of a few phrases, and clears only their counts. */
void search_window_choose(const struct search_match *m, size_t n, size_t phrases,
			  struct search_window *w)
{
	size_t left = 0, distinct = 0, best_distinct = 0, best_count = 0;
	int end = 0, best_start = 0, best_end = 0;
	uint32_t few[16], *held = NULL;

	*w = (struct search_window){ 0, 0, 0 };
	if (n == 0)
		return;
	held = phrases <= 16 ? few : xcalloc(phrases, sizeof(*held));
	memset(held, 0, phrases * sizeof(*held));
	for (size_t right = 0; right < n; right++) {
		if (right > left && m[right].column != m[left].column) {
			memset(held, 0, phrases * sizeof(*held));
			distinct = 0;
			left = right;
		}
		end = right == left || m[right].end > end ? m[right].end : end;
		if (held[m[right].phrase]++ == 0)
			distinct++;
		while (left < right && end - m[left].start > WINDOW) {
			bool ended_last = m[left].end == end;

			if (--held[m[left].phrase] == 0)
				distinct--;
			left++;
			if (ended_last)
				end = kept_end(m, left, right);
		}
		if (distinct > best_distinct ||
		    (distinct == best_distinct && right - left + 1 > best_count)) {
			best_distinct = distinct;
			best_count = right - left + 1;
			w->column = m[right].column;
			best_start = m[left].start;
			best_end = end;
		}
	}
	if (held != few)
		free(held);
	w->first = centred(best_start, best_end);
	for (size_t i = 0; i < n; i++) {
		if (m[i].column < w->column)
			continue;
		if (m[i].column > w->column || m[i].start >= w->first + WINDOW)
			break;
		for (int t = m[i].start; t < m[i].end; t++) {
			long bit = (long)t - w->first + WINDOW;

			if (bit >= 0 && bit < 2 * WINDOW)
				w->near |= (uint32_t)1 << bit;
		}
	}
}

/* The byte ranges of a column's tokens, read up to the window's end: the
 * last WINDOW of them, by position, in a ring. */
struct window_tokens {
	int first;		/* the window's first position, as chosen */
	int position;		/* of the next token */
	int start[WINDOW], end[WINDOW];
	bool more;		/* a token follows the window */
};

/* Stops the tokenizer at the first token past the window: SQLITE_DONE,
 * which FTS5's tokenizers take for a stop, not a failure. (FTS5 would
 * count a colocated token that comes first; ours never come first.) */
static int on_token(void *ctx, int tflags, const char *token, int n, int start, int end)
{
	struct window_tokens *t = ctx;
	int last = (t->position - 1) % WINDOW;

	(void)token;
	(void)n;
	if (tflags & FTS5_TOKEN_COLOCATED) {
		/* A CJK pair's first character, at the pair's position: a
		 * match ending there ends with that character, as a query's
		 * run does (cjk_tokenizer.h). */
		if (t->position > 0 && end < t->end[last])
			t->end[last] = end;
		return SQLITE_OK;
	}
	if (t->position >= t->first + WINDOW) {
		t->more = true;
		return SQLITE_DONE;
	}
	t->start[t->position % WINDOW] = start;
	t->end[t->position % WINDOW] = end;
	t->position++;
	return SQLITE_OK;
}

/* The tokens shown: n of them from position first, in order. */
struct excerpt_tokens {
	int first, n;
	int start[WINDOW], end[WINDOW];
};

/* The window as it is shown: where the column ends before the chosen
 * window does, its last WINDOW tokens (or all of them). */
static void shown_tokens(const struct window_tokens *t, struct excerpt_tokens *x)
{
	int size = t->position;

	x->first = t->more || t->first <= size - WINDOW ? t->first
			: size > WINDOW ? size - WINDOW : 0;
	x->n = size - x->first < WINDOW ? size - x->first : WINDOW;
	if (x->n < 0)
		x->n = 0;
	for (int i = 0; i < x->n; i++) {
		x->start[i] = t->start[(x->first + i) % WINDOW];
		x->end[i] = t->end[(x->first + i) % WINDOW];
	}
}

/* The marks of the tokens shown, bit i for token x->first + i, from a
 * window chosen at first: none for a window no match could have chosen
 * (past the column's end). */
static uint32_t marks_shown(const struct excerpt_tokens *x, int first, uint32_t near)
{
	long shift = (long)x->first - first + WINDOW;

	return shift >= 0 && shift < 2 * WINDOW ? near >> shift & ((1u << WINDOW) - 1) : 0;
}

/* Appends text[from, to) with the marks of the window's tokens; an open
 * mark is always closed, even where tokens' ranges overlap, and a pair
 * that would mark nothing is left out. */
static void put_marked(struct buf *out, const char *text, int from, int to,
		       const struct excerpt_tokens *t, uint32_t marks)
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
	struct excerpt_tokens x;
	struct buf out = BUF_INIT;
	const char *text = NULL;
	int column, n = 0, rc, from, to;
	uint32_t near;

	if (nargs != 3) {
		sqlite3_result_error(ctx, "wrong number of arguments to " SEARCH_SNIPPET_FUNCTION,
				     -1);
		return;
	}
	column = sqlite3_value_int(args[0]);
	t.first = sqlite3_value_int(args[1]);
	near = (uint32_t)sqlite3_value_int64(args[2]);
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
	shown_tokens(&t, &x);
	if (x.n == 0) {
		sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
		return;
	}
	/* From the column's start, or to its end, the text around the
	 * tokens comes too; elsewhere the cut is marked. */
	from = x.first == 0 ? 0 : x.start[0];
	to = t.more ? x.end[x.n - 1] : n;
	if (from > 0)
		buf_puts(&out, ELLIPSIS);
	put_marked(&out, text, from, to, &x, marks_shown(&x, t.first, near));
	if (t.more)
		buf_puts(&out, ELLIPSIS);
	sqlite3_result_text(ctx, out.data ? out.data : "", (int)out.len, SQLITE_TRANSIENT);
	buf_free(&out);
}

int search_snippet_register(sqlite3 *db)
{
	fts5_api *api = cjk_fts5_api(db);

	if (!api)
		return -1;
	if (api->xCreateFunction(api, SEARCH_SNIPPET_FUNCTION, NULL, snippet_function, NULL) !=
	    SQLITE_OK)
		return -1;
	return 0;
}
