/*
 * search_snippet: the excerpt shown with a match, made in two steps so
 * that only the matches shown pay for it.
 *
 * FTS5's snippet() runs the query again on the row and tokenizes every
 * matching column of it twice, to score its fragments and then to mark
 * them; at twenty results that was most of a search's time. Here the
 * fragment is chosen from the positions FTS5 hands every auxiliary
 * function (no text is read): the SEARCH_SNIPPET_TOKENS tokens of one
 * column holding the most different phrases of the query, then the most
 * matches, with the matches centred; ties go to the earlier column
 * (title, then body, then transcript), then the earlier place. It is
 * carried as a search_window. Then, for a match shown only,
 * SEARCH_SNIPPET_FUNCTION reads the row by rowid (no query) and
 * tokenizes its column up to the window's end.
 *
 * The windows are chosen in one more run of the query, once its best
 * rows are known, by SEARCH_WINDOW_FUNCTION for those rows alone: a run
 * of the query for each row instead costs what the whole query costs
 * when a prefix stands for many words.
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
#define SEARCH_WINDOW_FUNCTION "omifs_window"
#define SEARCH_ROWIDS_POINTER "omifs_rowids"
/* Around each run of matched tokens. Text in the index never holds them
 * (control bytes are indexed as spaces). */
#define SEARCH_MARK_OPEN '\x01'
#define SEARCH_MARK_CLOSE '\x02'
#define SEARCH_SNIPPET_TOKENS 16

/* Where a row's excerpt is: column, first token, and bit i of marks set
 * when token first + i is matched. */
struct search_window {
	int column;
	int first;
	uint32_t marks;
};

/* The rows SEARCH_WINDOW_FUNCTION gives windows of, rowids ascending,
 * bound with sqlite3_bind_pointer as SEARCH_ROWIDS_POINTER. */
struct search_rowids {
	const sqlite3_int64 *rowids;
	size_t n;
};

/* Registers on db:
 * - SEARCH_SNIPPET_FUNCTION(table, column, first, marks): the excerpt of
 *   a window, as text;
 * - SEARCH_WINDOW_FUNCTION(table, rowids): in a query, a row's best
 *   window as a blob holding a struct search_window (column 0 from its
 *   start, nothing marked, when the query marks no token), or NULL for
 *   a row not among rowids.
 * Returns 0, or -1 when db has no FTS5. */
int search_snippet_register(sqlite3 *db);

#endif
