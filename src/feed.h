/*
 * feed: the account's changes (store.h's change log) as lines, for
 * people and programs: the mount's .omifs/changes and `omifs changes`.
 *
 * A change's line says when, what (added, changed, removed), the
 * collection and id, the item's path in the id tree, the views it
 * touched (given a snapshot built after the change) and, for the
 * collections whose items have one, the title. omifs.1 (CHANGE FEED)
 * documents the fields.
 */
#ifndef OMIFS_FEED_H
#define OMIFS_FEED_H

#include "buf.h"
#include "snapshot.h"
#include "sync.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

enum feed_format {
	FEED_JSON,	/* one JSON object a line (JSON Lines) */
	FEED_TEXT,	/* for a terminal: local time, change, path, title */
};

/* Appends c's line, newline included. snap (NULL: no views) names the
 * views. Server text in a text line is cleaned of control characters. */
void feed_line(const struct store_change *c, const struct snapshot *snap,
	       enum feed_format format, struct buf *out);

/* What feed_parse_since takes, for the messages that refuse a TEXT. */
#define FEED_SINCE_FORMS "YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z] or an age such as 30m, 2h or 7d"

/* When TEXT (--since) says: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (local time,
 * or UTC with a Z), or an age: N followed by s, m, h or d ("2h": two
 * hours ago), counted back from now. Returns false when TEXT is none of
 * these. */
bool feed_parse_since(const char *text, time_t now, time_t *when);

/*
 * The JSON lines of one mount's .omifs/changes: the changes logged after
 * seq `after` (the last one when the mount began, so that it starts
 * empty), at most FEED_MAX_LINES of them, the oldest dropped first.
 * Thread-safe.
 */
#define FEED_MAX_LINES 10000
struct feed;
struct feed *feed_new(int64_t after);
void feed_free(struct feed *f);
/* Appends the lines of the changes logged since the last call, naming
 * views from snap, a snapshot built after them. Returns how many lines
 * were added, or -errno reading the log (the feed is then as it was, and
 * the next call tries again). */
int feed_catch_up(struct feed *f, struct sync *sync, const struct snapshot *snap);
/* Appends the feed's text to out. */
void feed_copy(struct feed *f, struct buf *out);

#endif
