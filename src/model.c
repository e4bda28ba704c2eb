/*
 * model: json-c objects to C structs. Every field goes through one of the
 * small typed getters below, which apply model.h's rule for its kind and
 * count what is odd, so that no parser decides tolerance on its own.
 */
#include "model.h"

#include "buf.h"
#include "jsontext.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_object *field(json_object *obj, const char *name)
{
	json_object *v = NULL;

	if (!json_object_is_type(obj, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(obj, name, &v))
		return NULL;
	return v;
}

/* A text field, copied: a string, or the JSON text of a number (json-c
 * keeps a fraction's as the server wrote it) or of a boolean. */
/* A JSON string's bytes, each NUL (from "\u0000") written as U+FFFD, so
 * that what follows it is not lost in a C string. */
static char *copy_text(json_object *v)
{
	const char *s = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v);
	struct buf out = BUF_INIT;

	if (!memchr(s, '\0', len))
		return xstrndup(s, len);
	for (size_t i = 0; i < len; i++) {
		if (s[i])
			buf_putc(&out, s[i]);
		else
			buf_puts(&out, "\xEF\xBF\xBD");
	}
	return buf_steal(&out);
}

static char *get_text(json_object *obj, const char *name, unsigned *odd_count)
{
	json_object *v = field(obj, name);

	switch (json_object_get_type(v)) {
	case json_type_null:
		return NULL;
	case json_type_string:
		return copy_text(v);
	case json_type_int:
	case json_type_double:
	case json_type_boolean:
		++*odd_count;
		return xstrdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	case json_type_object:
	case json_type_array:
		break;
	}
	++*odd_count;
	return NULL;
}

/* A number kept as the text the server wrote (a goal's values): the
 * text rule, with numbers the documented type and strings the odd one. */
static char *get_number_text(json_object *obj, const char *name, unsigned *odd_count)
{
	json_object *v = field(obj, name);
	unsigned odd = 0;
	char *text = get_text(obj, name, &odd);

	if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))
		return text;
	*odd_count += odd + (json_object_is_type(v, json_type_string) ? 1 : 0);
	return text;
}

static bool get_flag(json_object *obj, const char *name, unsigned *odd_count)
{
	json_object *v = field(obj, name);

	if (!v)
		return false;
	if (json_object_is_type(v, json_type_boolean))
		return json_object_get_boolean(v);
	++*odd_count;
	return false;
}

/* Whether s is exactly a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool is_number_text(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		s += strspn(s, "0123456789");
	else
		return false;
	if (*s == '.') {
		if (!isdigit((unsigned char)*++s))
			return false;
		s += strspn(s, "0123456789");
	}
	if (*s == 'e' || *s == 'E') {
		if (*++s == '+' || *s == '-')
			s++;
		if (!isdigit((unsigned char)*s))
			return false;
		s += strspn(s, "0123456789");
	}
	return *s == '\0';
}

/* v's text if v is a string holding no NUL byte, else NULL: a number in
 * a string must be all of the string. */
static const char *whole_string(json_object *v)
{
	const char *s = json_object_get_string(v);

	if (!json_object_is_type(v, json_type_string) ||
	    strlen(s) != (size_t)json_object_get_string_len(v))
		return NULL;
	return s;
}

static bool get_number(json_object *obj, const char *name, double *out, unsigned *odd_count)
{
	json_object *v = field(obj, name);
	const char *s;

	if (!v)
		return false;
	if (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)) {
		*out = json_object_get_double(v);
		return true;
	}
	++*odd_count;
	s = whole_string(v);
	if (!s || !is_number_text(s))
		return false;
	/* omifs never calls setlocale: strtod reads '.' as JSON does */
	*out = strtod(s, NULL);
	return true;
}

/* Whether s is [-]digits that fit a long long; sets *out. */
static bool parse_integer_text(const char *s, long long *out)
{
	const char *digits = s + (*s == '-');

	if (!*digits || strspn(digits, "0123456789") != strlen(digits))
		return false;
	errno = 0;
	*out = strtoll(s, NULL, 10);
	return errno == 0;
}

static bool get_integer(json_object *obj, const char *name, long long *out, unsigned *odd_count)
{
	json_object *v = field(obj, name);
	const char *s;

	if (!v)
		return false;
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return true;
	}
	++*odd_count;
	s = whole_string(v);
	return s && parse_integer_text(s, out);
}

/* A field that should hold an object or a list of `type`; NULL otherwise. */
static json_object *get_typed(json_object *obj, const char *name, json_type type,
			      unsigned *odd_count)
{
	json_object *v = field(obj, name);

	if (!v || json_object_is_type(v, type))
		return v;
	++*odd_count;
	return NULL;
}

static void get_timestamp(json_object *obj, const char *name, struct timestamp *out,
			  unsigned *odd_count)
{
	out->text = get_text(obj, name, odd_count);
	out->valid = out->text && model_parse_time(out->text, &out->when) == 0;
	if (!out->valid)
		out->when = 0;
}

static void free_timestamp(struct timestamp *t)
{
	free(t->text);
}

