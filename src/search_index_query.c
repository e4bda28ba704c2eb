/*
 * search_index_query: queries over the index. A query as typed is read by
 * search_query (which asks the index's own tokenizer whether a text
 * holds words); the matches are ranked, each with its snippet's window,
 * in one pass (search_rank), and then the best ones shown get their
 * rows and snippets (pass two).
 */
#include "search_index_state.h"

#include "buf.h"
#include "search_query.h"
#include "search_rank.h"
#include "search_snippet.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int count_token(void *ctx, int flags, const char *token, int len, int start, int end)
{
	(void)flags;
	(void)token;
	(void)len;
	(void)start;
	(void)end;
	++*(int *)ctx;
	return SQLITE_DONE;	/* one is enough */
}

static bool has_words(void *ctx, const char *text, size_t len)
{
	struct search_index *ix = ctx;
	int n = 0;

	if (len == 0 || len > SEARCH_QUERY_MAX)
		return len > 0;
	ix->words.xTokenize(ix->words_instance, &n, FTS5_TOKENIZE_QUERY, text, (int)len,
			    count_token);
	return n > 0;
}

/* Whether query holds anything but spaces: FTS5 rejects a query of
 * punctuation and spaces with a message that says nothing useful. */
static bool blank(const char *query)
{
	for (const char *p = query; *p; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n')
			return false;
	return true;
}

/* An item's date: its created_at, else (a memory of the documented API
 * has none) when the cache first saw it, as the tree dates it: indexed
 * with the item when it was noted by then, looked up here only when not.
 * A cache of an older omifs, read-only, may have no first_seen table. */
#define DATE_SQL "COALESCE(d.created, (SELECT at FROM main.first_seen f " \
		 "WHERE f.kind = d.kind AND f.id = d.id))"

/* The filters every pass applies, from ?2 on: kinds, after, before,
 * category, speaker; '$' stands for the item's date. */
#define FILTERS_SQL							\
	"(?2 = 0 OR (?2 >> d.kind) & 1) "				\
	"AND (?3 IS NULL OR $ >= ?3) AND (?4 IS NULL OR $ < ?4) "	\
	"AND (?5 IS NULL OR d.category = ?5 COLLATE NOCASE) "		\
	"AND (?6 IS NULL OR instr(d.speakers, ?6) > 0)"

/* Pass one: every match into the ranking bound as ?7. CROSS JOIN keeps
 * the index's match the outer loop: the filters only test its rows.
 * Without filters, nothing is joined (a fifth of the time of a common
 * word's query): only ties need dates, looked up once ranked. */
#define RANK_SQL(created) \
	"SELECT " SEARCH_RANK_FUNCTION "(search_text, ?7, " created ", 10.0, 4.0, 1.0) "
static const char match_sql[] =
	RANK_SQL("$") "FROM search_text CROSS JOIN search_doc d ON d.doc = search_text.rowid "
	"WHERE search_text MATCH ?1 AND " FILTERS_SQL;
static const char match_unfiltered_sql[] =
	RANK_SQL("NULL") "FROM search_text WHERE search_text MATCH ?1";

/* A row's date, for ties. */
static const char date_sql[] = "SELECT $ FROM search_doc d WHERE d.doc = ?1";

/* Pass one without words: what the filters let through, less what ?1
 * matches when it is not NULL, with its date. The ranking orders them
 * newest first (an ORDER BY here took a third of the query's time). */
static const char filter_sql[] =
	"SELECT d.doc, $ FROM search_doc d WHERE " FILTERS_SQL
	" AND (?1 IS NULL OR d.doc NOT IN "
	"(SELECT rowid FROM search_text WHERE search_text MATCH ?1))";

/* Prepares sql with each '$' replaced by the item's date as ix knows it.
 * Returns SQLITE_OK or SQLite's code. */
static int prepare_dated(struct search_index *ix, const char *sql, sqlite3_stmt **st)
{
	struct buf text = BUF_INIT;
	int rc;

	for (const char *p = sql; *p; p++) {
		if (*p == '$')
			buf_puts(&text, ix->has_first_seen ? DATE_SQL : "d.created");
		else
			buf_putc(&text, *p);
	}
	rc = sqlite3_prepare_v2(ix->db, text.data, -1, st, NULL);
	buf_free(&text);
	return rc;
}

/* Pass two, for the matches shown only: a row by its rowid, without the
 * query, and its snippet from its window. */
static const char hit_sql[] =
	"SELECT d.kind, d.id, l.json, " SEARCH_SNIPPET_FUNCTION "(search_text, ?2, ?3, ?4), $ "
	"FROM search_text JOIN search_doc d ON d.doc = search_text.rowid "
	"JOIN main.listing l ON l.kind = d.kind AND l.id = d.id "
	"WHERE search_text.rowid = ?1";

/* Appends the current row of hit_sql to out, with score. */
static void add_hit(sqlite3_stmt *st, double score, struct search_hits *out, size_t *cap)
{
	struct search_hit *h;
	const char *snippet = (const char *)sqlite3_column_text(st, 3);

	out->items = xgrow(out->items, cap, out->n, sizeof(*out->items), 16);
	h = &out->items[out->n++];
	h->kind = (enum store_kind)sqlite3_column_int(st, 0);
	h->id = xstrdup((const char *)sqlite3_column_text(st, 1));
	h->json = xstrdup((const char *)sqlite3_column_text(st, 2));
	h->snippet = xstrdup(snippet ? snippet : "");
	h->created = sqlite3_column_int64(st, 4);
	h->score = score;
}

static void bind_filters(sqlite3_stmt *st, const struct search_filters *f,
			 const char *speaker)
{
	sqlite3_bind_int(st, 2, (int)f->kinds);
	if (f->after != INT64_MIN)
		sqlite3_bind_int64(st, 3, f->after);
	if (f->before != INT64_MAX)
		sqlite3_bind_int64(st, 4, f->before);
	if (f->category)
		sqlite3_bind_text(st, 5, f->category, -1, SQLITE_STATIC);
	if (speaker)
		sqlite3_bind_text(st, 6, speaker, -1, SQLITE_STATIC);
}

/* Every row that q asks for, ranked (or newest first without words),
 * until the deadline: then *partial. Returns SQLITE_DONE or the failing
 * step's code. */
static int rank_matches(struct search_index *ix, const struct search_query *q,
			const char *speaker, struct search_ranking *ranking)
{
	sqlite3_stmt *st = NULL;
	bool filtered = search_filters_any(&q->filters);
	int step;

	if (prepare_dated(ix, !q->match ? filter_sql : filtered ? match_sql : match_unfiltered_sql,
			  &st) != SQLITE_OK)
		return SQLITE_INTERNAL;
	if (q->match || q->exclude)
		sqlite3_bind_text(st, 1, q->match ? q->match : q->exclude, -1, SQLITE_STATIC);
	if (filtered || !q->match)
		bind_filters(st, &q->filters, speaker);
	if (q->match)
		sqlite3_bind_pointer(st, 7, ranking, SEARCH_RANKING_POINTER, NULL);
	/* With words, each row is added as the query reads it. */
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (!q->match &&
		    search_ranking_add_unranked(ranking, sqlite3_column_int64(st, 0),
						sqlite3_column_type(st, 1) == SQLITE_NULL
							? INT64_MIN : sqlite3_column_int64(st, 1)) < 0)
			step = SQLITE_INTERNAL;
	}
	sqlite3_finalize(st);
	return step;
}

