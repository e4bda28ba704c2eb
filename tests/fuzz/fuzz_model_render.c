/*
 * fuzz_model_render: server JSON -> model -> every file's bytes.
 *
 * The input is an HTTP body as api_get_json would accept it (json-c's
 * default depth of 32, the whole body one JSON value). An array is a
 * listing page and each element an item; anything else is one object (as
 * GET /user/conversations/{id} returns). Every item goes through the three
 * model_parse_* parsers and every render_* function, and render_json gets
 * the input text itself.
 *
 * Invariants checked (a broken one aborts, so libFuzzer saves the input):
 * - rendering is deterministic: two parses of the same object render the
 *   same bytes, and so does the object after the store's round trip
 *   (sync serializes an item with json-c, tree parses that text again);
 * - a stored item can always be parsed again, by the same parsers;
 * - rendered text holds no NUL byte (st_size is the length of a C string);
 * - transcript.txt has exactly one '\n'-terminated line per segment, each
 *   starting "[", and no CR anywhere; action-items.md one "- [" line per
 *   item; the "- Field: value" lines of summary.md and of an action item's
 *   file are exactly the fields present, none forged by CR/LF in a value;
 * - parse succeeds iff model_object_id finds an id, and gives that id:
 *   no other field's value can hide an object;
 * - the count of odd fields is the same for both parses and the stored
 *   copy; a memory's is the number of its text fields holding something
 *   other than null or a string, and its content is present exactly when
 *   that field is a string, number or boolean (model.h's text rule).
 * - a vault note's name is one line of valid UTF-8 without / \ : * ? " < >
 *   | # ^ [ ], at most "YYYY-MM-DD HHMM " and VAULT_TITLE_BYTES long; its
 *   front matter is "---", "key: value" lines with no CR, then "---";
 *   daily, memory and action item lines are one line each.
 * Everything is freed, so LeakSanitizer checks the model's ownership rule.
 */
#include "buf.h"
#include "fuzz.h"
#include "jsontext.h"
#include "model.h"
#include "render.h"
#include "vault.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* What sync.c stores for an item (object_json). */
#define STORE_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static bool present(const char *s)
{
	return s && *s;
}

static void check_no_nul(const struct buf *b, const char *what)
{
	if (b->len == 0)
		return;
	FUZZ_CHECK(b->data && b->data[b->len] == '\0', "%s: buffer not NUL-terminated", what);
	FUZZ_CHECK(strlen(b->data) == b->len, "%s: NUL byte at %zu of %zu rendered bytes", what,
		   strlen(b->data), b->len);
}

static void check_same(const struct buf *a, const struct buf *b, const char *what)
{
	FUZZ_CHECK(a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0),
		   "%s: not deterministic (%zu bytes, then %zu bytes)", what, a->len, b->len);
}

static void check_timestamp(const struct timestamp *t, const char *what)
{
	FUZZ_CHECK(!t->valid || t->text, "%s: valid timestamp without text", what);
	FUZZ_CHECK(t->valid || t->when == 0, "%s: invalid timestamp with a time", what);
}

/* Returns the start of line `i` (0-based) counted from the end of text
 * [s, s+len) that ends with '\n', or NULL when there are fewer lines. */
static const char *nth_line_from_end(const char *s, size_t len, size_t i)
{
	size_t pos = len;	/* just past a '\n' */

	for (size_t k = 0; k <= i; k++) {
		if (pos == 0)
			return NULL;
		pos--;		/* the '\n' that ends this line */
		while (pos > 0 && s[pos - 1] != '\n')
			pos--;
	}
	return s + pos;
}

/* Checks that the text ends with exactly `n` "- Field: value" lines with
 * no CR, preceded by an empty line or by `head_end` (the start of them). */
