/*
 * Unit tests for the streaming splitter of JSON arrays (jsontext.h) and
 * for the rule api_list builds on it: a page that is broken anywhere hands
 * none of its items over.
 */
#include <errno.h>
#include "api.h"
#include "buf.h"
#include "jsontext.h"
#include "unit.h"

#include <stdbool.h>
#include <stdlib.h>

/* What a split produced: each element as JSON text, one a line. */
struct seen {
	struct buf text;
	size_t calls;
	size_t stop_at;		/* index + 1 at which to stop; 0: never */
};

static int note(json_object *element, size_t index, void *ctx)
{
	struct seen *s = ctx;

	buf_printf(&s->text, "%zu:%s\n", index,
		   element ? json_object_to_json_string_ext(element, JSON_C_TO_STRING_PLAIN)
			   : "null");
	s->calls++;
	return s->stop_at && index + 1 == s->stop_at;
}

/* Splits text fed in pieces of `piece` bytes (0: whole); returns the
 * count and leaves the elements in *s. */
static long split(const char *text, size_t len, size_t piece, struct seen *s)
{
	struct json_splitter *sp = json_splitter_new(note, s);
	long n;

	for (size_t at = 0; at < len;) {
		size_t take = piece && len - at > piece ? piece : len - at;

		json_splitter_feed(sp, text + at, take);
		at += take;
	}
	n = json_splitter_finish(sp);
	json_splitter_free(sp);
	return n;
}

/* Whether text splits the same however it is cut: whole, byte by byte,
 * and in two pieces at every point. Returns the count. */
static long split_everywhere(const char *text, size_t len, const char *want_elements)
{
	struct seen whole = { BUF_INIT, 0, 0 };
	long n = split(text, len, 0, &whole);

	if (want_elements)
		CHECK_STR(whole.text.data ? whole.text.data : "", want_elements);
	for (size_t piece = 1; piece <= len; piece++) {
		struct seen cut = { BUF_INIT, 0, 0 };
		long m = split(text, len, piece, &cut);

		CHECK(m == n);
		CHECK(cut.text.len == whole.text.len &&
		      (cut.text.len == 0 || memcmp(cut.text.data, whole.text.data, cut.text.len) == 0));
		buf_free(&cut.text);
	}
	buf_free(&whole.text);
	return n;
}

static long split_str(const char *text, const char *want_elements)
{
	return split_everywhere(text, strlen(text), want_elements);
}

static void test_strings_hide_brackets_and_quotes(void)
{
	CHECK(split_str("[\"a\\\"]\", \"\\\\\", \"\\\\\\\"]\", {\"k\": \"}{][,\"}]",
			"0:\"a\\\"]\"\n1:\"\\\\\"\n2:\"\\\\\\\"]\"\n3:{\"k\":\"}{][,\"}\n") == 4);
	CHECK(split_str("[\"\\u005d\", \"\\/\"]", "0:\"]\"\n1:\"\\/\"\n") == 2);
}

static void test_nesting_and_scalars(void)
{
	CHECK(split_str(" \r\n[ [1,[2,[3]]] ,{\"a\":[{\"b\":[]}]},null,true,-1.5e3 ]\t\n",
			"0:[1,[2,[3]]]\n1:{\"a\":[{\"b\":[]}]}\n2:null\n3:true\n4:-1.5e3\n") == 5);
	CHECK(split_str("[]", "") == 0);
	CHECK(split_str(" [ \n ] ", "") == 0);
}

static void test_broken_structure(void)
{
	static const char *const broken[] = {
		"", " ", "{\"a\": [1]}", "1", "[", "[1", "[1,", "[1,]", "[,1]", "[1,,2]", "[1}2]",
		"[1]]", "[}", "]", "[1] x", "[1][2]", "[1 2]", "[\"a\" \"b\"]", "[{\"a\": }]",
		"[\"unterminated]", "[{\"a\": [1}]", "[{]}",
	};

	for (size_t i = 0; i < sizeof(broken) / sizeof(*broken); i++) {
		long n = split_str(broken[i], NULL);

		if (n != -EINVAL)
			fprintf(stderr, "  accepted: %s\n", broken[i]);
		CHECK(n == -EINVAL);
	}
}

static void test_every_truncation_is_refused(void)
{
	const char *page = "[{\"id\": \"a\", \"t\": \"x]\\\"\"}, {\"id\": 2, \"l\": [[], {}]}, null]";
	size_t len = strlen(page);

	for (size_t cut = 0; cut < len; cut++) {
		struct seen s = { BUF_INIT, 0, 0 };

		CHECK(split(page, cut, 0, &s) == -EINVAL);
		buf_free(&s.text);
	}
	CHECK(split_str(page, NULL) == 3);
}

static void test_nul_bytes(void)
{
	static const char between[] = "[1,\0 2]", inside[] = "[\"a\0b\"]", before[] = "\0[1]";

	/* Outside strings a NUL is no JSON; inside one, json-c judges the
	 * element as it judges a whole text. */
	CHECK(split_everywhere(between, sizeof(between) - 1, NULL) == -EINVAL);
	CHECK(split_everywhere(before, sizeof(before) - 1, NULL) == -EINVAL);
	CHECK(split_everywhere(inside, sizeof(inside) - 1, NULL) ==
	      (json_text_parse("\"a\0b\"", 5) ? 1 : -EINVAL));
}

