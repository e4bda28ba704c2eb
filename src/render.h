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
/* goals/<id>.md: the title as a heading, the fields, and the history as
 * a table when there is one. */
void render_goal(const struct goal *g, struct buf *out);

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

#endif
