/*
 * bigram_tokenizer: an FTS5 tokenizer that adds word pairs to the tokens
 * of another, so that a phrase of common words is found through its rare
 * pairs (what search engines call shingles).
 *
 * A phrase query reads the position lists of all its words in every
 * document that holds them all; in transcripts, everyday words are in
 * nearly every document, so a phrase of three of them was checked in
 * ~20,000 documents at 20,000 conversations. A pair of adjacent words is
 * far rarer than either word.
 *
 * In a document, each word that follows another adds the pair of both
 * ("previous this", with a space) at the previous word's position,
 * colocated with it: positions, lengths and so ranking do not change. In a query, a phrase of words
 * t0 t1 ... tn becomes the pairs "t0 t1", "t1 t2", ... then tn: as many
 * tokens, at the same positions, so it matches exactly where the phrase
 * is and highlight() marks the same words. Only plain ASCII words are
 * paired (what the inner tokenizer makes of Latin script, accents
 * removed), not CJK pieces or other scripts, which are matched as
 * before; nor the last word of a prefix query ("mortgage ra"*), which is
 * not a whole word.
 *
 * Every connection that reads or writes a table using it must register it
 * (after the inner tokenizer).
 */
#ifndef OMIFS_BIGRAM_TOKENIZER_H
#define OMIFS_BIGRAM_TOKENIZER_H

#include <sqlite3.h>

#define BIGRAM_TOKENIZER_NAME "omifs_bigrams"

/* Registers the tokenizer on db; its arguments are the inner tokenizer's
 * name and arguments. Returns 0, or -1 when db has no FTS5. */
int bigram_tokenizer_register(sqlite3 *db);

#endif