/* A value nested depth deep: arrays only, or arrays and objects by turns. */
static char *deep_value(int depth, bool objects)
{
	struct buf b = BUF_INIT;

	for (int i = 0; i < depth; i++)
		buf_puts(&b, objects && i % 2 ? "{\"k\":" : "[");
	buf_putc(&b, '1');
	for (int i = depth - 1; i >= 0; i--)
		buf_puts(&b, objects && i % 2 ? "}" : "]");
	return buf_steal(&b);
}

static void test_depth_limit(void)
{
	for (int objects = 0; objects < 2; objects++) {
		for (int depth = JSON_TEXT_DEPTH - 2; depth <= JSON_TEXT_DEPTH + 1; depth++) {
			char *value = deep_value(depth, objects);
			json_object *alone = json_text_parse(value, strlen(value));
			struct buf page = BUF_INIT;
			struct seen s = { BUF_INIT, 0, 0 };
			long want = alone ? 2 : -EINVAL;

			/* A page takes an element exactly when json-c takes it alone. */
			buf_printf(&page, "[%s, 2]", value);
			CHECK(split(page.data, page.len, 0, &s) == want);
			CHECK(split(page.data, page.len, 7, &s) == want);
			/* json-c counts the value inside the last array too. */
			if (!objects)
				CHECK(want == (depth < JSON_TEXT_DEPTH ? 2 : -EINVAL));
			json_object_put(alone);
			buf_free(&s.text);
			buf_free(&page);
			free(value);
		}
	}
}

static void test_stop_is_final(void)
{
	struct seen s = { BUF_INIT, 0, 2 };
	struct json_splitter *sp = json_splitter_new(note, &s);

	CHECK(json_splitter_feed(sp, "[1, 2, ", 7) == -ECANCELED);
	CHECK(json_splitter_feed(sp, "3, 4]", 5) == -ECANCELED);
	CHECK(json_splitter_finish(sp) == -ECANCELED);
	CHECK(s.calls == 2);
	json_splitter_free(sp);
	buf_free(&s.text);
}

static void test_large_element_between_small_ones(void)
{
	struct buf page = BUF_INIT;
	struct seen s = { BUF_INIT, 0, 0 };

	buf_puts(&page, "[1, \"");
	for (int i = 0; i < (3 << 20) / 8; i++)
		buf_puts(&page, "abc\\\"]{,");
	buf_puts(&page, "\", 3]");
	CHECK(split(page.data, page.len, 4096, &s) == 3);
	CHECK(s.calls == 3);
	buf_free(&s.text);
	buf_free(&page);
}

/* The listing callback of the api tests: counts what reaches it. */
static int count_items(json_object *item, const char *id, void *ctx)
{
	(void)item;
	(void)id;
	++*(int *)ctx;
	return API_LIST_NEXT;
}

/* A client whose every request fails at once: nothing listens on port 1. */
static struct api_client *offline_client(void)
{
	struct api_options opts = {
		.base_url = "http://127.0.0.1:1/v1/dev", .key = "omi_dev_test",
		.connect_timeout = 2, .request_timeout = 2, .max_retries = 0, .max_wait = 1,
	};
	struct api_error err;

	budget_defaults(BUDGET_DOCUMENTED, &opts.budget);
	return api_new(&opts, &err);
}

static void test_broken_page_hands_nothing_over(void)
{
	static const char *const broken[] = {
		"[{\"id\": \"a\"}, {\"id\": \"b\"}, 3]",
		"[{\"id\": \"a\"}, {\"id\": \"b\"}, {\"id\": \"c\"",
		"[{\"id\": \"a\"}, {\"id\": \"b\"}, {\"id\": }]",
		"[{\"id\": \"a\"}, {\"id\": \"b\"}] trailing",
	};
	struct api_client *api = offline_client();
	struct api_error err;

	CHECK(api != NULL);
	for (size_t i = 0; api && i < sizeof(broken) / sizeof(*broken); i++) {
		int items = 0;

		CHECK(api_list_from(api, "/user/memories", NULL, 1000, broken[i], count_items,
				    &items, &err) == API_E_PROTOCOL);
		CHECK(items == 0);
	}
	/* A whole page is handed over; the next page's request then fails. */
	if (api) {
		int items = 0;

		CHECK(api_list_from(api, "/user/memories", NULL, 1000,
				    "[{\"id\": \"a\"}, {\"id\": \"b\"}]", count_items, &items,
				    &err) == API_E_NETWORK);
		CHECK(items == 2);
	}
	api_free(api);
}

int main(void)
{
	RUN(test_strings_hide_brackets_and_quotes);
	RUN(test_nesting_and_scalars);
	RUN(test_broken_structure);
	RUN(test_every_truncation_is_refused);
	RUN(test_nul_bytes);
	RUN(test_depth_limit);
	RUN(test_stop_is_final);
	RUN(test_large_element_between_small_ones);
	RUN(test_broken_page_hands_nothing_over);
	return unit_failed_tests != 0;
}
