/*
 * fuzz_names: server-given strings as file names (tree_safe_name), and
 * timestamps (model_parse_time, tree_local_day).
 *
 * Input layout: byte 0 picks the suffix (bit 0: "" or ".txt", the two the
 * tree passes) and whether the suffix also comes from the input (bit 1);
 * bytes 1-2 (little endian) pick where the rest is split into two raw ids
 * A and B. A raw id is a C string, so each stops at its first NUL, as ids
 * do (model drops an id holding a NUL).
 *
 * Invariants, for a name made (return 0):
 * - no '/', no NUL, no control byte, not "" or "." or "..", <= 255 bytes,
 *   ends with the suffix, and is appended after what the buffer held;
 * - percent-decoding it gives the raw id back (so the map is one-to-one),
 *   and two different ids never get the same name;
 * - a refused id (return -1) leaves the buffer as it was.
 * The suffix is a constant of the program's, never server data; with a
 * suffix from the input only the length and buffer rules are checked.
 * model_parse_time runs on the whole input and on A and B as C strings;
 * for a time it accepts, tree_local_day gives a NUL-terminated day.
 */
#include "buf.h"
#include "fuzz.h"
#include "model.h"
#include "tree.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define NAME_MAX_BYTES 255
#define PREFIX "some/dir/"

static const char *const suffixes[] = { "", ".txt" };

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes name (without suffix) into a malloc'd string, or NULL when it
 * holds a malformed escape. */
static char *decode(const char *name, size_t len)
{
	char *out = malloc(len + 1), *o = out;

	FUZZ_CHECK(out != NULL, "out of memory");
	for (size_t i = 0; i < len; i++) {
		if (name[i] != '%') {
			*o++ = name[i];
			continue;
		}
		if (i + 2 >= len || hexval(name[i + 1]) < 0 || hexval(name[i + 2]) < 0) {
			free(out);
			return NULL;
		}
		*o++ = (char)(hexval(name[i + 1]) * 16 + hexval(name[i + 2]));
		i += 2;
	}
	*o = '\0';
	return out;
}

/* The length tree.h's rules give raw's name: three bytes for an escaped
 * byte, one for any other. */
static size_t encoded_length(const char *raw, size_t slen)
{
	size_t n = slen;

	if (strcmp(raw, ".") == 0 || strcmp(raw, "..") == 0)
		return n + 3 * strlen(raw);
	for (const unsigned char *p = (const unsigned char *)raw; *p; p++)
		n += (*p == '/' || *p == '%' || *p < 0x20 || *p == 0x7f) ? 3 : 1;
	return n;
}

/* Makes the name of raw with a trusted suffix and checks it; returns it
 * (malloc'd) or NULL when refused. */
static char *safe_name(const char *raw, const char *suffix, bool prefixed)
{
	struct buf out = BUF_INIT;
	size_t start, slen = strlen(suffix), len;
	const char *name;
	char *decoded;
	int rc;

	if (prefixed)
		buf_puts(&out, PREFIX);
	start = out.len;
	rc = tree_safe_name(raw, suffix, &out);
	FUZZ_CHECK(rc == 0 || rc == -1, "tree_safe_name returned %d", rc);
	if (prefixed)
		FUZZ_CHECK(out.len >= start && memcmp(out.data, PREFIX, start) == 0,
			   "tree_safe_name changed what the buffer held");
	if (rc < 0) {
		FUZZ_CHECK(out.len == start && (!out.data || out.data[start] == '\0'),
			   "refused name left %zu bytes in the buffer", out.len - start);
		FUZZ_CHECK(*raw == '\0' || encoded_length(raw, slen) > NAME_MAX_BYTES,
			   "refused an id whose name has %zu bytes", encoded_length(raw, slen));
		buf_free(&out);
		return NULL;
	}
	name = out.data + start;
	len = out.len - start;
	FUZZ_CHECK(*raw != '\0', "made a name from an empty id");
	FUZZ_CHECK(len > 0 && len <= NAME_MAX_BYTES, "name of %zu bytes", len);
	FUZZ_CHECK(len == encoded_length(raw, slen), "name of %zu bytes, want %zu", len,
		   encoded_length(raw, slen));
	FUZZ_CHECK(strlen(name) == len, "NUL inside the name");
	FUZZ_CHECK(memchr(name, '/', len) == NULL, "'/' in the name \"%s\"", name);
	FUZZ_CHECK(strcmp(name, ".") != 0 && strcmp(name, "..") != 0, "name is \"%s\"", name);
	for (size_t i = 0; i < len; i++)
		FUZZ_CHECK((unsigned char)name[i] >= 0x20 && name[i] != 0x7f,
			   "control byte 0x%02x in the name", (unsigned char)name[i]);
	FUZZ_CHECK(len >= slen && memcmp(name + len - slen, suffix, slen) == 0,
		   "name \"%s\" does not end with \"%s\"", name, suffix);
	decoded = decode(name, len - slen);
	FUZZ_CHECK(decoded != NULL, "malformed escape in \"%s\"", name);
	FUZZ_CHECK(strcmp(decoded, raw) == 0, "\"%s\" decodes to \"%s\", not the id", name, decoded);
	free(decoded);
	decoded = strdup(name);
	FUZZ_CHECK(decoded != NULL, "out of memory");
	buf_free(&out);
	return decoded;
}

