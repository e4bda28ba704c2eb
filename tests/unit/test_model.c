/* Unit tests of model: timestamps and tolerant parsing. */
#include "jsontext.h"
#include "model.h"
#include "unit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static void test_parse_time_forms(void)
{
	time_t t;

	CHECK(model_parse_time("2025-01-20T13:50:00Z", &t) == 0 && t == 1737381000);
	CHECK(model_parse_time("2025-01-20T13:50:00.123456Z", &t) == 0 && t == 1737381000);
	CHECK(model_parse_time("2025-01-20T13:50:00+00:00", &t) == 0 && t == 1737381000);
	CHECK(model_parse_time("2025-01-20T19:20:00+05:30", &t) == 0 && t == 1737381000);
	CHECK(model_parse_time("2025-01-20T05:50:00-08:00", &t) == 0 && t == 1737381000);
	CHECK(model_parse_time("2025-01-20T05:50:00-0800", &t) == 0 && t == 1737381000);
	CHECK(model_parse_time("2025-01-20T13:50:00", &t) == 0 && t == 1737381000);
	CHECK(model_parse_time("2025-01-20", &t) == 0 && t == 1737331200);
}

static void test_parse_time_rejects(void)
{
	time_t t;

	CHECK(model_parse_time(NULL, &t) < 0);
	CHECK(model_parse_time("", &t) < 0);
	CHECK(model_parse_time("yesterday", &t) < 0);
	CHECK(model_parse_time("2025-13-01T00:00:00Z", &t) < 0);
	CHECK(model_parse_time("2025-01-20T25:00:00Z", &t) < 0);
	CHECK(model_parse_time("2025-01-20T13:50:00Zjunk", &t) < 0);
	CHECK(model_parse_time("2025-01-20T13:50:00.Z", &t) < 0);
	CHECK(model_parse_time("2025-02-31T00:00:00Z", &t) < 0);
	CHECK(model_parse_time("2024-02-29T00:00:00Z", &t) == 0);
}

static void test_memory_wrong_types(void)
{
	json_object *o = json_tokener_parse(
		"{\"id\": 42, \"content\": [1,2], \"category\": null, \"created_at\": 7,"
		" \"updated_at\": {}, \"unknown\": [\"new field\"]}");
	struct memory m;

	CHECK(model_parse_memory(o, &m) == 0);
	CHECK_STR(m.id, "42");
	CHECK(m.content == NULL);
	CHECK(m.category == NULL);
	CHECK_STR(m.created_at.text, "7");
	CHECK(!m.created_at.valid && m.created_at.when == 0);
	CHECK(m.updated_at.text == NULL);
	/* content, created_at, updated_at; null and unknown fields are normal */
	CHECK(m.odd_fields == 3);
	model_free_memory(&m);
	json_object_put(o);
}

static struct memory memory_from(const char *json)
{
	json_object *o = json_tokener_parse(json);
	struct memory m;

	if (!o || model_parse_memory(o, &m) < 0)
		abort();
	json_object_put(o);
	return m;
}

/* A number or boolean where text is expected is shown as its JSON text. */
static void test_scalars_as_text(void)
{
	static const struct {
		const char *value, *text;
	} cases[] = {
		{ "123", "123" }, { "-7", "-7" }, { "12.50", "12.50" }, { "1e5", "1e5" },
		{ "42.0", "42.0" }, { "true", "true" }, { "false", "false" },
		{ "18446744073709551615", "18446744073709551615" },
	};
	char json[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct memory m;

		snprintf(json, sizeof(json), "{\"id\": \"m\", \"content\": %s}", cases[i].value);
		m = memory_from(json);
		CHECK_STR(m.content, cases[i].text);
		CHECK(m.odd_fields == 1);
		model_free_memory(&m);
	}
}

static struct action_item item_from(const char *json)
{
	json_object *o = json_tokener_parse(json);
	struct action_item a;

	if (!o || model_parse_action_item(o, &a) < 0)
		abort();
	json_object_put(o);
	return a;
}

/* Only JSON true completes an item. */
static void test_completed_only_true(void)
{
	static const char *const not_done[] = { "\"yes\"", "\"true\"", "1", "{}", "[true]" };
	struct action_item a = item_from("{\"id\": \"a\", \"completed\": true}");
	char json[64];

	CHECK(a.completed && a.odd_fields == 0);
	model_free_action_item(&a);
	a = item_from("{\"id\": \"a\", \"completed\": null}");
	CHECK(!a.completed && a.odd_fields == 0);
	model_free_action_item(&a);
	for (size_t i = 0; i < sizeof(not_done) / sizeof(*not_done); i++) {
		snprintf(json, sizeof(json), "{\"id\": \"a\", \"completed\": %s}", not_done[i]);
		a = item_from(json);
		CHECK(!a.completed && a.odd_fields == 1);
		model_free_action_item(&a);
	}
}

