/*
 * cjk_tokenizer: an FTS5 tokenizer that makes text written without spaces
 * (Chinese, Japanese, Korean) findable by any part of it.
 *
 * It wraps another tokenizer, named first in its arguments, as porter
 * does:  tokenize = "omifs_cjk unicode61 remove_diacritics 2".  The inner
 * tokenizer's tokens pass through unchanged, except that runs of CJK
 * characters inside them (Han, kana, Hangul) become overlapping pairs of
 * characters: a document gives every character and every pair, so that a
 * one-character query and a query of any length both match; a query of
 * several characters becomes the phrase of its pairs and its last
 * character ("東京都" is the phrase "東京 京都 都"), the positions the run
 * takes in a document, so it matches exactly that run, also inside a
 * longer phrase ("東京 tower").
 *
 * Every connection that reads or writes a table using it must register it
 * first.
 */
#ifndef OMIFS_CJK_TOKENIZER_H
#define OMIFS_CJK_TOKENIZER_H

#include <sqlite3.h>

#define CJK_TOKENIZER_NAME "omifs_cjk"

/* db's FTS5 C API (version 2 or later), or NULL when db has no FTS5.
 * Also for the other extensions of the index (search_rank). */
fts5_api *cjk_fts5_api(sqlite3 *db);

/* Registers the tokenizer on db. Returns 0, or -1 when db has no FTS5. */
int cjk_tokenizer_register(sqlite3 *db);

#endif
