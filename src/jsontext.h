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
 * the call) and its index. Returns 0 to go on, anything else to stop. */
typedef int (*json_element_fn)(json_object *element, size_t index, void *ctx);

/* Walks the elements of the JSON array that is the whole of text, parsing
 * one element at a time, so that a page of many large objects never
 * exists as one tree. fn may be NULL (only checks). Returns the number of
 * elements, -EINVAL when text is not an array of JSON values, or
 * -ECANCELED when fn stopped the walk. */
long json_text_each_element(const char *text, size_t len, json_element_fn fn, void *ctx);

/* The id of an API object as text (the caller frees it), or NULL when it
 * has none that can name it: "id" must be a non-empty string or an
 * integer (its decimal text). A string id holding NUL bytes has each
 * written "\\0" and each backslash doubled, so that it stays one C string.
 * The one rule for ids, used by paging and by parsing alike. */
char *json_text_object_id(json_object *obj);

#endif
