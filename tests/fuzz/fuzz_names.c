/*
 * fuzz_names: server-given strings as file names (names_safe_name), and
 * timestamps (model_parse_time, names_local_day).
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
 * - when the encoded id fits, percent-decoding the name gives the raw id
 *   back; when it does not, the name is the encoding of the longest start
 *   of the id that fits and ends on a UTF-8 boundary, "~", the id's hash
 *   in 16 lower-case hex digits, and the suffix (tree.h's rule);
 * - two different ids never get the same name;
 * - only an empty id is refused (return -1), and that leaves the buffer
 *   as it was.
 * The suffix is a constant of the program's, never server data; with a
 * suffix from the input only the length and buffer rules are checked.
 * model_parse_time runs on the whole input and on A and B as C strings;
 * for a time it accepts, names_local_day gives a NUL-terminated day.
 */
#include "buf.h"
#include "fuzz.h"
#include "hash.h"
#include "model.h"
#include "tree.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NAME_MAX_BYTES 255
#define HASH_TAIL 17	/* "~" and 16 hex digits */
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

/* The encoded length of raw's first n bytes: three bytes for an escaped
 * byte, one for any other. */
static size_t encoded_prefix(const char *raw, size_t n)
{
	size_t len = 0;

	if (strcmp(raw, ".") == 0 || strcmp(raw, "..") == 0)
		return 3 * strlen(raw);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)raw[i];

		len += (c == '/' || c == '%' || c < 0x20 || c == 0x7f) ? 3 : 1;
	}
	return len;
}

/* The length tree.h's rules give raw's name when it is not shortened. */
static size_t encoded_length(const char *raw, size_t slen)
{
	return encoded_prefix(raw, strlen(raw)) + slen;
}

static bool utf8_boundary(const char *raw, size_t i)
{
	return raw[i] == '\0' || ((unsigned char)raw[i] & 0xC0) != 0x80;
}

/* A shortened name: the kept start decodes to the longest start of raw
 * that fits and ends on a boundary; then the hash and the suffix. */
static void check_shortened(const char *raw, const char *name, size_t len, size_t slen)
{
	char tail[HASH_TAIL + 1], *kept;
	size_t head, room = NAME_MAX_BYTES - slen - HASH_TAIL, k, next;

	FUZZ_CHECK(len >= slen + HASH_TAIL, "shortened name \"%s\" too short", name);
	head = len - slen - HASH_TAIL;
	snprintf(tail, sizeof(tail), "~%016" PRIx64, hash_bytes(raw, strlen(raw)));
	FUZZ_CHECK(memcmp(name + head, tail, HASH_TAIL) == 0, "\"%s\" does not end with %s", name,
		   tail);
	kept = decode(name, head);
	FUZZ_CHECK(kept != NULL, "malformed escape in \"%s\"", name);
	k = strlen(kept);
	FUZZ_CHECK(strncmp(kept, raw, k) == 0 && k < strlen(raw),
		   "\"%s\" does not start with a part of the id", name);
	FUZZ_CHECK(k == 0 || utf8_boundary(raw, k), "\"%s\" cuts a UTF-8 character", name);
	FUZZ_CHECK(encoded_prefix(raw, k) <= room, "\"%s\" keeps too much", name);
	for (next = k + 1; !utf8_boundary(raw, next); next++)
		;
	FUZZ_CHECK(encoded_prefix(raw, next) > room, "\"%s\" could keep more", name);
	free(kept);
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
	rc = names_safe_name(raw, suffix, &out);
	FUZZ_CHECK(rc == 0 || rc == -1, "names_safe_name returned %d", rc);
	if (prefixed)
		FUZZ_CHECK(out.len >= start && memcmp(out.data, PREFIX, start) == 0,
			   "names_safe_name changed what the buffer held");
	if (rc < 0) {
		FUZZ_CHECK(out.len == start && (!out.data || out.data[start] == '\0'),
			   "refused name left %zu bytes in the buffer", out.len - start);
		FUZZ_CHECK(*raw == '\0', "refused a non-empty id");
		buf_free(&out);
		return NULL;
	}
	name = out.data + start;
	len = out.len - start;
	FUZZ_CHECK(*raw != '\0', "made a name from an empty id");
	FUZZ_CHECK(len > 0 && len <= NAME_MAX_BYTES, "name of %zu bytes", len);
	FUZZ_CHECK(strlen(name) == len, "NUL inside the name");
	FUZZ_CHECK(memchr(name, '/', len) == NULL, "'/' in the name \"%s\"", name);
	FUZZ_CHECK(strcmp(name, ".") != 0 && strcmp(name, "..") != 0, "name is \"%s\"", name);
	for (size_t i = 0; i < len; i++)
		FUZZ_CHECK((unsigned char)name[i] >= 0x20 && name[i] != 0x7f,
			   "control byte 0x%02x in the name", (unsigned char)name[i]);
	FUZZ_CHECK(len >= slen && memcmp(name + len - slen, suffix, slen) == 0,
		   "name \"%s\" does not end with \"%s\"", name, suffix);
	if (encoded_length(raw, slen) > NAME_MAX_BYTES) {
		check_shortened(raw, name, len, slen);
	} else {
		FUZZ_CHECK(len == encoded_length(raw, slen), "name of %zu bytes, want %zu", len,
			   encoded_length(raw, slen));
		decoded = decode(name, len - slen);
		FUZZ_CHECK(decoded != NULL, "malformed escape in \"%s\"", name);
		FUZZ_CHECK(strcmp(decoded, raw) == 0, "\"%s\" decodes to \"%s\", not the id", name,
			   decoded);
		free(decoded);
	}
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
	rc = names_safe_name(raw, suffix, &out);
	FUZZ_CHECK(rc == 0 || rc == -1, "names_safe_name returned %d", rc);
	FUZZ_CHECK(memcmp(out.data, PREFIX, strlen(PREFIX)) == 0, "buffer head changed");
	if (rc == 0) {
		size_t len = out.len - strlen(PREFIX), slen = strlen(suffix);

		FUZZ_CHECK(len <= NAME_MAX_BYTES, "name of %zu bytes", len);
		FUZZ_CHECK(len >= slen && strcmp(out.data + out.len - slen, suffix) == 0,
			   "suffix not at the end");
	} else {
		FUZZ_CHECK(out.len == strlen(PREFIX) && out.data[out.len] == '\0',
			   "refused name left bytes in the buffer");
		FUZZ_CHECK(*raw == '\0' || strlen(suffix) + HASH_TAIL > NAME_MAX_BYTES,
			   "refused a non-empty id with a %zu-byte suffix", strlen(suffix));
	}
	buf_free(&out);
}

static void parse_time(const char *text)
{
	time_t t = 12345;
	char day[16];
	int rc = model_parse_time(text, &t);

	FUZZ_CHECK(rc == 0 || rc == -EINVAL, "model_parse_time returned %d", rc);
	if (rc < 0)
		return;
	memset(day, 'X', sizeof(day));
	names_local_day(t, day);
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
