/* Unit tests of the renderings kept for files read in pieces. */
#include "kept.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static struct buf filled(size_t len, char c)
{
	struct buf b = BUF_INIT;
	char *chunk = malloc(len);

	memset(chunk, c, len);
	buf_append(&b, chunk, len);
	free(chunk);
	return b;
}

static void test_reads_in_pieces_and_drops_at_the_end(void)
{
	struct kept *k = kept_new();
	struct buf content = filled(1000, 'a'), out = BUF_INIT;

	content.data[999] = 'z';
	kept_put(k, 7, 1, &content);
	CHECK(content.len == 0);
	CHECK(!kept_read(k, 7, 2, 0, 10, &out));	/* another digest: a changed file */
	CHECK(kept_read(k, 7, 1, 0, 600, &out) && out.len == 600);
	CHECK(kept_read(k, 7, 1, 600, 600, &out) && out.len == 1000 && out.data[999] == 'z');
	/* The last byte was read: it is gone. */
	CHECK(!kept_read(k, 7, 1, 0, 10, &out));
	buf_free(&out);
	kept_free(k);
}

static void test_the_least_recently_used_goes_and_bytes_are_bounded(void)
{
	struct kept *k = kept_new();
	struct buf out = BUF_INIT, big;

	for (uint64_t ino = 1; ino <= KEPT_RENDERINGS + 1; ino++) {
		struct buf b = filled(100, 'x');

		kept_put(k, ino, 0, &b);
		if (ino == 2)
			CHECK(kept_read(k, 1, 0, 0, 1, &out));	/* 1 is used again */
	}
	CHECK(kept_read(k, 1, 0, 0, 1, &out));
	CHECK(!kept_read(k, 2, 0, 0, 1, &out));
	/* Two large renderings pass the byte bound: the older one goes,
	 * and a lone one larger than the bound is still kept. */
	big = filled(KEPT_BYTES / 2 + 1, 'y');
	kept_put(k, 10, 0, &big);
	big = filled(KEPT_BYTES / 2 + 1, 'y');
	kept_put(k, 11, 0, &big);
	CHECK(!kept_read(k, 10, 0, 0, 1, &out));
	CHECK(kept_read(k, 11, 0, 0, 1, &out));
	big = filled(KEPT_BYTES + 1, 'z');
	kept_put(k, 12, 0, &big);
	CHECK(kept_read(k, 12, 0, 0, 1, &out));
	CHECK(!kept_read(k, 11, 0, 0, 1, &out));
	buf_free(&out);
	kept_free(k);
}

int main(void)
{
	RUN(test_reads_in_pieces_and_drops_at_the_end);
	RUN(test_the_least_recently_used_goes_and_bytes_are_bounded);
	return UNIT_RESULT();
}
