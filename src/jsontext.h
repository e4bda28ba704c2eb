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

#endif
