/*
 * search_rank: BM25 ranking of FTS5 matches in one pass over the index.
 *
 * FTS5's own bm25() learns how rare each phrase of the query is by
 * running every phrase again over the whole index, which doubles the
 * cost of a query whose words are common (a phrase of three everyday
 * words is checked in nearly every transcript). Here the rarity is
 * counted among the rows the query matched instead, while they are read:
 * the same numbers as bm25() for a phrase, words or "a" OR "b" (the
 * matches of each phrase are exactly the rows that hold it), and equal
 * weights for the phrases of an AND, whose every match holds them all.
 * The other parts of BM25 (k1 1.2, b 0.75, per-column weights, the row's
 * length against the average) are bm25()'s.
 *
 * Only the best rows need their scores: a row's score falls as its
 * length grows, and a row is at least as long as the last token its
 * matches reach in each column, so its counts and those places bound it
 * from above; a row whose bound is below the want-th best score of the
 * rows scored so far can never be among the best `want`. (The places
 * matter: a common word is in nearly every long transcript, whose bound
 * from counts alone would let most of them through.) Most matches of a common word are then never
 * given their length (one lookup each in FTS5's size table, half of a
 * common word's cost).
 *
 * Use: register the auxiliary function on the connection, select
 * SEARCH_RANK_FUNCTION(table, ranking, created, weight per column...)
 * over every match, the ranking bound as a pointer, then
 * search_ranking_finish with a way to learn a row's length (its row of
 * the table's %_docsize, through search_rank_docsize_tokens).
 */
#ifndef OMIFS_SEARCH_RANK_H
#define OMIFS_SEARCH_RANK_H

#include "search_snippet.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define SEARCH_RANK_FUNCTION "omifs_rank"
#define SEARCH_RANKING_POINTER "omifs_ranking"

/* Registers on db SEARCH_RANK_FUNCTION(table, ranking, created, weight
 * per column...): in a full-text query, adds the row, with its
 * excerpt's window, to the struct search_ranking bound
 * (sqlite3_bind_pointer) as SEARCH_RANKING_POINTER, created its date
 * (NULL: unknown); returns NULL, or an error without a ranking, or for
 * a ranking of another query. Returns 0, or -1 when db has no FTS5. */
int search_rank_register(sqlite3 *db);

/* A row's length in tokens from its `sz` in FTS5's %_docsize table (a
 * table of the default columnsize=1). Returns 0, or -EINVAL when the
 * blob is not one FTS5 writes. */
int search_rank_docsize_tokens(const void *docsize, int bytes, sqlite3_int64 *tokens);

struct search_ranked {
	sqlite3_int64 rowid;
	double score;		/* higher is better, > 0; 0 when unranked */
	sqlite3_int64 created;	/* breaks ties, newest first */
	size_t slot;		/* its counts in search_ranking's */
	struct search_window window;	/* where its snippet is */
	uint32_t least_tokens;	/* its length is at least this */
};

/* The columns whose weights a query reads once, rather than at each
 * match, and whose last match a row notes: every column of the index. */
#define SEARCH_RANK_COLUMNS 8

/* The rows of one query as they are read. */
struct search_ranking {
	struct search_ranked *rows;	/* n of them */
	size_t n, cap, phrases;
	size_t ranked;		/* after search_ranking_finish: rows[0, ranked) are in order */
	double *counts;		/* per row: a count per phrase */
	double total_rows, total_tokens;
	double weights[SEARCH_RANK_COLUMNS];	/* the query's, read at its first row */
	struct search_match *matches;	/* the row being added's, cap_matches of room */
	size_t cap_matches;
	struct search_match *merged;	/* room to merge them, cap_merged */
	size_t cap_merged;
};

#define SEARCH_RANKING_INIT { NULL, 0, 0, 0, 0, NULL, 0, 0, { 0 }, NULL, 0, NULL, 0 }

/* Adds a row that matched no words (a filter alone): score 0, its
 * snippet from the start of its text. Not with SEARCH_RANK_FUNCTION's. */
int search_ranking_add_unranked(struct search_ranking *r, sqlite3_int64 rowid,
				sqlite3_int64 created);

/* A row's length in tokens, for search_ranking_finish: 0 or -errno. */
typedef int search_row_tokens(void *ctx, sqlite3_int64 rowid, sqlite3_int64 *tokens);

/* Scores the rows added and sorts the best `want` of them (0: all)
 * first: best first, ties newest first, then by rowid. Afterwards
 * rows[0, ranked) are those, with every row that ties the last of them;
 * the rest follow in no order, their scores not known. Asks
 * row_tokens(ctx, ...) only for rows that might be among the best.
 * Returns 0, or the first -errno row_tokens gave (the order is then
 * not known: ranked is 0). May be called again with another want. */
int search_ranking_finish(struct search_ranking *r, size_t want, search_row_tokens *row_tokens,
			  void *ctx);

/* After search_ranking_finish: gives the rows of equal score among the
 * first `limit` (0: all) of those ranked their dates from created(ctx,
 * rowid), which a pass that knew none left at INT64_MIN, and orders them
 * newest first.
 * Returns 0, or the first -errno created gave. */
int search_ranking_date_ties(struct search_ranking *r, size_t limit,
			     int (*created)(void *ctx, sqlite3_int64 rowid, sqlite3_int64 *at),
			     void *ctx);

void search_ranking_free(struct search_ranking *r);

#endif