char *model_object_id(json_object *obj)
{
	return json_text_object_id(obj);
}

/* Reads exactly `digits` decimal digits at *p, advancing it. */
static int read_digits(const char **p, int digits, int *out)
{
	int v = 0;

	for (int i = 0; i < digits; i++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return 0;
}

int model_parse_time(const char *text, time_t *out)
{
	const char *p = text;
	struct tm tm = { 0 };
	int year, month, day, hour = 0, minute = 0, second = 0;
	long offset = 0;

	if (!text)
		return -EINVAL;
	if (read_digits(&p, 4, &year) || *p++ != '-' || read_digits(&p, 2, &month) ||
	    *p++ != '-' || read_digits(&p, 2, &day))
		return -EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (read_digits(&p, 2, &hour) || *p++ != ':' || read_digits(&p, 2, &minute))
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (read_digits(&p, 2, &second))
				return -EINVAL;
		}
		if (*p == '.' || *p == ',') {
			p++;
			if (!isdigit((unsigned char)*p))
				return -EINVAL;
			while (isdigit((unsigned char)*p))
				p++;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om = 0;

			if (read_digits(&p, 2, &oh))
				return -EINVAL;
			if (*p == ':')
				p++;
			if (isdigit((unsigned char)*p) && read_digits(&p, 2, &om))
				return -EINVAL;
			if (oh > 23 || om > 59)
				return -EINVAL;
			offset = sign * (oh * 3600L + om * 60L);
		}
	}
	if (*p != '\0')
		return -EINVAL;
	if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
	    second > 60)
		return -EINVAL;
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = minute;
	tm.tm_sec = second == 60 ? 59 : second;	/* a leap second */
	*out = timegm(&tm) - offset;
	/* timegm rolls 2025-02-31 over into March: refuse it instead. */
	if (tm.tm_mday != day || tm.tm_mon != month - 1)
		return -EINVAL;
	return 0;
}

int model_parse_memory(json_object *obj, struct memory *out)
{
	memset(out, 0, sizeof(*out));
	out->id = model_object_id(obj);
	if (!out->id)
		return -EINVAL;
	out->content = get_text(obj, "content", &out->odd_fields);
	out->category = get_text(obj, "category", &out->odd_fields);
	get_timestamp(obj, "created_at", &out->created_at, &out->odd_fields);
	get_timestamp(obj, "updated_at", &out->updated_at, &out->odd_fields);
	return 0;
}

/* Action items appear on their own (with an id) and inside a conversation's
 * structured list (without one); this reads the fields they share. */
static void parse_action_item_fields(json_object *obj, struct action_item *out, unsigned *odd_count)
{
	out->description = get_text(obj, "description", odd_count);
	out->completed = get_flag(obj, "completed", odd_count);
	get_timestamp(obj, "created_at", &out->created_at, odd_count);
	get_timestamp(obj, "updated_at", &out->updated_at, odd_count);
	get_timestamp(obj, "due_at", &out->due_at, odd_count);
	get_timestamp(obj, "completed_at", &out->completed_at, odd_count);
	out->conversation_id = get_text(obj, "conversation_id", odd_count);
}

int model_parse_action_item(json_object *obj, struct action_item *out)
{
	memset(out, 0, sizeof(*out));
	out->id = model_object_id(obj);
	if (!out->id)
		return -EINVAL;
	parse_action_item_fields(obj, out, &out->odd_fields);
	return 0;
}

static void parse_event(json_object *obj, void *item, unsigned *odd_count)
{
	struct event *out = item;

	out->title = get_text(obj, "title", odd_count);
	out->description = get_text(obj, "description", odd_count);
	out->start = get_text(obj, "start", odd_count);
	out->has_duration = get_number(obj, "duration", &out->duration, odd_count);
}

static void parse_segment(json_object *obj, void *item, unsigned *odd_count)
{
	struct segment *out = item;

	out->text = get_text(obj, "text", odd_count);
	out->speaker_name = get_text(obj, "speaker_name", odd_count);
	out->has_speaker_id = get_integer(obj, "speaker_id", &out->speaker_id, odd_count);
	if (!get_number(obj, "start", &out->start, odd_count))
		out->start = 0;
	if (!get_number(obj, "end", &out->end, odd_count))
		out->end = 0;
}

static void parse_embedded_action_item(json_object *obj, void *item, unsigned *odd_count)
{
	parse_action_item_fields(obj, item, odd_count);
}

/* Parses each element of `list` (NULL: none) into a new array of
 * `size`-byte structs with parse(element, struct, odd_count), skipping
 * elements that are not objects. Returns the array (NULL when empty) and
 * sets *count. */
static void *parse_list(json_object *list, size_t size,
			void (*parse)(json_object *, void *, unsigned *), size_t *count,
			unsigned *odd_count)
{
	size_t n = list ? json_object_array_length(list) : 0, kept = 0;
	char *items;

	*count = 0;
	if (n == 0)
		return NULL;
	items = xcalloc(n, size);
	for (size_t i = 0; i < n; i++) {
		json_object *element = json_object_array_get_idx(list, i);

		if (!json_object_is_type(element, json_type_object)) {
			++*odd_count;
			continue;
		}
		parse(element, items + kept * size, odd_count);
		kept++;
	}
	*count = kept;
	return items;
}