/* The hits of the ranked rows, best first, up to limit (0: all); a row
 * the tree would not show is passed over. Returns SQLITE_DONE or the
 * failing step's code. */
static int fetch_hits(struct search_index *ix, struct search_ranking *ranking, size_t limit,
		      struct search_hits *out)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int step = SQLITE_DONE;

	if (prepare_dated(ix, hit_sql, &st) != SQLITE_OK)
		return SQLITE_INTERNAL;
	for (size_t i = 0; i < ranking->ranked && (!limit || out->n < limit); i++) {
		const struct search_ranked *row = &ranking->rows[i];

		sqlite3_bind_int64(st, 1, row->rowid);
		sqlite3_bind_int(st, 2, row->window.column);
		sqlite3_bind_int(st, 3, row->window.first);
		sqlite3_bind_int64(st, 4, row->window.near);
		step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			int kind = sqlite3_column_int(st, 0);

			if (kind >= 0 && kind < STORE_KINDS)
				add_hit(st, row->score, out, &cap);
			step = SQLITE_DONE;
		}
		sqlite3_reset(st);
		if (step != SQLITE_DONE)
			break;
	}
	sqlite3_finalize(st);
	return step;
}

/* search_ranking_finish's lookup of a row's length in tokens: FTS5's
 * own record of it, read as a blob moved from row to row (a statement's
 * step costs several times as much). The index is in temp when built
 * in memory, else in main, as an unqualified name finds it. */
