/*
 * page: one listing page on its way in, for api.
 *
 * The bytes are checked element by element as they arrive (a JSON list of
 * objects, or refused) and kept until the page has proved whole, in an
 * unnamed file beside the cache or, without one, in memory. So the caller
 * gets nothing of a broken page, yet a page of a thousand transcripts is
 * never held in memory whole, as text or as a tree.
 */
#ifndef OMIFS_PAGE_H
#define OMIFS_PAGE_H

#include "buf.h"
#include "jsontext.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * A listing page on its way in: checked element by element as it arrives
 * (a JSON list of objects, or refused), and kept until it has proved
 * whole, in an unnamed file beside the cache or, without one, in memory.
 * So the caller gets nothing of a broken page, yet a page of transcripts
 * is never held in memory whole.
 */
struct page {
	int fd;			/* the spool, or -1: the bytes are in text */
	size_t spooled;		/* bytes written whole to the spool */
	struct buf text;
	struct json_splitter *check;
	size_t not_object;	/* index + 1 of the first element that is no object */
};

/* Readies p for a page's bytes: a spool file in dir (NULL: none) when it
 * can be made, else memory. */
void page_open(struct page *p, const char *dir);
void page_close(struct page *p);

/* Keeps len more bytes of the page and checks them. Returns 0, 1 when
 * the page is broken (it cannot be a JSON list of objects), or -errno
 * when the bytes cannot be kept. */
int page_take(struct page *p, const char *data, size_t len);

/* Whether the page, received whole (received bytes), is a JSON list of
 * objects; if not, says why in msg. */
bool page_whole(struct page *p, size_t received, char *msg, size_t msglen);

/* Hands each element of a page that proved whole to fn, one at a time
 * (json_splitter's rules). Returns what json_splitter_finish does; when
 * the spool cannot be read back, that is -EINVAL, with a message in msg. */
long page_walk(struct page *p, json_element_fn fn, void *ctx, char *msg, size_t msglen);

#endif
