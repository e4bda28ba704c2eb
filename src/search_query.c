/*
 * search_query: a recursive descent over what a person typed, writing
 * FTS5 with every operand quoted and every group parenthesized, so that
 * FTS5's own grammar (and its precedence) never meets the person's text.
 *
 * A group reads units: a phrase, a prefix, NEAR(...), or a group in
 * parentheses, each maybe negated. Units joined by OR make a chain; the
 * chains of a group are ANDed, its negated units are taken away:
 *
 *   a b OR c -d     ->   ("a" AND ("b" OR "c")) NOT ("d")
 *
 * An operand that holds no word is dropped with its operator, because
 * FTS5 reads an empty phrase as matching nothing.
 */
#include "search_query.h"

#include "buf.h"
#include "collections.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Deeper parentheses than this are read as spaces: the recursion is
 * bounded whatever the text. */
#define MAX_DEPTH 16
#define NEAR_DEFAULT 10

struct parser {
	const char *p;
	search_words_fn has_words;
	void *ctx;
	struct search_filters *filters;
	int depth;
};

/* A group's parts as it is read: positive chains ANDed, negated units
 * ORed (to be taken away), and the chain being read. */
struct group {
	struct buf ands, nots, chain;
	size_t n_ands, n_nots, n_chain;
	bool or_pending;	/* the last token was OR */
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Ends of a bare word: space, quote, parentheses. */
static bool ends_word(char c)
{
	return !c || is_space(c) || c == '"' || c == '(' || c == ')';
}

static void skip_spaces(struct parser *ps)
{
	while (is_space(*ps->p))
		ps->p++;
}

/* Appends the FTS5 phrase of text (len bytes, holding no '"'), a prefix
 * with `prefix`; false, appending nothing, when it holds no word. */
static bool add_phrase(struct parser *ps, const char *text, size_t len, bool prefix,
		       struct buf *out)
{
	if (!ps->has_words(ps->ctx, text, len))
		return false;
	buf_putc(out, '"');
	buf_append(out, text, len);
	buf_puts(out, prefix ? "\" *" : "\"");
	return true;
}

static void group_free(struct group *g)
{
	buf_free(&g->ands);
	buf_free(&g->nots);
	buf_free(&g->chain);
}

/* Moves the chain being read into the group's ANDed parts. */
static void end_chain(struct group *g)
{
	if (g->n_chain == 0)
		return;
	if (g->n_ands++)
		buf_puts(&g->ands, " AND ");
	if (g->n_chain > 1)
		buf_printf(&g->ands, "(%s)", g->chain.data);
	else
		buf_puts(&g->ands, g->chain.data);
	buf_reset(&g->chain);
	g->n_chain = 0;
}

/* Adds one unit (its FTS5 text) to g, as the operators before it say. */
static void add_unit(struct group *g, const char *unit, bool negated)
{
	if (negated) {
		end_chain(g);
		if (g->n_nots++)
			buf_puts(&g->nots, " OR ");
		buf_puts(&g->nots, unit);
	} else {
		if (!g->or_pending)
			end_chain(g);
		if (g->n_chain++)
			buf_puts(&g->chain, " OR ");
		buf_puts(&g->chain, unit);
	}
	g->or_pending = false;
}

/* The group's FTS5 text into out; false when it has no positive part.
 * Then its negated parts go to *nots when that is not NULL: the top
 * level keeps them apart, as FTS5 has no NOT without something to take
 * from. */
static bool end_group(struct group *g, struct buf *out, struct buf *nots)
{
	end_chain(g);
	if (g->n_ands == 0) {
		if (nots && g->n_nots)
			buf_puts(nots, g->nots.data);
		return false;
	}
	if (g->n_nots)
		buf_printf(out, "((%s) NOT (%s))", g->ands.data, g->nots.data);
	else
		buf_printf(out, "(%s)", g->ands.data);
	return true;
}

/* A quoted phrase from ps->p (just after its opening quote) to its
 * closing quote or the end, and a '*' right after it. */
static bool read_phrase(struct parser *ps, struct buf *out)
{
	const char *start = ps->p, *end = strchr(start, '"');
	size_t len = end ? (size_t)(end - start) : strlen(start);
	bool prefix;

	ps->p = start + len + (end ? 1 : 0);
	prefix = end && *ps->p == '*';
	while (*ps->p == '*')
		ps->p++;
	return add_phrase(ps, start, len, prefix, out);
}

/* A bare word at ps->p, its trailing stars making it a prefix; inside
 * NEAR(), a comma also ends it. */
static bool read_word(struct parser *ps, bool in_near, struct buf *out)
{
	const char *start = ps->p;
	size_t len, stem;

	while (!ends_word(*ps->p) && !(in_near && *ps->p == ','))
		ps->p++;
	len = (size_t)(ps->p - start);
	for (stem = len; stem > 0 && start[stem - 1] == '*'; stem--)
		;
	return add_phrase(ps, start, stem, stem < len, out);
}

/* NEAR( ... ) from ps->p, just after its parenthesis: its phrases and
 * words, and ", N", up to the closing parenthesis or the end. */
static bool read_near(struct parser *ps, struct buf *out)
{
	struct buf phrases = BUF_INIT;
	size_t n = 0;
	long distance = NEAR_DEFAULT;

	for (;;) {
		skip_spaces(ps);
		if (!*ps->p || *ps->p == ')') {
			if (*ps->p)
				ps->p++;
			break;
		}
		if (*ps->p == ',') {
			char *end;

			ps->p++;
			skip_spaces(ps);
			if (isdigit((unsigned char)*ps->p)) {
				distance = strtol(ps->p, &end, 10);
				if (distance > 100000)
					distance = 100000;
				ps->p = end;
			}
			continue;
		}
		if (*ps->p == '(') {
			ps->p++;
			continue;
		}
		if (phrases.len)
			buf_putc(&phrases, ' ');
		if (*ps->p == '"' ? (ps->p++, read_phrase(ps, &phrases)) : read_word(ps, true, &phrases))
			n++;
		else if (phrases.len)
			phrases.data[--phrases.len] = '\0';
	}
	if (n > 1)
		buf_printf(out, "NEAR(%s, %ld)", phrases.data, distance);
	else if (n == 1)
		buf_puts(out, phrases.data);
	buf_free(&phrases);
	return n > 0;
}

int search_kind_bit(const char *name, size_t len, unsigned *kinds)
{
	static const struct {
		const char *name;
		enum store_kind kind;
	} names[] = {
		{ "memory", STORE_MEMORIES }, { "memories", STORE_MEMORIES },
		{ "conversation", STORE_CONVERSATIONS }, { "conversations", STORE_CONVERSATIONS },
		{ "action-item", STORE_ACTION_ITEMS }, { "action-items", STORE_ACTION_ITEMS },
		{ "action_item", STORE_ACTION_ITEMS }, { "action_items", STORE_ACTION_ITEMS },
		{ "goal", STORE_GOALS }, { "goals", STORE_GOALS },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) == len && strncasecmp(names[i].name, name, len) == 0) {
			*kinds |= 1u << names[i].kind;
			return 0;
		}
	}
	return -1;
}

