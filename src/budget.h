/*
 * budget: the client-side request budget, so that normal use never
 * provokes a 429.
 *
 * The budget is a set of policies, each "at most N requests in any window
 * of W seconds", kept as a sliding log of send times: unlike a token
 * bucket it can never exceed a server's fixed window, whenever that window
 * starts. The policies, and the limits each profile starts with:
 *
 *   minute, day      every request          documented: 100, 10,000
 *   one per collection, named as its directory (collections.h: memories,
 *   action-items, conversations), per hour, for its listing path and any
 *   path below it               backend: the table's backend_per_hour
 *   conversation     per hour, one conversation by id (below the
 *                    conversations' path, which it counts instead of)
 *                                           backend: 60
 *   transcripts      per hour, any request with include_transcript=true
 *                                           backend: 25
 *
 * Every policy applies in both profiles; the profiles differ in their
 * defaults (budget_defaults), and a limit of 0 switches a policy off.
 * A background listing (BUDGET_BACKGROUND) may use at most half of each
 * hourly policy, one request every window / (limit / 2) at most, so that
 * the other half stays free for readers and new items.
 * Thread-safe.
 */
#ifndef OMIFS_BUDGET_H
#define OMIFS_BUDGET_H

#include "buf.h"
#include "status.h"
#include "collections.h"

#include <stdbool.h>

enum budget_profile { BUDGET_DOCUMENTED, BUDGET_BACKEND };

struct budget_options {
	int per_minute;		/* documented */
	int per_day;		/* documented */
	int per_hour_collection[STORE_KINDS]; /* backend */
	int per_hour_conversation;
	int transcripts_per_hour; /* both profiles */
	double window_scale;	/* multiplies every window (tests shrink them) */
};

/* Fills opts with the published limits of a profile. */
void budget_defaults(enum budget_profile profile, struct budget_options *opts);

struct budget;

struct budget *budget_new(const struct budget_options *opts);
void budget_free(struct budget *b);

/* Whose request it is: somebody's (a reader, a sync, a first listing),
 * or a background listing that nobody waits for. */
enum budget_share { BUDGET_FOREGROUND, BUDGET_BACKGROUND };

/* If a GET of path (with include_transcript when `transcripts`) fits every
 * policy it counts against, records it and returns 0; otherwise records
 * nothing and returns the seconds until it would fit, with *policy the
 * name of the policy that holds it back ("minute": a wait that ends
 * within a minute, which a reader may sit out). */
double budget_take(struct budget *b, const char *path, bool transcripts, enum budget_share share,
		   const char **policy);

/* Seconds until a GET of path would fit (0: now), recording nothing;
 * *name gets the policy that holds it back (NULL when none does). */
double budget_next_slot(struct budget *b, const char *path, bool transcripts,
			enum budget_share share, const char **name);

/* The policy that paces a run of requests, for people. */
struct budget_rate {
	const char *name;	/* NULL when no policy applies */
	int limit;		/* requests ... */
	double window;		/* ... per this many seconds */
};

/* About how many seconds n more GETs of path will take at the budget's
 * pace (0 when they fit now), and the policy that paces them. */
double budget_eta(struct budget *b, const char *path, bool transcripts, long n,
		  struct budget_rate *binding);

/* Seconds n background GETs of path take at their share's even pace (0
 * when no hourly policy applies), and the policy that sets it (*name;
 * NULL when none does). */
double budget_spread(struct budget *b, const char *path, bool transcripts, long n,
		     const char **name);

/* A request counted against a policy, on the wall clock: what a run
 * hands the next, so that its budget starts where the server's windows
 * are rather than empty. */
struct budget_send {
	const char *policy;	/* its name, as budget_take gives it (static) */
	double at;		/* seconds since the epoch */
};

/* This budget's own sends still within their policies' windows (none of
 * those added by budget_add_earlier_send): *out is the caller's to free.
 * Returns how many. */
size_t budget_sends(struct budget *b, struct budget_send **out);

/* Counts a request an earlier run sent against the policy named, when it
 * is still within that policy's window; unknown names are ignored. Call
 * before any request of this run, oldest first. */
void budget_add_earlier_send(struct budget *b, const char *policy, double at);

/* The name of the hourly policy a GET of path counts against (whether
 * or not the profile limits it): "transcripts", "conversation" or a
 * collection's; "other" for a path outside the collections. Constant. */
const char *budget_policy_of(const char *path, bool transcripts);

/* Fills out with the policies in force (at most max), for the status
 * file; returns how many. */
int budget_status(struct budget *b, struct status_policy *out, int max);

#endif
