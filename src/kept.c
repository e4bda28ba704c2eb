/*
 * kept: a few renderings, least recently used out (see kept.h).
 */
#include "kept.h"

#include <pthread.h>
#include <stdlib.h>

struct rendering {
	uint64_t ino, digest;	/* ino 0: the slot is free */
	uint64_t used;		/* kept.clock at the last read */
	struct buf content;
};

struct kept {
	pthread_mutex_t lock;	/* everything */
	struct rendering slots[KEPT_RENDERINGS];
	uint64_t clock;
};

struct kept *kept_new(void)
{
	struct kept *k = xcalloc(1, sizeof(*k));

	pthread_mutex_init(&k->lock, NULL);
	return k;
}

void kept_free(struct kept *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < KEPT_RENDERINGS; i++)
		buf_free(&k->slots[i].content);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

static void drop(struct rendering *r)
{
	buf_free(&r->content);
	r->ino = 0;
	r->used = 0;
}

bool kept_copy_part(const struct buf *content, off_t off, size_t size, struct buf *out)
{
	size_t from = off < 0 ? 0 : (size_t)off;

	if (from >= content->len)
		return true;
	if (size > content->len - from)
		size = content->len - from;
	buf_append(out, content->data + from, size);
	return from + size >= content->len;
}

bool kept_read(struct kept *k, uint64_t ino, uint64_t digest, off_t off, size_t size,
	       struct buf *out)
{
	bool found = false;

	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < KEPT_RENDERINGS && !found; i++) {
		struct rendering *r = &k->slots[i];

		if (r->ino != ino || r->digest != digest)
			continue;
		found = true;
		r->used = ++k->clock;
		if (kept_copy_part(&r->content, off, size, out))
			drop(r);
	}
	pthread_mutex_unlock(&k->lock);
	return found;
}

/* The least recently used slot other than keep (NULL: any), free ones
 * first; with `holding`, only slots that hold a rendering (NULL: none). */
static struct rendering *oldest_slot(struct kept *k, const struct rendering *keep, bool holding)
{
	struct rendering *oldest = NULL;

	for (size_t i = 0; i < KEPT_RENDERINGS; i++) {
		struct rendering *r = &k->slots[i];

		if (r == keep || (holding && r->ino == 0))
			continue;
		if (!oldest || r->used < oldest->used)
			oldest = r;
	}
	return oldest;
}

void kept_put(struct kept *k, uint64_t ino, uint64_t digest, struct buf *content)
{
	struct rendering *slot;
	size_t total;

	pthread_mutex_lock(&k->lock);
	slot = oldest_slot(k, NULL, false);
	drop(slot);
	slot->ino = ino;
	slot->digest = digest;
	slot->used = ++k->clock;
	slot->content = *content;
	*content = (struct buf)BUF_INIT;
	for (;;) {
		struct rendering *older = oldest_slot(k, slot, true);

		total = 0;
		for (size_t i = 0; i < KEPT_RENDERINGS; i++)
			total += k->slots[i].content.len;
		if (total <= KEPT_BYTES || !older)
			break;
		drop(older);
	}
	pthread_mutex_unlock(&k->lock);
}
