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

#endif
