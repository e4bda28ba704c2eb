/*
 * jsontext: json-c's tokener with omifs's depth and strictness.
 */
#include "jsontext.h"

#include <stdint.h>

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
