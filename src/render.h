/*
 * render: the bytes of every file in the tree, from parsed objects.
 *
 * Rendering is deterministic (the same object gives the same bytes; no
 * clock, no locale) and appends to the caller's buffer. The formats are
 * documented in omifs.1 under FILE FORMATS; tests/integration/reference.py
 * is an independent implementation the tests compare against.
 */
#ifndef OMIFS_RENDER_H
#define OMIFS_RENDER_H

#include "buf.h"
#include "model.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* The version of the formats below: the sizes of rendered transcripts are
 * kept in the cache across mounts and versions, tagged with it. Bump it
 * with any change to the bytes render_transcript or render_json give. */
#define RENDER_FORMAT 1

/* Appends s with every CR and LF replaced by a space: a field that must
 * stay on one line cannot forge another. */
void render_flat(struct buf *out, const char *s);
/* Appends s and a newline unless s already ends with one. */
void render_block(struct buf *out, const char *s);

void render_memory(const struct memory *m, struct buf *out);
void render_action_item(const struct action_item *a, struct buf *out);

/* transcript.txt: "[HH:MM:SS] Speaker: text" a segment a line. */
void render_transcript(const struct conversation *c, struct buf *out);
/* A segment's speaker as transcript.txt names it. */
void render_speaker(const struct segment *seg, struct buf *out);
void render_summary(const struct conversation *c, struct buf *out);
/* summary.md's first line: "# <emoji> <title>". */
void render_title_line(const struct conversation *c, struct buf *out);
/* One action item as a task line, "- [ ] text (due X)", no newline. */
void render_task(const struct action_item *a, struct buf *out);
void render_conversation_action_items(const struct conversation *c, struct buf *out);
/* Only meaningful when c->n_events > 0 (events.md exists only then). */
void render_events(const struct conversation *c, struct buf *out);
/* The same, each event's title after heading ("## " in events.md). */
void render_events_headed(const struct conversation *c, const char *heading, struct buf *out);

/* conversation.json: the stored object's JSON pretty-printed, with a final
 * newline. Returns 0, or -EINVAL if json_text is not JSON (nothing
 * appended). */
int render_json(const char *json_text, struct buf *out);

/*
 * .omifs/status, from plain state gathered by those who know it (sync,
 * api, budget, the tree's snapshot) into one struct, rendered here like
 * every other file. Strings are the struct's own or point into constant
 * tables.
 */
#define STATUS_COLLECTIONS 3	/* the three collections, in collections' order */
#define STATUS_POLICIES 8
#define STATUS_ODD_SAMPLE 3
#define STATUS_ODD_ID_BYTES 40	/* of an id shown; longer ones are cut, "..." */

struct status_collection {
	const char *name;	/* its directory */
	time_t listed_at;	/* of its last complete listing; 0: never */
	size_t count;
	int refresh_error;	/* -errno of a failed last refresh, or 0 */
	size_t skipped;		/* items without a usable id */
	size_t pending;		/* missing from one complete listing: deleted if the next agrees */
	size_t held;		/* deletions two listings agree on, held back */
	char held_why[160];	/* why they are held, when they are */
	size_t locked;		/* items the server sends cut, whose full text is kept */
	size_t so_far;		/* items of an unfinished listing, to be continued */
	time_t continues_at;	/* when it goes on (so_far > 0) */
	const char *paced_by;	/* the budget policy it waits for, or NULL */
	long full_period;	/* seconds between full listings, when the budget
				 * stretches them past the refresh interval; 0 */
	const char *period_policy; /* ... the policy that does */
};

/* One client-side budget policy in force. */
struct status_policy {
	const char *name;
	int used, limit;
	double window;		/* seconds */
	double wait;		/* until the next request, when spent */
};

/* Items whose fields omifs could not read as documented. */
struct status_odd {
	size_t count;
	char sample[STATUS_ODD_SAMPLE][STATUS_ODD_ID_BYTES + sizeof("...")];
};

struct status {
	struct status_collection collections[STATUS_COLLECTIONS];
	size_t transcripts, conversations;	/* cached, of listed */
	bool conversations_complete;	/* conversations were listed completely once */
	long long cache_bytes;
	char search[160];		/* how much of the account search/ covers */
	bool offline;
	int refresh_interval, full_refresh_interval;
	unsigned long refreshes_asked, refreshes_done;	/* omifs refresh, SIGHUP */
	int refresh_error;		/* of the last one done: 0, or -errno */
	const char *refresh_failed;	/* ... and the collection it failed on */
	unsigned long requests, failures, retries, rate_limited;
	struct status_policy policies[STATUS_POLICIES];
	int n_policies;
	long server_remaining;		/* -1: unknown */
	time_t server_reset;		/* 0: unknown */
	int waiting;			/* requests waiting for the budget */
	time_t now, blocked_until;
	time_t last_error_at;		/* 0: none */
	char last_error[512];
	time_t cache_error_at;		/* 0: none */
	char cache_error[256];
	struct status_odd odd[STATUS_COLLECTIONS];
	long pid;			/* of the process serving the mount */
};

/* Copies id into out as one line of text: control bytes become '?', and
 * an id longer than STATUS_ODD_ID_BYTES is cut before a UTF-8 character
 * and ends with "...". Counts it in odd. */
void status_note_odd(struct status_odd *odd, const char *id);

void render_status(const struct status *st, struct buf *out);

#endif
