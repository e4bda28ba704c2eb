/*
 * jsontext: json-c's tokener with omifs's depth and strictness, and the
 * streaming splitter of JSON arrays.
 */
#include "jsontext.h"

#include "buf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

json_object *json_text_parse(const char *text, size_t len)
{
	json_tokener *tok;
	json_object *obj;

	if (len > INT32_MAX)
		return NULL;
	tok = json_tokener_new_ex(JSON_TEXT_DEPTH);
	if (!tok)
		return NULL;
	obj = json_tokener_parse_ex(tok, text, (int)len);
	/* A bare number may go on in the next chunk: say the text has ended
	 * (json-c then takes the number without consuming the NUL). */
	if (!obj && json_tokener_get_error(tok) == json_tokener_continue) {
		obj = json_tokener_parse_ex(tok, "", 1);
		len = 0;
	}
	if (obj && (json_tokener_get_error(tok) != json_tokener_success ||
		    json_tokener_get_parse_end(tok) < len)) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

enum split_state {
	SPLIT_BEFORE,		/* before the '[' */
	SPLIT_FIRST,		/* after it: an element or ']' */
	SPLIT_NEXT,		/* after a ',': an element */
	SPLIT_ELEMENT,		/* inside an element */
	SPLIT_AFTER,		/* after the ']': white space only */
};

/* An element buffer larger than this is given back after use rather than
 * kept for the next one. */
#define ELEMENT_KEEP (1u << 20)

struct json_splitter {
	json_element_fn fn;
	void *ctx;
	enum split_state state;
	struct buf element;	/* the element's bytes so far */
	int depth;		/* brackets open inside it */
	bool in_string, escaped;
	size_t count;		/* elements handed over */
	int verdict;		/* once -EINVAL or -ECANCELED, the answer to every call */
};

struct json_splitter *json_splitter_new(json_element_fn fn, void *ctx)
{
	struct json_splitter *sp = xcalloc(1, sizeof(*sp));

	sp->fn = fn;
	sp->ctx = ctx;
	return sp;
}

void json_splitter_free(struct json_splitter *sp)
{
	if (!sp)
		return;
	buf_free(&sp->element);
	free(sp);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Parses the element received and hands it to fn. Returns 0, -EINVAL
 * (not a JSON value) or -ECANCELED (fn stopped). */
static int emit(struct json_splitter *sp)
{
	size_t len = sp->element.len;
	json_object *value;
	int stop;

	while (len > 0 && is_space(sp->element.data[len - 1]))
		len--;
	/* The scanner only finds the boundary; json-c judges the value. */
	value = json_text_parse(sp->element.data, len);
	if (!value && !(len == 4 && memcmp(sp->element.data, "null", 4) == 0))
		return -EINVAL;
	stop = sp->fn ? sp->fn(value, sp->count, sp->ctx) : 0;
	json_object_put(value);
	sp->count++;
	if (sp->element.cap > ELEMENT_KEEP)
		buf_free(&sp->element);
	else
		buf_reset(&sp->element);
	return stop ? -ECANCELED : 0;
}

/* A byte outside any element. Returns 1 when it starts one, 0 when it is
 * the array's own punctuation or space, -EINVAL when it cannot be there. */
static int between_elements(struct json_splitter *sp, char c)
{
	if (is_space(c))
		return 0;
	switch (sp->state) {
	case SPLIT_BEFORE:
		if (c != '[')
			return -EINVAL;
		sp->state = SPLIT_FIRST;
		return 0;
	case SPLIT_FIRST:
		if (c == ']') {
			sp->state = SPLIT_AFTER;
			return 0;
		}
		break;
	case SPLIT_NEXT:
		break;
	default:
		return -EINVAL;
	}
	sp->state = SPLIT_ELEMENT;
	return 1;
}

/* Scans element bytes from data[*i]; stops after the ',' or ']' that ends
 * the element (leaving *i past it and the state changed) or at len.
 * Returns -EINVAL when the bytes cannot be part of an array element. */
static int scan_element(struct json_splitter *sp, const char *data, size_t len, size_t *i)
{
	for (; *i < len; ++*i) {
		char c = data[*i];

		if (sp->in_string) {
			if (sp->escaped)
				sp->escaped = false;
			else if (c == '\\')
				sp->escaped = true;
			else if (c == '"')
				sp->in_string = false;
		} else if (c == '"') {
			sp->in_string = true;
		} else if (c == '[' || c == '{') {
			/* json-c would refuse it anyway: no need to hold more. */
			if (++sp->depth > JSON_TEXT_DEPTH)
				return -EINVAL;
		} else if ((c == ']' || c == '}') && sp->depth > 0) {
			sp->depth--;
		} else if (c == '}') {
			return -EINVAL;
		} else if ((c == ']' || c == ',') && sp->depth == 0) {
			sp->state = c == ']' ? SPLIT_AFTER : SPLIT_NEXT;
			++*i;
			return 0;
		}
	}
	return 0;
}

int json_splitter_feed(struct json_splitter *sp, const char *data, size_t len)
{
	size_t i = 0;

	while (sp->verdict == 0 && i < len) {
		size_t from = i;

		if (sp->state != SPLIT_ELEMENT) {
			int starts = between_elements(sp, data[i]);

			if (starts < 0)
				sp->verdict = -EINVAL;
			if (starts <= 0) {
				i++;
				continue;
			}
		}
		if (scan_element(sp, data, len, &i) < 0) {
			sp->verdict = -EINVAL;
			break;
		}
		if (sp->state == SPLIT_ELEMENT) {
			buf_append(&sp->element, data + from, i - from);
		} else {
			/* The ',' or ']' that ended it is not part of it. */
			buf_append(&sp->element, data + from, i - 1 - from);
			sp->verdict = emit(sp);
		}
	}
	return sp->verdict;
}

long json_splitter_finish(struct json_splitter *sp)
{
	if (sp->verdict == 0 && sp->state != SPLIT_AFTER)
		sp->verdict = -EINVAL;
	return sp->verdict ? sp->verdict : (long)sp->count;
}

long json_text_each_element(const char *text, size_t len, json_element_fn fn, void *ctx)
{
	struct json_splitter *sp = json_splitter_new(fn, ctx);
	long n;

	json_splitter_feed(sp, text, len);
	n = json_splitter_finish(sp);
	json_splitter_free(sp);
	return n;
}

char *json_text_object_id(json_object *obj)
{
	json_object *v;

	if (!json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, "id", &v))
		return NULL;
	if (json_object_is_type(v, json_type_string)) {
		size_t len = (size_t)json_object_get_string_len(v);
		const char *s = json_object_get_string(v);
		struct buf escaped = BUF_INIT;

		if (len == 0)
			return NULL;
		if (!memchr(s, '\0', len))
			return xstrndup(s, len);
		for (size_t i = 0; i < len; i++) {
			if (s[i] == '\0' || s[i] == '\\')
				buf_putc(&escaped, '\\');
			buf_putc(&escaped, s[i] ? s[i] : '0');
		}
		return buf_steal(&escaped);
	}
	if (json_object_is_type(v, json_type_int))
		return xstrdup(json_object_get_string(v));
	return NULL;
}
