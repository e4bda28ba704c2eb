/*
 * sync_base: what the rest of sync stands on (sync.c's refresher,
 * sync_listing.c's listings, transcripts.c's batches): the stored form of
 * an object, collected items, the retry pause, the clock, dates a request
 * can name, the page sizes the server was seen to serve, the counts of a
 * collection's held deletions, and the rule that keeps a locked memory's
 * text. It calls nothing of theirs.
 */
#include "sync_state.h"

#include "collections.h"
#include "jsontext.h"
#include "log.h"
#include "model.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* After a failure, the next attempt waits RETRY_PAUSE seconds, doubled
 * with each further failure up to RETRY_PAUSE_MAX: a server that is down
 * or a refused key must not eat the request budget. */
#define RETRY_PAUSE 5
#define RETRY_PAUSE_MAX 300

/* The one form omifs stores an object's JSON in. */
char *sync_object_json(json_object *item)
{
	return xstrdup(json_object_to_json_string_ext(item, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
}

void sync_add_collected(struct collected *c, char *id, char *json)
{
	c->items = xgrow(c->items, &c->cap, c->n, sizeof(*c->items), 256);
	c->items[c->n].id = id;
	c->items[c->n].json = json;
	c->n++;
}

void sync_free_collected(struct collected *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free((char *)c->items[i].id);
		free((char *)c->items[i].json);
	}
	free(c->items);
}

double sync_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Seconds to wait before trying again after `failures` failures in a row. */
time_t sync_retry_pause(int failures)
{
	time_t pause = RETRY_PAUSE;

	for (int i = 1; i < failures && pause < RETRY_PAUSE_MAX; i++)
		pause *= 2;
	return pause < RETRY_PAUSE_MAX ? pause : RETRY_PAUSE_MAX;
}

bool sync_created_at(json_object *conversation, time_t *at)
{
	json_object *v;

	return json_object_object_get_ex(conversation, "created_at", &v) &&
	       json_object_is_type(v, json_type_string) &&
	       model_parse_time(json_object_get_string(v), at) == 0;
}

/* The first and last seconds a request can name: years of four digits. */
#define FIRST_NAMEABLE_SECOND (-62135596800LL)	/* 0001-01-01T00:00:00Z */
#define LAST_NAMEABLE_SECOND 253402300799LL	/* 9999-12-31T23:59:59Z */

/* glibc's %Y writes year 1 as "1", which the server refuses. */
void sync_format_date(time_t t, char out[32])
{
	long long clamped = t < FIRST_NAMEABLE_SECOND ? FIRST_NAMEABLE_SECOND
			  : t > LAST_NAMEABLE_SECOND ? LAST_NAMEABLE_SECOND : (long long)t;
	time_t at = (time_t)clamped;
	struct tm tm;

	gmtime_r(&at, &tm);
	/* The modulos tell the compiler the fields' widths. */
	snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02uZ", (unsigned)(tm.tm_year + 1900) % 10000u,
		 (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
		 (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u);
}

/* The cache's name for kind's page clamp, with transcripts or not. */
static void page_clamp_key(enum store_kind kind, bool transcripts, char key[64])
{
	snprintf(key, 64, "page_clamp/%s%s", collection_of(kind)->dir,
		 transcripts ? "/transcripts" : "");
}

/* Gives the client what an earlier run learnt of the server's pages. */
void sync_load_page_clamps(struct sync *s)
{
	char key[64];
	long long n;

	for (int k = 0; k < STORE_KINDS && source_serves(&s->source); k++)
		for (int t = 0; t < 2; t++) {
			page_clamp_key(k, t, key);
			if (store_get_number(s->store, key, &n) == 0 && n > 0 && n < INT_MAX) {
				s->page_clamps[k][t] = (int)n;
				source_set_page_clamp(&s->source, collection_of(k)->api_path, t, (int)n);
			}
		}
}

void sync_keep_page_clamps(struct sync *s)
{
	int learnt[STORE_KINDS][2];
	bool changed[STORE_KINDS][2];
	char key[64];

	for (int k = 0; k < STORE_KINDS && source_serves(&s->source); k++)
		for (int t = 0; t < 2; t++)
			learnt[k][t] = source_page_clamp(&s->source, collection_of(k)->api_path, t);
	pthread_mutex_lock(&s->lock);
	for (int k = 0; k < STORE_KINDS; k++)
		for (int t = 0; t < 2; t++) {
			changed[k][t] = source_serves(&s->source) && learnt[k][t] != s->page_clamps[k][t];
			if (changed[k][t])
				s->page_clamps[k][t] = learnt[k][t];
		}
	pthread_mutex_unlock(&s->lock);
	for (int k = 0; k < STORE_KINDS; k++)
		for (int t = 0; t < 2; t++)
			if (changed[k][t]) {
				page_clamp_key(k, t, key);
				log_info("%s: the server serves %d items a page%s",
					 collection_of(k)->dir, learnt[k][t],
					 t ? " with transcripts" : "");
				store_set_number(s->store, key, learnt[k][t]);
			}
}

int sync_full_interval(const struct sync *s, enum store_kind kind)
{
	return kind == STORE_CONVERSATIONS ? s->opts.full_refresh_interval
					   : s->opts.refresh_interval;
}

/* Reads kind's pending and held deletions and its locked items from the
 * store into its state. */
void sync_count_missing_and_locked(struct sync *s, enum store_kind kind)
{
	size_t pending = 0, held = 0, locked = store_count_locked(s->store, kind);

	store_count_missing(s->store, kind, &pending, &held);
	pthread_mutex_lock(&s->lock);
	s->kinds[kind].pending = pending;
	s->kinds[kind].held = held;
	s->kinds[kind].locked = locked;
	if (!held)
		s->kinds[kind].held_why[0] = '\0';
	pthread_mutex_unlock(&s->lock);
}

/* The backend sends a memory locked by a plan's limits with its content
 * cut to its first LOCKED_CHARS characters (code points) and "...". */
#define LOCKED_CHARS 70

/* The offset in s (n bytes of UTF-8) just after its first `chars`
 * characters, or n when it has no more than that; *count gets how many
 * characters that offset is past (at most chars). */
static size_t utf8_skip(const char *s, size_t n, size_t chars, size_t *count)
{
	size_t i = 0;

	*count = 0;
	while (i < n && *count < chars) {
		for (i++; i < n && ((unsigned char)s[i] & 0xC0) == 0x80; i++)
			;
		(*count)++;
	}
	return i;
}

/* Whether text, n bytes, has the shape of a locked memory's content. */
static bool looks_locked(const char *text, size_t n)
{
	size_t count;

	return n > 3 && memcmp(text + n - 3, "...", 3) == 0 &&
	       utf8_skip(text, n - 3, LOCKED_CHARS + 1, &count) == n - 3 && count == LOCKED_CHARS;
}

bool sync_is_locked_stub(const char *stub, size_t stub_len, const char *full, size_t full_len)
{
	size_t count, cut = utf8_skip(full, full_len, LOCKED_CHARS, &count);

	return looks_locked(stub, stub_len) && count == LOCKED_CHARS && cut < full_len &&
	       cut == stub_len - 3 &&
	       memcmp(stub, full, cut) == 0 &&
	       !(full_len == stub_len && memcmp(stub, full, stub_len) == 0);
}

/* What the user had is never replaced by less: a memory the server now
 * sends cut keeps the text cached. Returns whether item's content was put
 * back. Only a content of the stub's shape costs a look in the cache. */
bool sync_keep_locked_text(struct store *store, json_object *item, const char *id)
{
	json_object *content, *cached = NULL, *cached_content;
	char *cached_json;
	bool kept = false;

	if (!json_object_object_get_ex(item, "content", &content) ||
	    !json_object_is_type(content, json_type_string) ||
	    !looks_locked(json_object_get_string(content), json_object_get_string_len(content)) ||
	    !(cached_json = store_get_item(store, STORE_MEMORIES, id)))
		return false;
	cached = json_text_parse(cached_json, strlen(cached_json));
	free(cached_json);
	if (cached && json_object_object_get_ex(cached, "content", &cached_content) &&
	    json_object_is_type(cached_content, json_type_string) &&
	    sync_is_locked_stub(json_object_get_string(content), json_object_get_string_len(content),
				json_object_get_string(cached_content),
				json_object_get_string_len(cached_content))) {
		json_object_object_add(item, "content", json_object_get(cached_content));
		kept = true;
	}
	json_object_put(cached);
	return kept;
}
