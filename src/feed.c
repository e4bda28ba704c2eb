/*
 * feed: the lines of feed.h. A line is built from the change's own JSON
 * (the item as the change left it), so a removed item is still named.
 */
#include "feed.h"

#include "collections.h"
#include "jsontext.h"
#include "vault.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const change_names[] = {
	[STORE_ADDED] = "added", [STORE_CHANGED] = "changed", [STORE_REMOVED] = "removed",
};

/* What a line says of its item, from the change's JSON. */
struct item_facts {
	struct buf path;	/* in the id tree; empty when the id cannot be a name */
	struct buf place;	/* its directory below the collection's; empty: none */
	char *title;		/* NULL: none */
};

static void learn_facts(const struct store_change *c, struct item_facts *f)
{
	const struct collection *col = collection_of(c->kind);
	json_object *obj = json_text_parse(c->json, strlen(c->json));
	void *object = xcalloc(1, col->object_size);
	const char *title;

	*f = (struct item_facts){ BUF_INIT, BUF_INIT, NULL };
	if (obj && col->parse(obj, object) == 0) {
		if (collection_item_path(c->kind, object, c->id, &f->path) < 0)
			buf_reset(&f->path);
		if (col->place)
			col->place(object, &f->place);
		title = col->title ? col->title(object) : NULL;
		f->title = title ? xstrdup(title) : NULL;
		col->free_object(object);
	}
	free(object);
	json_object_put(obj);
}

static void forget_facts(struct item_facts *f)
{
	buf_free(&f->path);
	buf_free(&f->place);
	free(f->title);
}

static void add_view(const char *path, void *ctx)
{
	json_object_array_add(ctx, json_object_new_string(path));
}

static void json_line(const struct store_change *c, const struct snapshot *snap,
		      const struct item_facts *f, struct buf *out)
{
	json_object *o = json_object_new_object(), *views = json_object_new_array();
	char when[32];
	struct tm tm;

	gmtime_r(&c->at, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(o, "seq", json_object_new_int64(c->seq));
	json_object_object_add(o, "time", json_object_new_string(when));
	json_object_object_add(o, "change", json_object_new_string(change_names[c->what]));
	json_object_object_add(o, "collection", json_object_new_string(collection_of(c->kind)->dir));
	json_object_object_add(o, "id", json_object_new_string(c->id));
	json_object_object_add(o, "path", f->path.len ? json_object_new_string(f->path.data) : NULL);
	if (snap)
		snapshot_item_views(snap, c->kind, c->id, f->place.len ? f->place.data : NULL,
				    add_view, views);
	json_object_object_add(o, "views", views);
	if (f->title)
		json_object_object_add(o, "title", json_object_new_string(f->title));
	buf_puts(out, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE));
	buf_putc(out, '\n');
	json_object_put(o);
}

static void text_line(const struct store_change *c, const struct item_facts *f, struct buf *out)
{
	char when[32];
	struct tm tm;

	localtime_r(&c->at, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	buf_printf(out, "%s  %-7s  %s", when, change_names[c->what],
		   f->path.len ? f->path.data : collection_of(c->kind)->dir);
	if (f->title) {
		buf_puts(out, "  ");
		vault_clean_title(f->title, out);
	}
	buf_putc(out, '\n');
}

void feed_line(const struct store_change *c, const struct snapshot *snap,
	       enum feed_format format, struct buf *out)
{
	struct item_facts f;

	learn_facts(c, &f);
	if (format == FEED_JSON)
		json_line(c, snap, &f, out);
	else
		text_line(c, &f, out);
	forget_facts(&f);
}

bool feed_parse_since(const char *text, time_t now, time_t *when)
{
	static const struct { char unit; long seconds; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	struct tm tm = { 0 };
	const char *end;
	char *num_end;
	long n;

	if (isdigit((unsigned char)text[0])) {
		errno = 0;
		n = strtol(text, &num_end, 10);
		for (size_t i = 0; errno == 0 && n >= 0 && n < 100000 && i < sizeof(units) / sizeof(*units); i++)
			if (num_end[0] == units[i].unit && num_end[1] == '\0') {
				*when = now - (time_t)(n * units[i].seconds);
				return true;
			}
	}
	end = strptime(text, "%Y-%m-%d", &tm);
	if (end && *end == 'T')
		end = strptime(end + 1, "%H:%M", &tm);
	if (end && *end == ':')
		end = strptime(end + 1, "%S", &tm);
	if (!end || (*end && strcmp(end, "Z") != 0))
		return false;
	tm.tm_isdst = -1;
	*when = *end == 'Z' ? timegm(&tm) : mktime(&tm);
	return *when != (time_t)-1;
}

/* ---- one mount's feed ---- */

struct feed {
	pthread_mutex_t lock;
	int64_t last;		/* the seq of the last change shown */
	struct buf text;
	size_t *ends;		/* where each line ends in text */
	size_t n_lines, cap_lines;
};

struct feed *feed_new(int64_t after)
{
	struct feed *f = xcalloc(1, sizeof(*f));

	pthread_mutex_init(&f->lock, NULL);
	f->last = after;
	return f;
}

void feed_free(struct feed *f)
{
	if (!f)
		return;
	pthread_mutex_destroy(&f->lock);
	buf_free(&f->text);
	free(f->ends);
	free(f);
}

struct catch_up {
	struct feed *feed;
	const struct snapshot *snap;
	int added;
};

static int append_change(const struct store_change *c, void *ctx)
{
	struct catch_up *cu = ctx;
	struct feed *f = cu->feed;

	feed_line(c, cu->snap, FEED_JSON, &f->text);
	f->ends = xgrow(f->ends, &f->cap_lines, f->n_lines, sizeof(*f->ends), 64);
	f->ends[f->n_lines++] = f->text.len;
	f->last = c->seq;
	cu->added++;
	return 0;
}

/* Drops the oldest lines beyond FEED_MAX_LINES. f->lock held. */
static void trim(struct feed *f)
{
	size_t drop, cut;

	if (f->n_lines <= FEED_MAX_LINES)
		return;
	drop = f->n_lines - FEED_MAX_LINES;
	cut = f->ends[drop - 1];
	memmove(f->text.data, f->text.data + cut, f->text.len - cut);
	buf_truncate(&f->text, f->text.len - cut);
	for (size_t i = drop; i < f->n_lines; i++)
		f->ends[i - drop] = f->ends[i] - cut;
	f->n_lines -= drop;
}

int feed_catch_up(struct feed *f, struct sync *sync, const struct snapshot *snap)
{
	struct catch_up cu = { f, snap, 0 };
	size_t len, lines;
	int64_t last;
	int rc;

	pthread_mutex_lock(&f->lock);
	len = f->text.len;
	lines = f->n_lines;
	last = f->last;
	rc = sync_foreach_change(sync, f->last, append_change, &cu);
	if (rc < 0) {
		buf_truncate(&f->text, len);
		f->n_lines = lines;
		f->last = last;
	} else {
		trim(f);
	}
	pthread_mutex_unlock(&f->lock);
	return rc < 0 ? rc : cu.added;
}

void feed_copy(struct feed *f, struct buf *out)
{
	pthread_mutex_lock(&f->lock);
	buf_append(out, f->text.data, f->text.len);
	pthread_mutex_unlock(&f->lock);
}
