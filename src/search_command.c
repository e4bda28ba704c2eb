/*
 * search_command: runs a query (search.h) on the cache and prints the
 * results. Everything printed comes from the index, the listing or
 * names_safe_name, which hold no control bytes, so server text cannot
 * drive the terminal.
 */
#include "search_command.h"

#include "buf.h"
#include "search.h"
#include "search_query.h"
#include "store.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* grep's colours: names magenta, matches bold red. */
#define COLOUR_PATH "\033[35m"
#define COLOUR_MATCH "\033[1;31m"
#define COLOUR_OFF "\033[0m"

/* A query from the command line ranks for this long at most. */
#define COMMAND_DEADLINE_MS 30000

static void print_json(const char *query, const struct search_results *r,
		       const struct search_coverage *cov)
{
	json_object *top = json_object_new_object(), *list = json_object_new_array(), *c;
	struct buf plain = BUF_INIT;

	json_object_object_add(top, "query", json_object_new_string(query));
	json_object_object_add(top, "total", json_object_new_int64((int64_t)r->total));
	json_object_object_add(top, "partial", json_object_new_boolean(r->partial));
	for (size_t i = 0; i < r->n; i++) {
		const struct search_result *x = &r->items[i];
		json_object *o = json_object_new_object();

		buf_reset(&plain);
		search_snippet_render(x->snippet, "", "", &plain);
		json_object_object_add(o, "kind", json_object_new_string(collection_of(x->kind)->json_one));
		json_object_object_add(o, "id", json_object_new_string(x->id));
		json_object_object_add(o, "path", json_object_new_string(x->path));
		json_object_object_add(o, "date", json_object_new_string(x->date));
		json_object_object_add(o, "title", json_object_new_string(x->title));
		json_object_object_add(o, "snippet", json_object_new_string(plain.data ? plain.data
											  : ""));
		json_object_object_add(o, "score", json_object_new_double(x->score));
		json_object_array_add(list, o);
	}
	json_object_object_add(top, "results", list);
	c = json_object_new_object();
	json_object_object_add(c, "conversations", json_object_new_int64((int64_t)cov->conversations));
	json_object_object_add(c, "transcripts", json_object_new_int64((int64_t)cov->transcripts));
	json_object_object_add(c, "memories", json_object_new_int64((int64_t)cov->memories));
	json_object_object_add(c, "action_items", json_object_new_int64((int64_t)cov->action_items));
	json_object_object_add(top, "indexed", c);
	printf("%s\n", json_object_to_json_string_ext(top, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(top);
	buf_free(&plain);
}

/* Per result: "PATH  DATE  KIND  TITLE", then the snippet indented. */
static void print_text(const struct search_results *r, bool colour)
{
	struct buf line = BUF_INIT;

	for (size_t i = 0; i < r->n; i++) {
		const struct search_result *x = &r->items[i];

		buf_reset(&line);
		buf_printf(&line, "%s%s%s  %s  %s  %s\n    ", colour ? COLOUR_PATH : "", x->path,
			   colour ? COLOUR_OFF : "", *x->date ? x->date : "undated",
			   search_kind_name(x->kind), x->title);
		search_snippet_render(x->snippet, colour ? COLOUR_MATCH : "",
				      colour ? COLOUR_OFF : "", &line);
		buf_putc(&line, '\n');
		fputs(line.data, stdout);
	}
	buf_free(&line);
}

/* The cache, read-only with its index. An index of another version of
 * omifs (after an upgrade) is indexed again on disk, once, when the file
 * is ours to write, so that the searches after this one need not; else,
 * and for an index an older omifs has written behind since (it would do
 * so again: indexing on disk would only hold up its writes), in memory,
 * for this search. NULL with a message on failure. */
static struct store *open_for_search(const char *path, char *err, size_t errlen)
{
	struct store *store = store_open_readonly(path, false, err, errlen);
	enum search_index_state state = store ? store_index_state(store) : SEARCH_INDEX_CURRENT;

	if (state == SEARCH_INDEX_CURRENT)
		return store;
	store_close(store);
	if (state == SEARCH_INDEX_OTHER_VERSION && access(path, W_OK) == 0) {
		fprintf(stderr, "omifs search: indexing the cache for this version of omifs, "
				"once (about a minute per 20,000 conversations)\n");
		store = store_open(path, err, errlen);
		if (store && store_can_search(store))
			return store;
		fprintf(stderr, "omifs search: %s%sindexing it in memory instead, for this search\n",
			store ? "" : err, store ? "" : "; ");
		store_close(store);
	} else {
		fprintf(stderr, "omifs search: %s: indexing it in memory for this search\n",
			state == SEARCH_INDEX_BEHIND ? "an omifs that keeps no index wrote the cache "
						       "since it was indexed"
						     : "the cache's index is from another version of "
						       "omifs and the cache is read-only");
	}
	return store_open_readonly(path, true, err, errlen);
}

/* The options' filters into f. Returns 0, or -1 having said which option
 * is wrong. */
static int option_filters(const struct omifs_config *c, struct search_filters *f)
{
	const char *bad = NULL, *takes = NULL;

	search_filters_init(f);
	for (const char *k = c->search_kind; k && !bad; k = strchr(k, ',') ? strchr(k, ',') + 1 : NULL) {
		if (search_kind_bit(k, strcspn(k, ","), &f->kinds) < 0) {
			bad = "--kind";
			takes = "memory, conversation, action-item or goal (several with commas)";
		}
	}
	if (!bad && c->search_since &&
	    search_local_day(c->search_since, strlen(c->search_since), false, &f->after) < 0)
		bad = "--since";
	if (!bad && c->search_until &&
	    search_local_day(c->search_until, strlen(c->search_until), true, &f->before) < 0)
		bad = "--until";
	if (bad && !takes)
		takes = "a day, YYYY-MM-DD (or YYYY-MM, YYYY)";
	if (!bad && c->search_speaker && !*c->search_speaker) {
		bad = "--speaker";
		takes = "a name";
	}
	if (bad) {
		fprintf(stderr, "omifs search: %s takes %s\n", bad, takes);
		return -1;
	}
	f->speaker = c->search_speaker;
	return 0;
}

int search_command(const struct omifs_config *c, const char *query, int limit)
{
	struct search_results r = { 0 };
	struct search_filters filters;
	struct search_request req = { .query = query, .fts = c->search_fts, .filters = &filters,
				      .limit = (size_t)limit, .deadline_ms = COMMAND_DEADLINE_MS };
	struct search_coverage cov;
	struct buf coverage = BUF_INIT;
	char err[512];
	struct store *store;
	const char *no_color = getenv("NO_COLOR");
	bool colour = isatty(STDOUT_FILENO) && !(no_color && *no_color);
	int rc;

	if (option_filters(c, &filters) < 0)
		return SEARCH_TROUBLE;
	if (access(c->cache_path, F_OK) < 0) {
		fprintf(stderr, "omifs search: nothing is cached for this account yet (%s); mount "
				"it or run omifs sync first\n", c->cache_path);
		return SEARCH_TROUBLE;
	}
	store = open_for_search(c->cache_path, err, sizeof(err));
	if (!store) {
		fprintf(stderr, "omifs search: %s\n", err);
		return SEARCH_TROUBLE;
	}
	store_read_once(store);
	rc = search_run(store, &req, &r, err, sizeof(err));
	if (rc < 0) {
		if (rc == -EINVAL && search_request_is_fts(&req))
			fprintf(stderr, "omifs search: bad FTS5 query: %s (without --fts any text "
					"is a query)\n", err);
		else if (rc == -EINVAL)
			fprintf(stderr, "omifs search: %s\n", err);
		else
			fprintf(stderr, "omifs search: cannot search the cache: %s\n", err);
		search_results_free(&r);
		store_close(store);
		return SEARCH_TROUBLE;
	}
	search_coverage(store, &cov);
	search_coverage_line(&cov, &coverage);
	if (c->json) {
		print_json(query, &r, &cov);
	} else {
		struct buf count = BUF_INIT;

		print_text(&r, colour);
		search_count_line(&r, &count);
		fprintf(stderr, "%s%s%s; %s\n", count.data, r.n < r.total ? " (--limit 0 for all)" : "",
			r.partial ? "; the search stopped at its time limit" : "", coverage.data);
		buf_free(&count);
	}
	rc = r.n > 0 ? SEARCH_FOUND : SEARCH_NONE;
	buf_free(&coverage);
	search_results_free(&r);
	store_close(store);
	return rc;
}
