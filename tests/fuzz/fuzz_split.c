/*
 * fuzz_split: the streaming splitter of JSON arrays (jsontext.h) over
 * arbitrary bodies, fed whole and in pieces whose sizes come from the
 * input itself.
 *
 * Invariants: the verdict and the elements handed over (as JSON text) do
 * not depend on how the body is cut; json_text_each_element agrees; what
 * the splitter accepts (without comments, which json-c reads), json-c
 * accepts as one whole array with the same elements; an accepted body cut short by a byte (not white space) is
 * refused: a truncated page is never taken.
 */
#include <errno.h>
#include "buf.h"
#include "fuzz.h"
#include "jsontext.h"

#include <stdint.h>
#include <string.h>

static int note(json_object *element, size_t index, void *ctx)
{
	buf_printf(ctx, "%zu:%s\n", index,
		   element ? json_object_to_json_string_ext(element, JSON_C_TO_STRING_PLAIN)
			   : "null");
	return 0;
}

/* Splits body fed in pieces: sizes cycle through cuts (0: whole). */
static long split(const char *body, size_t len, const uint8_t *cuts, size_t n_cuts,
		  struct buf *out)
{
	struct json_splitter *sp = json_splitter_new(note, out);
	size_t at = 0, k = 0;
	long n;

	while (at < len) {
		size_t piece = n_cuts ? (size_t)cuts[k++ % n_cuts] + 1 : len;

		if (piece > len - at)
			piece = len - at;
		json_splitter_feed(sp, body + at, piece);
		at += piece;
	}
	n = json_splitter_finish(sp);
	json_splitter_free(sp);
	return n;
}

/* Parses body in one go, one level deeper than an element may nest (the
 * array's own), and lists its elements as note does. Returns their count,
 * or -1 when json-c does not take it as an array. */
static long whole_parse(const char *body, size_t len, struct buf *out)
{
	json_tokener *tok = json_tokener_new_ex(JSON_TEXT_DEPTH + 1);
	json_object *root;
	long n = -1;

	FUZZ_CHECK(tok != NULL, "out of memory");
	root = json_tokener_parse_ex(tok, body, (int)len);
	if (json_object_is_type(root, json_type_array) &&
	    json_tokener_get_error(tok) == json_tokener_success &&
	    json_tokener_get_parse_end(tok) == len) {
		n = (long)json_object_array_length(root);
		for (long i = 0; i < n; i++)
			note(json_object_array_get_idx(root, (size_t)i), (size_t)i, out);
	}
	json_object_put(root);
	json_tokener_free(tok);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The first bytes up to a 0xff say how to cut; the rest is the body. */
	const uint8_t *mark = memchr(data, 0xff, size < 8 ? size : 8);
	size_t n_cuts = mark ? (size_t)(mark - data) : 0;
	size_t len = mark ? size - n_cuts - 1 : size;
	char *body = xmalloc(len ? len : 1);
	struct buf whole = BUF_INIT, cut = BUF_INIT, reference = BUF_INIT, prefix = BUF_INIT;
	long n, m, r;

	memcpy(body, mark ? mark + 1 : data, len);
	n = split(body, len, NULL, 0, &whole);
	m = split(body, len, data, n_cuts, &cut);
	FUZZ_CHECK(n == m, "whole: %ld, in pieces: %ld", n, m);
	FUZZ_CHECK(whole.len == cut.len && (whole.len == 0 || memcmp(whole.data, cut.data,
								      whole.len) == 0),
		   "the elements depend on the cuts");
	FUZZ_CHECK(json_text_each_element(body, len, NULL, NULL) == n, "each_element disagrees");
	/* json-c takes comments (a // runs to the end of the line), which can
	 * end an element parsed alone where the whole text goes on: no JSON
	 * server sends them, so such bodies are compared no further. */
	if (n >= 0 && !memmem(body, len, "//", 2) && !memmem(body, len, "/*", 2)) {
		r = whole_parse(body, len, &reference);
		FUZZ_CHECK(r == n && reference.len == whole.len &&
			   (whole.len == 0 || memcmp(reference.data, whole.data, whole.len) == 0),
			   "the splitter took %ld elements, json-c %ld or others", n, r);
		/* A page cut short is never taken (but for trailing space). */
		if (!strchr(" \t\r\n", body[len - 1]))
			FUZZ_CHECK(split(body, len - 1, NULL, 0, &prefix) == -EINVAL,
				   "a truncated page was taken");
	}
	buf_free(&whole);
	buf_free(&cut);
	buf_free(&reference);
	buf_free(&prefix);
	free(body);
	return 0;
}
