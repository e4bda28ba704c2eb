/* Unit tests of render: the exact bytes of each file format. */
#include "model.h"
#include "render.h"
#include "unit.h"

#include <stdlib.h>

static struct conversation parse(const char *json)
{
	json_object *o = json_tokener_parse(json);
	struct conversation c;

	if (model_parse_conversation(o, &c) < 0)
		abort();
	json_object_put(o);
	return c;
}

static void test_transcript(void)
{
	struct conversation c = parse(
		"{\"id\": \"c\", \"transcript_segments\": ["
		" {\"text\": \"Hello\\nthere\", \"speaker_id\": 1, \"start\": 62.9},"
		" {\"text\": \"Hi\", \"speaker_name\": \"Ann\\r\", \"speaker_id\": 0, \"start\": 3725},"
		" {\"start\": -5},"
		" {\"text\": \"x\", \"speaker_id\": 2, \"start\": 360000}]}");
	struct buf out = BUF_INIT;

	render_transcript(&c, &out);
	CHECK_STR(out.data, "[00:01:02] Speaker 1: Hello there\n"
			    "[01:02:05] Ann : Hi\n"
			    "[00:00:00] Speaker ?: \n"
			    "[100:00:00] Speaker 2: x\n");
	buf_free(&out);
	model_free_conversation(&c);
}

static void test_empty_transcript_is_empty(void)
{
	struct conversation c = parse("{\"id\": \"c\", \"transcript_segments\": []}");
	struct buf out = BUF_INIT;

	render_transcript(&c, &out);
	CHECK(out.len == 0);
	buf_free(&out);
	model_free_conversation(&c);
}

static void test_summary(void)
{
	struct conversation c = parse(
		"{\"id\": \"c\", \"created_at\": \"2025-01-20T13:50:00Z\", \"started_at\": null,"
		" \"finished_at\": \"2025-01-20T14:10:00Z\", \"language\": \"en\", \"source\": \"omi\","
		" \"structured\": {\"title\": \"A/B\\ntest\", \"emoji\": \"💼\", \"category\": \"business\","
		" \"overview\": \"Line one\\nLine two\"}}");
	struct buf out = BUF_INIT;

	render_summary(&c, &out);
	CHECK_STR(out.data, "# 💼 A/B test\n\n"
			    "- Category: business\n"
			    "- Created: 2025-01-20T13:50:00Z\n"
			    "- Finished: 2025-01-20T14:10:00Z\n"
			    "- Language: en\n"
			    "- Source: omi\n"
			    "\nLine one\nLine two\n");
	buf_free(&out);
	model_free_conversation(&c);
}

static void test_summary_untitled(void)
{
	struct conversation c = parse("{\"id\": \"c\"}");
	struct buf out = BUF_INIT;

	render_summary(&c, &out);
	CHECK_STR(out.data, "# Untitled\n\n");
	buf_free(&out);
	model_free_conversation(&c);
}

static void test_action_items_and_events(void)
{
	struct conversation c = parse(
		"{\"id\": \"c\", \"structured\": {"
		" \"action_items\": [{\"description\": \"Do it\", \"completed\": false},"
		"   {\"description\": \"Done\\nit\", \"completed\": true, \"due_at\": \"2025-01-25T00:00:00Z\"}],"
		" \"events\": [{\"title\": \"Meet\", \"start\": \"2025-01-21T10:00:00Z\", \"duration\": 30,"
		"   \"description\": \"Room 1\"}, {\"title\": \"\"}]}}");
	struct buf out = BUF_INIT;

	render_conversation_action_items(&c, &out);
	CHECK_STR(out.data, "- [ ] Do it\n- [x] Done it (due 2025-01-25T00:00:00Z)\n");
	buf_reset(&out);
	render_events(&c, &out);
	CHECK_STR(out.data, "## Meet\n\n- Start: 2025-01-21T10:00:00Z\n- Duration: 30 minutes\n"
			    "\nRoom 1\n\n## Untitled event\n");
	buf_free(&out);
	model_free_conversation(&c);
}

static void test_memory_and_action_item(void)
{
	json_object *o = json_tokener_parse("{\"id\": \"m\", \"content\": \"Likes tea\"}");
	json_object *a = json_tokener_parse(
		"{\"id\": \"a\", \"description\": \"Call\", \"completed\": true,"
		" \"created_at\": \"2025-01-19T14:00:00Z\", \"due_at\": null,"
		" \"completed_at\": \"2025-01-20T09:00:00Z\", \"conversation_id\": null}");
	struct memory m;
	struct action_item item;
	struct buf out = BUF_INIT;

	CHECK(model_parse_memory(o, &m) == 0);
	render_memory(&m, &out);
	CHECK_STR(out.data, "Likes tea\n");
	buf_reset(&out);
	CHECK(model_parse_action_item(a, &item) == 0);
	render_action_item(&item, &out);
	CHECK_STR(out.data, "Call\n\n- Status: done\n- Created: 2025-01-19T14:00:00Z\n"
			    "- Completed: 2025-01-20T09:00:00Z\n");
	buf_free(&out);
	model_free_memory(&m);
	model_free_action_item(&item);
	json_object_put(o);
	json_object_put(a);
}

