/* Unit tests of the search index (search_index, cjk_tokenizer) through the
 * store, and of search's results: paths, folding, CJK, deletions, caches
 * without an index, hostile queries. */
#include "buf.h"
#include "names.h"
#include "search.h"
#include "search_index.h"
#include "store.h"
#include "unit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONV(id, day, title, overview)                                                  \
	"{\"id\":\"" id "\",\"created_at\":\"" day "T10:00:00Z\",\"structured\":{\"title\":\"" \
	title "\",\"overview\":\"" overview "\",\"action_items\":[{\"description\":"     \
	"\"renew the passport\"}],\"events\":[{\"title\":\"Dentist visit\"}]}}"
#define FULL(id, day, text)                                                             \
	"{\"id\":\"" id "\",\"created_at\":\"" day "T10:00:00Z\",\"transcript_segments\":[" \
	"{\"text\":\"" text "\",\"speaker_id\":1,\"start\":62,\"end\":65}]}"

static struct store *fresh(void)
{
	char err[128];
	struct store *s = store_open(NULL, err, sizeof(err));
	struct store_item convs[] = {
		{ "c1", CONV("c1", "2025-06-30", "Mortgage call", "Talked rates") },
		{ "c2", CONV("c2", "2025-07-01", "Lunch", "Sandwiches at the caf\\u00e9") },
	};
	struct store_item mems[] = {
		{ "m1", "{\"id\":\"m1\",\"content\":\"Likes sourdough bread\",\"category\":\"interesting\"}" },
		{ "m2", "{\"id\":\"m2\",\"content\":\"私は東京都新宿区に住んでいます\"}" },
	};
	struct store_item items[] = {
		{ "a1", "{\"id\":\"a1\",\"description\":\"Call the plumber\",\"completed\":false,"
			"\"created_at\":\"2025-05-02T08:00:00Z\"}" },
		{ "a/2", "{\"id\":\"a/2\",\"description\":\"Pay the plumber\",\"completed\":true}" },
	};

	CHECK(s != NULL);
	CHECK(store_replace_listing(s, STORE_CONVERSATIONS, convs, 2, 1000) == 2);
	CHECK(store_replace_listing(s, STORE_MEMORIES, mems, 2, 1000) == 2);
	CHECK(store_replace_listing(s, STORE_ACTION_ITEMS, items, 2, 1000) == 2);
	CHECK(store_put_full_conversation(s, "c1", FULL("c1", "2025-06-30",
						       "we should refinance with Sam")) == 0);
	return s;
}

/* search_run of a query as typed (fts: as FTS5), at most limit results. */
static int run(struct store *s, const char *query, bool fts, size_t limit,
	       struct search_results *r, char *err, size_t errlen)
{
	struct search_request req = { .query = query, .fts = fts, .limit = limit };

	return search_run(s, &req, r, err, errlen);
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct search_result *)a)->path,
		      ((const struct search_result *)b)->path);
}

/* query's results, "," after each: their paths in name order (ranking
 * is tested on its own), or with `ids` their ids in rank order; "ERR"
 * on an error. */
static char *listed(struct store *s, const char *query, bool ids)
{
	struct search_results r;
	struct buf out = BUF_INIT;
	char err[256];

	buf_puts(&out, run(s, query, false, 0, &r, err, sizeof(err)) < 0 ? "ERR" : "");
	if (!ids && r.n > 1)
		qsort(r.items, r.n, sizeof(*r.items), by_path);
	for (size_t i = 0; i < r.n; i++)
		buf_printf(&out, "%s,", ids ? r.items[i].id : r.items[i].path);
	search_results_free(&r);
	return buf_steal(&out);
}

#define CHECK_LISTED(s, query, ids, want)             \
	do {                                          \
		char *got_ = listed(s, query, ids);   \
		CHECK_STR(got_, want);                \
		free(got_);                           \
	} while (0)
#define CHECK_PATHS(s, query, want) CHECK_LISTED(s, query, false, want)
#define CHECK_IDS(s, query, want) CHECK_LISTED(s, query, true, want)

