/*
 * search_query: what a person types, read as a search.
 *
 * Any text is a query; none is refused. Words match as the index
 * tokenizes them, so a word with inner punctuation ("e-mail", "don't",
 * "3.5", "sam@example.com") is the phrase of its parts, and punctuation
 * that makes no word ("?", "(", a lone quote) is passed over. Kept from
 * FTS5, with the same spelling:
 *
 *   "exact phrase"       a phrase (an unclosed quote closes at the end)
 *   word*  "a phr"*      a prefix
 *   a OR b               either; binds tighter than the implicit AND:
 *                        "dentist march OR april" is dentist AND (march
 *                        OR april)
 *   -word, NOT word      must not match (also a group or a phrase; not a
 *                        filter: "-kind:memory" is words)
 *   ( ... )              a group; unbalanced parentheses are closed or
 *                        passed over
 *   NEAR(a b, 5)         a and b at most 5 words apart (10 by default)
 *
 * and filters, ANDed with the rest (a filter whose value means nothing,
 * such as after:soon, is read as words):
 *
 *   kind:memory|conversation|action-item   (repeated: any of them)
 *   after:2025-01-01     created on that local day or later (also
 *                        2025-01 and 2025)
 *   before:2025-02-01    created before that local day
 *   speaker:Sam          a transcript segment by that speaker name, or
 *                        "Speaker 2" (quoted: speaker:"Sam Lee")
 *   category:work        a memory's or a conversation's category
 *
 * The result is an FTS5 expression that is never a syntax error.
 */
#ifndef OMIFS_SEARCH_QUERY_H
#define OMIFS_SEARCH_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Kinds in search_filters.kinds: 1 << enum store_kind. */
#define SEARCH_ANY_KIND 0u

struct search_filters {
	unsigned kinds;		/* bit per store kind; SEARCH_ANY_KIND: all */
	int64_t after;		/* created_at >= after (epoch seconds); INT64_MIN: none */
	int64_t before;		/* created_at < before; INT64_MAX: none */
	char *speaker;		/* NULL: any */
	char *category;		/* NULL: any */
};

/* What a query asks, owned by it (search_query_free). */
struct search_query {
	char *match;		/* FTS5 expression of what must match; NULL: no words */
	char *exclude;		/* without match: FTS5 expression of what must not
				 * match ("-draft" alone); else NULL */
	struct search_filters filters;
};

/* Whether text (len bytes, not NUL-terminated) holds a word as the index
 * tokenizes it. */
typedef bool (*search_words_fn)(void *ctx, const char *text, size_t len);

/* Reads text into out (which it initializes; free it in every case). */
void search_query_parse(const char *text, search_words_fn has_words, void *ctx,
			struct search_query *out);

/* Sets f to no filter at all. */
void search_filters_init(struct search_filters *f);

/* Adds the filters of more to into: kinds either may name, the later
 * after, the earlier before, and speaker and category where into has
 * none. */
void search_filters_add(struct search_filters *into, const struct search_filters *more);

/* Whether f filters anything out. */
bool search_filters_any(const struct search_filters *f);

/* Whether q asks for anything: words, an exclusion or a filter. */
bool search_query_asks(const struct search_query *q);

/* The local midnight that starts day "YYYY[-MM[-DD]]" (a missing part is
 * the first), into *when. With `next`, the midnight that ends it instead
 * (the next day's, month's or year's). Returns 0, or -1 when text is no
 * such day. */
int search_local_day(const char *text, size_t len, bool next, int64_t *when);

/* Sets the kind bit that name ("memory", "conversations", "action-item",
 * ...) stands for in *kinds. Returns 0, or -1 for no kind. */
int search_kind_bit(const char *name, size_t len, unsigned *kinds);

void search_query_free(struct search_query *q);

#endif
