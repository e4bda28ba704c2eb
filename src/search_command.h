/*
 * search_command: `omifs search QUERY`, the cache's full-text index from
 * the command line, without a mount, a key or a request.
 */
#ifndef OMIFS_SEARCH_COMMAND_H
#define OMIFS_SEARCH_COMMAND_H

#include "config.h"

/* Exit codes, grep's: a match, none, or trouble. */
enum { SEARCH_FOUND = 0, SEARCH_NONE = 1, SEARCH_TROUBLE = 2 };

/* Searches the cache at c->cache_path (opened read-only) for query and
 * prints at most limit results (0: all) on stdout, coloured on a terminal,
 * or as one JSON object with c->json; what the index covers goes to
 * stderr. Returns an exit code above. */
int search_command(const struct omifs_config *c, const char *query, int limit);

#endif