struct row_lengths {
	sqlite3 *db;
	sqlite3_blob *blob;
};

static int row_tokens(void *ctx, sqlite3_int64 rowid, sqlite3_int64 *tokens)
{
	struct row_lengths *lengths = ctx;
	unsigned char sizes[64];
	int bytes, rc;

	if (lengths->blob)
		rc = sqlite3_blob_reopen(lengths->blob, rowid);
	else if ((rc = sqlite3_blob_open(lengths->db, "temp", "search_text_docsize", "sz", rowid,
					 0, &lengths->blob)) != SQLITE_OK)
		rc = sqlite3_blob_open(lengths->db, "main", "search_text_docsize", "sz", rowid, 0,
				       &lengths->blob);
	if (rc != SQLITE_OK)
		return -EIO;
	bytes = sqlite3_blob_bytes(lengths->blob);
	if (bytes > (int)sizeof(sizes) ||
	    sqlite3_blob_read(lengths->blob, sizes, bytes, 0) != SQLITE_OK)
		return -EIO;
	return search_rank_docsize_tokens(sizes, bytes, tokens);
}

/* search_ranking_date_ties's lookup: a row's date, INT64_MIN for none. */
static int row_date(void *ctx, sqlite3_int64 rowid, sqlite3_int64 *at)
{
	sqlite3_stmt *st = ctx;
	int step;

	sqlite3_bind_int64(st, 1, rowid);
	step = sqlite3_step(st);
	*at = step == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
		      ? sqlite3_column_int64(st, 0) : INT64_MIN;
	sqlite3_reset(st);
	return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -EIO;
}

/* Orders the ties among the first limit rows newest first (pass one
 * read no dates without filters). Returns SQLITE_DONE or an error code. */
static int date_ties(struct search_index *ix, struct search_ranking *ranking, size_t limit)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (prepare_dated(ix, date_sql, &st) != SQLITE_OK)
		return SQLITE_INTERNAL;
	rc = search_ranking_date_ties(ranking, limit, row_date, st);
	sqlite3_finalize(st);
	return rc < 0 ? SQLITE_IOERR : SQLITE_DONE;
}

/* Ranks the best `want` rows (0: all), ties by date when pass one read
 * none. Returns SQLITE_DONE or an error code. */
static int rank_best(struct search_index *ix, const struct search_query *q,
		     struct search_ranking *ranking, size_t want)
{
	struct row_lengths lengths = { ix->db, NULL };
	int rc;

	/* Without words no row has a score, nor asks its length. */
	rc = search_ranking_finish(ranking, want, row_tokens, &lengths);
	sqlite3_blob_close(lengths.blob);
	if (rc < 0)
		return SQLITE_IOERR;
	return q->match && !search_filters_any(&q->filters) ? date_ties(ix, ranking, want)
							     : SQLITE_DONE;
}

bool search_request_is_fts(const struct search_request *req)
{
	return req->fts || strncmp(req->query, SEARCH_FTS_PREFIX, strlen(SEARCH_FTS_PREFIX)) == 0;
}

/* Reads req into q: as FTS5 when asked, else as search_query reads it;
 * the options' filters on top. */
static void read_request(struct search_index *ix, const struct search_request *req,
			 struct search_query *q)
{
	const char *text = req->query;

	if (search_request_is_fts(req)) {
		if (!req->fts)
			text += strlen(SEARCH_FTS_PREFIX);
		memset(q, 0, sizeof(*q));
		search_filters_init(&q->filters);
		if (!blank(text))
			q->match = xstrdup(text);
	} else {
		search_query_parse(text, has_words, ix, q);
	}
	if (req->filters)
		search_filters_add(&q->filters, req->filters);
}

