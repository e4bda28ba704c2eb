/*
 * unit: the smallest test harness that does the job. A test is a function;
 * CHECK records a failure with its line and goes on; RUN prints one
 * TAP-style line per test ("ok - name" / "not ok - name"), which
 * tests/unit/run counts. main returns non-zero if anything failed.
 */
#ifndef OMIFS_UNIT_H
#define OMIFS_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failures;	/* in the current test */
static int unit_failed_tests;

#define CHECK(cond)                                                                 \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__,    \
				__LINE__, #cond);                                   \
			unit_failures++;                                            \
		}                                                                   \
	} while (0)

#define CHECK_STR(got, want)                                                        \
	do {                                                                        \
		const char *g_ = (got), *w_ = (want);                               \
		if (!g_ || strcmp(g_, w_) != 0) {                                   \
			fprintf(stderr, "  %s:%d: got \"%s\", want \"%s\"\n",       \
				__FILE__, __LINE__, g_ ? g_ : "(null)", w_);        \
			unit_failures++;                                            \
		}                                                                   \
	} while (0)

#define RUN(test)                                                                   \
	do {                                                                        \
		unit_failures = 0;                                                  \
		test();                                                             \
		printf("%s - %s\n", unit_failures ? "not ok" : "ok", #test);        \
		if (unit_failures)                                                  \
			unit_failed_tests++;                                        \
	} while (0)

#define UNIT_RESULT() (unit_failed_tests ? 1 : 0)

#endif