/* With an untrusted suffix only the length and buffer rules hold. */
static void any_suffix(const char *raw, const char *suffix)
{
	struct buf out = BUF_INIT;
	int rc;

	buf_puts(&out, PREFIX);
	rc = tree_safe_name(raw, suffix, &out);
	FUZZ_CHECK(rc == 0 || rc == -1, "tree_safe_name returned %d", rc);
	FUZZ_CHECK(memcmp(out.data, PREFIX, strlen(PREFIX)) == 0, "buffer head changed");
	if (rc == 0) {
		size_t len = out.len - strlen(PREFIX), slen = strlen(suffix);

		FUZZ_CHECK(len <= NAME_MAX_BYTES, "name of %zu bytes", len);
		FUZZ_CHECK(len >= slen && strcmp(out.data + out.len - slen, suffix) == 0,
			   "suffix not at the end");
	} else {
		FUZZ_CHECK(out.len == strlen(PREFIX) && out.data[out.len] == '\0',
			   "refused name left bytes in the buffer");
	}
	buf_free(&out);
}

static void parse_time(const char *text)
{
	time_t t = 12345;
	char day[16];
	int rc = model_parse_time(text, &t);

	FUZZ_CHECK(rc == 0 || rc == -1, "model_parse_time returned %d", rc);
	if (rc < 0)
		return;
	memset(day, 'X', sizeof(day));
	tree_local_day(t, day);
	FUZZ_CHECK(memchr(day, '\0', sizeof(day)) != NULL, "local day not NUL-terminated");
	FUZZ_CHECK(strchr(day, '/') == NULL, "'/' in the local day \"%s\"", day);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *whole, *a, *b, *na, *nb;
	const char *suffix;
	size_t rest, split;

	whole = malloc(size + 1);
	FUZZ_CHECK(whole != NULL, "out of memory");
	memcpy(whole, data, size);
	whole[size] = '\0';
	parse_time(whole);
	free(whole);
	if (size < 3)
		return 0;

	suffix = suffixes[data[0] & 1];
	rest = size - 3;
	split = ((size_t)data[1] | (size_t)data[2] << 8) % (rest + 1);
	a = strndup((const char *)data + 3, split);
	b = strndup((const char *)data + 3 + split, rest - split);
	FUZZ_CHECK(a && b, "out of memory");
	parse_time(a);
	parse_time(b);

	na = safe_name(a, suffix, false);
	nb = safe_name(b, suffix, true);
	if (na && nb)
		FUZZ_CHECK((strcmp(na, nb) == 0) == (strcmp(a, b) == 0),
			   "ids \"%s\" and \"%s\" give the names \"%s\" and \"%s\"", a, b, na, nb);
	if (data[0] & 2)
		any_suffix(a, b);

	free(na);
	free(nb);
	free(a);
	free(b);
	return 0;
}
