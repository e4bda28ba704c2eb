/*
 * jsontext: json-c's tokener with omifs's depth and strictness.
 */
#include "jsontext.h"

#include "buf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
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

static size_t skip_space(const char *text, size_t len, size_t i)
{
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	return i;
}

/* The end of the element starting at i: the index of the ',' or ']' that
 * follows it at the array's own level, or len when there is none. */
static size_t element_end(const char *text, size_t len, size_t i)
{
	int depth = 0;
	bool in_string = false;

	for (; i < len; i++) {
		char ch = text[i];

		if (in_string) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_string = false;
		} else if (ch == '"') {
			in_string = true;
		} else if (ch == '[' || ch == '{') {
			depth++;
		} else if (ch == ']' || ch == '}') {
			if (depth == 0)
				return i;
			depth--;
		} else if (ch == ',' && depth == 0) {
			return i;
		}
	}
	return len;
}

long json_text_each_element(const char *text, size_t len, json_element_fn fn, void *ctx)
{
	size_t i = skip_space(text, len, 0), index = 0;

	if (i >= len || text[i] != '[')
		return -EINVAL;
	i = skip_space(text, len, i + 1);
	if (i < len && text[i] == ']')
		return skip_space(text, len, i + 1) == len ? 0 : -EINVAL;
	for (;;) {
		size_t end = element_end(text, len, i), last = end;
		json_object *element;
		int stop;

		if (end >= len)
			return -EINVAL;

		while (last > i && strchr(" \t\n\r", text[last - 1]))
			last--;
		/* The scanner only finds the boundary; json-c judges the value. */
		element = json_text_parse(text + i, last - i);
		if (!element && !(last - i == 4 && memcmp(text + i, "null", 4) == 0))
			return -EINVAL;
		stop = fn ? fn(element, index, ctx) : 0;
		json_object_put(element);
		index++;
		if (stop)
			return -ECANCELED;
		if (text[end] == ']')
			return skip_space(text, len, end + 1) == len ? (long)index : -EINVAL;
		i = skip_space(text, len, end + 1);
	}
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
