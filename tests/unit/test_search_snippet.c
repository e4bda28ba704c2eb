/*
 * Unit tests for search_snippet: the window chosen while ranking, and the
 * excerpt written from it later by rowid, on the index's own tokenizers.
 */
#include "bigram_tokenizer.h"
#include "buf.h"
#include "cjk_tokenizer.h"
#include "search_rank.h"
#include "search_snippet.h"
#include "unit.h"

#include <sqlite3.h>
#include <stdlib.h>

/* Forty words, w00 to w39, then a full stop. */
static char *counted_words(void)
{
	struct buf b = BUF_INIT;

	for (int i = 0; i < 40; i++)
		buf_printf(&b, "%sw%02d", i ? " " : "(", i);
	buf_puts(&b, ".");
	return buf_steal(&b);
}

static sqlite3 *table(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *counted = counted_words();
	const char *rows[][3] = {
		{ "mortgage call", "", "the mortgage broker called the bank twice" },
		{ "counted", "", counted },
		{ "東京", "", "東京都に住んでいます" },
		{ "bank", "", "a long talk about the bank and then the mortgage and the rate" },
		{ "garden", "tomatoes and basil", "" },
		{ "repeats", "", "bank bank bank bank w00 w01 w02 w03 w04 w05 w06 w07 w08 w09 w10 "
				 "w11 w12 w13 w14 w15 w16 w17 w18 w19 mortgage bank" },
	};

	CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
	CHECK(cjk_tokenizer_register(db) == 0 && bigram_tokenizer_register(db) == 0);
	CHECK(search_rank_register(db) == 0 && search_snippet_register(db) == 0);
	CHECK(sqlite3_exec(db, "CREATE VIRTUAL TABLE t USING fts5(a, b, c, tokenize = '"
			       BIGRAM_TOKENIZER_NAME " " CJK_TOKENIZER_NAME " unicode61')",
			   NULL, NULL, NULL) == SQLITE_OK);
	CHECK(sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?, ?, ?)", -1, &st, NULL) == SQLITE_OK);
	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		for (int c = 0; c < 3; c++)
			sqlite3_bind_text(st, c + 1, rows[i][c], -1, SQLITE_STATIC);
		CHECK(sqlite3_step(st) == SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	free(counted);
	return db;
}

/* The excerpt of a window of row rowid, marks as [ and ]. */
static char *excerpt(sqlite3 *db, sqlite3_int64 rowid, const struct search_window *w)
{
	sqlite3_stmt *st = NULL;
	char *text = NULL;

	CHECK(sqlite3_prepare_v2(db, "SELECT " SEARCH_SNIPPET_FUNCTION "(t, ?, ?, ?) FROM t "
				     "WHERE rowid = ?", -1, &st, NULL) == SQLITE_OK);
	sqlite3_bind_int(st, 1, w->column);
	sqlite3_bind_int(st, 2, w->first);
	sqlite3_bind_int64(st, 3, w->marks);
	sqlite3_bind_int64(st, 4, rowid);
	CHECK(sqlite3_step(st) == SQLITE_ROW);
	text = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	for (char *p = text; *p; p++)
		*p = *p == SEARCH_MARK_OPEN ? '[' : *p == SEARCH_MARK_CLOSE ? ']' : *p;
	return text;
}

/* The snippet of row rowid under query, as a search shows it. */
static char *snippet(sqlite3 *db, const char *query, sqlite3_int64 rowid)
{
	struct search_ranking r = SEARCH_RANKING_INIT;
	const struct search_ranked *rows;
	sqlite3_stmt *st = NULL;
	char *text = NULL;
	size_t n;

	CHECK(sqlite3_prepare_v2(db, "SELECT rowid, " SEARCH_RANK_FUNCTION "(t) FROM t "
				     "WHERE t MATCH ?", -1, &st, NULL) == SQLITE_OK);
	sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		CHECK(search_ranking_add(&r, sqlite3_column_int64(st, 0),
					 sqlite3_column_value(st, 1)) == 0);
	sqlite3_finalize(st);
	search_ranking_finish(&r, &rows, &n);
	for (size_t i = 0; i < n; i++)
		if (rows[i].rowid == rowid)
			text = excerpt(db, rowid, &rows[i].window);
	search_ranking_free(&r);
	CHECK(text != NULL);
	return text ? text : strdup("(no match)");
}

#define CHECK_SNIPPET(db, query, rowid, want)                                       \
	do {                                                                        \
		char *got_ = snippet(db, query, rowid);                             \
		CHECK_STR(got_, want);                                              \
		free(got_);                                                         \
	} while (0)

static void test_a_short_column_is_whole(void)
{
	sqlite3 *db = table();

	CHECK_SNIPPET(db, "bank", 1, "the mortgage broker called the [bank] twice");
	CHECK_SNIPPET(db, "basil", 5, "tomatoes and [basil]");
	sqlite3_close(db);
}

static void test_a_long_column_is_cut_around_the_match(void)
{
	sqlite3 *db = table();

	/* Centred: seven tokens before, eight after. */
	CHECK_SNIPPET(db, "w20", 2, "…w13 w14 w15 w16 w17 w18 w19 [w20] w21 w22 w23 w24 w25 w26 "
				    "w27 w28…");
	/* At the start, with what precedes the first token. */
	CHECK_SNIPPET(db, "w02", 2, "(w00 w01 [w02] w03 w04 w05 w06 w07 w08 w09 w10 w11 w12 w13 "
				    "w14 w15…");
	/* At the end, with what follows the last token. */
	CHECK_SNIPPET(db, "w38", 2, "…w24 w25 w26 w27 w28 w29 w30 w31 w32 w33 w34 w35 w36 w37 "
				    "[w38] w39.");
	sqlite3_close(db);
}

static void test_phrases_and_pairs_are_marked_whole(void)
{
	sqlite3 *db = table();

	CHECK_SNIPPET(db, "\"called the bank\"", 1, "the mortgage broker [called the bank] twice");
	CHECK_SNIPPET(db, "\"w10 w11 w12\"", 2, "…w04 w05 w06 w07 w08 w09 [w10 w11 w12] w13 w14 w15 "
						"w16 w17 w18 w19…");
	CHECK_SNIPPET(db, "東京都", 3, "[東京都]に住んでいます");
	sqlite3_close(db);
}

static void test_the_window_with_most_different_words_wins(void)
{
	sqlite3 *db = table();

	/* "mortgage" alone in the title; both words in the transcript. */
	CHECK_SNIPPET(db, "mortgage bank", 1, "the [mortgage] broker called the [bank] twice");
	/* Both words in reach of one window, far from the start. */
	CHECK_SNIPPET(db, "w30 w33", 2, "…w24 w25 w26 w27 w28 w29 [w30] w31 w32 [w33] w34 w35 w36 "
					"w37 w38 w39.");
	/* Two words once beat one word four times; side by side, they
	 * share their marks. */
	CHECK_SNIPPET(db, "mortgage bank", 6, "…w06 w07 w08 w09 w10 w11 w12 w13 w14 w15 w16 w17 "
					      "w18 w19 [mortgage bank]");
	/* A tie between columns goes to the title. */
	CHECK_SNIPPET(db, "mortgage", 1, "[mortgage] call");
	sqlite3_close(db);
}

static void test_a_window_without_marks_is_the_start(void)
{
	sqlite3 *db = table();
	struct search_window none = { 2, 0, 0 }, past = { 2, 100, 1 }, bad = { 7, 0, 0 };
	char *text = excerpt(db, 2, &none);
	sqlite3_stmt *st = NULL;

	CHECK_STR(text, "(w00 w01 w02 w03 w04 w05 w06 w07 w08 w09 w10 w11 w12 w13 w14 w15…");
	free(text);
	text = excerpt(db, 2, &past);
	CHECK_STR(text, "");
	free(text);
	/* A column the table does not have is an error, not a read. */
	CHECK(sqlite3_prepare_v2(db, "SELECT " SEARCH_SNIPPET_FUNCTION "(t, ?, 0, 0) FROM t "
				     "WHERE rowid = 2", -1, &st, NULL) == SQLITE_OK);
	sqlite3_bind_int(st, 1, bad.column);
	CHECK(sqlite3_step(st) == SQLITE_ERROR);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

int main(void)
{
	RUN(test_a_short_column_is_whole);
	RUN(test_a_long_column_is_cut_around_the_match);
	RUN(test_phrases_and_pairs_are_marked_whole);
	RUN(test_the_window_with_most_different_words_wins);
	RUN(test_a_window_without_marks_is_the_start);
	return UNIT_RESULT();
}