static void check_field_lines(const struct buf *b, size_t n, size_t head_end, const char *what)
{
	const char *first = NULL;

	FUZZ_CHECK(b->len > 0 && b->data[b->len - 1] == '\n', "%s: no final newline", what);
	for (size_t i = 0; i < n; i++) {
		const char *line = nth_line_from_end(b->data, b->len, i);
		const char *end;

		FUZZ_CHECK(line != NULL, "%s: %zu field lines expected", what, n);
		end = strchr(line, '\n');
		FUZZ_CHECK(strncmp(line, "- ", 2) == 0, "%s: field line %zu of %zu is \"%.*s\"", what,
			   i, n, (int)(end - line), line);
		FUZZ_CHECK(memchr(line, '\r', (size_t)(end - line)) == NULL, "%s: CR in a field line",
			   what);
		first = line;
	}
	if (n > 0)
		FUZZ_CHECK((size_t)(first - b->data) == head_end, "%s: %zu bytes before %zu fields, want %zu",
			   what, (size_t)(first - b->data), n, head_end);
}

/* model.h's text rule, independently: whether the field gives text, and
 * whether it is odd. */
static bool text_field(json_object *obj, const char *name, unsigned *odd_count)
{
	json_object *v = NULL;
	json_type type;

	if (!json_object_object_get_ex(obj, name, &v) || v == NULL)
		return false;
	type = json_object_get_type(v);
	if (type != json_type_string)
		++*odd_count;
	return type != json_type_object && type != json_type_array;
}

static void check_memory_fields(json_object *obj, const struct memory *m)
{
	unsigned odd_count = 0;
	bool content = text_field(obj, "content", &odd_count);

	text_field(obj, "category", &odd_count);
	text_field(obj, "created_at", &odd_count);
	text_field(obj, "updated_at", &odd_count);
	FUZZ_CHECK(m->odd_fields == odd_count, "memory: %u odd fields, want %u", m->odd_fields,
		   odd_count);
	FUZZ_CHECK((m->content != NULL) == content, "memory: content %s", m->content ? "made up" : "lost");
}

static void fuzz_memory(json_object *obj, json_object *stored)
{
	struct memory a, b, s;
	struct buf ra = BUF_INIT, rb = BUF_INIT, rs = BUF_INIT;
	char *id = model_object_id(obj);
	int rc = model_parse_memory(obj, &a);

	FUZZ_CHECK((rc == 0) == (id != NULL), "memory: parse %d but object id %s", rc,
		   id ? id : "(none)");
	if (rc < 0) {
		FUZZ_CHECK(a.id == NULL && a.content == NULL, "memory: failed parse left fields");
		free(id);
		return;
	}
	FUZZ_CHECK(strcmp(a.id, id) == 0, "memory: id \"%s\" vs object id \"%s\"", a.id, id);
	FUZZ_CHECK(model_parse_memory(obj, &b) == 0, "memory: second parse failed");
	FUZZ_CHECK(model_parse_memory(stored, &s) == 0, "memory: stored copy does not parse");
	FUZZ_CHECK(strcmp(a.id, s.id) == 0, "memory: stored id \"%s\" vs \"%s\"", s.id, a.id);
	check_timestamp(&a.created_at, "memory created_at");
	check_timestamp(&a.updated_at, "memory updated_at");
	check_memory_fields(obj, &a);
	FUZZ_CHECK(a.odd_fields == b.odd_fields && a.odd_fields == s.odd_fields,
		   "memory: odd fields %u, %u, stored %u", a.odd_fields, b.odd_fields, s.odd_fields);

	render_memory(&a, &ra);
	render_memory(&b, &rb);
	render_memory(&s, &rs);
	check_no_nul(&ra, "memory");
	check_same(&ra, &rb, "memory");
	check_same(&ra, &rs, "memory after the store round trip");
	if (present(a.content)) {
		size_t n = strlen(a.content);

		FUZZ_CHECK(ra.len >= n && memcmp(ra.data, a.content, n) == 0 &&
				   ra.data[ra.len - 1] == '\n' && ra.len - n <= 1,
			   "memory: file is not the content plus at most a newline");
	} else {
		FUZZ_CHECK(ra.len == 0, "memory without content renders %zu bytes", ra.len);
	}

	buf_free(&ra);
	buf_free(&rb);
	buf_free(&rs);
	model_free_memory(&a);
	model_free_memory(&b);
	model_free_memory(&s);
	free(id);
}