/* The speaker filter's name as search_doc.speakers holds it, or NULL. */
static char *speaker_key(const char *name)
{
	struct buf key = BUF_INIT;

	if (!name)
		return NULL;
	search_index_framed_name(&key, name, strlen(name));
	return buf_steal(&key);
}

static int64_t monotonic_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* Stops a query at its deadline (a monotonic_ns time). */
static int past_deadline(void *ctx)
{
	return monotonic_ns() > *(int64_t *)ctx;
}

/* The passes of a query read into q, the progress handler set for its
 * deadline (cleared here once pass one is over): every row ranked,
 * then the hits of the best up to limit (0: all) into out. Returns
 * SQLITE_DONE or the failing step's code. */
static int find_hits(struct search_index *ix, const struct search_query *q, const char *speaker,
		     size_t limit, struct search_ranking *ranking, struct search_hits *out)
{
	int step = rank_matches(ix, q, speaker, ranking);

	if (step == SQLITE_INTERRUPT) {
		out->partial = true;
		step = SQLITE_DONE;
	}
	sqlite3_progress_handler(ix->db, 0, NULL, NULL);
	if (step == SQLITE_DONE)
		step = rank_best(ix, q, ranking, limit);
	if (step == SQLITE_DONE)
		step = fetch_hits(ix, ranking, limit, out);
	/* Rows passed over can leave the ranked ones too few: rank all. */
	if (step == SQLITE_DONE && out->n < limit && ranking->ranked < ranking->n) {
		bool partial = out->partial;

		search_hits_free(out);
		out->partial = partial;
		step = rank_best(ix, q, ranking, 0);
		if (step == SQLITE_DONE)
			step = fetch_hits(ix, ranking, limit, out);
	}
	return step;
}

int search_index_query(struct search_index *ix, const struct search_request *req,
		       struct search_hits *out, char *err, size_t errlen)
{
	struct search_ranking ranking = SEARCH_RANKING_INIT;
	struct search_query q;
	int step, rc = 0;
	bool own_transaction;
	int64_t deadline = 0;
	char *speaker = NULL;

	memset(out, 0, sizeof(*out));
	if (blank(req->query) && !(req->filters && search_filters_any(req->filters))) {
		snprintf(err, errlen, "the query is empty");
		return -EINVAL;
	}
	if (strlen(req->query) > SEARCH_QUERY_MAX) {
		snprintf(err, errlen, "the query is longer than %d bytes", SEARCH_QUERY_MAX);
		return -EINVAL;
	}
	read_request(ix, req, &q);
	if (!search_query_asks(&q)) {
		search_query_free(&q);
		return 0;	/* punctuation only: nothing to find */
	}
	speaker = speaker_key(q.filters.speaker);
	if (req->deadline_ms > 0) {
		deadline = monotonic_ns() + (int64_t)req->deadline_ms * 1000000;
		sqlite3_progress_handler(ix->db, 1000, past_deadline, &deadline);
	}
	/* One read transaction: the second pass finds the first's rows
	 * again, which another process must not rewrite in between. */
	own_transaction = sqlite3_get_autocommit(ix->db) &&
			  sqlite3_exec(ix->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
	step = find_hits(ix, &q, speaker, req->limit, &ranking, out);
	out->total = ranking.n;
	if (step != SQLITE_DONE) {
		/* The statements prepared: a plain error is the query's
		 * (FTS5 syntax, an unknown column); the rest is the cache's. */
		rc = step == SQLITE_ERROR ? -EINVAL : -EIO;
		snprintf(err, errlen, "%s", sqlite3_errmsg(ix->db));
		search_hits_free(out);
	}
	if (own_transaction)
		sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL);
	search_ranking_free(&ranking);
	search_query_free(&q);
	free(speaker);
	return rc;
}

void search_hits_free(struct search_hits *hits)
{
	for (size_t i = 0; i < hits->n; i++) {
		free(hits->items[i].id);
		free(hits->items[i].json);
		free(hits->items[i].snippet);
	}
	free(hits->items);
	hits->items = NULL;
	hits->n = hits->total = 0;
	hits->partial = false;
}
