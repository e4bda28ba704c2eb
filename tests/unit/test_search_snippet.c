/*
 * Unit tests for search_snippet: the window chosen from a row's matches
 * as the ranking reads them, and the excerpt written from it later by
 * rowid, on the index's own tokenizers.
 */
#include "buf.h"
#include "cjk_tokenizer.h"
#include "search_rank.h"
#include "search_snippet.h"
#include "unit.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* n words, PREFIX00 on, between before and after. */
static char *counted_words(const char *before, const char *prefix, int n, const char *after)
{
	struct buf b = BUF_INIT;

	buf_puts(&b, before);
	for (int i = 0; i < n; i++)
		buf_printf(&b, "%s%s%02d", i ? " " : "", prefix, i);
	buf_puts(&b, after);
	return buf_steal(&b);
}

static sqlite3 *table(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *counted = counted_words("(", "w", 40, ".");
	char *many_a = counted_words("a a a a a a a a a a a a a a a a ", "f", 30, " a b");
	const char *rows[][3] = {
		{ "mortgage call", "", "the mortgage broker called the bank twice" },
		{ "counted", "", counted },
		{ "東京", "", "東京都に住んでいます" },
		{ "bank", "", "a long talk about the bank and then the mortgage and the rate" },
		{ "garden", "tomatoes and basil", "" },
		{ "repeats", "", "bank bank bank bank w00 w01 w02 w03 w04 w05 w06 w07 w08 w09 w10 "
				 "w11 w12 w13 w14 w15 w16 w17 w18 w19 mortgage bank" },
		{ "many", "", many_a },
		{ "accent", "", "zz \u6771\u0301\u4eaca yy" },
	};

	CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
	CHECK(cjk_tokenizer_register(db) == 0);
	CHECK(search_snippet_register(db) == 0);
	CHECK(search_rank_register(db) == 0);
	CHECK(sqlite3_exec(db, "CREATE VIRTUAL TABLE t USING fts5(a, b, c, tokenize = '"
			       CJK_TOKENIZER_NAME " unicode61')",
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
	free(many_a);
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
	sqlite3_bind_int64(st, 3, w->near);
	sqlite3_bind_int64(st, 4, rowid);
	CHECK(sqlite3_step(st) == SQLITE_ROW);
	text = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	for (char *p = text; *p; p++)
		*p = *p == SEARCH_MARK_OPEN ? '[' : *p == SEARCH_MARK_CLOSE ? ']' : *p;
	return text;
}

/* The snippet of row rowid under query, as a search shows it: its
 * window chosen as the ranking reads the query's matches, then its
 * excerpt by rowid. */
static char *snippet(sqlite3 *db, const char *query, sqlite3_int64 rowid)
{
	struct search_ranking ranking = SEARCH_RANKING_INIT;
	sqlite3_stmt *st = NULL;
	char *text = NULL;

	CHECK(sqlite3_prepare_v2(db, "SELECT " SEARCH_RANK_FUNCTION "(t, ?2, NULL) FROM t "
				     "WHERE t MATCH ?1", -1, &st, NULL) == SQLITE_OK);
	sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
	sqlite3_bind_pointer(st, 2, &ranking, SEARCH_RANKING_POINTER, NULL);
	while (sqlite3_step(st) == SQLITE_ROW)
		;
	CHECK(sqlite3_finalize(st) == SQLITE_OK);
	for (size_t i = 0; i < ranking.n; i++)
		if (ranking.rows[i].rowid == rowid)
			text = excerpt(db, rowid, &ranking.rows[i].window);
	search_ranking_free(&ranking);
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

static void test_phrases_are_marked_whole(void)
{
	sqlite3 *db = table();

	CHECK_SNIPPET(db, "\"called the bank\"", 1, "the mortgage broker [called the bank] twice");
	/* A long phrase is kept whole beside a shorter one inside it. */
	CHECK_SNIPPET(db, "\"w05 w06 w07 w08 w09 w10 w11 w12 w13 w14 w15 w16\" w06", 2,
		      "…w03 w04 [w05 w06 w07 w08 w09 w10 w11 w12 w13 w14 w15 w16] w17 w18…");
	CHECK_SNIPPET(db, "\"w10 w11 w12\"", 2, "…w04 w05 w06 w07 w08 w09 [w10 w11 w12] w13 w14 w15 "
						"w16 w17 w18 w19…");
	CHECK_SNIPPET(db, "東京都", 3, "[東京都]に住んでいます");
	/* An accent folded away splits the token's runs from the text's:
	 * each piece then has the whole token's range, and the piece after
	 * adds no empty pair of marks. */
	CHECK_SNIPPET(db, "東京 OR a", 8, "zz [\u6771\u0301\u4eaca] yy");
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
	/* More different phrases win however many matches the other
	 * window holds: here 70 phrases of "a" match 16 times each. */
	{
		struct buf q = BUF_INIT;

		for (int i = 0; i < 70; i++)
			buf_puts(&q, "a ");
		buf_puts(&q, "b");
		CHECK_SNIPPET(db, q.data, 7, "…f16 f17 f18 f19 f20 f21 f22 f23 f24 f25 f26 f27 f28 f29 "
					      "[a b]");
		buf_free(&q);
	}
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
	/* Past the column's end: its last tokens, and no mark a match
	 * there could not have set. */
	text = excerpt(db, 2, &past);
	CHECK_STR(text, "…w24 w25 w26 w27 w28 w29 w30 w31 w32 w33 w34 w35 w36 w37 w38 w39.");
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
	RUN(test_phrases_are_marked_whole);
	RUN(test_the_window_with_most_different_words_wins);
	RUN(test_a_window_without_marks_is_the_start);
	return UNIT_RESULT();
}
