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
	/* Where a parsed object lives below dir: place appends the name of
	 * the directory it is filed in (its category, open or done, its day)
	 * and returns false when the object could not say and a default was
	 * taken ("uncategorized" for a category that cannot be a name,
	 * "undated"). The item itself is named from its id, by names'
	 * rule, followed by item_suffix: ".txt", or "" for a directory. */
	bool (*place)(const void *object, struct buf *out);
	const char *item_suffix;
};

/* The entry of kind (kind < STORE_KINDS). */
const struct collection *collection_of(enum store_kind kind);

/* Appends "<dir>/<place>/<id's name><item_suffix>", the object's path
 * in the id tree below the root. Returns 0, or -1 when the id cannot be
 * a name (out then holds a part of the path). */
int collection_item_path(enum store_kind kind, const void *object, const char *id,
			 struct buf *out);

/* The collection an API path belongs to: its listing path itself, or a
 * path below it (one object by id, *one_object set). NULL for any other
 * path (/keys, say). */
const struct collection *collection_of_path(const char *path, bool *one_object);

#endif