static void check_action_item_file(const struct action_item *a, const struct buf *r)
{
	size_t fields = 1 + present(a->created_at.text) + present(a->due_at.text) +
			present(a->completed_at.text) + present(a->conversation_id);
	size_t head = strlen(a->description ? a->description : "");

	/* description block (with its newline), an empty line, the fields */
	if (head == 0 || a->description[head - 1] != '\n')
		head++;
	head++;
	check_no_nul(r, "action item");
	check_field_lines(r, fields, head, "action item");
}

static void fuzz_action_item(json_object *obj, json_object *stored)
{
	struct action_item a, b, s;
	struct buf ra = BUF_INIT, rb = BUF_INIT, rs = BUF_INIT;
	char *id = model_object_id(obj);
	int rc = model_parse_action_item(obj, &a);

	FUZZ_CHECK((rc == 0) == (id != NULL), "action item: parse %d but object id %s", rc,
		   id ? id : "(none)");
	if (rc < 0) {
		FUZZ_CHECK(a.id == NULL && a.description == NULL,
			   "action item: failed parse left fields");
		free(id);
		return;
	}
	FUZZ_CHECK(strcmp(a.id, id) == 0, "action item: id \"%s\" vs \"%s\"", a.id, id);
	FUZZ_CHECK(model_parse_action_item(obj, &b) == 0, "action item: second parse failed");
	FUZZ_CHECK(model_parse_action_item(stored, &s) == 0,
		   "action item: stored copy does not parse");
	check_timestamp(&a.created_at, "action item created_at");
	check_timestamp(&a.updated_at, "action item updated_at");
	check_timestamp(&a.due_at, "action item due_at");
	check_timestamp(&a.completed_at, "action item completed_at");
	FUZZ_CHECK(a.odd_fields == b.odd_fields && a.odd_fields == s.odd_fields,
		   "action item: odd fields %u, %u, stored %u", a.odd_fields, b.odd_fields,
		   s.odd_fields);

	render_action_item(&a, &ra);
	render_action_item(&b, &rb);
	render_action_item(&s, &rs);
	check_same(&ra, &rb, "action item");
	check_same(&ra, &rs, "action item after the store round trip");
	check_action_item_file(&a, &ra);

	buf_free(&ra);
	buf_free(&rb);
	buf_free(&rs);
	model_free_action_item(&a);
	model_free_action_item(&b);
	model_free_action_item(&s);
	free(id);
}

typedef void (*conv_render_fn)(const struct conversation *, struct buf *);

static const struct {
	conv_render_fn fn;
	const char *name;
} conv_renders[] = {
	{ render_transcript, "transcript.txt" },
	{ render_summary, "summary.md" },
	{ render_conversation_action_items, "action-items.md" },
	{ render_events, "events.md" },
};
#define N_CONV_RENDERS (sizeof(conv_renders) / sizeof(conv_renders[0]))

static void check_transcript(const struct conversation *c, const struct buf *r)
{
	size_t lines = 0;

	FUZZ_CHECK(memchr(r->data ? r->data : "", '\r', r->len) == NULL, "transcript: CR in output");
	for (size_t i = 0; i < r->len; i++) {
		if (i == 0 || r->data[i - 1] == '\n')
			FUZZ_CHECK(r->data[i] == '[', "transcript: line %zu starts with 0x%02x", lines,
				   (unsigned char)r->data[i]);
		if (r->data[i] == '\n')
			lines++;
	}
	FUZZ_CHECK(lines == c->n_segments, "transcript: %zu lines for %zu segments", lines,
		   c->n_segments);
	FUZZ_CHECK(r->len == 0 || r->data[r->len - 1] == '\n', "transcript: last line unterminated");
}

