/*
 * Unit tests for search_rank: one pass gives bm25()'s scores where it
 * promises to, and a ranking best first; asked for the best few, it
 * gives those of the whole ranking and looks up fewer lengths, bounding
 * a row by where its matches end.
 */
#include "buf.h"
#include "cjk_tokenizer.h"
#include "search_rank.h"
#include "unit.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const texts[][3] = {
	{ "mortgage call", "we talked about the mortgage", "the rate the bank offered" },
	{ "weekly call", "the team and the plan", "nothing about money at all" },
	{ "bread", "sourdough starter", "the mortgage broker called the bank twice" },
	{ "garden", "tomatoes and basil", "the bank holiday" },
	{ "trip", "train tickets", "the hotel the train the rain" },
};

static int failing_length(void *ctx, sqlite3_int64 rowid, sqlite3_int64 *tokens)
{
	(void)ctx;
	(void)rowid;
	*tokens = 0;
	return -EIO;
}

/* An empty table t(a, b, c) with the ranking function. */
static sqlite3 *empty_table(void)
{
	sqlite3 *db = NULL;

	CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
	CHECK(search_rank_register(db) == 0);
	CHECK(sqlite3_exec(db, "CREATE VIRTUAL TABLE t USING fts5(a, b, c)", NULL, NULL, NULL) ==
	      SQLITE_OK);
	return db;
}

