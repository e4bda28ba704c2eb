/*
 * bigram_tokenizer: the FTS5 tokenizer behind bigram_tokenizer.h.
 *
 * A document's tokens go through as they come, each pair added before the
 * second word of it. A query's tokens are gathered first: whether a word
 * becomes a pair depends on the word after it, and whether that one is
 * the last.
 */
#include "bigram_tokenizer.h"

#include "buf.h"
#include "cjk_tokenizer.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The longest pair made, in bytes: longer words are matched one by one. */
#define PAIR_MAX 64

typedef int (*emit_fn)(void *ctx, int tflags, const char *token, int n, int start, int end);

/* A word as the inner tokenizer gave it. */
struct word {
	int at, len;		/* in the call's text buffer */
	int start, end;		/* in the tokenized text */
	int tflags;
};

/* One xTokenize call. */
struct call {
	void *ctx;
	emit_fn emit;
	int flags;
	char previous[PAIR_MAX];	/* a document's last word, when it can pair */
	int previous_len;		/* 0: none */
	struct buf text;		/* a query's words */
	struct word *words;
	size_t n_words, cap_words;
	bool colocated;			/* a query's inner tokens include synonyms */
};

/* Whether a token may be half of a pair: plain ASCII. */
static bool pairable(const char *token, int n)
{
	for (int i = 0; i < n; i++)
		if ((unsigned char)token[i] >= 0x80)
			return false;
	return n > 0;
}

/* Writes "a b" to pair (PAIR_MAX bytes); its length, or 0 when a and b do
 * not make a pair. */
static int make_pair(char *pair, const char *a, int na, const char *b, int nb)
{
	if (!pairable(a, na) || !pairable(b, nb) || na + 1 + nb > PAIR_MAX)
		return 0;
	memcpy(pair, a, (size_t)na);
	pair[na] = ' ';
	memcpy(pair + na + 1, b, (size_t)nb);
	return na + 1 + nb;
}

static int on_document_token(void *ctx, int tflags, const char *token, int n, int start, int end)
{
	struct call *c = ctx;
	char pair[PAIR_MAX];
	int len = 0, rc;

	if (tflags & FTS5_TOKEN_COLOCATED)
		return c->emit(c->ctx, tflags, token, n, start, end);
	if (c->previous_len)
		len = make_pair(pair, c->previous, c->previous_len, token, n);
	/* Still at the previous word's position: the pair goes with it. */
	rc = len ? c->emit(c->ctx, FTS5_TOKEN_COLOCATED, pair, len, start, end) : SQLITE_OK;
	if (rc == SQLITE_OK)
		rc = c->emit(c->ctx, tflags, token, n, start, end);
	c->previous_len = pairable(token, n) && n < PAIR_MAX ? n : 0;
	memcpy(c->previous, token, (size_t)c->previous_len);
	return rc;
}

static int on_query_token(void *ctx, int tflags, const char *token, int n, int start, int end)
{
	struct call *c = ctx;

	if (c->n_words == c->cap_words) {
		c->cap_words = c->cap_words ? c->cap_words * 2 : 8;
		c->words = xrealloc(c->words, c->cap_words * sizeof(*c->words));
	}
	c->words[c->n_words++] = (struct word){ (int)c->text.len, n, start, end, tflags };
	buf_append(&c->text, token, (size_t)n);
	if (tflags & FTS5_TOKEN_COLOCATED)
		c->colocated = true;
	return SQLITE_OK;
}

/* Emits the gathered query words, each paired with the next where they
 * pair, but never with the last word of a prefix query. */
static int emit_query(struct call *c)
{
	size_t last_paired = c->flags & FTS5_TOKENIZE_PREFIX ? c->n_words - 1 : c->n_words;
	int rc = SQLITE_OK;

	for (size_t i = 0; rc == SQLITE_OK && i < c->n_words; i++) {
		const struct word *w = &c->words[i], *next = w + 1;
		const char *text = c->text.data + w->at;
		char pair[PAIR_MAX];
		int len = 0;

		if (!c->colocated && i + 1 < last_paired)
			len = make_pair(pair, text, w->len, c->text.data + next->at, next->len);
		rc = len ? c->emit(c->ctx, w->tflags, pair, len, w->start, next->end)
			 : c->emit(c->ctx, w->tflags, text, w->len, w->start, w->end);
	}
	return rc;
}

static int bigram_tokenize(Fts5Tokenizer *instance, void *ctx, int flags, const char *text,
			   int n, emit_fn emit)
{
	struct fts5_wrapper *t = (struct fts5_wrapper *)instance;
	struct call c = { .ctx = ctx, .emit = emit, .flags = flags, .text = BUF_INIT };
	int rc;

	/* highlight() and snippet() see positions only: no pairs for them. */
	if (flags & FTS5_TOKENIZE_AUX)
		return t->inner.xTokenize(t->inner_instance, ctx, flags, text, n, emit);
	if (!(flags & FTS5_TOKENIZE_QUERY))
		return t->inner.xTokenize(t->inner_instance, &c, flags, text, n, on_document_token);
	rc = t->inner.xTokenize(t->inner_instance, &c, flags, text, n, on_query_token);
	if (rc == SQLITE_OK)
		rc = emit_query(&c);
	buf_free(&c.text);
	free(c.words);
	return rc;
}

int bigram_tokenizer_register(sqlite3 *db)
{
	fts5_tokenizer tokenizer = { fts5_wrapper_create, fts5_wrapper_delete, bigram_tokenize };
	fts5_api *api = cjk_fts5_api(db);

	if (!api)
		return -1;
	return api->xCreateTokenizer(api, BIGRAM_TOKENIZER_NAME, api, &tokenizer, NULL) ==
			       SQLITE_OK ? 0 : -1;
}