static void check_action_items_md(const struct conversation *c, const struct buf *r)
{
	size_t lines = 0;

	FUZZ_CHECK(memchr(r->data ? r->data : "", '\r', r->len) == NULL,
		   "action-items.md: CR in output");
	for (size_t i = 0; i < r->len; i++) {
		if (i == 0 || r->data[i - 1] == '\n')
			FUZZ_CHECK(r->len - i >= 6 && (memcmp(r->data + i, "- [ ] ", 6) == 0 ||
							memcmp(r->data + i, "- [x] ", 6) == 0),
				   "action-items.md: line %zu is not a checkbox", lines);
		if (r->data[i] == '\n')
			lines++;
	}
	FUZZ_CHECK(lines == c->n_action_items, "action-items.md: %zu lines for %zu items", lines,
		   c->n_action_items);
}

static void check_summary(const struct conversation *c, const struct buf *r)
{
	size_t fields = present(c->category) + present(c->created_at.text) +
			present(c->started_at.text) + present(c->finished_at.text) +
			present(c->language) + present(c->source);
	const char *title_end = memchr(r->data, '\n', r->len);
	size_t head, pos;

	FUZZ_CHECK(r->len >= 3 && memcmp(r->data, "# ", 2) == 0, "summary: no title line");
	FUZZ_CHECK(title_end && memchr(r->data, '\r', (size_t)(title_end - r->data)) == NULL,
		   "summary: CR in the title line");
	head = (size_t)(title_end - r->data) + 2;	/* "\n\n" after the title */
	FUZZ_CHECK(head <= r->len && r->data[head - 1] == '\n', "summary: no blank line after title");
	/* the field lines follow, each "- ...\n" with no CR */
	pos = head;
	for (size_t i = 0; i < fields; i++) {
		const char *nl = memchr(r->data + pos, '\n', r->len - pos);

		FUZZ_CHECK(nl && r->len - pos >= 2 && memcmp(r->data + pos, "- ", 2) == 0,
			   "summary: field line %zu of %zu missing", i, fields);
		FUZZ_CHECK(memchr(r->data + pos, '\r', (size_t)(nl - (r->data + pos))) == NULL,
			   "summary: CR in a field line");
		pos = (size_t)(nl - r->data) + 1;
	}
	if (present(c->overview)) {
		size_t n = strlen(c->overview);

		FUZZ_CHECK(r->len - pos >= n + 1 && r->data[pos] == '\n' &&
				   memcmp(r->data + pos + 1, c->overview, n) == 0,
			   "summary: overview not where the fields end");
		pos += 1 + n;
		if (c->overview[n - 1] != '\n')
			pos++;
	}
	FUZZ_CHECK(pos == r->len, "summary: %zu stray bytes after %zu fields", r->len - pos, fields);
}

/* Whether s is all valid UTF-8 (RFC 3629: no overlong forms, surrogates
 * or code points past U+10FFFF), written apart from vault.c's decoder. */
static bool valid_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
			   : c >= 0xF0 && c <= 0xF4 ? 4 : 0;

		if (len == 0 || i + len > n)
			return false;
		for (size_t k = 1; k < len; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
		if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F) ||
		    (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F))
			return false;
		i += len;
	}
	return true;
}

