/*
 * cjk_tokenizer: the FTS5 tokenizer behind cjk_tokenizer.h.
 *
 * The inner tokenizer (unicode61) reports each token folded (lower case,
 * diacritics removed) with its byte range in the original text. A token
 * holding CJK characters is cut into runs of CJK and of other characters;
 * CJK characters are never folded, so the runs of the folded token and of
 * the original range line up, which gives each piece its own range for
 * highlighting. When they do not line up (an inner tokenizer that folds
 * differently), every piece gets the whole token's range instead: the
 * match is the same, only the highlight is wider.
 */
#include "cjk_tokenizer.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The tokenizer: FTS5's arguments are the inner tokenizer's name, then
 * its own arguments, which it hands the text to. */
struct fts5_wrapper {
	fts5_tokenizer inner;
	Fts5Tokenizer *inner_instance;
};

/* What one xTokenize call passes to the inner tokenizer's callback. */
struct tokenize_call {
	void *ctx;
	int (*emit)(void *ctx, int tflags, const char *token, int n, int start, int end);
	int flags;
	const char *text;
};

/* Scripts written without spaces between words. */
static bool is_cjk(unsigned cp)
{
	return (cp >= 0x1100 && cp <= 0x11FF) ||	/* Hangul Jamo */
	       (cp >= 0x2E80 && cp <= 0x2FDF) ||	/* CJK and Kangxi radicals */
	       (cp >= 0x3005 && cp <= 0x3007) ||	/* 々 〆 〇 */
	       (cp >= 0x3040 && cp <= 0x31FF) ||	/* kana, bopomofo, Hangul compat. */
	       (cp >= 0x3400 && cp <= 0x4DBF) ||	/* CJK extension A */
	       (cp >= 0x4E00 && cp <= 0x9FFF) ||	/* CJK unified ideographs */
	       (cp >= 0xA960 && cp <= 0xA97F) ||	/* Hangul Jamo extended A */
	       (cp >= 0xAC00 && cp <= 0xD7FF) ||	/* Hangul syllables, Jamo ext. B */
	       (cp >= 0xF900 && cp <= 0xFAFF) ||	/* compatibility ideographs */
	       (cp >= 0xFF66 && cp <= 0xFF9F) ||	/* half-width katakana */
	       (cp >= 0x20000 && cp <= 0x3FFFF);	/* extensions B and later */
}

/* The length of the UTF-8 character at s[0..n) (1 for a stray byte), and
 * whether it is CJK. */
static int char_at(const unsigned char *s, int n, bool *cjk)
{
	unsigned cp = s[0];
	int len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
		: (s[0] & 0xF8) == 0xF0 ? 4 : 1;

	if (len > n)
		len = 1;
	if (len > 1) {
		cp &= 0x3F >> (len - 1);
		for (int i = 1; i < len; i++) {
			if ((s[i] & 0xC0) != 0x80) {
				*cjk = false;
				return 1;
			}
			cp = cp << 6 | (s[i] & 0x3F);
		}
	}
	*cjk = len > 1 && is_cjk(cp);
	return len;
}

/* The run (of CJK or of other characters) starting at s[at]; returns its
 * end. */
static int run_end(const char *s, int n, int at, bool *cjk)
{
	bool first, next;
	int end = at + char_at((const unsigned char *)s + at, n - at, &first);

	while (end < n) {
		int len = char_at((const unsigned char *)s + end, n - end, &next);

		if (next != first)
			break;
		end += len;
	}
	*cjk = first;
	return end;
}

static bool has_cjk(const char *s, int n)
{
	bool cjk, high = false;

	/* Every CJK character (U+1100 on) starts with a byte of 0xE1 or
	 * more: most tokens are settled by this scan alone. */
	for (int i = 0; i < n && !high; i++)
		high = (unsigned char)s[i] >= 0xE1;
	return high && (run_end(s, n, 0, &cjk) < n || cjk);
}

/* Whether the folded token and the original text have the same runs,
 * with the same CJK runs byte for byte. */
static bool runs_line_up(const char *tok, int ntok, const char *orig, int norig)
{
	int a = 0, b = 0;

	while (a < ntok && b < norig) {
		bool cjk_a, cjk_b;
		int end_a = run_end(tok, ntok, a, &cjk_a), end_b = run_end(orig, norig, b, &cjk_b);

		if (cjk_a != cjk_b ||
		    (cjk_a && (end_a - a != end_b - b || memcmp(tok + a, orig + b, end_a - a) != 0)))
			return false;
		a = end_a;
		b = end_b;
	}
	return a == ntok && b == norig;
}

/* Emits the CJK run tok[from..to), whose first byte is at orig in the
 * text (or, when orig < 0, every piece spanning [start, end)). */
