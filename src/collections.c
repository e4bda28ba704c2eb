/*
 * collections: the table behind collections.h, and the adapters that let
 * one table hold model's and render's typed functions.
 */
#include "collections.h"

#include "model.h"
#include "names.h"
#include "render.h"
#include "vault.h"

#include <string.h>

static time_t first_valid(const struct timestamp *a, const struct timestamp *b,
			  const struct timestamp *c)
{
	if (a && a->valid)
		return a->when;
	if (b && b->valid)
		return b->when;
	if (c && c->valid)
		return c->when;
	return 0;
}

/* Appends text (when there is any) to b as a line of its own. */
static void add_line(struct buf *b, const char *text)
{
	if (!text || !*text)
		return;
	if (b->len)
		buf_putc(b, '\n');
	buf_puts(b, text);
}

static int parse_memory(json_object *obj, void *out) { return model_parse_memory(obj, out); }
static void free_memory(void *m) { model_free_memory(m); }
static void render_memory_file(const void *m, struct buf *out) { render_memory(m, out); }
static unsigned odd_memory(const void *m) { return ((const struct memory *)m)->odd_fields; }

/* The documented API sends memories no timestamps: 0, dated when first seen. */
static time_t dated_memory(const void *object)
{
	const struct memory *m = object;

	return first_valid(&m->updated_at, &m->created_at, NULL);
}

static time_t made_memory(const void *object)
{
	const struct memory *m = object;

	return first_valid(&m->created_at, &m->updated_at, NULL);
}

static const char *memory_text(const void *m) { return ((const struct memory *)m)->content; }
static const char *memory_id(const void *m) { return ((const struct memory *)m)->id; }
static const char *memory_category(const void *m) { return ((const struct memory *)m)->category; }

static const struct timestamp *memory_created_at(const void *m)
{
	return &((const struct memory *)m)->created_at;
}

static void memory_search_text(const void *object, struct buf *title, struct buf *body)
{
	(void)title;
	add_line(body, ((const struct memory *)object)->content);
}

static void memory_vault_line(const void *m, struct buf *out) { vault_memory_line(m, out); }

static int parse_action_item(json_object *obj, void *out)
{
	return model_parse_action_item(obj, out);
}
static void free_action_item(void *a) { model_free_action_item(a); }
static void render_action_item_file(const void *a, struct buf *out) { render_action_item(a, out); }
static unsigned odd_action_item(const void *a)
{
	return ((const struct action_item *)a)->odd_fields;
}

static time_t dated_action_item(const void *object)
{
	const struct action_item *a = object;

	return first_valid(&a->updated_at, &a->completed_at, &a->created_at);
}

static time_t made_action_item(const void *object)
{
	const struct action_item *a = object;

	return first_valid(&a->created_at, &a->updated_at, NULL);
}

static const char *action_item_text(const void *a)
{
	return ((const struct action_item *)a)->description;
}

static const char *action_item_id(const void *a) { return ((const struct action_item *)a)->id; }

static const struct timestamp *action_item_created_at(const void *a)
{
	return &((const struct action_item *)a)->created_at;
}

static void action_item_search_text(const void *object, struct buf *title, struct buf *body)
{
	(void)title;
	add_line(body, ((const struct action_item *)object)->description);
}

static void action_item_vault_line(const void *a, struct buf *out)
{
	vault_action_item_line(a, out);
}

static int parse_conversation(json_object *obj, void *out)
{
	return model_parse_conversation(obj, out);
}
static void free_conversation(void *c) { model_free_conversation(c); }
static unsigned odd_conversation(const void *c)
{
	return ((const struct conversation *)c)->odd_fields;
}

static time_t dated_conversation(const void *object)
{
	const struct conversation *c = object;

	return first_valid(&c->finished_at, &c->started_at, &c->created_at);
}

static time_t made_conversation(const void *object)
{
	return first_valid(&((const struct conversation *)object)->created_at, NULL, NULL);
}

static const char *conversation_title(const void *c)
{
	return ((const struct conversation *)c)->title;
}

static const char *conversation_id(const void *c) { return ((const struct conversation *)c)->id; }

static const char *conversation_category(const void *c)
{
	return ((const struct conversation *)c)->category;
}

static const struct timestamp *conversation_created_at(const void *c)
{
	return &((const struct conversation *)c)->created_at;
}

/* The listed conversation's words; its transcript is the full form's. */
static void conversation_search_text(const void *object, struct buf *title, struct buf *body)
{
	const struct conversation *c = object;

	add_line(title, c->title);
	add_line(body, c->overview);
	for (size_t i = 0; i < c->n_action_items; i++)
		add_line(body, c->action_items[i].description);
	for (size_t i = 0; i < c->n_events; i++) {
		add_line(body, c->events[i].title);
		add_line(body, c->events[i].description);
	}
}

