/*
 * Unit tests for search_rank: one pass gives bm25()'s scores where it
 * promises to, and a ranking best first.
 */
#include "search_rank.h"
#include "unit.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>

static const char *const texts[][3] = {
	{ "mortgage call", "we talked about the mortgage", "the rate the bank offered" },
	{ "weekly call", "the team and the plan", "nothing about money at all" },
	{ "bread", "sourdough starter", "the mortgage broker called the bank twice" },
	{ "garden", "tomatoes and basil", "the bank holiday" },
	{ "trip", "train tickets", "the hotel the train the rain" },
};

static sqlite3 *table(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
	CHECK(search_rank_register(db) == 0);
	CHECK(sqlite3_exec(db, "CREATE VIRTUAL TABLE t USING fts5(a, b, c)", NULL, NULL, NULL) ==
	      SQLITE_OK);
	CHECK(sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?, ?, ?)", -1, &st, NULL) == SQLITE_OK);
	for (size_t i = 0; i < sizeof(texts) / sizeof(*texts); i++) {
		for (int c = 0; c < 3; c++)
			sqlite3_bind_text(st, c + 1, texts[i][c], -1, SQLITE_STATIC);
		CHECK(sqlite3_step(st) == SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return db;
}

/* Ranks query's matches; *out holds them best first. */
static size_t rank(sqlite3 *db, const char *query, struct search_ranking *r,
		   const struct search_ranked **out)
{
	sqlite3_stmt *st = NULL;
	size_t n = 0;

	CHECK(sqlite3_prepare_v2(db, "SELECT rowid, " SEARCH_RANK_FUNCTION "(t, 10.0, 4.0, 1.0) "
				     "FROM t WHERE t MATCH ?", -1, &st, NULL) == SQLITE_OK);
	sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		CHECK(search_ranking_add(r, sqlite3_column_int64(st, 0),
					 sqlite3_column_value(st, 1), 0) == 0);
	sqlite3_finalize(st);
	search_ranking_finish(r, out, &n);
	return n;
}

/* Whether the ranking of query is bm25()'s, row by row and in order. */
static void check_same_as_bm25(sqlite3 *db, const char *query)
{
	struct search_ranking r = SEARCH_RANKING_INIT;
	const struct search_ranked *rows;
	size_t n = rank(db, query, &r, &rows), i = 0;
	sqlite3_stmt *st = NULL;

	CHECK(n > 1);
	CHECK(sqlite3_prepare_v2(db, "SELECT rowid, -bm25(t, 10.0, 4.0, 1.0) FROM t WHERE t MATCH ? "
				     "ORDER BY 2 DESC, 1", -1, &st, NULL) == SQLITE_OK);
	sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
	for (; sqlite3_step(st) == SQLITE_ROW; i++) {
		CHECK(i < n);
		if (i >= n)
			break;
		CHECK(rows[i].rowid == sqlite3_column_int64(st, 0));
		CHECK(fabs(rows[i].score - sqlite3_column_double(st, 1)) < 1e-9);
	}
	CHECK(i == n);
	sqlite3_finalize(st);
	search_ranking_free(&r);
}

static void test_words_phrases_and_or_rank_as_bm25_does(void)
{
	sqlite3 *db = table();

	check_same_as_bm25(db, "the");
	check_same_as_bm25(db, "mortgage");
	check_same_as_bm25(db, "\"the bank\"");
	check_same_as_bm25(db, "mortgage OR train OR \"the bank\"");
	sqlite3_close(db);
}

static void test_an_and_ranks_every_match_best_first(void)
{
	sqlite3 *db = table();
	struct search_ranking r = SEARCH_RANKING_INIT;
	const struct search_ranked *rows;
	size_t n = rank(db, "the bank", &r, &rows);

	CHECK(n == 3);
	for (size_t i = 0; i < n; i++)
		CHECK(rows[i].score > 0 && (i == 0 || rows[i - 1].score >= rows[i].score));
	search_ranking_free(&r);
	CHECK(rank(db, "nosuchword", &r, &rows) == 0);
	search_ranking_free(&r);
	sqlite3_close(db);
}

static void test_a_value_of_another_function_is_refused(void)
{
	struct search_ranking r = SEARCH_RANKING_INIT;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
	CHECK(sqlite3_prepare_v2(db, "SELECT 'text', x'0102'", -1, &st, NULL) == SQLITE_OK);
	CHECK(sqlite3_step(st) == SQLITE_ROW);
	CHECK(search_ranking_add(&r, 1, sqlite3_column_value(st, 0), 0) < 0);
	CHECK(search_ranking_add(&r, 1, sqlite3_column_value(st, 1), 0) < 0);
	CHECK(r.n == 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	search_ranking_free(&r);
}

int main(void)
{
	RUN(test_words_phrases_and_or_rank_as_bm25_does);
	RUN(test_an_and_ranks_every_match_best_first);
	RUN(test_a_value_of_another_function_is_refused);
	return UNIT_RESULT();
}
