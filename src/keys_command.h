/*
 * keys_command: `omifs keys list | create NAME [--save PATH] | revoke ID`,
 * the published API's key management, with the bearer token the user
 * gives (a developer key, or the app's login token where the server wants
 * one for /keys).
 */
#ifndef OMIFS_KEYS_COMMAND_H
#define OMIFS_KEYS_COMMAND_H

#include "config.h"

#include <stdbool.h>

/* Whether words (the command's arguments after "keys") make a command. */
bool keys_command_valid(char *const *words, int n_words);

/* words: the command's arguments after "keys". Returns an exit code. */
int keys_command(const struct omifs_config *c, char *const *words, int n_words);

#endif