static void test_each_kind_is_found_at_its_tree_path(void)
{
	struct store *s = fresh();

	CHECK_PATHS(s, "refinance", "conversations/2025-06-30/c1,");
	CHECK_PATHS(s, "\"refinance with sam\"", "conversations/2025-06-30/c1,");
	CHECK_PATHS(s, "mortgage", "conversations/2025-06-30/c1,");
	CHECK_PATHS(s, "passport", "conversations/2025-06-30/c1,conversations/2025-07-01/c2,");
	CHECK_PATHS(s, "dentist", "conversations/2025-06-30/c1,conversations/2025-07-01/c2,");
	CHECK_PATHS(s, "sourdough", "memories/interesting/m1.txt,");
	CHECK_PATHS(s, "call plumber", "action-items/open/a1.txt,");
	CHECK_PATHS(s, "pay plumber", "action-items/done/a%2F2.txt,");
	/* Speaker names and segment times are in the transcript's text. */
	CHECK_PATHS(s, "speaker refinance", "conversations/2025-06-30/c1,");
	CHECK_PATHS(s, "\"00 01 02\"", "conversations/2025-06-30/c1,");
	CHECK_PATHS(s, "nosuchword", "");
	store_close(s);
}

static void test_results_carry_date_title_and_marked_snippet(void)
{
	struct store *s = fresh();
	struct search_results r;
	struct buf md = BUF_INIT, name = BUF_INIT;
	char err[256];

	CHECK(run(s, "refinance", false, 5, &r, err, sizeof(err)) == 0 && r.n == 1);
	if (r.n == 1) {
		CHECK_STR(r.items[0].date, "2025-06-30");
		CHECK_STR(r.items[0].title, "Mortgage call");
		CHECK(strstr(r.items[0].snippet, "\001refinance\002") != NULL);
		CHECK(r.items[0].kind == STORE_CONVERSATIONS && r.items[0].score > 0);
		search_render_markdown("refinance", &r, &md);
		CHECK(strstr(md.data, "**refinance**") != NULL);
		CHECK(strstr(md.data, "`conversations/2025-06-30/c1`") != NULL);
		search_link_name(&r, 0, &name);
		CHECK_STR(name.data, "01 2025-06-30 Mortgage call");
		/* What would reorder or break a listing of names goes, and a
		 * title that reads as nothing leaves no trailing space. */
		free(r.items[0].title);
		r.items[0].title = strdup("evil\xE2\x80\xAEtxt.exe\xC2\x9B" "2J\xE2\x80\xA8next  ");
		buf_reset(&name);
		search_link_name(&r, 0, &name);
		CHECK_STR(name.data, "01 2025-06-30 eviltxt.exe 2J next");
		free(r.items[0].title);
		r.items[0].title = strdup(" \xE2\x80\x8F ");
		buf_reset(&name);
		search_link_name(&r, 0, &name);
		CHECK_STR(name.data, "01 2025-06-30");
	}
	search_results_free(&r);
	buf_free(&md);
	buf_free(&name);
	store_close(s);
}

static void test_a_title_match_ranks_above_a_transcript_match(void)
{
	struct store *s = fresh();
	struct store_item convs[] = {
		{ "t1", CONV("t1", "2025-01-01", "Weekly call", "Many things discussed at length") },
		{ "t2", CONV("t2", "2025-01-02", "Budget", "Numbers") },
	};
	struct search_results r;
	char err[256];

	CHECK(store_replace_listing(s, STORE_CONVERSATIONS, convs, 2, 3000) == 4);
	CHECK(store_put_full_conversation(s, "t1", FULL("t1", "2025-01-01",
						       "then the budget came up")) == 0);
	CHECK(run(s, "budget", false, 0, &r, err, sizeof(err)) == 0 && r.n == 2);
	if (r.n == 2) {
		CHECK_STR(r.items[0].id, "t2");
		CHECK_STR(r.items[1].id, "t1");
		CHECK(r.items[0].score > r.items[1].score);
	}
	search_results_free(&r);
	CHECK(run(s, "budget", false, 1, &r, err, sizeof(err)) == 0 && r.n == 1);
	search_results_free(&r);
	store_close(s);
}

