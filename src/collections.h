/*
 * collections: the one table of the three collections omifs mirrors
 * (memories, action items, conversations): what each is called where,
 * which API path lists it, which budget policy paces that listing, and
 * which functions turn one of its objects into a C struct and back out.
 *
 * Everyone who needs a collection's name, path or functions looks it up
 * here (collection_of); nobody spells them out again. The table is
 * constant: it needs no lock and nothing to free.
 */
#ifndef OMIFS_COLLECTIONS_H
#define OMIFS_COLLECTIONS_H

#include "buf.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/* The collections, newest-listed last. The values are written into the
 * cache file (the store's kind column): never renumber them. */
enum store_kind { STORE_MEMORIES, STORE_ACTION_ITEMS, STORE_CONVERSATIONS, STORE_KINDS };

struct collection {
	enum store_kind kind;
	const char *dir;	/* its directory at the root of the tree; also its
				 * name in logs, .omifs/status and the budget */
	const char *label;	/* for people: "action items" */
	const char *json_key;	/* in `omifs sync --json`: "action_items" */
	const char *api_path;	/* the listing, "/user/action-items" */
	const char *item_route;	/* one item by id, as metrics name the route:
				 * "/user/action-items/{id}" */
	/* The backend's hourly limit on requests to api_path (its rate
	 * policy of the same name as dir); 0 in the documented profile. */
	int backend_per_hour;
	/* The parsed form: object_size bytes, filled by parse (0, or -EINVAL
	 * when the object has no usable id; the json_object stays the
	 * caller's) and emptied by free_object (the struct's memory stays the
	 * caller's). struct memory, struct action_item, struct conversation. */
	size_t object_size;
	int (*parse)(json_object *obj, void *out);
	void (*free_object)(void *object);
	/* The bytes of the item's one file (<id>.txt); NULL for a collection
	 * whose item is a directory of files (conversations). */
	void (*render)(const void *object, struct buf *out);
};

/* The entry of kind (kind < STORE_KINDS). */
const struct collection *collection_of(enum store_kind kind);

/* The collection an API path belongs to: its listing path itself, or a
 * path below it (one object by id, *one_object set). NULL for any other
 * path (/keys, say). */
const struct collection *collection_of_path(const char *path, bool *one_object);

#endif
