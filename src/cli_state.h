/*
 * cli_state: what the command line's own files share. cli.c parses the
 * options over the parts below it, none of which calls it:
 *   cli_check.c  which command the line names, and what only the command
 *                line can get wrong
 *   cli_fuse.c   the libfuse options a mount passes on, and mount(8)'s
 *                words it drops
 *   cli_usage.c  the help texts, and --version
 * Nothing else includes it: cli.h is the module's promise.
 */
#ifndef OMIFS_CLI_STATE_H
#define OMIFS_CLI_STATE_H

#include "cli.h"
#include "config.h"

#include <stdbool.h>

/* Each function's contract is at its definition. */

/* In cli_check.c. */
const char *cli_command_name(enum command cmd);
enum command cli_command_of(int argc, char **argv);
int cli_refuse_unknown_command(int argc, char **argv);
int cli_check_command_line(const struct omifs_config *c, enum command cmd);

/* In cli_fuse.c. */
bool cli_is_passthrough(const char *arg);
bool cli_is_mount_word(const char *arg);
void cli_help_fuse(void);

/* In cli_usage.c. */
void cli_usage(enum command cmd);
void cli_print_versions(void);

#endif