static void test_diacritics_fold_both_ways(void)
{
	struct store *s = fresh();

	CHECK_PATHS(s, "cafe", "conversations/2025-07-01/c2,");
	CHECK_PATHS(s, "CAFÉ", "conversations/2025-07-01/c2,");
	store_close(s);
}

static void test_cjk_is_found_by_any_part(void)
{
	struct store *s = fresh();
	struct search_results r;
	char err[256];

	CHECK_PATHS(s, "東京", "memories/uncategorized/m2.txt,");
	CHECK_PATHS(s, "新宿区", "memories/uncategorized/m2.txt,");
	CHECK_PATHS(s, "住んで", "memories/uncategorized/m2.txt,");
	CHECK_PATHS(s, "東", "memories/uncategorized/m2.txt,");
	CHECK_PATHS(s, "す", "memories/uncategorized/m2.txt,");
	CHECK_PATHS(s, "大阪", "");
	CHECK_PATHS(s, "京東", "");
	/* A phrase going on after a run, or before it. */
	CHECK(store_put_full_conversation(s, "c2", FULL("c2", "2025-07-01",
		"we met at 東京 tower then 東京都 station")) == 0);
	CHECK_PATHS(s, "\"東京 tower\"", "conversations/2025-07-01/c2,");
	CHECK_PATHS(s, "\"at 東京 tower\"", "conversations/2025-07-01/c2,");
	CHECK_PATHS(s, "\"東京都 station\"", "conversations/2025-07-01/c2,");
	CHECK_PATHS(s, "\"京都 station\"", "conversations/2025-07-01/c2,");
	CHECK_PATHS(s, "\"東京 station\"", "");
	CHECK_PATHS(s, "\"東京 then\"", "");
	CHECK(run(s, "東京都", false, 1, &r, err, sizeof(err)) == 0 && r.n == 1);
	if (r.n == 1)
		CHECK(strstr(r.items[0].snippet, "\001東京都\002") != NULL);
	search_results_free(&r);
	store_close(s);
}

/* Phrases match exactly, highlighted whole, with prefixes, long words
 * and other scripts. */
static void test_phrases_match_exactly(void)
{
	struct store *s = fresh();
	struct search_results r;
	char err[256];

	CHECK(store_put_full_conversation(s, "c2", FULL("c2", "2025-07-01",
		"the supercalifragilisticexpialidocious-antidisestablishmentarianism-word came "
		"then \u043f\u0440\u0438\u0432\u0435\u0442 world and caf\u00e9 au lait")) == 0);
	CHECK_PATHS(s, "\"should refinance with\"", "conversations/2025-06-30/c1,");
	CHECK_PATHS(s, "\"refinance should\"", "");
	CHECK_PATHS(s, "\"should with\"", "");
	CHECK_PATHS(s, "\"should refin\"*", "conversations/2025-06-30/c1,");
	CHECK_PATHS(s, "\"refinance w\"*", "conversations/2025-06-30/c1,");
	CHECK_PATHS(s, "NEAR(should sam, 3)", "conversations/2025-06-30/c1,");
	CHECK_PATHS(s, "\"supercalifragilisticexpialidocious antidisestablishmentarianism word "
		       "came\"", "conversations/2025-07-01/c2,");
	CHECK_PATHS(s, "\"then \u043f\u0440\u0438\u0432\u0435\u0442 world\"",
		    "conversations/2025-07-01/c2,");
	CHECK_PATHS(s, "\"cafe au lait\"", "conversations/2025-07-01/c2,");
	CHECK_PATHS(s, "\"lait au cafe\"", "");
	CHECK(run(s, "\"should refinance with\"", false, 1, &r, err, sizeof(err)) == 0 && r.n == 1);
	if (r.n == 1)
		CHECK(strstr(r.items[0].snippet, "\001should refinance with\002") != NULL);
	search_results_free(&r);
	store_close(s);
}

