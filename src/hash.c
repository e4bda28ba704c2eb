/*
 * hash: open addressing with linear probing, keys copied, capacity a power
 * of two kept at most half full; the digest set the same, with digests
 * for keys. Nothing is ever removed: the users build a map or a set, read
 * it, and throw it away whole.
 */
#include "hash.h"

#include "buf.h"

#include <stdlib.h>
#include <string.h>

struct slot {
	char *key;
	void *value;
	uint64_t hash;
};

struct hash {
	struct slot *slots;
	size_t cap;
	size_t count;
};

uint64_t hash_more(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t hash_bytes(const void *data, size_t len)
{
	return hash_more(HASH_START, data, len);
}

struct hash *hash_new(void)
{
	struct hash *h = xcalloc(1, sizeof(*h));

	h->cap = 16;
	h->slots = xcalloc(h->cap, sizeof(*h->slots));
	return h;
}

void hash_free(struct hash *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->cap; i++)
		free(h->slots[i].key);
	free(h->slots);
	free(h);
}

static struct slot *find_slot(struct slot *slots, size_t cap, const char *key, uint64_t hv)
{
	size_t i = hv & (cap - 1);

	while (slots[i].key && (slots[i].hash != hv || strcmp(slots[i].key, key) != 0))
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static void grow(struct hash *h)
{
	size_t cap = h->cap * 2;
	struct slot *slots = xcalloc(cap, sizeof(*slots));

	for (size_t i = 0; i < h->cap; i++) {
		struct slot *s = &h->slots[i];

		if (s->key)
			*find_slot(slots, cap, s->key, s->hash) = *s;
	}
	free(h->slots);
	h->slots = slots;
	h->cap = cap;
}

void *hash_get(const struct hash *h, const char *key)
{
	return find_slot(h->slots, h->cap, key, hash_bytes(key, strlen(key)))->value;
}

void *hash_add(struct hash *h, const char *key, void *value)
{
	uint64_t hv = hash_bytes(key, strlen(key));
	struct slot *s;

	if ((h->count + 1) * 2 > h->cap)
		grow(h);
	s = find_slot(h->slots, h->cap, key, hv);
	if (s->key)
		return s->value;
	s->key = xstrdup(key);
	s->value = value;
	s->hash = hv;
	h->count++;
	return value;
}

struct digest_set {
	uint64_t *slots;	/* 0: empty (a digest of 0 is kept as 1) */
	size_t cap;
	size_t count;
};

struct digest_set *digest_set_new(void)
{
	struct digest_set *set = xcalloc(1, sizeof(*set));

	set->cap = 64;
	set->slots = xcalloc(set->cap, sizeof(*set->slots));
	return set;
}

void digest_set_free(struct digest_set *set)
{
	if (!set)
		return;
	free(set->slots);
	free(set);
}

/* The slot where digest d is, or goes. */
static uint64_t *digest_slot(uint64_t *slots, size_t cap, uint64_t d)
{
	size_t i = (size_t)(d * 0x9E3779B97F4A7C15ULL >> 32) & (cap - 1);

	while (slots[i] && slots[i] != d)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

bool digest_set_add(struct digest_set *set, const char *s)
{
	uint64_t d = hash_bytes(s, strlen(s)), *slot;

	d = d ? d : 1;
	if ((set->count + 1) * 4 > set->cap * 3) {
		uint64_t *slots = xcalloc(set->cap * 2, sizeof(*slots));

		for (size_t i = 0; i < set->cap; i++)
			if (set->slots[i])
				*digest_slot(slots, set->cap * 2, set->slots[i]) = set->slots[i];
		free(set->slots);
		set->slots = slots;
		set->cap *= 2;
	}
	slot = digest_slot(set->slots, set->cap, d);
	if (*slot)
		return false;
	*slot = d;
	set->count++;
	return true;
}
