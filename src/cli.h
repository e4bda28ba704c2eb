/*
 * cli: omifs's command line: which command, its options (one fuse_opt
 * table for all of them), the help texts, and what only the command line
 * can get wrong, said before a key is read or anything is mounted.
 */
#ifndef OMIFS_CLI_H
#define OMIFS_CLI_H

#include "config.h"

#include <fuse_lowlevel.h>

/* Exit codes of every command but search, which answers like grep. */
enum { EXIT_USAGE = 1, EXIT_AUTH = 2, EXIT_SERVER = 3, EXIT_MOUNTPOINT = 4 };

enum command { CMD_MOUNT, CMD_SYNC, CMD_KEYS, CMD_STATUS, CMD_REFRESH, CMD_SEARCH, CMD_CACHE, CMD_CHANGES, CMD_MCP };

#define SEARCH_DEFAULT_LIMIT 20
#define DEFAULT_URL "https://api.omi.me/v1/dev"

/*
 * Fills *c with the defaults, then with what the command line in args
 * says, and *cmd with the command it names. args keeps what goes on to
 * libfuse (the caller frees it with fuse_opt_free_args). -h and -V print
 * and exit 0. Returns 0, or -1 after saying what is wrong on stderr. *c is
 * the caller's to free (config_free) either way.
 */
int cli_parse(struct fuse_args *args, struct omifs_config *c, enum command *cmd);

#endif
