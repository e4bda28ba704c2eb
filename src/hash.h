/*
 * hash: a map from NUL-terminated string keys to pointers.
 *
 * The map copies keys and never owns values. It is not thread-safe; each
 * user guards its own. Lookups of absent keys return NULL, so NULL cannot
 * be stored as a value.
 */
#ifndef OMIFS_HASH_H
#define OMIFS_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hash;

struct hash *hash_new(void);
void hash_free(struct hash *h);
/* Returns the value stored under key, or NULL. */
void *hash_get(const struct hash *h, const char *key);
/* Stores value under key unless the key is present. Returns the value now
 * stored under key: `value` if it was added, the older one if not. */
void *hash_add(struct hash *h, const char *key, void *value);

/* A set of strings kept as their digests (hash_bytes): 8 bytes a string,
 * at most three quarters full, where the map above keeps a copy and a
 * slot of 24 bytes at most half full, about 100 bytes a string. Two
 * strings of one digest count as one: among 10^6 strings, a chance of
 * about 3 in 10^8. Not thread-safe either. */
struct digest_set;

struct digest_set *digest_set_new(void);
void digest_set_free(struct digest_set *set);
/* Adds s; false when it, or a string of its digest, was in already. */
bool digest_set_add(struct digest_set *set, const char *s);

/* 64-bit FNV-1a of len bytes: stable across runs and machines. */
uint64_t hash_bytes(const void *data, size_t len);
/* FNV-1a's starting value, and hash_bytes of some bytes followed by data
 * given the hash h of those bytes: hashes of texts made piece by piece. */
#define HASH_START 0xcbf29ce484222325ULL
uint64_t hash_more(uint64_t h, const void *data, size_t len);

#endif
