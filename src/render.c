/*
 * render: file contents. Every format is line-oriented text; fields that
 * must stay on one line go through render_flat(), which turns CR and LF into
 * spaces so that a title with a newline cannot forge another line.
 */
#include "render.h"

#include "jsontext.h"

#include <errno.h>
#include <math.h>
#include <string.h>

void render_flat(struct buf *out, const char *s)
{
	for (; *s; s++)
		buf_putc(out, (*s == '\n' || *s == '\r') ? ' ' : *s);
}

void render_block(struct buf *out, const char *s)
{
	size_t len = strlen(s);

	buf_append(out, s, len);
	if (len == 0 || s[len - 1] != '\n')
		buf_putc(out, '\n');
}

static bool present(const char *s)
{
	return s && *s;
}

/* "- Label: value" when the value is present. */
static void put_field(struct buf *out, const char *label, const char *value)
{
	if (!present(value))
		return;
	buf_printf(out, "- %s: ", label);
	render_flat(out, value);
	buf_putc(out, '\n');
}

void render_memory(const struct memory *m, struct buf *out)
{
	if (present(m->content))
		render_block(out, m->content);
}

void render_action_item(const struct action_item *a, struct buf *out)
{
	render_block(out, a->description ? a->description : "");
	buf_putc(out, '\n');
	put_field(out, "Status", a->completed ? "done" : "open");
	put_field(out, "Created", a->created_at.text);
	put_field(out, "Due", a->due_at.text);
	put_field(out, "Completed", a->completed_at.text);
	put_field(out, "Conversation", a->conversation_id);
}

/* A table cell: on one line, and no '|' that would make another cell. */
static void put_cell(struct buf *out, const char *s)
{
	for (s = s ? s : ""; *s; s++) {
		if (*s == '|')
			buf_puts(out, "\\|");
		else
			buf_putc(out, (*s == '\n' || *s == '\r') ? ' ' : *s);
	}
}

void render_goal(const struct goal *g, struct buf *out)
{
	buf_puts(out, "# ");
	render_flat(out, present(g->title) ? g->title : "(untitled goal)");
	buf_puts(out, "\n\n");
	put_field(out, "Type", g->goal_type);
	put_field(out, "Target", g->target_value);
	put_field(out, "Current", g->current_value);
	if (present(g->min_value) && present(g->max_value)) {
		buf_puts(out, "- Range: ");
		render_flat(out, g->min_value);
		buf_puts(out, " to ");
		render_flat(out, g->max_value);
		buf_putc(out, '\n');
	}
	put_field(out, "Unit", g->unit);
	put_field(out, "Active", g->is_active ? "yes" : "no");
	put_field(out, "Created", g->created_at.text);
	put_field(out, "Updated", g->updated_at.text);
	if (g->n_history == 0)
		return;
	buf_puts(out, "\n## History\n\n| Date | Value |\n| --- | --- |\n");
	for (size_t i = 0; i < g->n_history; i++) {
		buf_puts(out, "| ");
		put_cell(out, g->history[i].date);
		buf_puts(out, " | ");
		put_cell(out, g->history[i].value);
		buf_puts(out, " |\n");
	}
}

/* Seconds as HH:MM:SS; hours grow past two digits rather than wrap. */
static void put_offset(struct buf *out, double seconds)
{
	long long s;

	if (!(seconds > 0))
		seconds = 0;
	if (seconds > 1e12)
		seconds = 1e12;
	s = (long long)floor(seconds);
	buf_printf(out, "[%02lld:%02lld:%02lld] ", s / 3600, s / 60 % 60, s % 60);
}

void render_speaker(const struct segment *seg, struct buf *out)
{
	if (present(seg->speaker_name))
		render_flat(out, seg->speaker_name);
	else if (seg->has_speaker_id)
		buf_printf(out, "Speaker %lld", seg->speaker_id);
	else
		buf_puts(out, "Speaker ?");
}

void render_transcript(const struct conversation *c, struct buf *out)
{
	for (size_t i = 0; i < c->n_segments; i++) {
		const struct segment *seg = &c->segments[i];

		put_offset(out, seg->start);
		render_speaker(seg, out);
		buf_puts(out, ": ");
		render_flat(out, seg->text ? seg->text : "");
		buf_putc(out, '\n');
	}
}

void render_title_line(const struct conversation *c, struct buf *out)
{
	buf_puts(out, "# ");
	if (present(c->emoji)) {
		render_flat(out, c->emoji);
		buf_putc(out, ' ');
	}
	render_flat(out, present(c->title) ? c->title : "Untitled");
	buf_putc(out, '\n');
}

void render_summary(const struct conversation *c, struct buf *out)
{
	render_title_line(c, out);
	buf_putc(out, '\n');
	put_field(out, "Category", c->category);
	put_field(out, "Created", c->created_at.text);
	put_field(out, "Started", c->started_at.text);
	put_field(out, "Finished", c->finished_at.text);
	put_field(out, "Language", c->language);
	put_field(out, "Source", c->source);
	if (present(c->overview)) {
		buf_putc(out, '\n');
		render_block(out, c->overview);
	}
}

void render_task(const struct action_item *a, struct buf *out)
{
	buf_puts(out, a->completed ? "- [x] " : "- [ ] ");
	render_flat(out, a->description ? a->description : "");
	if (present(a->due_at.text)) {
		buf_puts(out, " (due ");
		render_flat(out, a->due_at.text);
		buf_putc(out, ')');
	}
}

void render_conversation_action_items(const struct conversation *c, struct buf *out)
{
	for (size_t i = 0; i < c->n_action_items; i++) {
		render_task(&c->action_items[i], out);
		buf_putc(out, '\n');
	}
}

void render_events(const struct conversation *c, struct buf *out)
{
	render_events_headed(c, "## ", out);
}

void render_events_headed(const struct conversation *c, const char *heading, struct buf *out)
{
	for (size_t i = 0; i < c->n_events; i++) {
		const struct event *e = &c->events[i];

		if (i > 0)
			buf_putc(out, '\n');
		buf_puts(out, heading);
		render_flat(out, present(e->title) ? e->title : "Untitled event");
		buf_putc(out, '\n');
		if (present(e->start) || e->has_duration)
			buf_putc(out, '\n');
		put_field(out, "Start", e->start);
		if (e->has_duration)
			buf_printf(out, "- Duration: %g minutes\n", e->duration);
		if (present(e->description)) {
			buf_putc(out, '\n');
			render_block(out, e->description);
		}
	}
}

int render_json(const char *json_text, struct buf *out)
{
	json_object *obj = json_text_parse(json_text, strlen(json_text));

	if (!obj)
		return -EINVAL;
	buf_puts(out, json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	buf_putc(out, '\n');
	json_object_put(obj);
	return 0;
}

/* ---- .omifs/status ---- */
