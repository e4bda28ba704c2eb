/*
 * search_snippet: the excerpt shown with a match, made in two steps so
 * that only the matches shown pay for it.
 *
 * FTS5's snippet() runs the query again on the row and tokenizes every
 * matching column of it twice, to score its fragments and then to mark
 * them; at twenty results that was most of a search's time. Here the
 * fragment is chosen while the query's matches are first read, from the
 * positions FTS5 hands every auxiliary function anyway (no text is read):
 * the SEARCH_SNIPPET_TOKENS tokens of one column holding the most
 * different phrases of the query, then the most matches, with the
 * matches centred; ties go to the earlier column (title, then body,
 * then transcript), then the earlier place. It is carried as a
 * search_window. Then, for a match shown only, SEARCH_SNIPPET_FUNCTION
 * reads the row by rowid (no query) and tokenizes its column up to the
 * window's end.
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
#include <stdint.h>

#define SEARCH_SNIPPET_FUNCTION "omifs_snippet"
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

/* In an auxiliary function on a matched row: sets *w to its best window
 * (column 0 from its start, nothing marked, when the query marks no
 * token). Returns SQLITE_OK or the failing FTS5 call's code. */
int search_window_choose(const Fts5ExtensionApi *api, Fts5Context *fts,
			 struct search_window *w);

/* Registers SEARCH_SNIPPET_FUNCTION(table, column, first, marks) on db:
 * the excerpt of a window, as text. Returns 0, or -1 when db has no
 * FTS5. */
int search_snippet_register(sqlite3 *db);

#endif