static void test_deleted_and_changed_items_leave_the_index(void)
{
	struct store *s = fresh();
	struct store_item changed[] = {
		{ "c1", CONV("c1", "2025-06-30", "Mortgage call", "Talked rates again") },
	};

	CHECK(store_replace_listing(s, STORE_CONVERSATIONS, changed, 1, 2000) == 2);
	/* c1 changed: its transcript is dropped until fetched again. */
	CHECK_PATHS(s, "refinance", "");
	CHECK_PATHS(s, "again", "conversations/2025-06-30/c1,");
	CHECK_PATHS(s, "cafe", "");
	CHECK(store_put_full_conversation(s, "c1", FULL("c1", "2025-06-30", "refinance now")) == 0);
	CHECK_PATHS(s, "refinance", "conversations/2025-06-30/c1,");
	CHECK(store_replace_listing(s, STORE_MEMORIES, NULL, 0, 2000) == 2);
	CHECK_PATHS(s, "sourdough", "");
	store_close(s);
}

static void test_raw_fts5_errors_name_the_problem(void)
{
	static const char *const bad[] = { "\"unbalanced", "NEAR(", "NEAR(a b", "..", "a AND",
					   "(((", "nosuchcolumn:word", "*", "^", "+" };
	struct store *s = fresh();
	struct search_results r;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = '\0';
		CHECK(run(s, bad[i], true, 0, &r, err, sizeof(err)) == -EINVAL);
		CHECK(r.n == 0 && err[0] != '\0');
		search_results_free(&r);
	}
	/* The fts: prefix is the same as --fts. */
	CHECK(run(s, "fts:(((", false, 0, &r, err, sizeof(err)) == -EINVAL);
	search_results_free(&r);
	CHECK(run(s, "fts:refinance", false, 0, &r, err, sizeof(err)) == 0 && r.n == 1);
	search_results_free(&r);
	store_close(s);
}

static void test_typed_text_is_never_refused(void)
{
	static const char *const typed[] = { "\"unbalanced", "NEAR(", "NEAR(a b", "..", "a AND",
					     "(((", "nosuchcolumn:word", "*", "^", "+", "\"", ")",
					     "OR", "NOT", "-", "AND OR NOT", "a OR", "NEAR(,)",
					     "\"\"*", "((a) OR (b) -(c)", "after:", "kind:",
					     "speaker:\"", "x:y:z" };
	struct store *s = fresh();
	struct search_results r;
	char err[256], long_query[SEARCH_QUERY_MAX + 2];

	for (size_t i = 0; i < sizeof(typed) / sizeof(*typed); i++) {
		err[0] = '\0';
		CHECK(run(s, typed[i], false, 0, &r, err, sizeof(err)) == 0);
		search_results_free(&r);
	}
	/* Only nothing at all, or too much, is refused. */
	CHECK(run(s, "", false, 0, &r, err, sizeof(err)) == -EINVAL);
	search_results_free(&r);
	CHECK(run(s, "  ", false, 0, &r, err, sizeof(err)) == -EINVAL);
	search_results_free(&r);
	memset(long_query, 'a', sizeof(long_query) - 1);
	long_query[sizeof(long_query) - 1] = '\0';
	CHECK(run(s, long_query, false, 0, &r, err, sizeof(err)) == -EINVAL);
	search_results_free(&r);
	/* Punctuation makes no word: a valid query, no match. */
	CHECK_PATHS(s, "\"..\"", "");
	CHECK_PATHS(s, "?", "");
	/* and beside words, it is passed over. */
	CHECK_PATHS(s, "refinance ?", "conversations/2025-06-30/c1,");
	CHECK_PATHS(s, "(refinance!)", "conversations/2025-06-30/c1,");
	store_close(s);
}