static void check_vault(const struct conversation *c, const struct conversation *stored)
{
	struct buf name = BUF_INIT, again = BUF_INIT, note = BUF_INIT, note2 = BUF_INIT;
	struct buf day = BUF_INIT, pending = BUF_INIT;
	const char *end;

	vault_note_name(c, &name);
	vault_note_name(stored, &again);
	check_same(&name, &again, "vault note name");
	FUZZ_CHECK(name.len > 0 && name.len <= strlen("YYYY-MM-DD HHMM ") + VAULT_TITLE_BYTES,
		   "vault note name of %zu bytes", name.len);
	FUZZ_CHECK(valid_utf8((const unsigned char *)name.data, name.len), "vault name not UTF-8");
	for (size_t i = 0; i < name.len; i++)
		FUZZ_CHECK((unsigned char)name.data[i] >= 0x20 && name.data[i] != 0x7f &&
				   !strchr("/\\:*?\"<>|#^[]", name.data[i]),
			   "vault name holds 0x%02x", (unsigned char)name.data[i]);
	for (int full = 0; full < 2; full++) {
		buf_reset(&note);
		buf_reset(&note2);
		vault_render_note(c, full, &note);
		vault_render_note(stored, full, &note2);
		check_same(&note, &note2, "vault note");
		check_no_nul(&note, "vault note");
		FUZZ_CHECK(note.len > 8 && memcmp(note.data, "---\n", 4) == 0, "note: no front matter");
		end = strstr(note.data + 4, "\n---\n");
		FUZZ_CHECK(end != NULL, "note: front matter not closed");
		for (const char *line = note.data + 4; line <= end; line = strchr(line, '\n') + 1) {
			const char *colon = strchr(line, ':'), *nl = strchr(line, '\n');

			FUZZ_CHECK(colon && colon < nl && colon[1] == ' ', "note: front matter line "
				   "\"%.*s\" is not key: value", (int)(nl - line), line);
			FUZZ_CHECK(memchr(line, '\r', (size_t)(nl - line)) == NULL, "note: CR in YAML");
		}
	}
	vault_day_conversation(c, name.data, &day, &pending);
	FUZZ_CHECK(day.len > 0 && strchr(day.data, '\n') == day.data + day.len - 1,
		   "daily note: a conversation's line is not one line");
	FUZZ_CHECK(memchr(day.data, '\r', day.len) == NULL, "daily note: CR");
	buf_free(&name);
	buf_free(&again);
	buf_free(&note);
	buf_free(&note2);
	buf_free(&day);
	buf_free(&pending);
}

static void fuzz_conversation(json_object *obj, json_object *stored)
{
	struct conversation a, b, s;
	struct buf ra = BUF_INIT, rb = BUF_INIT, rs = BUF_INIT;
	char *id = model_object_id(obj);
	int rc = model_parse_conversation(obj, &a);

	FUZZ_CHECK((rc == 0) == (id != NULL), "conversation: parse %d but object id %s", rc,
		   id ? id : "(none)");
	if (rc < 0) {
		FUZZ_CHECK(a.id == NULL && a.segments == NULL && a.action_items == NULL,
			   "conversation: failed parse left fields");
		free(id);
		return;
	}
	FUZZ_CHECK(strcmp(a.id, id) == 0, "conversation: id \"%s\" vs \"%s\"", a.id, id);
	FUZZ_CHECK(model_parse_conversation(obj, &b) == 0, "conversation: second parse failed");
	FUZZ_CHECK(model_parse_conversation(stored, &s) == 0,
		   "conversation: stored copy does not parse");
	FUZZ_CHECK(a.has_transcript || a.n_segments == 0, "segments without a transcript list");
	FUZZ_CHECK(a.has_transcript == s.has_transcript && a.n_segments == s.n_segments &&
			   a.n_events == s.n_events && a.n_action_items == s.n_action_items,
		   "conversation: the stored copy parses to other counts");
	FUZZ_CHECK(a.odd_fields == b.odd_fields && a.odd_fields == s.odd_fields,
		   "conversation: odd fields %u, %u, stored %u", a.odd_fields, b.odd_fields,
		   s.odd_fields);
	check_timestamp(&a.created_at, "conversation created_at");
	check_timestamp(&a.started_at, "conversation started_at");
	check_timestamp(&a.finished_at, "conversation finished_at");

	for (size_t i = 0; i < N_CONV_RENDERS; i++) {
		buf_reset(&ra);
		buf_reset(&rb);
		buf_reset(&rs);
		conv_renders[i].fn(&a, &ra);
		conv_renders[i].fn(&b, &rb);
		conv_renders[i].fn(&s, &rs);
		check_no_nul(&ra, conv_renders[i].name);
		check_same(&ra, &rb, conv_renders[i].name);
		check_same(&ra, &rs, conv_renders[i].name);
		if (conv_renders[i].fn == render_transcript)
			check_transcript(&a, &ra);
		else if (conv_renders[i].fn == render_conversation_action_items)
			check_action_items_md(&a, &ra);
		else if (conv_renders[i].fn == render_summary)
			check_summary(&a, &ra);
	}
	check_vault(&a, &s);
	/* The embedded action items have no id but are action items too. */
	for (size_t i = 0; i < a.n_action_items; i++) {
		buf_reset(&ra);
		buf_reset(&rb);
		render_action_item(&a.action_items[i], &ra);
		render_action_item(&b.action_items[i], &rb);
		check_same(&ra, &rb, "embedded action item");
		check_action_item_file(&a.action_items[i], &ra);
	}

	buf_free(&ra);
	buf_free(&rb);
	buf_free(&rs);
	model_free_conversation(&a);
	model_free_conversation(&b);
	model_free_conversation(&s);
	free(id);
}

