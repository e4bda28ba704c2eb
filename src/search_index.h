/*
 * search_index: the full-text index of the cache (SQLite FTS5), kept by
 * the store inside its own transactions.
 *
 * Promises:
 * - For every item of a listing there is one entry, made from the
 *   listing's JSON and, for a conversation, from its full form when the
 *   cache has it: the title; the overview, action items and events (or a
 *   memory's or action item's text); the transcript as transcript.txt
 *   shows it, with times and speaker names. Nothing else has an entry.
 * - Words are matched folded (case, diacritics: "cafe" finds "café"), and
 *   CJK text by any part of it (cjk_tokenizer.h).
 * - A cache without an index, or with one from another version, or
 *   written since by an omifs that kept none, is indexed again when
 *   opened: on disk when it is writable, else in memory for the life of
 *   the connection, never touching the file.
 *
 * Not thread-safe on its own: the store calls it with its lock held, on
 * its one connection. Functions return 0 or -errno (-EIO for SQLite
 * errors, with the message in the connection) unless they say otherwise.
 */
#ifndef OMIFS_SEARCH_INDEX_H
#define OMIFS_SEARCH_INDEX_H

#include "collections.h"
#include "search_query.h"	/* struct search_filters */
#include "search_snippet.h"	/* SEARCH_MARK_OPEN, SEARCH_MARK_CLOSE */

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct search_index;

/* How the index in db's file stands, before any open. */
enum search_index_state {
	SEARCH_INDEX_CURRENT,		/* this version's, in step with the store */
	SEARCH_INDEX_OTHER_VERSION,	/* none, or another version's */
	SEARCH_INDEX_BEHIND,		/* written since by an omifs that keeps none */
};

enum search_index_state search_index_state(sqlite3 *db);

/* Makes, checks or rebuilds the index of db, whose store tables exist
 * (writable) or may be missing (read-only); state is what
 * search_index_state(db) said just before, has_first_seen whether the
 * store's first_seen table is there (the store found out at its open).
 * On failure returns NULL with a message. The index borrows db, which
 * must outlive it. */
struct search_index *search_index_open(sqlite3 *db, bool writable, enum search_index_state state,
				       bool has_first_seen, char *err, size_t errlen);
void search_index_close(struct search_index *ix);

/* Makes (kind, id)'s entry agree with the store's tables again: made,
 * replaced or removed. Call it, inside the transaction that changed the
 * item, for every item whose listing entry or full form changed. */
int search_index_update(struct search_index *ix, enum store_kind kind, const char *id);

/* Notes that the index agrees with the store; call it last in every
 * transaction that called search_index_update, before COMMIT. */
int search_index_seal(struct search_index *ix);

/* Sets *n to the number of conversations indexed without their full
 * form (so without transcript): the listed ones that the cache has no
 * transcript for. */
int search_index_untranscribed(struct search_index *ix, size_t *n);

/* One match: its listing JSON, and an excerpt of the best matching text
 * with the matched words between SEARCH_MARK_OPEN and SEARCH_MARK_CLOSE. */
struct search_hit {
	enum store_kind kind;
	char *id;
	char *json;
	char *snippet;
	int64_t created;	/* its date as the filters test it (epoch seconds):
				 * when it was made, else first seen; 0: unknown */
	double score;	/* higher is better; 0 for a filter without words */
};

/* The hits of one query, owned by it (search_hits_free). */
struct search_hits {
	struct search_hit *items;
	size_t n;
	size_t total;	/* how many matched, of which the first n are here */
	bool partial;	/* the deadline came first: total counts the rows read */
};

/* The longest query accepted, in bytes. */
#define SEARCH_QUERY_MAX 1024

/* A query as asked. */
struct search_request {
	const char *query;	/* what a person typed (search_query.h) */
	bool fts;		/* query is FTS5 as it is (also when it starts with
				 * SEARCH_FTS_PREFIX) */
	const struct search_filters *filters;	/* the options', ANDed; NULL: none */
	size_t limit;		/* at most this many hits; 0: all */
	int deadline_ms;	/* stop ranking after this long; 0: never */
};

#define SEARCH_FTS_PREFIX "fts:"

/* Whether req's query is raw FTS5 (fts, or SEARCH_FTS_PREFIX): the only
 * kind of query that can be refused for its syntax. */
bool search_request_is_fts(const struct search_request *req);

/* Runs req: best match first, ties newest first; a query of filters (or
 * exclusions) alone lists what passes, newest first. Fills *out (free it
 * with search_hits_free in every case). A query that is empty or too
 * long gives -EINVAL, and so does raw FTS5 that is not valid, with a
 * message in err; other failures -EIO. A query of punctuation alone
 * finds nothing. */
int search_index_query(struct search_index *ix, const struct search_request *req,
		       struct search_hits *out, char *err, size_t errlen);
void search_hits_free(struct search_hits *hits);

#endif