/* Memories with everyday punctuation, one a day from 2025-03-01. */
static const char *const everyday[] = {
	"Send the e-mail to Müller-Lüdenscheidt", "I don't think O'Brien's pub opens",
	"The rate is 3.5 percent", "Meet at 10:30 by the Wi-Fi router", "Prices 50% off",
	"The C++ build broke again", "Q3 numbers look good", "Dr. Smith called back",
	"Write to sam@example.com soon", "Ticket #4471-B is open", "It costs $1,200",
	"A covid-19 test", "Trip to São Paulo", "明日は東京で会議", "Mail the rest later",
};

static struct store *everyday_store(void)
{
	char err[128], json[512];
	struct store *s = store_open(NULL, err, sizeof(err));
	struct store_item mems[sizeof(everyday) / sizeof(*everyday)];
	char ids[sizeof(everyday) / sizeof(*everyday)][8];
	size_t n = sizeof(everyday) / sizeof(*everyday);

	CHECK(s != NULL);
	for (size_t i = 0; i < n; i++) {
		snprintf(ids[i], sizeof(ids[i]), "e%02zu", i);
		snprintf(json, sizeof(json), "{\"id\":\"%s\",\"content\":\"%s\",\"category\":\"%s\","
			 "\"created_at\":\"2025-03-%02zuT12:00:00Z\"}", ids[i], everyday[i],
			 i % 2 ? "work" : "personal", i + 1);
		mems[i].id = ids[i];
		mems[i].json = strdup(json);
	}
	CHECK(store_replace_listing(s, STORE_MEMORIES, mems, n, 1000) == (int)n);
	for (size_t i = 0; i < n; i++)
		free((char *)mems[i].json);
	return s;
}

static void test_everyday_words_find_what_they_say(void)
{
	struct store *s = everyday_store();

	CHECK_IDS(s, "e-mail", "e00,");
	CHECK_IDS(s, "Müller-Lüdenscheidt", "e00,");
	CHECK_IDS(s, "muller-ludenscheidt", "e00,");
	CHECK_IDS(s, "don't think", "e01,");
	CHECK_IDS(s, "O'Brien's", "e01,");
	CHECK_IDS(s, "3.5 percent", "e02,");
	CHECK_IDS(s, "10:30", "e03,");
	CHECK_IDS(s, "Wi-Fi router", "e03,");
	CHECK_IDS(s, "50%", "e04,");
	CHECK_IDS(s, "C++ build", "e05,");
	CHECK_IDS(s, "Q3?", "e06,");
	CHECK_IDS(s, "Dr. Smith", "e07,");
	CHECK_IDS(s, "sam@example.com", "e08,");
	CHECK_IDS(s, "#4471-B", "e09,");
	CHECK_IDS(s, "$1,200", "e10,");
	CHECK_IDS(s, "covid-19", "e11,");
	CHECK_IDS(s, "Sao Paulo", "e12,");
	CHECK_IDS(s, "東京", "e13,");
	/* The operators people know. */
	CHECK_IDS(s, "mail -rest", "e00,");
	CHECK_IDS(s, "mail NOT e-mail", "e14,");
	CHECK_IDS(s, "\"build broke\"", "e05,");
	CHECK_IDS(s, "\"broke build\"", "");
	CHECK_IDS(s, "bui*", "e05,");
	CHECK_IDS(s, "NEAR(send lüdenscheidt, 5)", "e00,");
	CHECK_IDS(s, "NEAR(send lüdenscheidt, 1)", "");
	CHECK_IDS(s, "(smith OR paulo) trip", "e12,");
	/* Ties (one word, each once, texts of about one length) newest
	 * first. */
	CHECK_IDS(s, "percent OR numbers OR costs", "e10,e06,e02,");
	store_close(s);
}