static int emit_cjk_run(struct tokenize_call *call, int *tflags, const char *tok, int from,
			int to, int orig, int start, int end)
{
	bool query = call->flags & FTS5_TOKENIZE_QUERY, cjk;
	int rc = SQLITE_OK;

	for (int at = from; at < to && rc == SQLITE_OK;) {
		int one = at + char_at((const unsigned char *)tok + at, to - at, &cjk);
		int two = one < to ? one + char_at((const unsigned char *)tok + one, to - one, &cjk)
				   : one;
		int s = orig < 0 ? start : orig + (at - from);

		if (two > one) {
			/* The pair first: a phrase of pairs then highlights its
			 * whole run, last character included. */
			rc = call->emit(call->ctx, *tflags, tok + at, two - at, s,
					orig < 0 ? end : orig + (two - from));
			*tflags = 0;
			if (rc == SQLITE_OK && !query)
				rc = call->emit(call->ctx, FTS5_TOKEN_COLOCATED, tok + at, one - at, s,
						orig < 0 ? end : orig + (one - from));
		} else {
			/* The run's last character, alone, in a query too: it
			 * has a position of its own in the document, which a
			 * phrase going on after the run must count. */
			rc = call->emit(call->ctx, *tflags, tok + at, one - at, s,
					orig < 0 ? end : orig + (one - from));
			*tflags = 0;
		}
		at = one;
	}
	return rc;
}

/* The inner tokenizer's callback: passes tokens on, cutting CJK runs. */
static int on_inner_token(void *ctx, int tflags, const char *tok, int ntok, int start, int end)
{
	struct tokenize_call *call = ctx;
	bool aligned, cjk;
	int rc = SQLITE_OK, a = 0, b = start;

	if (!has_cjk(tok, ntok))
		return call->emit(call->ctx, tflags, tok, ntok, start, end);
	aligned = runs_line_up(tok, ntok, call->text + start, end - start);
	while (a < ntok && rc == SQLITE_OK) {
		int end_a = run_end(tok, ntok, a, &cjk), end_b = end;

		if (aligned)
			end_b = run_end(call->text, end, b, &cjk);
		if (cjk) {
			rc = emit_cjk_run(call, &tflags, tok, a, end_a, aligned ? b : -1, start, end);
		} else {
			rc = call->emit(call->ctx, tflags, tok + a, end_a - a, aligned ? b : start,
					end_b);
			tflags = 0;
		}
		a = end_a;
		b = end_b;
	}
	return rc;
}

static int cjk_tokenize(Fts5Tokenizer *instance, void *ctx, int flags, const char *text, int n,
			int (*emit)(void *, int, const char *, int, int, int))
{
	struct fts5_wrapper *t = (struct fts5_wrapper *)instance;
	struct tokenize_call call = { .ctx = ctx, .emit = emit, .flags = flags, .text = text };

	return t->inner.xTokenize(t->inner_instance, &call, flags, text, n, on_inner_token);
}

static int fts5_wrapper_create(void *api_ptr, const char **args, int nargs,
			       Fts5Tokenizer **out)
{
	fts5_api *api = api_ptr;
	struct fts5_wrapper *t;
	void *inner_ctx = NULL;
	int rc;

	if (nargs < 1)
		return SQLITE_ERROR;
	t = calloc(1, sizeof(*t));
	if (!t)
		return SQLITE_NOMEM;
	rc = api->xFindTokenizer(api, args[0], &inner_ctx, &t->inner);
	if (rc == SQLITE_OK)
		rc = t->inner.xCreate(inner_ctx, args + 1, nargs - 1, &t->inner_instance);
	if (rc != SQLITE_OK) {
		free(t);
		return rc;
	}
	*out = (Fts5Tokenizer *)t;
	return SQLITE_OK;
}

static void fts5_wrapper_delete(Fts5Tokenizer *instance)
{
	struct fts5_wrapper *t = (struct fts5_wrapper *)instance;

	t->inner.xDelete(t->inner_instance);
	free(t);
}

fts5_api *cjk_fts5_api(sqlite3 *db)
{
	fts5_api *api = NULL;
	sqlite3_stmt *st = NULL;

	/* The documented way to reach FTS5's C API from a connection. */
	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
	sqlite3_step(st);
	sqlite3_finalize(st);
	return api && api->iVersion >= 2 ? api : NULL;
}

int cjk_tokenizer_register(sqlite3 *db)
{
	fts5_tokenizer tokenizer = { fts5_wrapper_create, fts5_wrapper_delete, cjk_tokenize };
	fts5_api *api = cjk_fts5_api(db);

	if (!api)
		return -1;
	return api->xCreateTokenizer(api, CJK_TOKENIZER_NAME, api, &tokenizer, NULL) == SQLITE_OK
		       ? 0 : -1;
}
