/*
 * snapshot_reads: what a snapshot's files hold that is read from the
 * store when a file is read, not when the snapshot is built: the views
 * made of several items (a vault note, a day, a category's memories, the
 * action items, the goals), rendered from the versions the snapshot
 * names; a .jsonl file's lines; and an item's extended attributes.
 */
#include "snapshot_state.h"

#include "vault.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Item n of kind (a node whose id names one), parsed, at the snapshot's
 * version. */
static int read_item(const struct snapshot *snap, const struct node *n, struct sync *sync,
		     enum store_kind kind, union item *item)
{
	char *json;
	int rc = sync_source_json(sync, kind, snapshot_id(snap, n), snapshot_version(snap, n->id),
				  false, &json);

	if (rc < 0)
		return rc;
	rc = snapshot_parse_item(kind, json, item) < 0 ? -EIO : 0;
	free(json);
	return rc;
}

static int render_note(const struct snapshot *snap, const struct node *n, struct sync *sync,
		       struct buf *out, bool *partial)
{
	union item item;
	bool full;
	char *json;
	int rc = sync_note_json(sync, snapshot_id(snap, n), snapshot_version(snap, n->id), &json,
				&full), other;

	if (rc < 0)
		return rc;
	other = rc;
	*partial = !full;
	rc = snapshot_parse_item(STORE_CONVERSATIONS, json, &item) < 0 ? -EIO : other;
	free(json);
	if (rc >= 0) {
		vault_render_note(&item.conversation, full, out);
		snapshot_free_item(STORE_CONVERSATIONS, &item);
	}
	return rc;
}

static int render_day(const struct snapshot *snap, const char *day, struct sync *sync,
		      struct buf *out)
{
	const struct node *notes = &snap->nodes[snap->vault_notes];
	struct buf pending = BUF_INIT, name = BUF_INIT;
	union item item;
	int rc = 0;

	vault_day_begin(day, out);
	for (size_t j = views_first_note_of(snap, day);
	     rc == 0 && views_note_of_day(snap, j, day); j++) {
		const struct node *note = snapshot_child_at(snap, notes, j);
		char room[SNAPSHOT_NAME_ROOM];
		const char *note_name = snapshot_name(snap, note, room);

		rc = read_item(snap, note, sync, STORE_CONVERSATIONS, &item);
		if (rc < 0)
			break;
		buf_reset(&name);
		buf_append(&name, note_name, strlen(note_name) - strlen(".md"));
		vault_day_conversation(&item.conversation, name.data, out, &pending);
		snapshot_free_item(STORE_CONVERSATIONS, &item);
	}
	vault_day_end(&pending, out);
	buf_free(&pending);
	buf_free(&name);
	return rc;
}

/* A line for each file of dir, an item of kind. */
static int render_lines_of(const struct snapshot *snap, const struct node *dir,
			   enum store_kind kind, struct sync *sync, struct buf *out)
{
	union item item;
	int rc;

	for (size_t i = 0; dir && i < snapshot_n_children(snap, dir); i++) {
		rc = read_item(snap, snapshot_child_at(snap, dir, i), sync, kind, &item);
		if (rc < 0)
			return rc;
		collection_of(kind)->vault_line(&item, out);
		snapshot_free_item(kind, &item);
	}
	return 0;
}

int snapshot_render_view(const struct snapshot *snap, const struct node *n, struct sync *sync,
			 struct buf *out, bool *partial)
{
	const uint32_t *top = snap->top;
	int rc;

	*partial = false;
	switch (n->kind) {
	case NODE_VAULT_NOTE:
		return render_note(snap, n, sync, out, partial);
	case NODE_VAULT_DAY:
		return render_day(snap, snapshot_id(snap, n), sync, out);
	case NODE_VAULT_MEMORIES:
		vault_memories_begin(snapshot_id(snap, n), out);
		return render_lines_of(snap, views_subdir(snap, top[STORE_MEMORIES],
							  snapshot_id(snap, n)),
				       STORE_MEMORIES, sync, out);
	case NODE_VAULT_ACTION_ITEMS:
		vault_action_items_section(false, out);
		rc = render_lines_of(snap, views_subdir(snap, top[STORE_ACTION_ITEMS], "open"),
				     STORE_ACTION_ITEMS, sync, out);
		if (rc < 0)
			return rc;
		vault_action_items_section(true, out);
		return render_lines_of(snap, views_subdir(snap, top[STORE_ACTION_ITEMS], "done"),
				       STORE_ACTION_ITEMS, sync, out);
	case NODE_VAULT_GOALS:
		vault_goals_begin(out);
		return render_lines_of(snap, &snap->nodes[top[STORE_GOALS]], STORE_GOALS, sync, out);
	default:
		return -EIO;
	}
}