static void test_filters_alone_and_with_words(void)
{
	struct store *s = everyday_store();
	struct search_results r;
	char err[256];

	CHECK_IDS(s, "kind:memory before:2025-03-04", "e02,e01,e00,");
	CHECK_IDS(s, "kind:conversation", "");
	CHECK_IDS(s, "after:2025-03-14", "e14,e13,");
	CHECK_IDS(s, "after:2025-03-02 before:2025-03-04 category:work", "e01,");
	CHECK_IDS(s, "category:personal mail", "e14,e00,");
	CHECK_IDS(s, "mail after:2025-03-10", "e14,");
	CHECK_IDS(s, "-mail before:2025-03-03", "e01,");
	/* A filter's value that is no value is words. */
	CHECK_IDS(s, "after:soon", "");
	/* A filter cannot be negated: the words are left out, the rest
	 * stays. */
	CHECK_IDS(s, "mail -kind:memory", "e14,e00,");
	/* The count: every match, the limit aside. */
	CHECK(run(s, "kind:memory", false, 2, &r, err, sizeof(err)) == 0);
	CHECK(r.n == 2 && r.total == sizeof(everyday) / sizeof(*everyday));
	search_results_free(&r);
	store_close(s);
}

/* query's results, m1's and m3's, show the local days of m1 and m3. */
static void check_dates(struct store *s, const char *query, time_t m1, time_t m3)
{
	struct search_results r;
	char err[256], want[16];

	CHECK(run(s, query, false, 0, &r, err, sizeof(err)) == 0 && r.n == 2);
	for (size_t i = 0; i < r.n; i++) {
		names_local_day(strcmp(r.items[i].id, "m1") == 0 ? m1 : m3, want);
		CHECK_STR(r.items[i].date, want);
	}
	search_results_free(&r);
}

/* An item that says no date (a memory of the documented API) is dated
 * when the cache first saw it, as the tree dates it: whether it was
 * indexed after that was noted (a complete listing) or before (a merge). */
static void test_undated_items_are_dated_when_first_seen(void)
{
	struct store *s = fresh();	/* m1 and m2 first seen at 1000 s */
	struct store_item later[] = { { "m3", "{\"id\":\"m3\",\"content\":\"Sourdough starter\"}" } };

	CHECK_PATHS(s, "kind:memory before:1970-01-03",
		    "memories/interesting/m1.txt,memories/uncategorized/m2.txt,");
	CHECK_PATHS(s, "kind:memory after:1970-01-03", "");
	CHECK(store_merge_listing(s, STORE_MEMORIES, later, 1) == 1);
	CHECK_PATHS(s, "kind:memory after:2020-01-01", "memories/uncategorized/m3.txt,");
	CHECK_PATHS(s, "sourdough before:1970-01-03", "memories/interesting/m1.txt,");
	/* A result shows that day as its date, by either path. */
	check_dates(s, "sourdough", 1000, store_first_seen(s, STORE_MEMORIES, "m3"));
	store_close(s);
}

static void test_speaker_filter(void)
{
	struct store *s = fresh();

	CHECK_PATHS(s, "speaker:\"Speaker 1\"", "conversations/2025-06-30/c1,");
	CHECK_PATHS(s, "speaker:\"speaker 1\" refinance", "conversations/2025-06-30/c1,");
	CHECK_PATHS(s, "speaker:\"Speaker 2\"", "");
	store_close(s);
}

/* Milliseconds since an earlier CLOCK_MONOTONIC time. */
static double ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

