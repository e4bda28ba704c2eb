/*
 * model: json-c objects to C structs. Every field goes through one of the
 * small typed getters below, which turn a wrong type into "absent".
 */
#include "model.h"

#include "buf.h"

#include <ctype.h>
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

/* A string field, copied; NULL unless the JSON value is a string. */
static char *get_string(json_object *obj, const char *name)
{
	json_object *v = field(obj, name);

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	return xstrndup(json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

static bool get_bool(json_object *obj, const char *name)
{
	json_object *v = field(obj, name);

	return json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

static bool get_number(json_object *obj, const char *name, double *out)
{
	json_object *v = field(obj, name);

	if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_double(v);
	return true;
}

static void get_timestamp(json_object *obj, const char *name, struct timestamp *out)
{
	out->text = get_string(obj, name);
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
	json_object *v = field(obj, "id");
	char text[32];

	if (json_object_is_type(v, json_type_string)) {
		size_t len = (size_t)json_object_get_string_len(v);
		const char *s = json_object_get_string(v);

		return memchr(s, '\0', len) ? NULL : xstrndup(s, len);
	}
	if (json_object_is_type(v, json_type_int)) {
		snprintf(text, sizeof(text), "%" PRId64, json_object_get_int64(v));
		return xstrdup(text);
	}
	return NULL;
}

/* What a field may hold besides null. */
enum expect { TEXT, FLAG, NUMBER, INTEGER, OBJECT, LIST, IDENTIFIER };

struct rule {
	const char *name;
	enum expect expect;
};

static bool holds(json_object *v, enum expect expect)
{
	switch (expect) {
	case TEXT: return json_object_is_type(v, json_type_string);
	case FLAG: return json_object_is_type(v, json_type_boolean);
	case NUMBER: return json_object_is_type(v, json_type_int) ||
			    json_object_is_type(v, json_type_double);
	case INTEGER: return json_object_is_type(v, json_type_int);
	case OBJECT: return json_object_is_type(v, json_type_object);
	case LIST: return json_object_is_type(v, json_type_array);
	case IDENTIFIER: return json_object_is_type(v, json_type_string) ||
				json_object_is_type(v, json_type_int);
	}
	return false;
}

/* Checks obj (which must be an object) against rules; `where` names it. */
static int check_rules(json_object *obj, const struct rule *rules, const char *where, char *why,
		       size_t whylen)
{
	if (!json_object_is_type(obj, json_type_object)) {
		snprintf(why, whylen, "%s is not a JSON object", where);
		return -1;
	}
	for (const struct rule *r = rules; r->name; r++) {
		json_object *v = field(obj, r->name);

		if (v && !holds(v, r->expect)) {
			snprintf(why, whylen, "%s: field \"%s\" has type %s", where, r->name,
				 json_type_to_name(json_object_get_type(v)));
			return -1;
		}
	}
	return 0;
}

/* Checks each element of the list `name` (if any) against rules. */
static int check_list(json_object *obj, const char *name, const struct rule *rules, char *why,
		      size_t whylen)
{
	json_object *list = field(obj, name);
	size_t n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;

	for (size_t i = 0; i < n; i++)
		if (check_rules(json_object_array_get_idx(list, i), rules, name, why, whylen) < 0)
			return -1;
	return 0;
}

static const struct rule memory_rules[] = {
	{ "id", IDENTIFIER }, { "content", TEXT }, { "category", TEXT },
	{ "created_at", TEXT }, { "updated_at", TEXT }, { NULL, TEXT },
};

static const struct rule action_item_rules[] = {
	{ "id", IDENTIFIER }, { "description", TEXT }, { "completed", FLAG },
	{ "created_at", TEXT }, { "updated_at", TEXT }, { "due_at", TEXT },
	{ "completed_at", TEXT }, { "conversation_id", TEXT }, { NULL, TEXT },
};

static const struct rule conversation_rules[] = {
	{ "id", IDENTIFIER }, { "created_at", TEXT }, { "started_at", TEXT }, { "finished_at", TEXT },
	{ "language", TEXT }, { "source", TEXT }, { "structured", OBJECT },
	{ "transcript_segments", LIST }, { NULL, TEXT },
};

static const struct rule structured_rules[] = {
	{ "title", TEXT }, { "overview", TEXT }, { "emoji", TEXT }, { "category", TEXT },
	{ "action_items", LIST }, { "events", LIST }, { NULL, TEXT },
};

static const struct rule event_rules[] = {
	{ "title", TEXT }, { "description", TEXT }, { "start", TEXT }, { "duration", NUMBER },
	{ NULL, TEXT },
};

static const struct rule segment_rules[] = {
	{ "text", TEXT }, { "speaker_name", TEXT }, { "speaker_id", INTEGER },
	{ "start", NUMBER }, { "end", NUMBER }, { NULL, TEXT },
};

int model_check_memory(json_object *obj, char *why, size_t whylen)
{
	return check_rules(obj, memory_rules, "memory", why, whylen);
}

int model_check_action_item(json_object *obj, char *why, size_t whylen)
{
	return check_rules(obj, action_item_rules, "action item", why, whylen);
}

int model_check_conversation(json_object *obj, char *why, size_t whylen)
{
	json_object *structured = field(obj, "structured");

	if (check_rules(obj, conversation_rules, "conversation", why, whylen) < 0 ||
	    check_list(obj, "transcript_segments", segment_rules, why, whylen) < 0)
		return -1;
	if (!structured)
		return 0;
	if (check_rules(structured, structured_rules, "structured", why, whylen) < 0 ||
	    check_list(structured, "action_items", action_item_rules, why, whylen) < 0 ||
	    check_list(structured, "events", event_rules, why, whylen) < 0)
		return -1;
	return 0;
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
		return -1;
	if (read_digits(&p, 4, &year) || *p++ != '-' || read_digits(&p, 2, &month) ||
	    *p++ != '-' || read_digits(&p, 2, &day))
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (read_digits(&p, 2, &hour) || *p++ != ':' || read_digits(&p, 2, &minute))
			return -1;
		if (*p == ':') {
			p++;
			if (read_digits(&p, 2, &second))
				return -1;
		}
		if (*p == '.' || *p == ',') {
			p++;
			if (!isdigit((unsigned char)*p))
				return -1;
			while (isdigit((unsigned char)*p))
				p++;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om = 0;

			if (read_digits(&p, 2, &oh))
				return -1;
			if (*p == ':')
				p++;
			if (isdigit((unsigned char)*p) && read_digits(&p, 2, &om))
				return -1;
			if (oh > 23 || om > 59)
				return -1;
			offset = sign * (oh * 3600L + om * 60L);
		}
	}
	if (*p != '\0')
		return -1;
	if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
	    second > 60)
		return -1;
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = minute;
	tm.tm_sec = second == 60 ? 59 : second;	/* a leap second */
	*out = timegm(&tm) - offset;
	/* timegm rolls 2025-02-31 over into March: refuse it instead. */
	if (tm.tm_mday != day || tm.tm_mon != month - 1)
		return -1;
	return 0;
}

int model_parse_memory(json_object *obj, struct memory *out)
{
	memset(out, 0, sizeof(*out));
	out->id = model_object_id(obj);
	if (!out->id)
		return -1;
	out->content = get_string(obj, "content");
	out->category = get_string(obj, "category");
	get_timestamp(obj, "created_at", &out->created_at);
	get_timestamp(obj, "updated_at", &out->updated_at);
	return 0;
}

/* Action items appear on their own (with an id) and inside a conversation's
 * structured list (without one); this reads the fields they share. */
static void parse_action_item_fields(json_object *obj, struct action_item *out)
{
	out->description = get_string(obj, "description");
	out->completed = get_bool(obj, "completed");
	get_timestamp(obj, "created_at", &out->created_at);
	get_timestamp(obj, "updated_at", &out->updated_at);
	get_timestamp(obj, "due_at", &out->due_at);
	get_timestamp(obj, "completed_at", &out->completed_at);
	out->conversation_id = get_string(obj, "conversation_id");
}

int model_parse_action_item(json_object *obj, struct action_item *out)
{
	memset(out, 0, sizeof(*out));
	out->id = model_object_id(obj);
	if (!out->id)
		return -1;
	parse_action_item_fields(obj, out);
	return 0;
}

static void parse_event(json_object *obj, struct event *out)
{
	out->title = get_string(obj, "title");
	out->description = get_string(obj, "description");
	out->start = get_string(obj, "start");
	out->has_duration = get_number(obj, "duration", &out->duration);
}

static void parse_segment(json_object *obj, struct segment *out)
{
	json_object *speaker = field(obj, "speaker_id");
	double v;

	out->text = get_string(obj, "text");
	out->speaker_name = get_string(obj, "speaker_name");
	if (json_object_is_type(speaker, json_type_int)) {
		out->has_speaker_id = true;
		out->speaker_id = json_object_get_int64(speaker);
	}
	out->start = get_number(obj, "start", &v) ? v : 0;
	out->end = get_number(obj, "end", &v) ? v : 0;
}

/* Parses every element of the list `name` of obj into a new array of
 * `size`-byte structs, with parse(element, struct). Non-object elements
 * are skipped. Returns the array (NULL when empty) and sets *count. */
static void *parse_list(json_object *obj, const char *name, size_t size,
			void (*parse)(json_object *, void *), size_t *count)
{
	json_object *list = field(obj, name);
	size_t n, kept = 0;
	char *items;

	*count = 0;
	if (!json_object_is_type(list, json_type_array))
		return NULL;
	n = json_object_array_length(list);
	if (n == 0)
		return NULL;
	items = xcalloc(n, size);
	for (size_t i = 0; i < n; i++) {
		json_object *element = json_object_array_get_idx(list, i);

		if (!json_object_is_type(element, json_type_object))
			continue;
		parse(element, items + kept * size);
		kept++;
	}
	*count = kept;
	return items;
}

static void parse_event_any(json_object *obj, void *out)
{
	parse_event(obj, out);
}

static void parse_segment_any(json_object *obj, void *out)
{
	parse_segment(obj, out);
}

static void parse_action_item_any(json_object *obj, void *out)
{
	parse_action_item_fields(obj, out);
}

int model_parse_conversation(json_object *obj, struct conversation *out)
{
	json_object *structured;

	memset(out, 0, sizeof(*out));
	out->id = model_object_id(obj);
	if (!out->id)
		return -1;
	get_timestamp(obj, "created_at", &out->created_at);
	get_timestamp(obj, "started_at", &out->started_at);
	get_timestamp(obj, "finished_at", &out->finished_at);
	out->language = get_string(obj, "language");
	out->source = get_string(obj, "source");
	structured = field(obj, "structured");
	out->title = get_string(structured, "title");
	out->overview = get_string(structured, "overview");
	out->emoji = get_string(structured, "emoji");
	out->category = get_string(structured, "category");
	out->action_items = parse_list(structured, "action_items", sizeof(struct action_item),
				       parse_action_item_any, &out->n_action_items);
	out->events = parse_list(structured, "events", sizeof(struct event), parse_event_any,
				 &out->n_events);
	out->has_transcript = json_object_is_type(field(obj, "transcript_segments"),
						  json_type_array);
	out->segments = parse_list(obj, "transcript_segments", sizeof(struct segment),
				   parse_segment_any, &out->n_segments);
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