static struct conversation conversation_from(const char *json)
{
	json_object *o = json_tokener_parse(json);
	struct conversation c;

	if (!o || model_parse_conversation(o, &c) < 0)
		abort();
	json_object_put(o);
	return c;
}

static void test_numbers_from_strings(void)
{
	struct conversation c = conversation_from(
		"{\"id\": \"c\", \"transcript_segments\": ["
		" {\"start\": \"12.5\", \"end\": \"-1e2\", \"speaker_id\": \"007\"},"
		" {\"start\": \"12.5s\", \"end\": \" 1\", \"speaker_id\": \"two\"},"
		" {\"start\": \"0x10\", \"end\": \"inf\", \"speaker_id\": \"99999999999999999999\"},"
		" {\"start\": true, \"end\": \".5\", \"speaker_id\": 1.0}],"
		" \"structured\": {\"events\": [{\"duration\": \"30\"}, {\"duration\": \"\"}]}}");

	CHECK(c.n_segments == 4);
	CHECK(c.segments[0].start == 12.5 && c.segments[0].end == -100);
	CHECK(c.segments[0].has_speaker_id && c.segments[0].speaker_id == 7);
	for (size_t i = 1; i < 4; i++)
		CHECK(c.segments[i].start == 0 && c.segments[i].end == 0 &&
		      !c.segments[i].has_speaker_id);
	CHECK(c.n_events == 2 && c.events[0].has_duration && c.events[0].duration == 30);
	CHECK(!c.events[1].has_duration);
	CHECK(c.odd_fields == 3 * 4 + 2);	/* every value above is a string, or worse */
	model_free_conversation(&c);
	c = conversation_from("{\"id\": \"c\", \"transcript_segments\": ["
			      " {\"speaker_id\": \"-3\"}, {\"speaker_id\": \"-\"}, {\"speaker_id\": 4}]}");
	CHECK(c.segments[0].has_speaker_id && c.segments[0].speaker_id == -3);
	CHECK(!c.segments[1].has_speaker_id);
	CHECK(c.segments[2].has_speaker_id && c.segments[2].speaker_id == 4);
	CHECK(c.odd_fields == 2);
	model_free_conversation(&c);
	/* the number must be all of the string */
	c = conversation_from("{\"id\": \"c\", \"transcript_segments\": ["
			      " {\"start\": \"12\\u00005\", \"speaker_id\": \"1\\u00002\"}]}");
	CHECK(c.n_segments == 1 && c.segments[0].start == 0 && !c.segments[0].has_speaker_id);
	model_free_conversation(&c);
}

/* Lists that are not lists are empty; elements that are not objects are
 * skipped; each counts as odd. */
static void test_odd_lists(void)
{
	struct conversation c = conversation_from(
		"{\"id\": \"c\", \"source\": 7, \"structured\": {\"title\": 42,"
		" \"emoji\": {\"char\": \"x\"}, \"action_items\": \"none\","
		" \"events\": [null, 3, {\"title\": \"kept\"}]},"
		" \"transcript_segments\": {\"text\": \"not a list\"}}");

	CHECK_STR(c.source, "7");
	CHECK_STR(c.title, "42");
	CHECK(c.emoji == NULL);
	CHECK(c.n_action_items == 0 && c.action_items == NULL);
	CHECK(c.n_events == 1);
	CHECK_STR(c.events[0].title, "kept");
	CHECK(!c.has_transcript && c.n_segments == 0);
	CHECK(c.odd_fields == 7);
	model_free_conversation(&c);
}

static void test_missing_or_bad_id(void)
{
	const char *bad[] = { "{}", "{\"id\": null}", "{\"id\": 1.5}", "{\"id\": \"\"}",
			      "[]", "\"id\"" };
	struct conversation c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		json_object *o = json_tokener_parse(bad[i]);

		CHECK(model_parse_conversation(o, &c) < 0);
		model_free_conversation(&c);
		json_object_put(o);
	}
}

/* A NUL cannot stand in a C string: an id escapes it, text shows U+FFFD,
 * and nothing after it is lost. */
static void test_nul_bytes(void)
{
	json_object *o = json_tokener_parse("{\"id\": \"a\\u0000b\\\\c\", \"content\": \"x\\u0000y\"}");
	struct memory m;

	CHECK(model_parse_memory(o, &m) == 0);
	CHECK_STR(m.id, "a\\0b\\\\c");
	CHECK_STR(m.content, "x\xEF\xBF\xBDy");
	model_free_memory(&m);
	json_object_put(o);
}

