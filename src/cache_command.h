/*
 * cache_command: `omifs cache list` and `omifs cache remove PATH|URL`, the
 * accounts kept in the cache directory (-o cache_dir, or the default):
 * whose each is, how big, how complete, and whether a running omifs uses
 * it. A cache in use is never removed.
 */
#ifndef OMIFS_CACHE_COMMAND_H
#define OMIFS_CACHE_COMMAND_H

#include "config.h"

#include <stdbool.h>

/* Whether words (the arguments after "cache") make a command. */
bool cache_command_valid(char *const *words, int n_words);

/* words: the arguments after "cache". Returns an exit code: 0, or 1 when
 * nothing or more than one cache matches, the cache is in use, or the
 * directory cannot be read (each said on stderr). */
int cache_command(const struct omifs_config *c, char *const *words, int n_words);

#endif
