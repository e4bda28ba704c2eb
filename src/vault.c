/*
 * vault: the markdown vault's names and notes (see vault.h).
 *
 * Titles become names here, so the rule that keeps them safe for every
 * tool (Obsidian's links break on # ^ [ ] |, Windows and sync tools on
 * : * ? " < > \) lives here too. Front matter is YAML whose strings are
 * all double-quoted, the one YAML form where every byte can be escaped.
 */
#include "vault.h"

#include "hash.h"
#include "names.h"
#include "render.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

static void trim_end(struct buf *out, size_t start)
{
	while (out->len > start && (out->data[out->len - 1] == ' ' || out->data[out->len - 1] == '.'))
		out->data[--out->len] = '\0';
}

void vault_clean_title(const char *title, struct buf *out)
{
	size_t start = out->len;

	/* What file systems or Obsidian's links refuse reads as a space. */
	names_visible_text(title, "/\\:*?\"<>|#^[]", VAULT_TITLE_BYTES, out);
	trim_end(out, start);
	if (out->len == start)
		buf_puts(out, "Untitled");
}

void vault_note_name(const struct conversation *c, struct buf *out)
{
	char day[16], hhmm[8];
	struct tm tm;

	if (c->created_at.valid) {
		names_local_day(c->created_at.when, day);
		localtime_r(&c->created_at.when, &tm);
		strftime(hhmm, sizeof(hhmm), "%H%M", &tm);
		buf_printf(out, "%s %s ", day, hhmm);
	} else {
		buf_puts(out, "undated ");
	}
	vault_clean_title(c->title, out);
}

void vault_clash_suffix(const char *id, int bits, struct buf *out)
{
	uint64_t h = hash_bytes(id, strlen(id));

	/* FNV-1a's high bits move little with the last byte: ids that differ
	 * there would get suffixes that differ in one digit. Mixed (MurmurHash3's
	 * finalizer), every bit of the id moves every digit. */
	h = (h ^ (h >> 33)) * 0xff51afd7ed558ccdULL;
	h = (h ^ (h >> 33)) * 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;

	if (bits == 64)
		buf_printf(out, " (%016llx)", (unsigned long long)h);
	else
		buf_printf(out, " (%08x)", (unsigned)(h >> 32));
}

/* dir with the characters that would break a listing or reorder it
 * (names_is_control's C1 controls and line separators, bidi controls;
 * the id tree escaped the rest) written %XX, as the id tree writes its
 * own escapes: a '%' in dir is already "%25", so none is ambiguous. */
static void put_visible_name(const char *dir, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)dir;
	uint32_t c;
	size_t n;

	while (*s) {
		n = names_utf8_decode(s, &c);
		if (n == 0) {
			buf_putc(out, (char)*s++);
			continue;
		}
		if (names_is_control(c) || names_is_bidi_control(c))
			for (size_t i = 0; i < n; i++)
				buf_printf(out, "%%%02X", s[i]);
		else
			buf_append(out, (const char *)s, n);
		s += n;
	}
}

void vault_list_name(const char *dir, bool clash, struct buf *out)
{
	struct buf name = BUF_INIT;
	size_t len, keep = NAME_MAX - strlen(".md") - NAMES_HASH_BYTES;

	put_visible_name(dir, &name);
	len = name.len;
	if (len + strlen(".md") + (clash ? sizeof(" (12345678)") - 1 : 0) <= NAME_MAX) {
		buf_append(out, name.data, len);
		if (clash)
			vault_clash_suffix(dir, 32, out);
		buf_puts(out, ".md");
		buf_free(&name);
		return;
	}
	while (keep > 0 && ((unsigned char)name.data[keep] & 0xC0) == 0x80)
		keep--;
	/* Nor inside a %XX escape. */
	if (keep >= 1 && name.data[keep - 1] == '%')
		keep -= 1;
	else if (keep >= 2 && name.data[keep - 2] == '%')
		keep -= 2;
	buf_append(out, name.data, keep);
	buf_printf(out, "~%016llx.md", (unsigned long long)hash_bytes(dir, strlen(dir)));
	buf_free(&name);
}

/* ---- the note ---- */

/* s as a YAML double-quoted scalar. */
static void put_yaml_string(struct buf *out, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	uint32_t c;

	buf_putc(out, '"');
	while (*s) {
		size_t len = names_utf8_decode(s, &c);

		if (len == 0) {
			buf_puts(out, "\\uFFFD");
			s++;
			continue;
		}
		if (c == '"' || c == '\\')
			buf_printf(out, "\\%c", (int)c);
		else if (c == '\n')
			buf_puts(out, "\\n");
		else if (c == '\t')
			buf_puts(out, "\\t");
		else if (c == '\r')
			buf_puts(out, "\\r");
		else if (c < 0x20 || c == 0x7F)
			buf_printf(out, "\\x%02X", (unsigned)c);
		else if ((c >= 0x80 && c <= 0x9F) || c == 0x2028 || c == 0x2029 || c == 0xFEFF)
			buf_printf(out, "\\u%04X", (unsigned)c);
		else
			buf_append(out, (const char *)s, len);
		s += len;
	}
	buf_putc(out, '"');
}

static void put_yaml_field(struct buf *out, const char *key, const char *value)
{
	if (!value || !*value)
		return;
	buf_printf(out, "%s: ", key);
	put_yaml_string(out, value);
	buf_putc(out, '\n');
}

