/*
 * model: the API's JSON objects as C structs.
 *
 * Parsing is tolerant: no field's value hides its object, so one odd
 * object cannot hide itself or the others. Each field omifs reads follows
 * the rule of its kind:
 * - text (content, titles, timestamps, ids of other objects, ...): a
 *   string as it is; a number or a boolean as its JSON text as json-c
 *   writes it (42 -> "42", a fraction as the server wrote it, true ->
 *   "true"); an object or a list is absent. A timestamp is valid only
 *   when that text is ISO 8601.
 * - flag (completed, is_active): only JSON true is true; anything else is
 *   false.
 * - number (start, end, duration): a number, or a string that is exactly
 *   a JSON number ("12.5"); anything else is absent.
 * - number as text (a goal's values): the text rule, but a number is the
 *   documented type, and a string the odd one.
 * - integer (speaker_id): an integer, or a string of decimal digits with
 *   an optional '-' that fits in 64 bits; anything else is absent.
 * - object (structured): an object; anything else is absent, and so is
 *   every field it would hold.
 * - list (action_items, events, transcript_segments, history): a list; anything
 *   else is empty. An element that is not an object is skipped.
 * Missing and null mean absent, and are normal. Any other value whose
 * type is not the documented one, and any skipped element, counts once
 * in odd_fields, whether or not it could be used, so that .omifs/status
 * can tell; fields omifs does not read are never odd.
 *
 * Text holding NUL bytes ("\u0000") keeps them as U+FFFD, so that what
 * follows a NUL is not lost.
 *
 * The only hard requirement is an id, read by json_text_object_id's rule
 * (jsontext.h): a non-empty string or an integer. Without one,
 * model_parse_* returns -EINVAL and the caller skips the object with a
 * log line.
 *
 * Ownership (one rule for all): a parsed struct owns every string and array
 * it points to, copied out of the json_object, which the caller keeps
 * owning. Free a struct with its model_free_* function, which also frees
 * what it points to; the struct itself lives wherever the caller put it.
 */
#ifndef OMIFS_MODEL_H
#define OMIFS_MODEL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* A timestamp as the server wrote it, and the instant it names. */
struct timestamp {
	char *text;		/* NULL when absent or null */
	bool valid;		/* text parsed as ISO 8601 */
	time_t when;		/* UTC seconds, when valid */
};

struct memory {
	char *id;
	char *content;
	char *category;
	struct timestamp created_at, updated_at;
	unsigned odd_fields;
};

struct action_item {
	char *id;		/* NULL inside a conversation's structured list */
	char *description;
	bool completed;
	struct timestamp created_at, updated_at, due_at, completed_at;
	char *conversation_id;	/* NULL for a standalone item */
	unsigned odd_fields;	/* inside a conversation: counted in the conversation's */
};

/* One day of a goal's progress, as its history lists it. */
struct goal_day {
	char *date;		/* "YYYY-MM-DD" as sent */
	char *value;		/* text rule: 3.5 -> "3.5" */
};

/* A goal (the backend's /user/goals), with its history when omifs fetched
 * it (sync adds it to the stored object as "history"). The numbers are
 * kept as text, as the server wrote them, so that they render exactly. */
struct goal {
	char *id;
	char *title;
	char *goal_type;	/* boolean, scale or numeric */
	char *target_value, *current_value, *min_value, *max_value;
	char *unit;
	bool is_active;
	struct timestamp created_at, updated_at;
	struct goal_day *history;	/* newest first, as sent */
	size_t n_history;
	unsigned odd_fields;
};

struct event {
	char *title;
	char *description;
	char *start;
	bool has_duration;
	double duration;	/* minutes */
};

struct segment {
	char *text;
	char *speaker_name;	/* backend only */
	bool has_speaker_id;
	long long speaker_id;
	double start, end;	/* seconds from the start of the conversation */
};

struct conversation {
	char *id;
	struct timestamp created_at, started_at, finished_at;
	char *language;
	char *source;
	char *title;
	char *overview;
	char *emoji;
	char *category;
	struct action_item *action_items;
	size_t n_action_items;
	struct event *events;
	size_t n_events;
	bool has_transcript;	/* transcript_segments was a list */
	struct segment *segments;
	size_t n_segments;
	unsigned odd_fields;	/* with those of its action items, events, segments */
};

/* Parses ISO 8601 ("2025-01-20T13:50:00.123+05:30", "...Z", a naive time
 * taken as UTC, or a bare date). Returns 0 and sets *out, or -EINVAL. */
int model_parse_time(const char *text, time_t *out);

int model_parse_memory(json_object *obj, struct memory *out);
int model_parse_action_item(json_object *obj, struct action_item *out);
int model_parse_conversation(json_object *obj, struct conversation *out);
int model_parse_goal(json_object *obj, struct goal *out);

/* The id of an object as model_parse_* would read it, in a malloc'd
 * string, or NULL if it has none (json_text_object_id). */
char *model_object_id(json_object *obj);

void model_free_memory(struct memory *m);
void model_free_action_item(struct action_item *a);
void model_free_conversation(struct conversation *c);
void model_free_goal(struct goal *g);

#endif
