/*
 * core: the one constructor of the layers every command that talks to
 * the API shares (api, store, sync), built the same way from the
 * configuration by the mount and by `omifs sync`, and the conversions
 * from the configuration to each of those layers' options.
 *
 * The core makes no request and starts no thread: a caller that wants
 * the refresher calls sync_start, and sets api's cancel check before its
 * first request.
 */
#ifndef OMIFS_CORE_H
#define OMIFS_CORE_H

#include "api.h"
#include "config.h"
#include "store.h"
#include "sync.h"

#include <stdbool.h>
#include <stddef.h>

/* The layers, each owned by the core; sync borrows api and store. */
struct core {
	struct api_client *api;
	struct store *store;
	struct sync *sync;
	bool keeps_sends;	/* the cache hands the budget on to the next run */
};

/* Builds api, store (c->cache_path, or memory when NULL; read-only when
 * `readonly` and there is a path) and sync from c, which must outlive
 * the core (sync keeps c->first_memories_page). When c holds the key
 * check's first page of memories, the api's budget counts that request.
 * A writable cache keeps the requests sent for the next run: its budget
 * starts from the earlier runs' requests still in their windows, as the
 * server counts them, and core_close adds this run's.
 * Returns the core (free it with core_close), or NULL with a message in
 * err and nothing left allocated. */
struct core *core_open(const struct omifs_config *c, bool readonly, char *err, size_t errlen);

/* The core of a command that only reads the account's cache (omifs
 * changes, omifs mcp): core_open of c made offline, read-only, so that
 * nothing is sent and nothing written. NULL with a message in err when
 * nothing is cached for the account yet or the cache cannot be opened. */
struct core *core_open_cached(const struct omifs_config *c, char *err, size_t errlen);

/* Frees sync, then store and api (stopping the refresher first). NULL is
 * fine. What borrows from the core (a tree) must be freed before. */
void core_close(struct core *core);

/* The options of the api and sync layers that c implies (strings
 * borrowed from c). */
void core_api_options(const struct omifs_config *c, struct api_options *out);
void core_sync_options(const struct omifs_config *c, struct sync_options *out);

#endif