/* Reads up to `digits` digits at *p into *value; false when there are
 * none or more. */
static bool read_number(const char **p, const char *end, int digits, int *value)
{
	int n = 0;

	*value = 0;
	while (*p < end && isdigit((unsigned char)**p) && n < digits) {
		*value = *value * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	return n > 0 && (*p == end || !isdigit((unsigned char)**p));
}

int search_local_day(const char *text, size_t len, bool next, int64_t *when)
{
	const char *p = text, *end = text + len;
	int year, month = 1, day = 1, parts = 1;
	struct tm tm = { 0 };
	time_t t;

	if (!read_number(&p, end, 4, &year) || p - text != 4 || year < 1)
		return -1;
	if (p < end && *p == '-') {
		p++;
		if (!read_number(&p, end, 2, &month) || month < 1 || month > 12)
			return -1;
		parts = 2;
	}
	if (p < end && *p == '-') {
		p++;
		if (!read_number(&p, end, 2, &day) || day < 1 || day > 31)
			return -1;
		parts = 3;
	}
	if (p != end)
		return -1;
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	tm.tm_isdst = -1;
	if (next && parts == 1)
		tm.tm_year++;
	else if (next && parts == 2)
		tm.tm_mon++;
	else if (next)
		tm.tm_mday++;
	t = mktime(&tm);
	if (t == (time_t)-1)
		return -1;
	/* mktime moves an impossible day (February 30) on: refuse it. */
	if (!next && (tm.tm_mday != day || tm.tm_mon != month - 1))
		return -1;
	*when = (int64_t)t;
	return 0;
}

/* A filter's value at ps->p: quoted to its closing quote, or a bare
 * word. Sets *value and *len (not NUL-terminated). */
static void read_filter_value(struct parser *ps, const char **value, size_t *len)
{
	const char *end;

	if (*ps->p == '"') {
		ps->p++;
		end = strchr(ps->p, '"');
		*value = ps->p;
		*len = end ? (size_t)(end - ps->p) : strlen(ps->p);
		ps->p += *len + (end ? 1 : 0);
		return;
	}
	*value = ps->p;
	while (!ends_word(*ps->p))
		ps->p++;
	*len = (size_t)(ps->p - *value);
}

static void set_text(char **field, const char *value, size_t len)
{
	free(*field);
	*field = strndup(value, len);
	if (!*field)
		abort();
}

/* A filter "key:value" at ps->p: applied, and true; false (ps->p
 * unmoved) when the key is none of the filters' or the value means
 * nothing for it. */
static bool read_filter(struct parser *ps)
{
	static const char *const keys[] = { "kind", "after", "before", "speaker", "category" };
	const char *start = ps->p, *colon = start, *value;
	size_t key_len, len;
	struct search_filters *f = ps->filters;
	int64_t when;
	int key = -1;

	while (isalpha((unsigned char)*colon))
		colon++;
	if (*colon != ':')
		return false;
	key_len = (size_t)(colon - start);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strlen(keys[i]) == key_len && strncasecmp(keys[i], start, key_len) == 0)
			key = (int)i;
	if (key < 0)
		return false;
	ps->p = colon + 1;
	read_filter_value(ps, &value, &len);
	if (len > 0 && key == 0 && search_kind_bit(value, len, &f->kinds) == 0)
		return true;
	if (len > 0 && key == 1 && search_local_day(value, len, false, &when) == 0) {
		if (when > f->after)
			f->after = when;
		return true;
	}
	if (len > 0 && key == 2 && search_local_day(value, len, false, &when) == 0) {
		if (when < f->before)
			f->before = when;
		return true;
	}
	if (len > 0 && (key == 3 || key == 4)) {
		set_text(key == 3 ? &f->speaker : &f->category, value, len);
		return true;
	}
	ps->p = start;
	return false;
}

