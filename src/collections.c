/*
 * collections: the table behind collections.h, and the adapters that let
 * one table hold model's and render's typed functions.
 */
#include "collections.h"

#include "model.h"
#include "names.h"
#include "render.h"

#include <string.h>

static int parse_memory(json_object *obj, void *out) { return model_parse_memory(obj, out); }
static void free_memory(void *m) { model_free_memory(m); }
static void render_memory_file(const void *m, struct buf *out) { render_memory(m, out); }

static int parse_action_item(json_object *obj, void *out)
{
	return model_parse_action_item(obj, out);
}
static void free_action_item(void *a) { model_free_action_item(a); }
static void render_action_item_file(const void *a, struct buf *out) { render_action_item(a, out); }

static int parse_conversation(json_object *obj, void *out)
{
	return model_parse_conversation(obj, out);
}
static void free_conversation(void *c) { model_free_conversation(c); }

static bool place_memory(const void *object, struct buf *out)
{
	const struct memory *m = object;
	size_t len = out->len;

	if (names_safe_name(m->category ? m->category : "uncategorized", "", out) == 0)
		return true;
	buf_truncate(out, len);
	buf_puts(out, "uncategorized");
	return false;
}

static bool place_action_item(const void *object, struct buf *out)
{
	buf_puts(out, ((const struct action_item *)object)->completed ? "done" : "open");
	return true;
}

static bool place_conversation(const void *object, struct buf *out)
{
	const struct conversation *c = object;
	char day[16] = "undated";

	if (c->created_at.valid)
		names_local_day(c->created_at.when, day);
	buf_puts(out, day);
	return c->created_at.valid;
}

static const struct collection table[STORE_KINDS] = {
	[STORE_MEMORIES] = {
		.kind = STORE_MEMORIES,
		.dir = "memories",
		.label = "memories",
		.json_key = "memories",
		.api_path = "/user/memories",
		.item_route = "/user/memories/{id}",
		.backend_per_hour = 120,
		.object_size = sizeof(struct memory),
		.parse = parse_memory,
		.free_object = free_memory,
		.render = render_memory_file,
		.place = place_memory,
		.item_suffix = ".txt",
	},
	[STORE_ACTION_ITEMS] = {
		.kind = STORE_ACTION_ITEMS,
		.dir = "action-items",
		.label = "action items",
		.json_key = "action_items",
		.api_path = "/user/action-items",
		.item_route = "/user/action-items/{id}",
		.backend_per_hour = 120,
		.object_size = sizeof(struct action_item),
		.parse = parse_action_item,
		.free_object = free_action_item,
		.render = render_action_item_file,
		.place = place_action_item,
		.item_suffix = ".txt",
	},
	[STORE_CONVERSATIONS] = {
		.kind = STORE_CONVERSATIONS,
		.dir = "conversations",
		.label = "conversations",
		.json_key = "conversations",
		.api_path = "/user/conversations",
		.item_route = "/user/conversations/{id}",
		.backend_per_hour = 60,
		.object_size = sizeof(struct conversation),
		.parse = parse_conversation,
		.free_object = free_conversation,
		.render = NULL,
		.place = place_conversation,
		.item_suffix = "",
	},
};

const struct collection *collection_of(enum store_kind kind)
{
	return &table[kind];
}

int collection_item_path(enum store_kind kind, const void *object, const char *id,
			 struct buf *out)
{
	buf_printf(out, "%s/", table[kind].dir);
	table[kind].place(object, out);
	buf_putc(out, '/');
	return names_safe_name(id, table[kind].item_suffix, out);
}

const struct collection *collection_of_path(const char *path, bool *one_object)
{
	for (int k = 0; k < STORE_KINDS; k++) {
		size_t len = strlen(table[k].api_path);

		if (strncmp(path, table[k].api_path, len) != 0 ||
		    (path[len] != '\0' && path[len] != '/'))
			continue;
		*one_object = path[len] == '/';
		return &table[k];
	}
	*one_object = false;
	return NULL;
}