/* The first line of kind's .jsonl that ends after off; *start gets where
 * it starts. */
static size_t line_at(const struct snapshot *snap, enum store_kind kind, uint64_t off,
		      uint64_t *start)
{
	const uint64_t *marks = snap->line_marks[kind];
	size_t n = snap->n_lines[kind], lo = 0, hi = n ? (n - 1) / SNAPSHOT_LINES_STEP + 1 : 0, i;

	/* The last mark at or before off, then line by line from it. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (marks[mid] <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	i = lo ? (lo - 1) * SNAPSHOT_LINES_STEP : 0;
	*start = lo ? marks[lo - 1] : 0;
	while (i < n && *start + snap->lines[kind][i].len <= off)
		*start += snap->lines[kind][i++].len;
	return i;
}

int snapshot_read_lines(const struct snapshot *snap, const struct node *n, struct sync *sync,
			off_t off, size_t size, struct buf *out)
{
	enum store_kind kind = (enum store_kind)n->collection;
	const struct snapshot_line *lines = snap->lines[kind];
	uint64_t from = (uint64_t)off, to = from + size, start;
	size_t had = out->len;
	char *json;
	int rc;

	for (size_t i = line_at(snap, kind, from, &start); i < snap->n_lines[kind] && start < to;
	     start += lines[i++].len) {
		uint64_t end = start + lines[i].len;
		uint64_t lo = from > start ? from - start : 0;
		uint64_t hi = (to < end ? to : end) - start;

		rc = sync_source_json(sync, kind, snap->arena + lines[i].id,
				      snapshot_version(snap, lines[i].id), false, &json);
		/* A digest names a version, but only a length read can trust. */
		if (rc == 0 && strlen(json) + 1 != lines[i].len) {
			free(json);
			rc = -EIO;
		}
		if (rc < 0) {
			buf_truncate(out, had);
			return rc;
		}
		json[lines[i].len - 1] = '\n';
		buf_append(out, json + lo, hi - lo);
		free(json);
	}
	return 0;
}

/* ---- extended attributes ---- */

/* Which collection's item n shows with attributes, or -1. */
static int attributed_kind(const struct node *n)
{
	switch (n->kind) {
	case NODE_ITEM: return n->collection;
	case NODE_VAULT_NOTE: return STORE_CONVERSATIONS;
	/* A directory with an id is a conversation's. */
	case NODE_DIR: return n->id != SNAPSHOT_NONE ? STORE_CONVERSATIONS : -1;
	default: return -1;
	}
}

static int attribute(snapshot_attribute_fn fn, void *ctx, const char *name, const char *value)
{
	return value && *value ? fn(name, value, ctx) : 0;
}

int snapshot_attributes(const struct snapshot *snap, const struct node *n, struct sync *sync,
			snapshot_attribute_fn fn, void *ctx)
{
	int kind = attributed_kind(n);
	const struct collection *c;
	union item item;
	int rc;

	if (kind < 0)
		return 0;
	c = collection_of((enum store_kind)kind);
	rc = read_item(snap, n, sync, (enum store_kind)kind, &item);
	if (rc < 0)
		return rc;
	if (sync_item_locked(sync, (enum store_kind)kind, snapshot_id(snap, n)))
		rc = attribute(fn, ctx, "user.omi.locked", "true");
	rc = rc ? rc : attribute(fn, ctx, "user.omi.id", c->id(&item));
	rc = rc ? rc : attribute(fn, ctx, "user.omi.title", c->title ? c->title(&item) : NULL);
	rc = rc ? rc : attribute(fn, ctx, "user.omi.category",
				 c->category ? c->category(&item) : NULL);
	rc = rc ? rc : attribute(fn, ctx, "user.omi.created_at", c->created_at(&item)->text);
	snapshot_free_item((enum store_kind)kind, &item);
	return rc;
}
