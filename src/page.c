/*
 * page: a listing page spooled and checked as it arrives (see page.h).
 */
#include "page.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPOOL_CHUNK (64u << 10)	/* bytes read back from a spooled page at a time */

/* The page's checker: a listing's elements must be objects. */
static int check_element(json_object *element, size_t index, void *ctx)
{
	struct page *p = ctx;

	if (json_object_is_type(element, json_type_object))
		return 0;
	p->not_object = index + 1;
	return 1;
}

void page_open(struct page *p, const char *dir)
{
	memset(p, 0, sizeof(*p));
	/* O_TMPFILE: never named, so gone with the descriptor, even on a crash. */
	p->fd = dir ? open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600) : -1;
	if (dir && p->fd < 0)
		log_debug("listing pages wait in memory: no spool file in %s: %s", dir,
			  strerror(errno));
	p->check = json_splitter_new(check_element, p);
}

void page_close(struct page *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	buf_free(&p->text);
	json_splitter_free(p->check);
	p->check = NULL;
}

/* Writes all of data to fd. Returns 0 or -errno. */
static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The spool cannot take more (a full disk, say): the page goes on in
 * memory, as without a spool, so that the cache reports the full disk
 * rather than the listing failing. Returns 0 or -errno when what was
 * spooled cannot be read back. */
static int page_to_memory(struct page *p)
{
	off_t size = (off_t)p->spooled;
	int rc = 0;

	buf_reset(&p->text);
	for (off_t at = 0; at < size && rc == 0;) {
		char chunk[4096];
		size_t want = size - at < (off_t)sizeof(chunk) ? (size_t)(size - at) : sizeof(chunk);
		ssize_t n = pread(p->fd, chunk, want, at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			rc = n < 0 ? -errno : -EIO;
		else
			buf_append(&p->text, chunk, (size_t)n);
		at += n > 0 ? n : 0;
	}
	close(p->fd);
	p->fd = -1;
	return rc;
}

int page_take(struct page *p, const char *data, size_t len)
{
	if (p->fd >= 0 && write_all(p->fd, data, len) < 0) {
		int rc = page_to_memory(p);

		if (rc < 0)
			return rc;
		log_info("a listing page waits in memory: the spool is full");
	} else if (p->fd >= 0) {
		p->spooled += len;
	}
	if (p->fd < 0)
		buf_append(&p->text, data, len);
	return json_splitter_feed(p->check, data, len) == 0 ? 0 : 1;
}

bool page_whole(struct page *p, size_t received, char *msg, size_t msglen)
{
	if (json_splitter_finish(p->check) >= 0)
		return true;
	if (p->not_object)
		snprintf(msg, msglen,
			 "item %zu of a listing page is not a JSON object", p->not_object - 1);
	else
		snprintf(msg, msglen,
			 "the server sent a listing that is not a JSON list (%zu bytes)", received);
	return false;
}

long page_walk(struct page *p, json_element_fn fn, void *ctx, char *msg, size_t msglen)
{
	struct json_splitter *sp = json_splitter_new(fn, ctx);
	char *chunk = NULL;
	long n;

	if (p->fd < 0) {
		json_splitter_feed(sp, p->text.data ? p->text.data : "", p->text.len);
	} else if (lseek(p->fd, 0, SEEK_SET) == 0) {
		ssize_t got;

		chunk = xmalloc(SPOOL_CHUNK);
		while ((got = read(p->fd, chunk, SPOOL_CHUNK)) > 0 || (got < 0 && errno == EINTR))
			if (got > 0 && json_splitter_feed(sp, chunk, (size_t)got) != 0)
				break;
		if (got < 0)
			snprintf(msg, msglen, "cannot read back a spooled page: %s", strerror(errno));
	}
	n = json_splitter_finish(sp);
	json_splitter_free(sp);
	free(chunk);
	return n;
}
