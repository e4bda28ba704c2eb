/*
 * Schema mutations: every field the API documents, in one item, replaced
 * by each of null, 42, "text", true, {} and []. Whatever the value, the
 * item still parses, every file renders the same bytes each time (and
 * after the store's json-c round trip), the files that do not show the
 * field keep their bytes, and odd_fields counts the value exactly when its
 * type is not the documented one.
 */
#include "model.h"
#include "render.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { MEMORY, ACTION_ITEM, CONVERSATION };

/* The files of an item: a memory and an action item have one. */
enum file { TRANSCRIPT, SUMMARY, ITEMS_MD, EVENTS_MD, N_FILES };
#define ONLY_FILE TRANSCRIPT	/* where a memory's or action item's file goes */
#define F(file) (1u << (file))
#define ALL_FILES (F(N_FILES) - 1)

/* The documented type of a field, as model.h names its kinds. */
enum type { TEXT, FLAG, NUMBER, INTEGER, OBJECT, LIST };

static const char *const memory_json =
	"{\"id\": \"m1\", \"content\": \"Likes tea\", \"category\": \"core\","
	" \"created_at\": \"2025-01-20T13:50:00Z\", \"updated_at\": \"2025-01-21T13:50:00Z\"}";

static const char *const action_item_json =
	"{\"id\": \"a1\", \"description\": \"Call\", \"completed\": true,"
	" \"created_at\": \"2025-01-19T14:00:00Z\", \"updated_at\": \"2025-01-20T09:00:00Z\","
	" \"due_at\": \"2025-01-22T00:00:00Z\", \"completed_at\": \"2025-01-20T09:00:00Z\","
	" \"conversation_id\": \"c1\"}";

static const char *const conversation_json =
	"{\"id\": \"c1\", \"created_at\": \"2025-01-20T13:50:00Z\","
	" \"started_at\": \"2025-01-20T13:50:00Z\", \"finished_at\": \"2025-01-20T14:10:00Z\","
	" \"language\": \"en\", \"source\": \"omi\","
	" \"structured\": {\"title\": \"Plan\", \"overview\": \"We planned.\", \"emoji\": \"💼\","
	"   \"category\": \"work\","
	"   \"action_items\": [{\"description\": \"Book\", \"completed\": false,"
	"     \"created_at\": \"2025-01-20T14:00:00Z\", \"updated_at\": \"2025-01-20T14:00:00Z\","
	"     \"due_at\": \"2025-01-25T00:00:00Z\", \"completed_at\": null,"
	"     \"conversation_id\": \"c1\"}],"
	"   \"events\": [{\"title\": \"Meet\", \"description\": \"Room 1\","
	"     \"start\": \"2025-01-21T10:00:00Z\", \"duration\": 30}]},"
	" \"transcript_segments\": [{\"text\": \"Hello\", \"speaker_id\": 1,"
	"   \"speaker_name\": \"Ann\", \"start\": 62.5, \"end\": 64}]}";

struct field {
	enum kind kind;
	const char *where;	/* a member path to the field's object: "" is the item */
	const char *name;
	enum type type;
	unsigned files;		/* the files that may show it */
};

#define AI "structured.action_items.0"
#define EV "structured.events.0"
#define SEG "transcript_segments.0"