/* One item of a listing, or a single object. */
static void fuzz_item(json_object *obj)
{
	const char *text = json_object_to_json_string_ext(obj, STORE_FLAGS);
	char *json = strdup(text ? text : "null");
	json_object *stored;
	struct buf r1 = BUF_INIT, r2 = BUF_INIT;

	FUZZ_CHECK(json != NULL, "out of memory");
	/* what tree.c does with what sync.c stored */
	stored = json_text_parse(json, strlen(json));
	FUZZ_CHECK(stored != NULL || obj == NULL, "the stored text of an item does not parse: %.200s",
		   json);
	FUZZ_CHECK(render_json(json, &r1) == 0 || obj == NULL, "render_json refuses a stored item");
	render_json(json, &r2);
	check_same(&r1, &r2, "conversation.json of a stored item");
	check_no_nul(&r1, "conversation.json of a stored item");

	fuzz_memory(obj, stored);
	fuzz_action_item(obj, stored);
	fuzz_conversation(obj, stored);

	buf_free(&r1);
	buf_free(&r2);
	json_object_put(stored);
	free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object *root;
	char *text;
	struct buf r1 = BUF_INIT, r2 = BUF_INIT;
	int rc1, rc2;

	if (size > (1u << 20))
		return 0;
	text = malloc(size + 1);
	FUZZ_CHECK(text != NULL, "out of memory");
	memcpy(text, data, size);
	text[size] = '\0';

	/* As api_get_json parses a 200 body. */
	root = json_text_parse(text, size);

	if (root && json_object_is_type(root, json_type_array)) {
		size_t n = json_object_array_length(root);

		for (size_t i = 0; i < n; i++)
			fuzz_item(json_object_array_get_idx(root, i));
	} else if (root) {
		fuzz_item(root);
	}
	json_object_put(root);

	/* conversation.json straight from the text the store holds */
	rc1 = render_json(text, &r1);
	rc2 = render_json(text, &r2);
	FUZZ_CHECK(rc1 == rc2, "render_json: %d then %d", rc1, rc2);
	FUZZ_CHECK(rc1 == 0 || rc1 == -EINVAL, "render_json returned %d", rc1);
	if (rc1 == 0) {
		FUZZ_CHECK(r1.len > 0 && r1.data[r1.len - 1] == '\n', "render_json: no final newline");
		check_no_nul(&r1, "render_json");
	} else {
		FUZZ_CHECK(r1.len == 0, "render_json failed but appended %zu bytes", r1.len);
	}
	check_same(&r1, &r2, "render_json");

	buf_free(&r1);
	buf_free(&r2);
	free(text);
	return 0;
}
