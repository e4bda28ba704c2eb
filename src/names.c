/*
 * names: how server-given strings become file names, and dates become
 * day directories. The rules are part of the tree's contract (DESIGN.md):
 * the same input gives the same name on every mount and every machine.
 */
#include "names.h"

#include "hash.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

#define NAME_MAX_BYTES 255

/* Whether byte c of an id is percent-encoded in its name. */
static bool escaped(unsigned char c)
{
	return c == '/' || c == '%' || c < 0x20 || c == 0x7f;
}

/* Appends the percent-encoding of raw's first n bytes. */
static void put_encoded(struct buf *out, const unsigned char *raw, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		if (escaped(raw[i])) {
			buf_putc(out, '%');
			buf_putc(out, hex[raw[i] >> 4]);
			buf_putc(out, hex[raw[i] & 15]);
		} else {
			buf_putc(out, (char)raw[i]);
		}
	}
}

/* How many bytes of raw to keep in front of the hash of a long name: the
 * most whose encoding fits in `room`, ending before a UTF-8 lead or ASCII
 * byte so that no character is cut. */
static size_t kept_bytes(const unsigned char *raw, size_t room)
{
	size_t used = 0, keep = 0;

	for (size_t i = 0; raw[i]; i++) {
		if ((raw[i] & 0xC0) != 0x80)
			keep = i;
		used += escaped(raw[i]) ? 3 : 1;
		if (used > room)
			return keep;
	}
	return strlen((const char *)raw);
}

uint64_t names_inode_of_hash(uint64_t path_hash)
{
	return path_hash | 2;
}

uint64_t names_inode(const char *path, size_t len)
{
	return names_inode_of_hash(hash_bytes(path, len));
}

int names_safe_name(const char *raw, const char *suffix, struct buf *out)
{
	const unsigned char *id = (const unsigned char *)raw;
	size_t start = out->len, slen = strlen(suffix), room;

	if (!raw || !*raw || slen + NAMES_HASH_BYTES > NAME_MAX_BYTES)
		return -1;
	if (strcmp(raw, ".") == 0 || strcmp(raw, "..") == 0) {
		for (const char *p = raw; *p; p++)
			buf_puts(out, "%2E");
	} else {
		put_encoded(out, id, strlen(raw));
	}
	if (out->len - start + slen > NAME_MAX_BYTES) {
		out->len = start;
		room = NAME_MAX_BYTES - slen - NAMES_HASH_BYTES;
		put_encoded(out, id, kept_bytes(id, room));
		buf_printf(out, "~%016" PRIx64, hash_bytes(raw, strlen(raw)));
	}
	buf_puts(out, suffix);
	return 0;
}

size_t names_utf8_decode(const unsigned char *s, uint32_t *cp)
{
	size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
		   : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
	static const uint32_t least[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	uint32_t c;

	if (len == 0)
		return 0;
	c = len == 1 ? s[0] : s[0] & (0x7F >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3F);
	}
	if (c < least[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

bool names_is_bidi_control(uint32_t c)
{
	return c == 0x200E || c == 0x200F || (c >= 0x202A && c <= 0x202E) ||
	       (c >= 0x2066 && c <= 0x2069);
}

bool names_is_control(uint32_t c)
{
	return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x2028 || c == 0x2029;
}

void names_visible_text(const char *text, const char *also_spaces, size_t max_bytes,
			struct buf *out)
{
	const unsigned char *s = (const unsigned char *)(text ? text : "");
	size_t start = out->len;
	bool space = false;
	uint32_t c;

	while (*s) {
		size_t len = names_utf8_decode(s, &c);

		if (len == 0 || names_is_bidi_control(c)) {
			s += len ? len : 1;
			continue;
		}
		if (names_is_control(c) || c == ' ' ||
		    (also_spaces && c < 0x80 && strchr(also_spaces, (int)c))) {
			space = out->len > start;
		} else {
			if (max_bytes && out->len - start + (space ? 1 : 0) + len > max_bytes)
				break;
			if (space)
				buf_putc(out, ' ');
			buf_append(out, (const char *)s, len);
			space = false;
		}
		s += len;
	}
}

void names_local_day(time_t t, char out[16])
{
	struct tm tm;

	localtime_r(&t, &tm);
	/* Four digits, as every other day's name: strftime writes year 1 as
	 * "1". The year is 0 to 9999 (model_parse_time reads four digits,
	 * and a time zone moves year 1 back to 0); the modulos say so to the
	 * compiler. */
	snprintf(out, 16, "%04u-%02u-%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
		 (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u);
}

char *names_name_key(const char *name)
{
	const char *p = name;
	size_t len = 0;
	uint8_t *key;
	char *out;

	/* ASCII, most names: its case folding is tolower and it is in NFC
	 * already; u8_casefold would cost ten times as much at every
	 * snapshot build. */
	while (*p && (unsigned char)*p < 0x80)
		p++;
	if (!*p) {
		out = xstrdup(name);
		for (char *q = out; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
		return out;
	}
	/* u8_casefold would turn broken UTF-8 into U+FFFD: names that
	 * differ there would share a key. */
	if (u8_check((const uint8_t *)name, strlen(name)))
		return xstrdup(name);
	key = u8_casefold((const uint8_t *)name, strlen(name), NULL, UNINORM_NFC, NULL, &len);
	if (!key)
		return xstrdup(name);
	out = xcalloc(len + 1, 1);
	memcpy(out, key, len);
	free(key);
	return out;
}
