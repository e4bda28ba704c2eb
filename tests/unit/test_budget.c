/* Unit tests of the client-side request budget: which policy a wait is
 * for, background listings' half share, and a run that starts from the
 * last run's requests. */
#include "budget.h"
#include "unit.h"

#include <stdlib.h>

static void test_minute_waits_are_told_apart(void)
{
	struct budget_options o;
	struct budget *b;
	const char *policy = NULL;

	budget_defaults(BUDGET_DOCUMENTED, &o);
	o.per_minute = 2;
	b = budget_new(&o);
	CHECK(budget_take(b, "/user/memories", false, BUDGET_FOREGROUND, &policy) == 0);
	CHECK(budget_take(b, "/user/memories", false, BUDGET_FOREGROUND, &policy) == 0);
	CHECK(budget_take(b, "/user/memories", false, BUDGET_FOREGROUND, &policy) > 0);
	CHECK_STR(policy, "minute");
	budget_free(b);

	budget_defaults(BUDGET_BACKEND, &o);
	o.transcripts_per_hour = 1;
	b = budget_new(&o);
	CHECK(budget_take(b, "/user/conversations", true, BUDGET_FOREGROUND, &policy) == 0);
	CHECK(budget_take(b, "/user/conversations", true, BUDGET_FOREGROUND, &policy) > 60);
	CHECK_STR(policy, "transcripts");
	budget_free(b);
}

/* A background listing gets half of an hourly policy, one page every
 * window / half: the rest stays for readers, who may use it all. */
static void test_background_listings_take_half_spread(void)
{
	struct budget_options o;
	struct budget *b;
	const char *policy;
	double wait;

	budget_defaults(BUDGET_BACKEND, &o);
	o.per_hour_collection[STORE_CONVERSATIONS] = 8;
	b = budget_new(&o);
	CHECK(budget_take(b, "/user/conversations", false, BUDGET_BACKGROUND, &policy) == 0);
	/* The next background page waits 3600 / 4 s; a reader's goes now. */
	wait = budget_take(b, "/user/conversations", false, BUDGET_BACKGROUND, &policy);
	CHECK(wait > 899 && wait <= 900);
	CHECK_STR(policy, "conversations");
	CHECK(budget_next_slot(b, "/user/conversations", false, BUDGET_BACKGROUND, &policy) > 899);
	CHECK_STR(policy, "conversations");
	CHECK(budget_next_slot(b, "/user/memories", false, BUDGET_BACKGROUND, &policy) == 0);
	for (int i = 0; i < 7; i++)
		CHECK(budget_take(b, "/user/conversations", false, BUDGET_FOREGROUND,
				  &policy) == 0);
	CHECK(budget_take(b, "/user/conversations", false, BUDGET_FOREGROUND, &policy) > 0);
	budget_free(b);

	/* The documented profile has no hourly policy to share. */
	budget_defaults(BUDGET_DOCUMENTED, &o);
	b = budget_new(&o);
	for (int i = 0; i < 3; i++)
		CHECK(budget_take(b, "/user/conversations", false, BUDGET_BACKGROUND,
				  &policy) == 0);
	budget_free(b);
}

/* A run's requests, handed to the next, count there as the server counts
 * them; the next run hands on only its own. */
static void test_a_budget_starts_from_the_last_run_s_requests(void)
{
	struct budget_options o;
	struct budget *first, *next;
	struct budget_send *sends;
	const char *policy;
	size_t n;

	budget_defaults(BUDGET_BACKEND, &o);
	o.transcripts_per_hour = 2;
	first = budget_new(&o);
	CHECK(budget_take(first, "/user/conversations", true, BUDGET_FOREGROUND, &policy) == 0);
	CHECK(budget_take(first, "/user/conversations", true, BUDGET_FOREGROUND, &policy) == 0);
	n = budget_sends(first, &sends);
	CHECK(n == 4);	/* conversations and transcripts, twice each */
	next = budget_new(&o);
	for (size_t i = 0; i < n; i++)
		budget_add_earlier_send(next, sends[i].policy, sends[i].at);
	budget_add_earlier_send(next, "no such policy", sends[0].at);
	CHECK(budget_take(next, "/user/conversations", true, BUDGET_FOREGROUND, &policy) > 3000);
	CHECK_STR(policy, "transcripts");
	CHECK(budget_take(next, "/user/conversations", false, BUDGET_FOREGROUND, &policy) == 0);
	free(sends);
	CHECK(budget_sends(next, &sends) == 1);
	CHECK_STR(sends[0].policy, "conversations");
	free(sends);
	budget_free(first);
	budget_free(next);
}

int main(void)
{
	RUN(test_minute_waits_are_told_apart);
	RUN(test_background_listings_take_half_spread);
	RUN(test_a_budget_starts_from_the_last_run_s_requests);
	return UNIT_RESULT();
}