static sqlite3 *table(void)
{
	sqlite3 *db = empty_table();
	sqlite3_stmt *st = NULL;

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

/* row_tokens from FTS5's size table, counting its calls. */
struct lengths {
	sqlite3_stmt *st;
	size_t asked;
};

static int lookup_length(void *ctx, sqlite3_int64 rowid, sqlite3_int64 *tokens)
{
	struct lengths *l = ctx;

	l->asked++;
	sqlite3_bind_int64(l->st, 1, rowid);
	CHECK(sqlite3_step(l->st) == SQLITE_ROW);
	CHECK(search_rank_docsize_tokens(sqlite3_column_blob(l->st, 0),
					 sqlite3_column_bytes(l->st, 0), tokens) == 0);
	sqlite3_reset(l->st);
	return 0;
}

/* Ranks query's best `want` matches (0: all); *out holds them best
 * first, *asked the lengths looked up. Returns the number ranked. */
static size_t rank_best(sqlite3 *db, const char *query, size_t want, struct search_ranking *r,
			const struct search_ranked **out, size_t *asked)
{
	sqlite3_stmt *st = NULL;
	struct lengths l = { NULL, 0 };

	int step;

	CHECK(sqlite3_prepare_v2(db, "SELECT " SEARCH_RANK_FUNCTION "(t, ?2, 0, 10.0, 4.0, 1.0) "
				     "FROM t WHERE t MATCH ?1", -1, &st, NULL) == SQLITE_OK);
	sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
	sqlite3_bind_pointer(st, 2, r, SEARCH_RANKING_POINTER, NULL);
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		CHECK(sqlite3_column_type(st, 0) == SQLITE_NULL);
	CHECK(step == SQLITE_DONE);
	sqlite3_finalize(st);
	CHECK(sqlite3_prepare_v2(db, "SELECT sz FROM t_docsize WHERE id = ?",
				 -1, &l.st, NULL) == SQLITE_OK);
	CHECK(search_ranking_finish(r, want, lookup_length, &l) == 0);
	sqlite3_finalize(l.st);
	*out = r->rows;
	if (asked)
		*asked = l.asked;
	return r->ranked;
}

static size_t rank(sqlite3 *db, const char *query, struct search_ranking *r,
		   const struct search_ranked **out)
{
	return rank_best(db, query, 0, r, out, NULL);
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

/* 400 rows of different lengths: "word" in every one, as in real text
 * once in most and more often in a few; "rare" in some. */
static sqlite3 *larger_table(void)
{
	sqlite3 *db = empty_table();
	sqlite3_stmt *st = NULL;

	CHECK(sqlite3_prepare_v2(db, "INSERT INTO t VALUES ('', '', ?)", -1, &st, NULL) ==
	      SQLITE_OK);
	for (int i = 0; i < 400; i++) {
		char text[4096] = "";
		size_t used = 0;

		for (int w = 0; w < (i % 10 ? 1 : i % 9 + 2); w++)
			used += (size_t)snprintf(text + used, sizeof(text) - used, "word ");
		if (i % 13 == 0)
			used += (size_t)snprintf(text + used, sizeof(text) - used, "rare ");
		for (int w = 0; w < (i * 37) % 150; w++)
			used += (size_t)snprintf(text + used, sizeof(text) - used, "filler%d ", w % 7);
		sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
		CHECK(sqlite3_step(st) == SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return db;
}

/* Whether the best `want` of query, for a few wants, are the first of
 * its whole ranking, row by row; returns the lengths looked up for the
 * best one, out of *n matches. */
static size_t check_best_are_first_of_all(sqlite3 *db, const char *query, size_t *n)
{
	static const size_t wants[] = { 1, 5, 20, 100 };
	struct search_ranking all = SEARCH_RANKING_INIT;
	const struct search_ranked *every;
	size_t asked_for_one = 0;

	*n = rank(db, query, &all, &every);
	CHECK(*n == all.n && *n > 20);
	for (size_t w = 0; w < sizeof(wants) / sizeof(*wants) && wants[w] < *n; w++) {
		struct search_ranking best = SEARCH_RANKING_INIT;
		const struct search_ranked *first;
		size_t asked = 0, ranked = rank_best(db, query, wants[w], &best, &first, &asked);

		CHECK(ranked >= wants[w] && ranked <= *n);
		/* Past the want-th, only its ties. */
		for (size_t i = wants[w]; i < ranked; i++)
			CHECK(first[i].score == first[wants[w] - 1].score);
		for (size_t i = 0; i < ranked; i++) {
			CHECK(first[i].rowid == every[i].rowid);
			CHECK(first[i].score == every[i].score);
		}
		if (wants[w] == 1)
			asked_for_one = asked;
		search_ranking_free(&best);
	}
	search_ranking_free(&all);
	return asked_for_one;
}

static void test_the_best_few_are_the_first_of_all(void)
{
	sqlite3 *db = larger_table();
	const char *queries[] = { "word", "word OR rare", "word rare", "filler1 word" };

	check_same_as_bm25(db, "word");	/* lengths past a varint's byte */
	for (size_t q = 0; q < sizeof(queries) / sizeof(*queries); q++) {
		size_t n, asked = check_best_are_first_of_all(db, queries[q], &n);

		/* The point of it: of many matches, most lengths are not
		 * looked up. */
		if (n >= 100)
			CHECK(asked < n / 4);
	}
	sqlite3_close(db);
}

/* 300 rows of one column whose last token is "word", once in each: the
 * same counts everywhere, so only the row's length orders them, and
 * where their match ends says it. Lengths from 1 to 300 in a shuffled
 * order; with the CJK tokenizer (cjk), whose single characters under a
 * pair take no place of their own, the filler is CJK. */
static sqlite3 *matches_at_the_end(bool cjk)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
	CHECK(search_rank_register(db) == 0);
	CHECK(cjk_tokenizer_register(db) == 0);
	CHECK(sqlite3_exec(db, cjk ? "CREATE VIRTUAL TABLE t USING fts5(a, b, c, tokenize = '"
				     CJK_TOKENIZER_NAME " unicode61')"
				   : "CREATE VIRTUAL TABLE t USING fts5(a, b, c)",
			   NULL, NULL, NULL) == SQLITE_OK);
	CHECK(sqlite3_prepare_v2(db, "INSERT INTO t VALUES ('', '', ?)", -1, &st, NULL) ==
	      SQLITE_OK);
	for (int i = 0; i < 300; i++) {
		struct buf text = BUF_INIT;
		int length = (i * 113) % 300;	/* 113 is prime to 300: each once */

		for (int w = 0; w < length; w++)
			buf_puts(&text, cjk ? "東京都 " : "filler ");
		buf_puts(&text, cjk ? "大阪" : "word");
		sqlite3_bind_text(st, 1, text.data, -1, SQLITE_TRANSIENT);
		CHECK(sqlite3_step(st) == SQLITE_DONE);
		sqlite3_reset(st);
		buf_free(&text);
	}
	sqlite3_finalize(st);
	return db;
}

static void test_where_matches_end_bounds_a_row_exactly(void)
{
	for (int cjk = 0; cjk < 2; cjk++) {
		sqlite3 *db = matches_at_the_end(cjk);
		size_t n, asked = check_best_are_first_of_all(db, cjk ? "大阪" : "word", &n);

		/* Counts alone bound every row alike, above every score: all
		 * 300 lengths would be looked up. */
		CHECK(n == 300);
		CHECK(asked < n / 10);
		sqlite3_close(db);
	}
}

static void test_a_failed_length_leaves_nothing_ranked(void)
{
	sqlite3 *db = larger_table();
	struct search_ranking r = SEARCH_RANKING_INIT;
	const struct search_ranked *rows;

	CHECK(rank(db, "word", &r, &rows) > 0);
	CHECK(search_ranking_finish(&r, 3, failing_length, NULL) == -EIO);
	CHECK(r.ranked == 0);
	search_ranking_free(&r);
	sqlite3_close(db);
}

/* The step of sql (its ?1 the query, ?2 the ranking or nothing bound). */
static int step_once(sqlite3 *db, const char *sql, const char *query, struct search_ranking *r)
{
	sqlite3_stmt *st = NULL;
	int step;

	CHECK(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
	sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
	if (r)
		sqlite3_bind_pointer(st, 2, r, SEARCH_RANKING_POINTER, NULL);
	step = sqlite3_step(st);
	sqlite3_finalize(st);
	return step;
}

static void test_the_function_takes_only_its_own_ranking(void)
{
	static const char sql[] = "SELECT " SEARCH_RANK_FUNCTION "(t, ?2, 0) FROM t WHERE t MATCH ?1";
	struct search_ranking r = SEARCH_RANKING_INIT;
	sqlite3 *db = table();
	size_t n;

	/* No ranking, or one of another type. */
	CHECK(step_once(db, sql, "garden", NULL) == SQLITE_ERROR);
	CHECK(step_once(db, "SELECT " SEARCH_RANK_FUNCTION "(t, 'text', 0) FROM t WHERE t MATCH ?1",
			"garden", NULL) == SQLITE_ERROR);
	/* A ranking of a one-phrase query refuses a row of a two-phrase one. */
	CHECK(step_once(db, sql, "garden", &r) == SQLITE_ROW);
	n = r.n;
	CHECK(n == 1);
	CHECK(step_once(db, sql, "bread OR garden", &r) == SQLITE_ERROR);
	CHECK(r.n == n);
	sqlite3_close(db);
	search_ranking_free(&r);
}

int main(void)
{
	RUN(test_words_phrases_and_or_rank_as_bm25_does);
	RUN(test_an_and_ranks_every_match_best_first);
	RUN(test_the_best_few_are_the_first_of_all);
	RUN(test_where_matches_end_bounds_a_row_exactly);
	RUN(test_a_failed_length_leaves_nothing_ranked);
	RUN(test_the_function_takes_only_its_own_ranking);
	return UNIT_RESULT();
}