static void parse_structured(json_object *structured, struct conversation *out)
{
	unsigned *odd_count = &out->odd_fields;

	out->title = get_text(structured, "title", odd_count);
	out->overview = get_text(structured, "overview", odd_count);
	out->emoji = get_text(structured, "emoji", odd_count);
	out->category = get_text(structured, "category", odd_count);
	out->action_items = parse_list(get_typed(structured, "action_items", json_type_array,
						 odd_count),
				       sizeof(struct action_item), parse_embedded_action_item,
				       &out->n_action_items, odd_count);
	out->events = parse_list(get_typed(structured, "events", json_type_array, odd_count),
				 sizeof(struct event), parse_event, &out->n_events, odd_count);
}

int model_parse_conversation(json_object *obj, struct conversation *out)
{
	unsigned *odd_count = &out->odd_fields;
	json_object *segments;

	memset(out, 0, sizeof(*out));
	out->id = model_object_id(obj);
	if (!out->id)
		return -EINVAL;
	get_timestamp(obj, "created_at", &out->created_at, odd_count);
	get_timestamp(obj, "started_at", &out->started_at, odd_count);
	get_timestamp(obj, "finished_at", &out->finished_at, odd_count);
	out->language = get_text(obj, "language", odd_count);
	out->source = get_text(obj, "source", odd_count);
	parse_structured(get_typed(obj, "structured", json_type_object, odd_count), out);
	segments = get_typed(obj, "transcript_segments", json_type_array, odd_count);
	out->has_transcript = segments != NULL;
	out->segments = parse_list(segments, sizeof(struct segment), parse_segment,
				   &out->n_segments, odd_count);
	return 0;
}

static void parse_goal_day(json_object *obj, void *item, unsigned *odd_count)
{
	struct goal_day *out = item;

	out->date = get_text(obj, "date", odd_count);
	out->value = get_number_text(obj, "value", odd_count);
}

int model_parse_goal(json_object *obj, struct goal *out)
{
	unsigned *odd_count = &out->odd_fields;

	memset(out, 0, sizeof(*out));
	out->id = model_object_id(obj);
	if (!out->id)
		return -EINVAL;
	out->title = get_text(obj, "title", odd_count);
	out->goal_type = get_text(obj, "goal_type", odd_count);
	out->target_value = get_number_text(obj, "target_value", odd_count);
	out->current_value = get_number_text(obj, "current_value", odd_count);
	out->min_value = get_number_text(obj, "min_value", odd_count);
	out->max_value = get_number_text(obj, "max_value", odd_count);
	out->unit = get_text(obj, "unit", odd_count);
	out->is_active = get_flag(obj, "is_active", odd_count);
	get_timestamp(obj, "created_at", &out->created_at, odd_count);
	get_timestamp(obj, "updated_at", &out->updated_at, odd_count);
	out->history = parse_list(get_typed(obj, "history", json_type_array, odd_count),
				  sizeof(struct goal_day), parse_goal_day, &out->n_history,
				  odd_count);
	return 0;
}

void model_free_memory(struct memory *m)
{
	free(m->id);
	free(m->content);
	free(m->category);
	free_timestamp(&m->created_at);
	free_timestamp(&m->updated_at);
	memset(m, 0, sizeof(*m));
}

void model_free_action_item(struct action_item *a)
{
	free(a->id);
	free(a->description);
	free_timestamp(&a->created_at);
	free_timestamp(&a->updated_at);
	free_timestamp(&a->due_at);
	free_timestamp(&a->completed_at);
	free(a->conversation_id);
	memset(a, 0, sizeof(*a));
}

void model_free_conversation(struct conversation *c)
{
	free(c->id);
	free_timestamp(&c->created_at);
	free_timestamp(&c->started_at);
	free_timestamp(&c->finished_at);
	free(c->language);
	free(c->source);
	free(c->title);
	free(c->overview);
	free(c->emoji);
	free(c->category);
	for (size_t i = 0; i < c->n_action_items; i++)
		model_free_action_item(&c->action_items[i]);
	free(c->action_items);
	for (size_t i = 0; i < c->n_events; i++) {
		free(c->events[i].title);
		free(c->events[i].description);
		free(c->events[i].start);
	}
	free(c->events);
	for (size_t i = 0; i < c->n_segments; i++) {
		free(c->segments[i].text);
		free(c->segments[i].speaker_name);
	}
	free(c->segments);
	memset(c, 0, sizeof(*c));
}

void model_free_goal(struct goal *g)
{
	free(g->id);
	free(g->title);
	free(g->goal_type);
	free(g->target_value);
	free(g->current_value);
	free(g->min_value);
	free(g->max_value);
	free(g->unit);
	free_timestamp(&g->created_at);
	free_timestamp(&g->updated_at);
	for (size_t i = 0; i < g->n_history; i++) {
		free(g->history[i].date);
		free(g->history[i].value);
	}
	free(g->history);
	memset(g, 0, sizeof(*g));
}
