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
 * Use: register the auxiliary function on the connection, select
 * SEARCH_RANK_FUNCTION(table, weight per column...) with the rowid of
 * every match, hand each row to search_ranking_add, then
 * search_ranking_finish. Each row also carries where its snippet is.
 */
#ifndef OMIFS_SEARCH_RANK_H
#define OMIFS_SEARCH_RANK_H

#include "search_snippet.h"

#include <sqlite3.h>
#include <stddef.h>

#define SEARCH_RANK_FUNCTION "omifs_match_counts"

/* Registers SEARCH_RANK_FUNCTION on db. Returns 0, or -1 when db has no
 * FTS5. */
int search_rank_register(sqlite3 *db);

struct search_ranked {
	sqlite3_int64 rowid;
	double score;		/* higher is better, > 0; 0 when unranked */
	sqlite3_int64 created;	/* breaks ties, newest first */
	struct search_window window;	/* where its snippet is */
};

/* The rows of one query as they are read. */
struct search_ranking {
	struct search_ranked *rows;
	double *counts;		/* per row: its length ratio, then a count per phrase */
	size_t n, cap, phrases;
	double total_rows;
};

#define SEARCH_RANKING_INIT { NULL, NULL, 0, 0, 0, 0 }

/* Adds a row: its rowid, the value SEARCH_RANK_FUNCTION gave it, and
 * when it was created (INT64_MIN: unknown). Returns 0, or -EINVAL when
 * the value is not one it makes. */
int search_ranking_add(struct search_ranking *r, sqlite3_int64 rowid, sqlite3_value *counts,
		       sqlite3_int64 created);

/* Adds a row that matched no words (a filter alone): score 0, its
 * snippet from the start of its text. Not with search_ranking_add's. */
int search_ranking_add_unranked(struct search_ranking *r, sqlite3_int64 rowid,
				sqlite3_int64 created);

/* Scores the rows added and sorts them best first (ties newest first,
 * then by rowid).
 * *rows then points into r, valid until search_ranking_free. */
void search_ranking_finish(struct search_ranking *r, const struct search_ranked **rows,
			   size_t *n);

/* After search_ranking_finish: gives the rows of equal score among the
 * first `limit` (0: all) their dates from created(ctx, rowid), which a
 * pass that knew none left at INT64_MIN, and orders them newest first.
 * Returns 0, or the first -errno created gave. */
int search_ranking_date_ties(struct search_ranking *r, size_t limit,
			     int (*created)(void *ctx, sqlite3_int64 rowid, sqlite3_int64 *at),
			     void *ctx);

void search_ranking_free(struct search_ranking *r);

#endif
