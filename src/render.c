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

void status_note_odd(struct status_odd *odd, const char *id)
{
	size_t n = strlen(id), keep = n;
	char *out;

	if (odd->count < STATUS_ODD_SAMPLE) {
		out = odd->sample[odd->count];
		if (n > STATUS_ODD_ID_BYTES) {
			keep = STATUS_ODD_ID_BYTES;
			while (keep > 0 && ((unsigned char)id[keep] & 0xC0) == 0x80)
				keep--;
		}
		for (size_t i = 0; i < keep; i++)
			out[i] = (unsigned char)id[i] < 0x20 || id[i] == 0x7f ? '?' : id[i];
		strcpy(out + keep, keep < n ? "..." : "");
	}
	odd->count++;
}

static void put_utc(struct buf *out, time_t t)
{
	char text[32];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_puts(out, text);
}

/* A length of time as people say it: "40 s", "12 min", "2 h 05 min". */
static void put_duration(struct buf *out, long seconds)
{
	if (seconds < 60)
		buf_printf(out, "%ld s", seconds);
	else if (seconds < 3600)
		buf_printf(out, "%ld min", (seconds + 59) / 60);
	else
		buf_printf(out, "%ld h %02ld min", seconds / 3600, seconds % 3600 / 60);
}

static void render_collections(const struct status *st, struct buf *out)
{
	for (int k = 0; k < STATUS_COLLECTIONS; k++) {
		const struct status_collection *c = &st->collections[k];

		buf_printf(out, "%-14s ", c->name);
		if (c->listed_at) {
			buf_printf(out, "%zu items, listed completely at ", c->count);
			put_utc(out, c->listed_at);
		} else {
			buf_puts(out, "not listed yet");
		}
		if (c->so_far) {
			buf_printf(out, "; %zu listed so far, the listing continues at ", c->so_far);
			put_utc(out, c->continues_at);
			if (c->paced_by)
				buf_printf(out, " (%s policy)", c->paced_by);
		}
		if (c->full_period) {
			buf_puts(out, "; full listing every ");
			put_duration(out, c->full_period);
			buf_printf(out, " (half of the %s policy)", c->period_policy);
		}
		if (c->refresh_error)
			buf_printf(out, "; last refresh failed: %s", strerror(-c->refresh_error));
		if (c->skipped)
			buf_printf(out, "; %zu skipped (no usable id)", c->skipped);
		if (c->pending)
			buf_printf(out, "; %zu missing from the last listing, deleted if the next "
				   "agrees", c->pending);
		if (c->held)
			buf_printf(out, "; %zu deletions held back (%s): omifs refresh "
				   "--accept-deletions deletes them", c->held,
				   c->held_why[0] ? c->held_why : "too many at once");
		if (c->locked)
			buf_printf(out, "; %zu %s locked by the server: full text kept", c->locked,
				   c->name);
		buf_putc(out, '\n');
	}
	if (st->conversations_complete)
		buf_printf(out, "%-14s %zu of %zu conversations cached\n", "transcripts",
			   st->transcripts, st->conversations);
	else
		buf_printf(out, "%-14s %zu cached, of %zu conversations listed so far\n",
			   "transcripts", st->transcripts, st->conversations);
	buf_printf(out, "%-14s %.1f MiB\n", "cache size", (double)st->cache_bytes / 1048576);
	if (st->search[0])
		buf_printf(out, "%-14s %s\n", "search", st->search);
	if (st->offline)
		buf_printf(out, "%-14s offline: no request is sent\n", "mode");
	else
		buf_printf(out, "%-14s online: new items every %d s, full listings every %d s\n",
			   "mode", st->refresh_interval, st->full_refresh_interval);
	/* omifs refresh --wait reads this line: keep its shape. */
	buf_printf(out, "%-14s %lu asked, %lu done", "refreshes", st->refreshes_asked,
		   st->refreshes_done);
	if (st->refreshes_done && st->refresh_error)
		buf_printf(out, "; the last failed: %s: %s\n", st->refresh_failed,
			   strerror(-st->refresh_error));
	else
		buf_puts(out, st->refreshes_done ? "; the last succeeded\n" : "\n");
}

static void render_requests(const struct status *st, struct buf *out)
{
	buf_printf(out, "\nrequests       %lu sent, %lu failed, %lu retries, %lu rate-limited (429)\n",
		   st->requests, st->failures, st->retries, st->rate_limited);
	for (int i = 0; i < st->n_policies; i++) {
		const struct status_policy *p = &st->policies[i];

		buf_printf(out, "budget         %s: %d of %d used in the last %.0f s", p->name,
			   p->used, p->limit, p->window);
		if (p->used >= p->limit)
			buf_printf(out, "; spent, the next request in %.0f s", ceil(p->wait));
		buf_putc(out, '\n');
	}
	if (st->server_remaining >= 0) {
		buf_printf(out, "server         %ld requests left", st->server_remaining);
		if (st->server_reset) {
			buf_puts(out, ", window resets at ");
			put_utc(out, st->server_reset);
		}
		buf_putc(out, '\n');
	}
	if (st->waiting > 0)
		buf_printf(out, "waiting        %d %s for the request budget (reads are slow, not "
				"failing)\n", st->waiting,
			   st->waiting == 1 ? "request waits" : "requests wait");
	if (st->blocked_until > st->now) {
		buf_puts(out, "paused         by the server until ");
		put_utc(out, st->blocked_until);
		buf_putc(out, '\n');
	}
	buf_puts(out, "last error     ");
	if (st->last_error_at) {
		put_utc(out, st->last_error_at);
		buf_printf(out, ": %s\n", st->last_error);
	} else {
		buf_puts(out, "none\n");
	}
	if (st->cache_error_at) {
		buf_puts(out, "cache error    ");
		put_utc(out, st->cache_error_at);
		buf_printf(out, ": %s (what could not be written is fetched again)\n",
			   st->cache_error);
	}
}

static void render_odd(const struct status *st, struct buf *out)
{
	buf_printf(out, "\n%-14s ", "odd fields");
	for (int k = 0; k < STATUS_COLLECTIONS; k++) {
		const struct status_odd *odd = &st->odd[k];
		size_t shown = odd->count < STATUS_ODD_SAMPLE ? odd->count : STATUS_ODD_SAMPLE;

		buf_printf(out, "%s%s: %zu", k ? "; " : "", st->collections[k].name, odd->count);
		if (odd->count == 0)
			continue;
		buf_puts(out, odd->count == 1 ? " item (" : " items (");
		for (size_t i = 0; i < shown; i++)
			buf_printf(out, "%s%s", i ? ", " : "", odd->sample[i]);
		buf_puts(out, odd->count > shown ? ", ...)" : ")");
	}
	buf_putc(out, '\n');
}

void render_status(const struct status *st, struct buf *out)
{
	buf_printf(out, "omifs %s\n\n", OMIFS_VERSION);
	render_collections(st, out);
	render_requests(st, out);
	render_odd(st, out);
	/* How omifs status/refresh find the process serving this mount. */
	buf_printf(out, "pid            %ld\n", st->pid);
}
