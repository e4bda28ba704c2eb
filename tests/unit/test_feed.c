/* Unit tests of feed: a mount's change feed, its lines and its bound. */
#include "buf.h"
#include "feed.h"
#include "store.h"
#include "sync.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANY (FEED_MAX_LINES + 5)

/* Lists MANY memories, each with content `text`. */
static void list_memories(struct store *store, const char *text, time_t at)
{
	struct store_item *items = xcalloc(MANY, sizeof(*items));
	char (*ids)[16] = xcalloc(MANY, sizeof(*ids));
	struct buf *json = xcalloc(MANY, sizeof(*json));

	for (size_t i = 0; i < MANY; i++) {
		snprintf(ids[i], sizeof(ids[i]), "m%05zu", i);
		buf_printf(&json[i], "{\"id\":\"%s\",\"content\":\"%s\",\"category\":\"work\"}",
			   ids[i], text);
		items[i] = (struct store_item){ ids[i], json[i].data };
	}
	CHECK(store_replace_listing(store, STORE_MEMORIES, items, MANY, at) >= 0);
	for (size_t i = 0; i < MANY; i++)
		buf_free(&json[i]);
	free(json);
	free(ids);
	free(items);
}

static size_t count_lines(const struct buf *text)
{
	size_t n = 0;

	for (size_t i = 0; i < text->len; i++)
		n += text->data[i] == '\n';
	return n;
}

/* The feed starts after the changes it is told to, names each change's
 * path, and keeps only the last FEED_MAX_LINES lines, oldest dropped. */
static void test_feed_keeps_the_last_lines(void)
{
	struct sync_options opts = { .refresh_interval = 60, .full_refresh_interval = 60,
				     .page_size = 10, .transcript_batch = 1, .offline = true };
	char err[128];
	struct store *store = store_open(NULL, err, sizeof(err));
	struct sync *sync = sync_new(NULL, store, &opts);
	struct feed *feed;
	struct buf text = BUF_INIT;
	const char *last;

	setenv("TZ", "UTC", 1);
	list_memories(store, "first", 1);	/* the cache filling: no change */
	feed = feed_new(sync_last_change(sync));
	CHECK(feed_catch_up(feed, sync, NULL) == 0);
	list_memories(store, "second", 2);
	CHECK(feed_catch_up(feed, sync, NULL) == MANY);
	CHECK(feed_catch_up(feed, sync, NULL) == 0);
	feed_copy(feed, &text);
	CHECK(count_lines(&text) == FEED_MAX_LINES);
	/* Newest last: the listing's first item, the newest, is m00000. */
	CHECK(strncmp(text.data, "{\"seq\":6,", 9) == 0);
	CHECK(strstr(text.data, "\"id\":\"m09999\"") < strchr(text.data, '\n'));
	last = text.data + text.len - 1;
	while (last > text.data && last[-1] != '\n')
		last--;
	CHECK(strstr(last, "\"change\":\"changed\",\"collection\":\"memories\",\"id\":\"m00000\","
			   "\"path\":\"memories/work/m00000.txt\",\"views\":[]}\n") != NULL);
	feed_free(feed);
	buf_free(&text);
	sync_free(sync);
	store_close(store);
}

int main(void)
{
	RUN(test_feed_keeps_the_last_lines);
	return UNIT_RESULT();
}
