/* Unit tests of the collections table, the budget policies it names, and
 * the core constructor. */
#include "budget.h"
#include "collections.h"
#include "core.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

static void test_paths_find_their_collection(void)
{
	bool one = true;

	CHECK(collection_of_path("/user/memories", &one) == collection_of(STORE_MEMORIES) && !one);
	CHECK(collection_of_path("/user/action-items", &one) == collection_of(STORE_ACTION_ITEMS));
	CHECK(collection_of_path("/user/conversations/abc", &one) ==
	      collection_of(STORE_CONVERSATIONS) && one);
	CHECK(collection_of_path("/user/conversationsX", &one) == NULL && !one);
	CHECK(collection_of_path("/keys", &one) == NULL);
	for (int k = 0; k < STORE_KINDS; k++)
		CHECK(collection_of(k)->kind == (enum store_kind)k);
}

/* Each item's file comes from the table's functions: parse, render, free. */
static void test_parse_render_free_through_the_table(void)
{
	const struct collection *c = collection_of(STORE_MEMORIES);
	json_object *obj = json_tokener_parse("{\"id\":\"m1\",\"content\":\"hello\"}");
	json_object *no_id = json_tokener_parse("{\"content\":\"hello\"}");
	void *object = calloc(1, c->object_size);
	struct buf out = BUF_INIT;

	CHECK(c->parse(obj, object) == 0);
	c->render(object, &out);
	CHECK(out.data && strstr(out.data, "hello") != NULL);
	c->free_object(object);
	CHECK(c->parse(no_id, object) == -EINVAL);
	c->free_object(object);
	CHECK(collection_of(STORE_CONVERSATIONS)->render == NULL);
	buf_free(&out);
	free(object);
	json_object_put(obj);
	json_object_put(no_id);
}

/* The path of an item in the id tree, for each collection. */
static const struct {
	enum store_kind kind;
	const char *json, *path;
	bool placed;
} item_paths[] = {
	{ STORE_MEMORIES, "{\"id\":\"m/1\",\"category\":\"work\"}", "memories/work/m%2F1.txt", true },
	{ STORE_MEMORIES, "{\"id\":\"m2\"}", "memories/uncategorized/m2.txt", true },
	{ STORE_MEMORIES, "{\"id\":\"m3\",\"category\":\"\"}", "memories/uncategorized/m3.txt",
	  false },
	{ STORE_ACTION_ITEMS, "{\"id\":\"a1\",\"completed\":true}", "action-items/done/a1.txt",
	  true },
	{ STORE_ACTION_ITEMS, "{\"id\":\"a2\"}", "action-items/open/a2.txt", true },
	{ STORE_CONVERSATIONS, "{\"id\":\"c1\",\"created_at\":\"2025-03-04T12:00:00Z\"}",
	  "conversations/2025-03-04/c1", true },
	{ STORE_CONVERSATIONS, "{\"id\":\"c2\"}", "conversations/undated/c2", false },
};

static void test_items_have_one_path_rule(void)
{
	setenv("TZ", "UTC", 1);	/* the day directory is the local day */
	tzset();
	for (size_t i = 0; i < sizeof(item_paths) / sizeof(item_paths[0]); i++) {
		const struct collection *c = collection_of(item_paths[i].kind);
		json_object *obj = json_tokener_parse(item_paths[i].json);
		void *object = calloc(1, c->object_size);
		struct buf path = BUF_INIT, place = BUF_INIT;

		CHECK(c->parse(obj, object) == 0);
		CHECK(c->place(object, &place) == item_paths[i].placed);
		CHECK(collection_item_path(item_paths[i].kind, object,
					   json_object_get_string(json_object_object_get(obj, "id")),
					   &path) == 0);
		CHECK_STR(path.data, item_paths[i].path);
		c->free_object(object);
		free(object);
		buf_free(&path);
		buf_free(&place);
		json_object_put(obj);
	}
}

/* One conversation by id counts against "conversation", not against the
 * conversations' listing, and each listing against its own policy. */
static void test_budget_policies_follow_the_table(void)
{
	struct budget_options o;
	struct budget *b;
	struct budget_rate rate;
	const char *policy;

	budget_defaults(BUDGET_BACKEND, &o);
	for (int k = 0; k < STORE_KINDS; k++)
		CHECK(o.per_hour_collection[k] == collection_of(k)->backend_per_hour);
	o.per_hour_conversation = 1;
	o.per_hour_collection[STORE_MEMORIES] = 1;
	b = budget_new(&o);
	CHECK(budget_take(b, "/user/conversations/a", false, BUDGET_FOREGROUND, &policy) == 0);
	CHECK(budget_take(b, "/user/conversations/b", false, BUDGET_FOREGROUND, &policy) > 0);
	CHECK(budget_take(b, "/user/conversations", false, BUDGET_FOREGROUND, &policy) == 0);
	CHECK(budget_take(b, "/user/memories", false, BUDGET_FOREGROUND, &policy) == 0);
	CHECK(budget_take(b, "/user/memories", false, BUDGET_FOREGROUND, &policy) > 0);
	CHECK(budget_take(b, "/user/action-items", false, BUDGET_FOREGROUND, &policy) == 0);
	budget_eta(b, "/user/memories", false, 5, &rate);
	CHECK_STR(rate.name, "memories");
	budget_free(b);
}

static void test_core_opens_in_memory_and_reports_a_bad_url(void)
{
	struct omifs_config c = {
		.url = "http://127.0.0.1:9/v1/dev", .key = "k", .api_profile = "backend",
		.refresh_interval = 300, .full_refresh_interval = 3600, .connect_timeout = 1,
		.request_timeout = 1, .per_minute = -1, .per_day = -1,
		.transcripts_per_hour = -1, .rate_window_scale = 1, .page_size = 10,
		.transcript_batch = 5, .transcript_page = -1, .offline = true,
	};
	struct sync_options so;
	char err[256] = "";
	struct core *core = core_open(&c, true, err, sizeof(err));

	CHECK(core && core->api && core->store && core->sync);
	CHECK(core && sync_kind_error(core->sync, STORE_MEMORIES) == -EIO);
	core_close(core);
	core_sync_options(&c, &so);
	CHECK(so.transcript_page == 25 && so.offline);
	c.url = "ftp://example.org/";
	CHECK(core_open(&c, false, err, sizeof(err)) == NULL && err[0] != '\0');
}

int main(void)
{
	RUN(test_paths_find_their_collection);
	RUN(test_parse_render_free_through_the_table);
	RUN(test_items_have_one_path_rule);
	RUN(test_budget_policies_follow_the_table);
	RUN(test_core_opens_in_memory_and_reports_a_bad_url);
	return UNIT_RESULT();
}