static const struct field fields[] = {
	{ MEMORY, "", "content", TEXT, ALL_FILES },
	{ MEMORY, "", "category", TEXT, 0 },
	{ MEMORY, "", "created_at", TEXT, 0 },
	{ MEMORY, "", "updated_at", TEXT, 0 },
	{ ACTION_ITEM, "", "description", TEXT, ALL_FILES },
	{ ACTION_ITEM, "", "completed", FLAG, ALL_FILES },
	{ ACTION_ITEM, "", "created_at", TEXT, ALL_FILES },
	{ ACTION_ITEM, "", "updated_at", TEXT, 0 },
	{ ACTION_ITEM, "", "due_at", TEXT, ALL_FILES },
	{ ACTION_ITEM, "", "completed_at", TEXT, ALL_FILES },
	{ ACTION_ITEM, "", "conversation_id", TEXT, ALL_FILES },
	{ CONVERSATION, "", "created_at", TEXT, F(SUMMARY) },
	{ CONVERSATION, "", "started_at", TEXT, F(SUMMARY) },
	{ CONVERSATION, "", "finished_at", TEXT, F(SUMMARY) },
	{ CONVERSATION, "", "language", TEXT, F(SUMMARY) },
	{ CONVERSATION, "", "source", TEXT, F(SUMMARY) },
	{ CONVERSATION, "", "structured", OBJECT, F(SUMMARY) | F(ITEMS_MD) | F(EVENTS_MD) },
	{ CONVERSATION, "", "transcript_segments", LIST, F(TRANSCRIPT) },
	{ CONVERSATION, "structured", "title", TEXT, F(SUMMARY) },
	{ CONVERSATION, "structured", "overview", TEXT, F(SUMMARY) },
	{ CONVERSATION, "structured", "emoji", TEXT, F(SUMMARY) },
	{ CONVERSATION, "structured", "category", TEXT, F(SUMMARY) },
	{ CONVERSATION, "structured", "action_items", LIST, F(ITEMS_MD) },
	{ CONVERSATION, "structured", "events", LIST, F(EVENTS_MD) },
	{ CONVERSATION, SEG, "text", TEXT, F(TRANSCRIPT) },
	{ CONVERSATION, SEG, "speaker_id", INTEGER, 0 },	/* speaker_name wins */
	{ CONVERSATION, SEG, "speaker_name", TEXT, F(TRANSCRIPT) },
	{ CONVERSATION, SEG, "start", NUMBER, F(TRANSCRIPT) },
	{ CONVERSATION, SEG, "end", NUMBER, 0 },
	{ CONVERSATION, AI, "description", TEXT, F(ITEMS_MD) },
	{ CONVERSATION, AI, "completed", FLAG, F(ITEMS_MD) },
	{ CONVERSATION, AI, "created_at", TEXT, 0 },
	{ CONVERSATION, AI, "updated_at", TEXT, 0 },
	{ CONVERSATION, AI, "due_at", TEXT, F(ITEMS_MD) },
	{ CONVERSATION, AI, "completed_at", TEXT, 0 },
	{ CONVERSATION, AI, "conversation_id", TEXT, 0 },
	{ CONVERSATION, EV, "title", TEXT, F(EVENTS_MD) },
	{ CONVERSATION, EV, "description", TEXT, F(EVENTS_MD) },
	{ CONVERSATION, EV, "start", TEXT, F(EVENTS_MD) },
	{ CONVERSATION, EV, "duration", NUMBER, F(EVENTS_MD) },
};

static const struct {
	const char *json;
	enum type type;		/* the kinds for which it is the documented type */
	bool is_null;
} values[] = {
	{ "null", TEXT, true }, { "42", NUMBER, false }, { "\"text\"", TEXT, false },
	{ "true", FLAG, false }, { "{}", OBJECT, false }, { "[]", LIST, false },
};
#define N_VALUES (sizeof(values) / sizeof(values[0]))

static bool documented(enum type field_type, size_t v)
{
	if (values[v].is_null || values[v].type == field_type)
		return true;
	/* 42 is also a speaker_id */
	return field_type == INTEGER && values[v].type == NUMBER;
}

/* The object at a dotted member path ("structured.events.0"). */
static json_object *walk(json_object *obj, const char *where)
{
	char path[64], *save = NULL;

	snprintf(path, sizeof(path), "%s", where);
	for (char *part = strtok_r(path, ".", &save); part && obj;
	     part = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(obj, json_type_array))
			obj = json_object_array_get_idx(obj, (size_t)atoi(part));
		else if (!json_object_object_get_ex(obj, part, &obj))
			obj = NULL;
	}
	return obj;
}

static const char *base_json(enum kind kind)
{
	return kind == MEMORY ? memory_json : kind == ACTION_ITEM ? action_item_json :
		conversation_json;
}