static int parse_goal(json_object *obj, void *out) { return model_parse_goal(obj, out); }
static void free_goal(void *g) { model_free_goal(g); }
static void render_goal_file(const void *g, struct buf *out) { render_goal(g, out); }
static unsigned odd_goal(const void *g) { return ((const struct goal *)g)->odd_fields; }

static time_t dated_goal(const void *object)
{
	const struct goal *g = object;

	return first_valid(&g->updated_at, &g->created_at, NULL);
}

static time_t made_goal(const void *object)
{
	const struct goal *g = object;

	return first_valid(&g->created_at, &g->updated_at, NULL);
}

static const char *goal_title(const void *g) { return ((const struct goal *)g)->title; }
static const char *goal_id(const void *g) { return ((const struct goal *)g)->id; }

static const struct timestamp *goal_created_at(const void *g)
{
	return &((const struct goal *)g)->created_at;
}

static void goal_search_text(const void *object, struct buf *title, struct buf *body)
{
	const struct goal *g = object;

	add_line(title, g->title);
	add_line(body, g->unit);
}

static void goal_vault_line(const void *g, struct buf *out) { vault_goal_line(g, out); }

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
		.one = "memory",
		.json_key = "memories",
		.json_one = "memory",
		.api_path = "/user/memories",
		.item_route = "/user/memories/{id}",
		.backend_per_hour = 120,
		.object_size = sizeof(struct memory),
		.parse = parse_memory,
		.free_object = free_memory,
		.render = render_memory_file,
		.dated = dated_memory,
		.odd_fields = odd_memory,
		.made = made_memory,
		.text = memory_text,
		.id = memory_id,
		.category = memory_category,
		.created_at = memory_created_at,
		.search_text = memory_search_text,
		.vault_line = memory_vault_line,
		.place = place_memory,
		.item_suffix = ".txt",
	},
	[STORE_ACTION_ITEMS] = {
		.kind = STORE_ACTION_ITEMS,
		.dir = "action-items",
		.label = "action items",
		.one = "action item",
		.json_key = "action_items",
		.json_one = "action_item",
		.api_path = "/user/action-items",
		.item_route = "/user/action-items/{id}",
		.backend_per_hour = 120,
		.object_size = sizeof(struct action_item),
		.parse = parse_action_item,
		.free_object = free_action_item,
		.render = render_action_item_file,
		.dated = dated_action_item,
		.odd_fields = odd_action_item,
		.made = made_action_item,
		.text = action_item_text,
		.id = action_item_id,
		.created_at = action_item_created_at,
		.search_text = action_item_search_text,
		.vault_line = action_item_vault_line,
		.place = place_action_item,
		.item_suffix = ".txt",
	},
	[STORE_CONVERSATIONS] = {
		.kind = STORE_CONVERSATIONS,
		.dir = "conversations",
		.label = "conversations",
		.one = "conversation",
		.json_key = "conversations",
		.json_one = "conversation",
		.api_path = "/user/conversations",
		.item_route = "/user/conversations/{id}",
		.backend_per_hour = 60,
		.object_size = sizeof(struct conversation),
		.parse = parse_conversation,
		.free_object = free_conversation,
		.render = NULL,
		.dated = dated_conversation,
		.odd_fields = odd_conversation,
		.title = conversation_title,
		.made = made_conversation,
		.untitled = "(untitled)",
		.id = conversation_id,
		.category = conversation_category,
		.created_at = conversation_created_at,
		.search_text = conversation_search_text,
		.transcripts = true,
		.place = place_conversation,
		.item_suffix = "",
	},
	[STORE_GOALS] = {
		.kind = STORE_GOALS,
		.dir = "goals",
		.label = "goals",
		.one = "goal",
		.json_key = "goals",
		.json_one = "goal",
		.api_path = "/user/goals",
		.item_route = "/user/goals/{id}",
		/* Inactive goals too: the backend's default lists active ones. */
		.whole_listing = true,
		.listing_query = "include_inactive=true",
		.optional = true,
		.detail_suffix = "/history",
		.detail_query = "days=365",
		.detail_key = "history",
		.backend_per_hour = 120,
		.object_size = sizeof(struct goal),
		.parse = parse_goal,
		.free_object = free_goal,
		.render = render_goal_file,
		.dated = dated_goal,
		.odd_fields = odd_goal,
		.title = goal_title,
		.made = made_goal,
		.untitled = "(untitled goal)",
		.id = goal_id,
		.created_at = goal_created_at,
		.search_text = goal_search_text,
		.vault_line = goal_vault_line,
		.place = NULL,
		.item_suffix = ".md",
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
	if (table[kind].place) {
		table[kind].place(object, out);
		buf_putc(out, '/');
	}
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
