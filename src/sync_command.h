/*
 * sync_command: `omifs sync`, which fills the disk cache with everything,
 * transcripts included, without mounting. Paced to the request budget,
 * with the fewest requests; resumable after Ctrl-C or kill -9 without
 * fetching again what it has (listings younger than -o refresh are kept,
 * transcripts are kept for good).
 */
#ifndef OMIFS_SYNC_COMMAND_H
#define OMIFS_SYNC_COMMAND_H

#include "config.h"

/* Runs the command with a loaded key and an opened cache path. Returns a
 * process exit code. */
int sync_command(const struct omifs_config *c);

/* A sync that stopped before it began (no usable key, the key refused,
 * the server unreachable, the cache unusable): with --json, prints the
 * one summary object a sync always prints, result key_refused (exit 2)
 * or failed, and reason. Returns exit_code. */
int sync_command_stopped(const struct omifs_config *c, int exit_code, const char *reason);

/* `omifs sync --check`: whether the cache at c->cache_path is whole
 * (PRAGMA integrity_check), read-only, without the network. Returns 0
 * whole, 3 damaged or unreadable. */
int sync_check_command(const struct omifs_config *c);

#endif
