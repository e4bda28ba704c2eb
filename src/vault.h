/*
 * vault: the names and bytes of the markdown vault (vault/ in the mount),
 * a view for Obsidian and other markdown tools over the same objects as
 * the id tree. The formats are documented in omifs.1 under VIEWS.
 *
 * Like render, every function is deterministic (the same objects give
 * the same bytes; local time comes from TZ, as the day directories'
 * does) and appends to the caller's buffer.
 */
#ifndef OMIFS_VAULT_H
#define OMIFS_VAULT_H

#include "buf.h"
#include "model.h"

#include <stdbool.h>

/* The version of the formats below, kept with the notes' sizes in the
 * cache: bump it with any change to the bytes they give. */
#define VAULT_FORMAT 1

/* Longest cleaned title, in bytes: names stay far below NAME_MAX. */
#define VAULT_TITLE_BYTES 100

/* A conversation's title as names and links can hold it: control bytes
 * and / \ : * ? " < > | # ^ [ ] become spaces, bidi controls and invalid
 * UTF-8 are dropped, white space is collapsed and trimmed (trailing dots
 * too), then cut to VAULT_TITLE_BYTES; "Untitled" when nothing is left. */
void vault_clean_title(const char *title, struct buf *out);

/* A note's name without ".md": "YYYY-MM-DD HHMM <title>" in local time
 * of created_at, or "undated <title>". */
void vault_note_name(const struct conversation *c, struct buf *out);

/* The suffix that tells apart notes whose names clash: " (xxxxxxxx)",
 * the first `bits` bits (32 or 64) of the id's hash in hex. */
void vault_clash_suffix(const char *id, int bits, struct buf *out);

/* The name of the file that lists a directory of the id tree (a day, a
 * category): its name (C1 controls, line separators and bidi controls
 * written %XX) and ".md" (with clash: its name's clash suffix
 * between them, for names that differ only in case or normalisation),
 * or, past NAME_MAX, its start and "~" and 16 hex digits of its name's
 * hash, as names.h shortens names. */
void vault_list_name(const char *dir, bool clash, struct buf *out);

/* A conversation's note: YAML front matter, summary, action items,
 * events, transcript. When has_transcript is false (an offline mount
 * without it cached), one line says so instead of the transcript. */
void vault_render_note(const struct conversation *c, bool has_transcript, struct buf *out);

/* A daily note is a head, a line per conversation (note is its note's
 * name without ".md"), then the open action items of them all: pending
 * collects those lines until vault_day_end appends them. */
void vault_day_begin(const char *day, struct buf *out);
void vault_day_conversation(const struct conversation *c, const char *note, struct buf *out,
			    struct buf *pending);
void vault_day_end(struct buf *pending, struct buf *out);

/* Memories/<category>.md: a head, then a line per memory. */
void vault_memories_begin(const char *category, struct buf *out);
void vault_memory_line(const struct memory *m, struct buf *out);

/* Action items.md: a head, the open section (begin with done false),
 * its lines, the done section (done true), its lines. */
void vault_action_items_section(bool done, struct buf *out);
void vault_action_item_line(const struct action_item *a, struct buf *out);
/* Goals.md: its heading, then a line a goal, "- title: 3.0 of 10.0 points". */
void vault_goals_begin(struct buf *out);
void vault_goal_line(const struct goal *g, struct buf *out);

#endif
