/*
 * fuzz: what the libFuzzer targets in this directory share. A broken
 * invariant prints what broke and aborts, so libFuzzer reports it as a
 * crash ("deadly signal") and saves the input like any other finding.
 */
#ifndef OMIFS_FUZZ_H
#define OMIFS_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond, ...)                                                       \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "\nFUZZ INVARIANT BROKEN at %s:%d: %s\n  ", \
				__FILE__, __LINE__, #cond);                         \
			fprintf(stderr, __VA_ARGS__);                               \
			fputc('\n', stderr);                                        \
			abort();                                                    \
		}                                                                   \
	} while (0)

#endif