static bool read_group(struct parser *ps, struct buf *out, struct buf *nots);

/* One unit at ps->p into unit; *negated when NOT or '-' came first.
 * Returns false when it gave nothing to add (an operator, a filter,
 * punctuation, a word-less phrase), true otherwise. Sets *closed at a
 * ')' that ends the group being read. */
static bool read_unit(struct parser *ps, struct group *g, struct buf *unit, bool *negated,
		      bool *closed)
{
	const char *p = ps->p;
	size_t len = 0;

	*closed = false;
	while (!ends_word(p[len]))
		len++;
	if (*p == ')') {
		ps->p++;
		*closed = ps->depth > 0;
		return false;
	}
	if (*p == '(') {
		ps->p++;
		if (ps->depth >= MAX_DEPTH)
			return false;
		ps->depth++;
		bool got = read_group(ps, unit, NULL);
		ps->depth--;
		return got;
	}
	if (*p == '"') {
		ps->p++;
		return read_phrase(ps, unit);
	}
	if (len == 2 && strncmp(p, "OR", 2) == 0) {
		ps->p += 2;
		g->or_pending = g->n_chain > 0;
		return false;
	}
	if (len == 3 && strncmp(p, "AND", 3) == 0) {
		ps->p += 3;
		return false;
	}
	if (len == 3 && strncmp(p, "NOT", 3) == 0) {
		ps->p += 3;
		*negated = true;
		return false;
	}
	if (len == 4 && strncmp(p, "NEAR", 4) == 0 && p[4] == '(') {
		ps->p += 5;
		return read_near(ps, unit);
	}
	if (*p == '-' && !ends_word(p[1])) {
		ps->p++;
		*negated = true;
		return false;
	}
	/* A filter cannot be negated: "-kind:memory" is words to leave out. */
	if (!*negated && read_filter(ps))
		return false;
	return read_word(ps, false, unit);
}

/* Reads a group up to its closing parenthesis (or the end) into out;
 * see end_group for nots. */
static bool read_group(struct parser *ps, struct buf *out, struct buf *nots)
{
	struct group g = { BUF_INIT, BUF_INIT, BUF_INIT, 0, 0, 0, false };
	struct buf unit = BUF_INIT;
	bool negated = false, closed = false, got;

	for (;;) {
		skip_spaces(ps);
		if (!*ps->p)
			break;
		buf_reset(&unit);
		if (read_unit(ps, &g, &unit, &negated, &closed)) {
			add_unit(&g, unit.data, negated);
			negated = false;
		}
		if (closed)
			break;
	}
	got = end_group(&g, out, nots);
	buf_free(&unit);
	group_free(&g);
	return got;
}

void search_filters_init(struct search_filters *f)
{
	memset(f, 0, sizeof(*f));
	f->kinds = SEARCH_ANY_KIND;
	f->after = INT64_MIN;
	f->before = INT64_MAX;
}

void search_query_parse(const char *text, search_words_fn has_words, void *ctx,
			struct search_query *out)
{
	struct parser ps = { text, has_words, ctx, &out->filters, 0 };
	struct buf match = BUF_INIT, nots = BUF_INIT;

	memset(out, 0, sizeof(*out));
	search_filters_init(&out->filters);
	if (read_group(&ps, &match, &nots))
		out->match = buf_steal(&match);
	else if (nots.len)
		out->exclude = buf_steal(&nots);
	buf_free(&match);
	buf_free(&nots);
}

void search_filters_add(struct search_filters *into, const struct search_filters *more)
{
	into->kinds |= more->kinds;
	if (more->after > into->after)
		into->after = more->after;
	if (more->before < into->before)
		into->before = more->before;
	if (more->speaker && !into->speaker)
		set_text(&into->speaker, more->speaker, strlen(more->speaker));
	if (more->category && !into->category)
		set_text(&into->category, more->category, strlen(more->category));
}

bool search_filters_any(const struct search_filters *f)
{
	return f->kinds != SEARCH_ANY_KIND || f->after != INT64_MIN || f->before != INT64_MAX ||
	       f->speaker || f->category;
}

bool search_query_asks(const struct search_query *q)
{
	return q->match || q->exclude || search_filters_any(&q->filters);
}

void search_query_free(struct search_query *q)
{
	free(q->match);
	free(q->exclude);
	free(q->filters.speaker);
	free(q->filters.category);
	memset(q, 0, sizeof(*q));
	search_filters_init(&q->filters);
}
