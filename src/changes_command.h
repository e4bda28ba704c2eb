/*
 * changes_command: `omifs changes`, the account's change feed (feed.h)
 * from the cache, without a mount, a key or a request.
 */
#ifndef OMIFS_CHANGES_COMMAND_H
#define OMIFS_CHANGES_COMMAND_H

#include "config.h"

enum { CHANGES_OK = 0, CHANGES_TROUBLE = 1 };

/* Prints the changes the cache at c->cache_path (read-only) logged since
 * c->search_since (all it keeps when NULL), one line each, as JSON with
 * c->json; with c->follow it then waits for the next ones (logged by a
 * mount or an omifs sync on the same cache) until killed, starting from
 * now when no --since is given. Returns an exit code above (trouble
 * said on stderr). */
int changes_command(const struct omifs_config *c);

#endif