/* speakers: the transcript's speakers, each once, in order of first word. */
static void put_speakers(const struct conversation *c, struct buf *out)
{
	struct buf name = BUF_INIT, seen = BUF_INIT;
	size_t n = 0;

	buf_puts(out, "speakers: [");
	buf_putc(&seen, '\n');
	for (size_t i = 0; i < c->n_segments; i++) {
		buf_reset(&name);
		buf_putc(&name, '\n');
		render_speaker(&c->segments[i], &name);
		buf_putc(&name, '\n');
		if (strstr(seen.data, name.data))
			continue;
		buf_append(&seen, name.data + 1, name.len - 1);
		name.data[name.len - 1] = '\0';
		buf_puts(out, n++ ? ", " : "");
		put_yaml_string(out, name.data + 1);
	}
	buf_puts(out, "]\n");
	buf_free(&name);
	buf_free(&seen);
}

/* tags: "omi", and the category as a tag can hold it. */
static void put_tags(const struct conversation *c, struct buf *out)
{
	buf_puts(out, "tags: [\"omi\"");
	if (c->category && *c->category) {
		buf_puts(out, ", \"");
		for (const char *p = c->category; *p; p++) {
			bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
				    (*p >= '0' && *p <= '9') || strchr("_/-", *p);

			buf_putc(out, keep ? *p : '-');
		}
		buf_putc(out, '"');
	}
	buf_puts(out, "]\n");
}

static void put_front_matter(const struct conversation *c, bool has_transcript, struct buf *out)
{
	buf_puts(out, "---\n");
	put_yaml_field(out, "id", c->id);
	put_yaml_field(out, "created", c->created_at.text);
	put_yaml_field(out, "started", c->started_at.text);
	put_yaml_field(out, "finished", c->finished_at.text);
	if (c->started_at.valid && c->finished_at.valid && c->finished_at.when >= c->started_at.when)
		buf_printf(out, "duration: %lld\n",
			   (long long)(c->finished_at.when - c->started_at.when));
	put_yaml_field(out, "category", c->category);
	put_yaml_field(out, "language", c->language);
	put_yaml_field(out, "source", c->source);
	if (has_transcript)
		put_speakers(c, out);
	put_tags(c, out);
	buf_puts(out, "---\n\n");
}

void vault_render_note(const struct conversation *c, bool has_transcript, struct buf *out)
{
	put_front_matter(c, has_transcript, out);
	render_title_line(c, out);
	if (c->overview && *c->overview) {
		buf_putc(out, '\n');
		render_block(out, c->overview);
	}
	if (c->n_action_items > 0) {
		buf_puts(out, "\n## Action items\n\n");
		render_conversation_action_items(c, out);
	}
	if (c->n_events > 0) {
		buf_puts(out, "\n## Events\n\n");
		render_events_headed(c, "### ", out);
	}
	buf_puts(out, "\n## Transcript\n\n");
	if (has_transcript)
		render_transcript(c, out);
	else
		buf_puts(out, "> The transcript is not cached yet: `omifs sync` fetches it.\n");
}

/* ---- daily notes, memories, action items ---- */

/* "[[note|title]]": the link Obsidian resolves by the note's name. */
static void put_link(const struct conversation *c, const char *note, struct buf *out)
{
	buf_printf(out, "[[%s|", note);
	vault_clean_title(c->title, out);
	buf_puts(out, "]]");
}

void vault_day_begin(const char *day, struct buf *out)
{
	buf_printf(out, "# %s\n\n## Conversations\n\n", day);
}

void vault_day_conversation(const struct conversation *c, const char *note, struct buf *out,
			    struct buf *pending)
{
	char hhmm[8] = "--:--";
	struct tm tm;

	if (c->created_at.valid) {
		localtime_r(&c->created_at.when, &tm);
		strftime(hhmm, sizeof(hhmm), "%H:%M", &tm);
	}
	buf_printf(out, "- %s ", hhmm);
	put_link(c, note, out);
	buf_putc(out, '\n');
	for (size_t i = 0; i < c->n_action_items; i++) {
		const struct action_item *a = &c->action_items[i];

		if (a->completed)
			continue;
		render_task(a, pending);
		buf_puts(pending, " · ");
		put_link(c, note, pending);
		buf_putc(pending, '\n');
	}
}

void vault_day_end(struct buf *pending, struct buf *out)
{
	if (pending->len == 0)
		return;
	buf_puts(out, "\n## Open action items\n\n");
	buf_append(out, pending->data, pending->len);
}

void vault_memories_begin(const char *category, struct buf *out)
{
	buf_printf(out, "# %s\n\n", category);
}

void vault_memory_line(const struct memory *m, struct buf *out)
{
	buf_puts(out, "- ");
	render_flat(out, m->content ? m->content : "");
	buf_putc(out, '\n');
}

void vault_action_items_section(bool done, struct buf *out)
{
	buf_puts(out, done ? "\n## Done\n\n" : "# Action items\n\n## Open\n\n");
}

void vault_action_item_line(const struct action_item *a, struct buf *out)
{
	render_task(a, out);
	buf_putc(out, '\n');
}

void vault_goals_begin(struct buf *out)
{
	buf_puts(out, "# Goals\n\n");
}

void vault_goal_line(const struct goal *g, struct buf *out)
{
	buf_puts(out, "- ");
	render_flat(out, g->title && *g->title ? g->title : "(untitled goal)");
	if (g->current_value && g->target_value) {
		buf_puts(out, ": ");
		render_flat(out, g->current_value);
		buf_puts(out, " of ");
		render_flat(out, g->target_value);
		if (g->unit && *g->unit) {
			buf_putc(out, ' ');
			render_flat(out, g->unit);
		}
	}
	if (!g->is_active)
		buf_puts(out, " (inactive)");
	buf_putc(out, '\n');
}