/* The item's text with the field set to the value, as the store keeps it. */
static char *mutated(const struct field *f, const char *value)
{
	json_object *obj = json_tokener_parse(base_json(f->kind));
	json_object *at = walk(obj, f->where);
	char *text;

	if (!at)
		abort();
	json_object_object_add(at, f->name, json_tokener_parse(value));
	text = strdup(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
	json_object_put(obj);
	return text;
}

/* Parses text as kind and renders its files. Returns the odd count, or -1
 * when the item did not parse. */
static int render_all(enum kind kind, const char *text, struct buf files[N_FILES])
{
	json_object *obj = json_tokener_parse(text);
	struct memory m;
	struct action_item a;
	struct conversation c;
	int odd = -1;

	for (int i = 0; i < N_FILES; i++)
		buf_reset(&files[i]);
	if (kind == MEMORY && model_parse_memory(obj, &m) == 0) {
		render_memory(&m, &files[ONLY_FILE]);
		odd = (int)m.odd_fields;
		model_free_memory(&m);
	} else if (kind == ACTION_ITEM && model_parse_action_item(obj, &a) == 0) {
		render_action_item(&a, &files[ONLY_FILE]);
		odd = (int)a.odd_fields;
		model_free_action_item(&a);
	} else if (kind == CONVERSATION && model_parse_conversation(obj, &c) == 0) {
		render_transcript(&c, &files[TRANSCRIPT]);
		render_summary(&c, &files[SUMMARY]);
		render_conversation_action_items(&c, &files[ITEMS_MD]);
		render_events(&c, &files[EVENTS_MD]);
		odd = (int)c.odd_fields;
		model_free_conversation(&c);
	}
	json_object_put(obj);
	return odd;
}

static bool same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void check_mutation(const struct field *f, size_t v, struct buf base[N_FILES])
{
	struct buf first[N_FILES] = { BUF_INIT }, again[N_FILES] = { BUF_INIT };
	char *text = mutated(f, values[v].json);
	json_object *obj = json_tokener_parse(text);
	char *stored = strdup(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
	int odd = render_all(f->kind, text, first);

	if (odd < 0 || odd != (documented(f->type, v) ? 0 : 1))
		fprintf(stderr, "  %s.%s = %s: odd count %d\n", f->where, f->name, values[v].json,
			odd);
	CHECK(odd >= 0);
	CHECK(odd == (documented(f->type, v) ? 0 : 1));
	CHECK(render_all(f->kind, text, again) == odd);
	for (int i = 0; i < N_FILES; i++)
		CHECK(same(&first[i], &again[i]));
	CHECK(render_all(f->kind, stored, again) == odd);
	for (int i = 0; i < N_FILES; i++) {
		CHECK(same(&first[i], &again[i]));
		if (!(f->files & F(i)) && !same(&first[i], &base[i]))
			fprintf(stderr, "  %s.%s = %s changed file %d\n", f->where, f->name,
				values[v].json, i);
		CHECK((f->files & F(i)) || same(&first[i], &base[i]));
	}
	for (int i = 0; i < N_FILES; i++) {
		buf_free(&first[i]);
		buf_free(&again[i]);
	}
	json_object_put(obj);
	free(stored);
	free(text);
}

static void test_every_field_every_type(void)
{
	struct buf base[3][N_FILES] = { { BUF_INIT } };

	for (int k = 0; k < 3; k++)
		CHECK(render_all(k, base_json(k), base[k]) == 0);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		for (size_t v = 0; v < N_VALUES; v++)
			check_mutation(&fields[i], v, base[fields[i].kind]);
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < N_FILES; i++)
			buf_free(&base[k][i]);
}

/* The base objects are what the API documents: nothing in them is odd,
 * and the mutations above reach every field they name. */
static void test_base_objects_are_plain(void)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json_object *obj = json_tokener_parse(base_json(fields[i].kind));
		json_object *at = walk(obj, fields[i].where);

		CHECK(at && json_object_object_get_ex(at, fields[i].name, NULL));
		json_object_put(obj);
	}
}

int main(void)
{
	RUN(test_base_objects_are_plain);
	RUN(test_every_field_every_type);
	return UNIT_RESULT();
}