static void test_a_deadline_stops_the_ranking_and_says_so(void)
{
	static const char *const words[] = { "alpha", "bravo", "charlie", "delta", "echo",
					     "foxtrot", "golf", "hotel", "india", "juliet" };
	enum { N = 6000 };
	char err[256], json[256];
	struct store *s = store_open(NULL, err, sizeof(err));
	struct store_item *mems = calloc(N, sizeof(*mems));
	struct search_request req = { .query = "a* OR b* OR c* OR d* OR e* OR f* OR g* OR h*" };
	struct search_results whole, part;
	struct timespec t0;
	double full_ms;

	CHECK(s != NULL && mems != NULL);
	for (size_t i = 0; i < N; i++) {
		char *id = malloc(16);

		snprintf(id, 16, "m%zu", i);
		snprintf(json, sizeof(json), "{\"id\":\"%s\",\"content\":\"%s %s %s %s\"}", id,
			 words[i % 10], words[i / 10 % 10], words[i / 100 % 10], words[i / 7 % 10]);
		mems[i].id = id;
		mems[i].json = strdup(json);
	}
	CHECK(store_replace_listing(s, STORE_MEMORIES, mems, N, N) == N);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(search_run(s, &req, &whole, err, sizeof(err)) == 0);
	full_ms = ms_since(&t0);
	CHECK(!whole.partial && whole.total > N / 2 && whole.n == whole.total);
	req.deadline_ms = 1;
	CHECK(search_run(s, &req, &part, err, sizeof(err)) == 0);
	/* Only a query that takes longer than its deadline can tell. */
	if (full_ms > 20) {
		CHECK(part.partial && part.total < whole.total && part.n == part.total);
	}
	search_results_free(&whole);
	search_results_free(&part);
	for (size_t i = 0; i < N; i++) {
		free((char *)mems[i].id);
		free((char *)mems[i].json);
	}
	free(mems);
	store_close(s);
}

static const char old_schema[] =
	"CREATE TABLE listing (kind INTEGER NOT NULL, position INTEGER NOT NULL, id TEXT NOT NULL,"
	"  json TEXT NOT NULL, PRIMARY KEY (kind, id));"
	"CREATE TABLE listed (kind INTEGER PRIMARY KEY, listed_at INTEGER NOT NULL,"
	"  count INTEGER NOT NULL);"
	"CREATE TABLE full_conversation (id TEXT PRIMARY KEY, json TEXT NOT NULL);"
	"INSERT INTO listing VALUES (2, 0, 'old1', '{\"id\":\"old1\",\"created_at\":"
	"  \"2024-01-02T03:04:05Z\",\"structured\":{\"title\":\"Garden\"}}');"
	"INSERT INTO listed VALUES (2, 5, 1);"
	"INSERT INTO full_conversation VALUES ('old1', '{\"id\":\"old1\",\"transcript_segments\":"
	"  [{\"text\":\"plant the tomatoes\",\"speaker\":\"SPEAKER_00\"}]}');";

static bool has_table(const char *path, const char *table)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	bool found = false;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = ?", -1, &st, NULL) ==
		    SQLITE_OK) {
		sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
		found = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return found;
}

static int run_sql(const char *path, const char *sql)
{
	sqlite3 *db;
	int rc = sqlite3_open(path, &db) == SQLITE_OK ? sqlite3_exec(db, sql, NULL, NULL, NULL) : -1;

	sqlite3_close(db);
	return rc;
}

static void test_a_cache_without_index_is_indexed_on_open(void)
{
	char dir[] = "/tmp/omifs-search-XXXXXX", path[64], err[256];
	struct store *s;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/old.sqlite", dir);
	CHECK(run_sql(path, old_schema) == SQLITE_OK);
	/* Read-only, told not to index: no search, the file untouched. */
	s = store_open_readonly(path, false, err, sizeof(err));
	CHECK(s != NULL && !store_can_search(s));
	CHECK(store_index_state(s) == SEARCH_INDEX_OTHER_VERSION);
	store_close(s);
	CHECK(!has_table(path, "search_text"));
	/* Read-only: indexed in memory, the file untouched. */
	s = store_open_readonly(path, true, err, sizeof(err));
	CHECK(s != NULL && store_can_search(s));
	CHECK_PATHS(s, "tomatoes", "conversations/2024-01-02/old1,");
	store_close(s);
	CHECK(!has_table(path, "search_text"));
	/* Writable: indexed on disk, then read-only uses that index. */
	s = store_open(path, err, sizeof(err));
	CHECK_PATHS(s, "tomatoes garden", "conversations/2024-01-02/old1,");
	store_close(s);
	CHECK(has_table(path, "search_text"));
	s = store_open_readonly(path, false, err, sizeof(err));
	CHECK(store_can_search(s) && store_index_state(s) == SEARCH_INDEX_CURRENT);
	CHECK_PATHS(s, "garden", "conversations/2024-01-02/old1,");
	store_close(s);
	/* A write by an omifs that keeps no index marks it stale. */
	CHECK(run_sql(path, "INSERT INTO listing (kind, position, id, json) VALUES (0, 1, 'm9', "
			    "'{\"id\":\"m9\",\"content\":\"a zucchini\"}')") == SQLITE_OK);
	s = store_open_readonly(path, false, err, sizeof(err));
	CHECK(!store_can_search(s) && store_index_state(s) == SEARCH_INDEX_BEHIND);
	store_close(s);
	s = store_open_readonly(path, true, err, sizeof(err));
	CHECK_PATHS(s, "zucchini", "memories/uncategorized/m9.txt,");
	store_close(s);
	s = store_open(path, err, sizeof(err));
	CHECK_PATHS(s, "zucchini OR tomatoes",
		    "conversations/2024-01-02/old1,memories/uncategorized/m9.txt,");
	store_close(s);
	unlink(path);
	rmdir(dir);
}

