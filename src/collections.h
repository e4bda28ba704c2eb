/*
 * collections: the one table of the collections omifs mirrors (memories,
 * action items, conversations, goals): what each is called where, which
 * API path lists it and how, which budget policy paces that listing, and
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
#include <time.h>

/* The collections, newest-listed last. The values are written into the
 * cache file (the store's kind column): never renumber them. */
enum store_kind { STORE_MEMORIES, STORE_ACTION_ITEMS, STORE_CONVERSATIONS, STORE_GOALS, STORE_KINDS };

struct collection {
	enum store_kind kind;
	const char *dir;	/* its directory at the root of the tree; also its
				 * name in logs, .omifs/status and the budget */
	const char *label;	/* for people: "action items" */
	const char *one;	/* one item, for people: "action item" */
	const char *json_key;	/* in `omifs sync --json`: "action_items" */
	const char *json_one;	/* one item in JSON output: "action_item" */
	const char *api_path;	/* the listing, "/user/action-items" */
	/* How it is listed: in pages (limit and offset), or whole, by one
	 * request that answers every item (goals: the server pages none);
	 * listing_query is added to every listing request (may be NULL). */
	bool whole_listing;
	const char *listing_query;
	/* Served only by some servers: a 404 to the listing says this one
	 * has none, and the tree then shows no directory for it. */
	bool optional;
	/* Each item's detail, fetched by id and kept in the stored object
	 * under detail_key when the item is new or its updated_at moved:
	 * GET api_path/<id><detail_suffix>?<detail_query>. NULL: none. */
	const char *detail_suffix, *detail_query, *detail_key;
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
	/* The item's own date for its files' first mtime (0: none, dated
	 * when first seen), and how many of its fields were odd (model.h). */
	time_t (*dated)(const void *object);
	unsigned (*odd_fields)(const void *object);
	/* The item's title as the server wrote it (borrowed from the object;
	 * NULL: it has none). NULL for a collection whose items have no
	 * title (a memory is all text). */
	const char *(*title)(const void *object);
	/* For search. made: when the item was made, which its results show
	 * and its date filters test (0: it says not, and when omifs first saw
	 * it stands in). text: for a collection whose items have no title,
	 * the text whose start stands for one in a result (borrowed).
	 * untitled: the title of an item without one. */
	time_t (*made)(const void *object);
	const char *(*text)(const void *object);
	const char *untitled;
	/* The id, category (NULL: none) and created_at as the server wrote
	 * them, borrowed from the object: for its user.omi.* attributes and
	 * the search filters. */
	const char *(*id)(const void *object);
	const char *(*category)(const void *object);
	const struct timestamp *(*created_at)(const void *object);
	/* The words search finds it by, appended to title and body a field a
	 * line. transcripts: the collection also has a full form with a
	 * transcript, kept apart (store_put_full_conversation). */
	void (*search_text)(const void *object, struct buf *title, struct buf *body);
	bool transcripts;
	/* Its line in the vault's list of the collection (vault/Memories/,
	 * "Action items.md", Goals.md); NULL: its notes are its own. */
	void (*vault_line)(const void *object, struct buf *out);
	/* Where a parsed object lives below dir: place appends the name of
	 * the directory it is filed in (its category, open or done, its day)
	 * and returns false when the object could not say and a default was
	 * taken ("uncategorized" for a category that cannot be a name,
	 * "undated"). NULL: items lie in dir itself (goals). The item itself
	 * is named from its id, by names' rule, followed by item_suffix:
	 * ".txt", ".md", or "" for a directory. */
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
