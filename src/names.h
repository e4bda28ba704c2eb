/*
 * names: file names from server-given strings, and day directories.
 */
#ifndef OMIFS_NAMES_H
#define OMIFS_NAMES_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The "~" and 16 hexadecimal digits that end a shortened name. */
#define NAMES_HASH_BYTES 17

/*
 * Appends to out the file name of a server-given string (an id, a
 * category) followed by suffix, a constant of the program's. The rule:
 * - '/', '%', control bytes (below 0x20) and DEL are written %XX (upper
 *   case hex); a name that is exactly "." or ".." becomes "%2E" or
 *   "%2E%2E"; other bytes, UTF-8 included, stay as they are.
 * - A name that would pass 255 bytes with its suffix is shortened: the
 *   longest start of the encoded string that leaves room and does not cut
 *   a UTF-8 character or an escape, then "~" and the 64-bit FNV-1a hash
 *   of the whole raw string (hash_bytes) as 16 lower-case hex digits,
 *   then the suffix. The same string always gives the same name; two
 *   share one only by a hash collision or when one spells the other's
 *   shortened name (the tree then skips the second as a duplicate).
 * Returns 0, or -1 (out unchanged) when raw is NULL or empty, or when the
 * suffix leaves no room.
 */
int names_safe_name(const char *raw, const char *suffix, struct buf *out);

/* The inode number of the path below the mount's root ("/memories/x",
 * len bytes): the same in every mount, never 0 nor the root's 1. Every
 * inode but the root's is numbered by this one rule. */
uint64_t names_inode(const char *path, size_t len);
/* The same given hash_bytes of the path, for paths hashed piece by
 * piece (hash_more). */
uint64_t names_inode_of_hash(uint64_t path_hash);

/* Decodes the UTF-8 character at s: its length, or 0 when s does not
 * start a valid one (overlong, surrogate, past U+10FFFF, cut short). */
size_t names_utf8_decode(const unsigned char *s, uint32_t *cp);

/* Characters that would reorder what is shown around them (bidi marks,
 * embeddings, overrides and isolates). */
bool names_is_bidi_control(uint32_t c);

/* C0 and C1 controls, DEL, and the line and paragraph separators: what
 * would break a listing of names into lines or drive a terminal. */
bool names_is_control(uint32_t c);

/* Appends text (NULL: none) as one visible line: bidi controls and
 * broken UTF-8 dropped; controls (names_is_control), the ASCII characters
 * in also_spaces (may be NULL) and runs of spaces made one space, none at
 * either end; cut before the character that would take it past max_bytes
 * (0: no limit). */
void names_visible_text(const char *text, const char *also_spaces, size_t max_bytes,
			struct buf *out);

/* name as systems that ignore case and Unicode normalisation compare
 * it (macOS, Windows, Obsidian's links): case-folded, in NFC. Two names
 * with the same key collide there. Returns a malloc'd string; a name
 * that is not valid UTF-8 is its own key. */
char *names_name_key(const char *name);

/* The local calendar day (TZ) of t as YYYY-MM-DD. */
void names_local_day(time_t t, char out[16]);

#endif
