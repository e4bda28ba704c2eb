/*
 * jsontext: the one way omifs turns text into JSON values.
 *
 * The whole text must be one JSON value (trailing bytes are an error), and
 * nesting may go JSON_TEXT_DEPTH deep, well past json-c's default of 32 so
 * that an odd but honest object (a deep geolocation, say) does not make a
 * page unreadable, yet bounded, since freeing a value recurses.
 */
#ifndef OMIFS_JSONTEXT_H
#define OMIFS_JSONTEXT_H

#include <json-c/json.h>
#include <stddef.h>

#define JSON_TEXT_DEPTH 256

/* Returns the value (the caller owns it: json_object_put), or NULL when
 * text is not exactly one JSON value. */
json_object *json_text_parse(const char *text, size_t len);

/* Called with each element of a JSON array (borrowed: it is freed after
 * the call; NULL for a JSON null) and its index. Returns 0 to go on,
 * anything else to stop. */
typedef int (*json_element_fn)(json_object *element, size_t index, void *ctx);

/*
 * A JSON array that arrives in pieces (an HTTP body), split into its
 * elements as the bytes come: only the element being received is held,
 * and each is parsed (json_text_parse, so json-c judges it) and handed to
 * fn on its own, so that a page of many large objects never exists whole,
 * as text or as a tree. The scanner knows strings, escapes and nesting
 * only to find where an element ends; it refuses what cannot be one
 * array of values (a stray closing bracket, an empty element, bytes after
 * the array).
 */
struct json_splitter;

/* fn may be NULL (only checks). Returns a splitter the caller frees. */
struct json_splitter *json_splitter_new(json_element_fn fn, void *ctx);
void json_splitter_free(struct json_splitter *sp);

/* Takes the next len bytes. Returns 0 to go on, -EINVAL when the text
 * cannot be a JSON array of values, -ECANCELED when fn stopped; once
 * non-zero, every later call returns the same and calls fn no more. */
int json_splitter_feed(struct json_splitter *sp, const char *data, size_t len);

/* Says the text has ended. Returns the number of elements, -EINVAL when
 * the text was not one whole JSON array of values, or -ECANCELED when fn
 * stopped. */
long json_splitter_finish(struct json_splitter *sp);

/* The same over a whole text in memory: returns what json_splitter_finish
 * would. */
long json_text_each_element(const char *text, size_t len, json_element_fn fn, void *ctx);

/* The id of an API object as text (the caller frees it), or NULL when it
 * has none that can name it: "id" must be a non-empty string or an
 * integer (its decimal text). A string id holding NUL bytes has each
 * written "\\0" and each backslash doubled, so that it stays one C string.
 * The one rule for ids, used by paging and by parsing alike. */
char *json_text_object_id(json_object *obj);

#endif
