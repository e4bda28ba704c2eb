/*
 * search_snippet: the excerpt shown with a match, made in two steps so
 * that only the matches shown pay for it.
 *
 * FTS5's snippet() runs the query again on the row and tokenizes every
 * matching column of it twice, to score its fragments and then to mark
 * them; at twenty results that was most of a search's time. Here the
 * fragment is chosen from a row's matches (phrase, column, tokens), which
 * the ranking's pass over the query reads anyway (search_rank.h): the
 * SEARCH_SNIPPET_TOKENS tokens of one column holding the most different
 * phrases of the query, then the most matches, with the matches centred;
 * ties go to the earlier column (title, then body, then transcript),
 * then the earlier place. It is carried as a search_window. Then, for a
 * match shown only, SEARCH_SNIPPET_FUNCTION reads the row by rowid (no
 * query) and tokenizes its column up to the window's end.
 *
 * A window chosen in that pass costs less than a second run of the query
 * over the rows shown (a fifth of a common word's search), and far less
 * than a run per row, which costs what the whole query costs when a
 * prefix stands for many words. The pass cannot know a column's length
 * (a lookup per row in FTS5's size table): the excerpt moves a window
 * that would run past the column's end back, from the tokens it reads.
 *
 * The excerpt is the window's text with "…" where the column goes on
 * before or after it, and each run of matched tokens (a phrase's words
 * with what lies between them) between SEARCH_MARK_OPEN and
 * SEARCH_MARK_CLOSE, as snippet() gave it, except that matches side by
 * side share one pair of marks.
 */
#ifndef OMIFS_SEARCH_SNIPPET_H
#define OMIFS_SEARCH_SNIPPET_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define SEARCH_SNIPPET_FUNCTION "omifs_snippet"
/* Around each run of matched tokens. Text in the index never holds them
 * (control bytes are indexed as spaces). */
#define SEARCH_MARK_OPEN '\x01'
#define SEARCH_MARK_CLOSE '\x02'
#define SEARCH_SNIPPET_TOKENS 16

/* One match of phrase `phrase` of a query: tokens [start, end) of
 * column. */
struct search_match {
	int column, start, end, phrase;
};

/* Where a row's excerpt is: column; first, its first token, to be moved
 * back where the column ends before first + SEARCH_SNIPPET_TOKENS; and
 * bit i of near set when token first - SEARCH_SNIPPET_TOKENS + i is
 * matched, which covers every place the window can move to. */
struct search_window {
	int column;
	int first;
	uint32_t near;
};

/* The best window among a row's matches m[0, n), in order of column,
 * then start, then phrase (FTS5's xInst order), each phrase < phrases:
 * column 0 from its start, nothing marked, when n is 0. */
void search_window_choose(const struct search_match *m, size_t n, size_t phrases,
			  struct search_window *w);

/* Registers on db SEARCH_SNIPPET_FUNCTION(table, column, first, near):
 * the excerpt of a window, as text. Returns 0, or -1 when db has no
 * FTS5. */
int search_snippet_register(sqlite3 *db);

#endif