/* Mistyped fields render by model.h's rules; the rest renders as usual. */
static void test_mistyped_fields(void)
{
	struct conversation c = parse(
		"{\"id\": \"c\", \"created_at\": 12345, \"language\": false, \"source\": 7,"
		" \"structured\": {\"title\": 42, \"emoji\": {\"x\": 1}, \"category\": [\"a\"],"
		"   \"overview\": 1.50,"
		"   \"action_items\": [{\"description\": 9, \"completed\": \"yes\"}, null],"
		"   \"events\": [{\"title\": true, \"duration\": \"30\", \"start\": 1e3}]},"
		" \"transcript_segments\": [{\"text\": 5, \"speaker_id\": \"3\", \"start\": \"62.5\"},"
		"   {\"text\": \"ok\", \"speaker_id\": \"three\", \"start\": \"1 min\"}, \"noise\"]}");
	struct buf out = BUF_INIT;

	render_summary(&c, &out);
	CHECK_STR(out.data, "# 42\n\n- Created: 12345\n- Language: false\n- Source: 7\n\n1.50\n");
	buf_reset(&out);
	render_conversation_action_items(&c, &out);
	CHECK_STR(out.data, "- [ ] 9\n");
	buf_reset(&out);
	render_events(&c, &out);
	CHECK_STR(out.data, "## true\n\n- Start: 1e3\n- Duration: 30 minutes\n");
	buf_reset(&out);
	render_transcript(&c, &out);
	CHECK_STR(out.data, "[00:01:02] Speaker 3: 5\n[00:00:00] Speaker ?: ok\n");
	buf_free(&out);
	model_free_conversation(&c);
}

static void test_json_pretty_and_deterministic(void)
{
	struct buf a = BUF_INIT, b = BUF_INIT;

	CHECK(render_json("{\"id\":\"x/y\",\"n\":1.50,\"t\":\"é\"}", &a) == 0);
	CHECK(render_json("{\"id\":\"x/y\",\"n\":1.50,\"t\":\"é\"}", &b) == 0);
	CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	CHECK(strstr(a.data, "\"x/y\"") != NULL);	/* no escaped slash */
	CHECK(strstr(a.data, "1.50") != NULL);		/* the server's number text */
	CHECK(a.data[a.len - 1] == '\n');
	CHECK(render_json("{not json", &a) < 0);
	buf_free(&a);
	buf_free(&b);
}

static void test_goal(void)
{
	json_object *o = json_tokener_parse(
		"{\"id\": \"g\", \"title\": \"Run\\na race\", \"goal_type\": \"numeric\","
		" \"target_value\": 42.0, \"current_value\": 21.5, \"min_value\": 0, \"max_value\": 42.0,"
		" \"unit\": null, \"is_active\": false, \"updated_at\": \"2025-06-13T20:20:35Z\","
		" \"history\": [{\"date\": \"2025-06-13\", \"value\": 21.5},"
		" {\"date\": \"a|b\", \"value\": \"7\"}, 3]}");
	struct goal g;
	struct buf out = BUF_INIT;

	CHECK(model_parse_goal(o, &g) == 0);
	/* A number is a value's own type; the string "7" and the element 3
	 * are the odd ones. */
	CHECK(g.odd_fields == 2);
	render_goal(&g, &out);
	CHECK_STR(out.data, "# Run a race\n\n"
			    "- Type: numeric\n- Target: 42.0\n- Current: 21.5\n"
			    "- Range: 0 to 42.0\n- Active: no\n"
			    "- Updated: 2025-06-13T20:20:35Z\n"
			    "\n## History\n\n| Date | Value |\n| --- | --- |\n"
			    "| 2025-06-13 | 21.5 |\n| a\\|b | 7 |\n");
	buf_free(&out);
	model_free_goal(&g);
	json_object_put(o);
}

int main(void)
{
	RUN(test_transcript);
	RUN(test_empty_transcript_is_empty);
	RUN(test_summary);
	RUN(test_summary_untitled);
	RUN(test_action_items_and_events);
	RUN(test_memory_and_action_item);
	RUN(test_mistyped_fields);
	RUN(test_json_pretty_and_deterministic);
	RUN(test_goal);
	return UNIT_RESULT();
}