static void test_coverage_counts_transcripts(void)
{
	struct store *s = fresh();
	struct search_coverage c;
	struct buf line = BUF_INIT;

	search_coverage(s, &c);
	CHECK(c.conversations == 2 && c.transcripts == 1 && c.memories == 2 && c.action_items == 2);
	search_coverage_line(&c, &line);
	CHECK_STR(line.data, "1 of 2 transcripts indexed; `omifs sync` fetches the rest");
	buf_reset(&line);
	c.conversations = c.transcripts = 1990;
	search_coverage_line(&c, &line);
	CHECK_STR(line.data, "all 1,990 transcripts indexed");
	buf_free(&line);
	store_close(s);
}

/* The index counts what the store's tables say, through every change;
 * returns the count. */
static size_t check_untranscribed(struct store *s)
{
	size_t n = 99;

	CHECK(store_count_untranscribed(s, &n) == 0);
	CHECK(n == store_count_listed_without_full(s));
	return n;
}

static void test_coverage_follows_transcripts_and_listings(void)
{
	struct store *s = fresh();
	struct store_item changed[] = {
		{ "c1", CONV("c1", "2025-06-30", "Mortgage call, renamed", "Talked rates") },
		{ "c2", CONV("c2", "2025-07-01", "Lunch", "Sandwiches at the caf\u00e9") },
		{ "c3", CONV("c3", "2025-07-02", "New", "Fresh") },
	};

	CHECK(check_untranscribed(s) == 1);
	CHECK(store_put_full_conversation(s, "c2", FULL("c2", "2025-07-01", "bread")) == 0);
	CHECK(check_untranscribed(s) == 0);
	/* c1 changed, so its full form goes; c3 is new. */
	CHECK(store_replace_listing(s, STORE_CONVERSATIONS, changed, 3, 2000) >= 0);
	CHECK(check_untranscribed(s) >= 2);
	store_close(s);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	RUN(test_each_kind_is_found_at_its_tree_path);
	RUN(test_results_carry_date_title_and_marked_snippet);
	RUN(test_a_title_match_ranks_above_a_transcript_match);
	RUN(test_diacritics_fold_both_ways);
	RUN(test_cjk_is_found_by_any_part);
	RUN(test_phrases_match_exactly);
	RUN(test_deleted_and_changed_items_leave_the_index);
	RUN(test_raw_fts5_errors_name_the_problem);
	RUN(test_typed_text_is_never_refused);
	RUN(test_everyday_words_find_what_they_say);
	RUN(test_filters_alone_and_with_words);
	RUN(test_undated_items_are_dated_when_first_seen);
	RUN(test_speaker_filter);
	RUN(test_a_deadline_stops_the_ranking_and_says_so);
	RUN(test_a_cache_without_index_is_indexed_on_open);
	RUN(test_coverage_counts_transcripts);
	RUN(test_coverage_follows_transcripts_and_listings);
	return UNIT_RESULT();
}