static void test_conversation_full(void)
{
	json_object *o = json_tokener_parse(
		"{\"id\": \"c1\", \"created_at\": \"2025-01-20T13:50:00Z\", \"started_at\": null,"
		" \"structured\": {\"title\": \"T\", \"category\": \"work\","
		"   \"action_items\": [{\"description\": \"d\", \"completed\": true}, 3],"
		"   \"events\": [{\"title\": \"e\", \"duration\": 30}]},"
		" \"transcript_segments\": [{\"text\": \"hi\", \"speaker_id\": 1, \"start\": 62.5},"
		"   {\"text\": \"yo\", \"speaker_name\": \"Ann\", \"speaker_id\": \"x\"}]}");
	struct conversation c;

	CHECK(model_parse_conversation(o, &c) == 0);
	CHECK_STR(c.id, "c1");
	CHECK(c.created_at.valid && !c.started_at.valid);
	CHECK_STR(c.title, "T");
	CHECK(c.n_action_items == 1 && c.action_items[0].completed);
	CHECK(c.n_events == 1 && c.events[0].has_duration && c.events[0].duration == 30);
	CHECK(c.has_transcript && c.n_segments == 2);
	CHECK(c.segments[0].has_speaker_id && c.segments[0].speaker_id == 1);
	CHECK(c.segments[0].start == 62.5);
	CHECK(!c.segments[1].has_speaker_id);
	CHECK_STR(c.segments[1].speaker_name, "Ann");
	model_free_conversation(&c);
	json_object_put(o);
}

static void test_structured_not_an_object(void)
{
	json_object *o = json_tokener_parse("{\"id\": \"c\", \"structured\": \"oops\","
					    " \"transcript_segments\": null}");
	struct conversation c;

	CHECK(model_parse_conversation(o, &c) == 0);
	CHECK(c.title == NULL && c.n_events == 0 && !c.has_transcript);
	CHECK(c.odd_fields == 1);
	model_free_conversation(&c);
	json_object_put(o);
}

static bool parses(const char *text)
{
	json_object *o = json_text_parse(text, strlen(text));
	bool ok = o != NULL;

	json_object_put(o);
	return ok;
}

static void test_json_text(void)
{
	char deep[2 * 300 + 1];

	CHECK(parses("3") && parses("[1, 2]") && parses("{\"a\": \"b\"} "));
	CHECK(!parses("[1, 2] x") && !parses("{\"a\":") && !parses(""));
	/* 100 levels: past json-c's default of 32, within omifs's bound */
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	deep[200] = '\0';
	CHECK(parses(deep));
	memset(deep, '[', 300);
	memset(deep + 300, ']', 300);
	deep[600] = '\0';
	CHECK(!parses(deep));
}

static int count_ids(json_object *element, size_t index, void *ctx)
{
	json_object *id;

	(void)index;
	if (json_object_object_get_ex(element, "id", &id))
		++*(int *)ctx;
	return 0;
}

static int stop_at_first(json_object *element, size_t index, void *ctx)
{
	(void)element;
	(void)ctx;
	return index == 0;
}

static long each(const char *text, json_element_fn fn, void *ctx)
{
	return json_text_each_element(text, strlen(text), fn, ctx);
}

static void test_json_elements(void)
{
	int ids = 0;

	CHECK(each(" [ ] ", NULL, NULL) == 0);
	CHECK(each("[1, \"a,]\", {\"id\": \"x]\\\"[\"}, [2, [3]], null ]\n", count_ids, &ids) == 5);
	CHECK(ids == 1);
	CHECK(each("[{\"id\": 1}, {\"id\": 2}]", stop_at_first, NULL) == -ECANCELED);
	CHECK(each("[1, 2] x", NULL, NULL) == -EINVAL);
	CHECK(each("[1, 2", NULL, NULL) == -EINVAL);
	CHECK(each("[1,, 2]", NULL, NULL) == -EINVAL);
	CHECK(each("[1, {\"a\": }]", NULL, NULL) == -EINVAL);
	CHECK(each("{\"a\": [1]}", NULL, NULL) == -EINVAL);
	CHECK(each("", NULL, NULL) == -EINVAL);
}

int main(void)
{
	RUN(test_parse_time_forms);
	RUN(test_parse_time_rejects);
	RUN(test_memory_wrong_types);
	RUN(test_scalars_as_text);
	RUN(test_completed_only_true);
	RUN(test_numbers_from_strings);
	RUN(test_odd_lists);
	RUN(test_missing_or_bad_id);
	RUN(test_nul_bytes);
	RUN(test_conversation_full);
	RUN(test_structured_not_an_object);
	RUN(test_json_text);
	RUN(test_json_elements);
	return UNIT_RESULT();
}
