/*
 * budget: sliding-window request logs, one per policy. See budget.h.
 */
#include "budget.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A collection's policy is P_COLLECTION + its kind, named as its
 * directory (policy_name). */
enum policy_id {
	P_MINUTE, P_DAY, P_COLLECTION, P_CONVERSATION = P_COLLECTION + STORE_KINDS,
	P_TRANSCRIPTS, P_COUNT
};

struct policy {
	int limit;		/* 0: off */
	double window;		/* seconds */
	double *sent;		/* ring of the last `limit` send times */
	int count;		/* entries in use */
	int next;		/* where the next send time goes */
	struct policy *share;	/* an hourly policy's half for background
				 * listings (background_wait), or NULL */
};

struct budget {
	pthread_mutex_t lock;
	struct policy policies[P_COUNT];
	double started;		/* monotonic: sends before it are earlier runs' */
};

void budget_defaults(enum budget_profile profile, struct budget_options *o)
{
	memset(o, 0, sizeof(*o));
	o->window_scale = 1;
	if (profile == BUDGET_DOCUMENTED) {
		o->per_minute = 100;
		o->per_day = 10000;
	} else {
		for (int k = 0; k < STORE_KINDS; k++)
			o->per_hour_collection[k] = collection_of(k)->backend_per_hour;
		o->per_hour_conversation = 60;
		o->transcripts_per_hour = 25;
	}
}

static const char *policy_name(int policy)
{
	static const char *const fixed[P_COUNT] = {
		[P_MINUTE] = "minute", [P_DAY] = "day", [P_CONVERSATION] = "conversation",
		[P_TRANSCRIPTS] = "transcripts",
	};

	if (policy >= P_COLLECTION && policy < P_COLLECTION + STORE_KINDS)
		return collection_of(policy - P_COLLECTION)->dir;
	return fixed[policy];
}

static double clock_seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_monotonic(void)
{
	return clock_seconds(CLOCK_MONOTONIC);
}

static void set_policy(struct policy *p, int limit, double window)
{
	p->limit = limit > 0 ? limit : 0;
	p->window = window;
	p->sent = p->limit ? xcalloc((size_t)p->limit, sizeof(double)) : NULL;
}

/* Sets an hourly policy and the half of it that background listings may
 * use: a full listing, which only looks for edits and deletions, never
 * takes what readers and new items need. */
static void set_hourly_policy(struct policy *p, int limit, double window)
{
	set_policy(p, limit, window);
	if (!p->limit)
		return;
	p->share = xcalloc(1, sizeof(*p->share));
	set_policy(p->share, p->limit / 2 > 0 ? p->limit / 2 : 1, window);
}

struct budget *budget_new(const struct budget_options *o)
{
	struct budget *b = xcalloc(1, sizeof(*b));
	double s = o->window_scale > 0 ? o->window_scale : 1;

	pthread_mutex_init(&b->lock, NULL);
	b->started = now_monotonic();
	set_policy(&b->policies[P_MINUTE], o->per_minute, 60 * s);
	set_policy(&b->policies[P_DAY], o->per_day, 86400 * s);
	for (int k = 0; k < STORE_KINDS; k++)
		set_hourly_policy(&b->policies[P_COLLECTION + k], o->per_hour_collection[k],
				  3600 * s);
	set_hourly_policy(&b->policies[P_CONVERSATION], o->per_hour_conversation, 3600 * s);
	set_hourly_policy(&b->policies[P_TRANSCRIPTS], o->transcripts_per_hour, 3600 * s);
	return b;
}

void budget_free(struct budget *b)
{
	if (!b)
		return;
	for (int i = 0; i < P_COUNT; i++) {
		if (b->policies[i].share)
			free(b->policies[i].share->sent);
		free(b->policies[i].share);
		free(b->policies[i].sent);
	}
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* The policy a path counts against besides minute/day/transcripts, or -1. */
static int path_policy(const char *path)
{
	bool one_object;
	const struct collection *c = collection_of_path(path, &one_object);

	if (!c)
		return -1;
	if (one_object && c->kind == STORE_CONVERSATIONS)
		return P_CONVERSATION;
	return P_COLLECTION + (int)c->kind;
}

/* Seconds until p has room for one more at `now`; 0 if it has now. */
static double policy_wait(const struct policy *p, double now)
{
	double oldest;

	if (!p->limit || p->count < p->limit)
		return 0;
	oldest = p->sent[p->next];	/* the ring is full: next is the oldest */
	/* The server starts its window when a request arrives, a little after
	 * we sent it: keep a margin so that clock skew cannot cause a 429. */
	oldest += p->window * 0.05 < 2 ? p->window * 0.05 : 2;
	return oldest + p->window > now ? oldest + p->window - now : 0;
}

/* Seconds until a background listing's page fits p's share: at most
 * half of p's limit in any window, one page every window / half, so that
 * a listing longer than that is spread evenly over its period rather
 * than sent in hourly bursts. 0 for a policy without a share. */
static double background_wait(const struct policy *p, double now)
{
	const struct policy *share = p->share;
	double wait, spacing, last;

	if (!share)
		return 0;
	wait = policy_wait(share, now);
	if (share->count) {
		spacing = share->window / share->limit;
		last = share->sent[(share->next + share->limit - 1) % share->limit];
		if (last + spacing - now > wait)
			wait = last + spacing - now;
	}
	return wait;
}

static void policy_record(struct policy *p, double now, bool background)
{
	if (!p->limit)
		return;
	p->sent[p->next] = now;
	p->next = (p->next + 1) % p->limit;
	if (p->count < p->limit)
		p->count++;
	if (background && p->share)
		policy_record(p->share, now, false);
}

const char *budget_policy_of(const char *path, bool transcripts)
{
	int route = path_policy(path);

	return transcripts ? policy_name(P_TRANSCRIPTS) : route >= 0 ? policy_name(route) : "other";
}

/* Which policies a GET of path counts against. */
static void policies_of(const char *path, bool transcripts, bool applies[P_COUNT])
{
	int route = path_policy(path);

	memset(applies, 0, P_COUNT * sizeof(*applies));
	applies[P_MINUTE] = applies[P_DAY] = true;
	if (route >= 0)
		applies[route] = true;
	applies[P_TRANSCRIPTS] = transcripts;
}

/* The longest wait of the policies that apply, and which policy it is
 * (-1: none waits). b->lock held. */
static double longest_wait(const struct budget *b, const bool applies[P_COUNT],
			   enum budget_share share, double now, int *policy)
{
	double wait = 0;

	*policy = -1;
	for (int i = 0; i < P_COUNT; i++) {
		double w = applies[i] ? policy_wait(&b->policies[i], now) : 0;

		if (applies[i] && share == BUDGET_BACKGROUND)
			w = fmax(w, background_wait(&b->policies[i], now));

		if (w > wait) {
			wait = w;
			*policy = i;
		}
	}
	return wait;
}

double budget_take(struct budget *b, const char *path, bool transcripts, enum budget_share share,
		   const char **name)
{
	bool applies[P_COUNT];
	double now = now_monotonic(), wait;
	int policy;

	policies_of(path, transcripts, applies);
	pthread_mutex_lock(&b->lock);
	wait = longest_wait(b, applies, share, now, &policy);
	*name = policy >= 0 ? policy_name(policy) : NULL;
	if (wait == 0)
		for (int i = 0; i < P_COUNT; i++)
			if (applies[i])
				policy_record(&b->policies[i], now, share == BUDGET_BACKGROUND);
	pthread_mutex_unlock(&b->lock);
	return wait;
}

double budget_next_slot(struct budget *b, const char *path, bool transcripts,
			enum budget_share share, const char **name)
{
	bool applies[P_COUNT];
	double wait;
	int policy;

	policies_of(path, transcripts, applies);
	pthread_mutex_lock(&b->lock);
	wait = longest_wait(b, applies, share, now_monotonic(), &policy);
	pthread_mutex_unlock(&b->lock);
	*name = policy >= 0 ? policy_name(policy) : NULL;
	return wait;
}

double budget_eta(struct budget *b, const char *path, bool transcripts, long n,
		  struct budget_rate *binding)
{
	bool applies[P_COUNT];
	double now = now_monotonic(), longest = 0;

	policies_of(path, transcripts, applies);
	memset(binding, 0, sizeof(*binding));
	pthread_mutex_lock(&b->lock);
	for (int i = 0; i < P_COUNT; i++) {
		const struct policy *p = &b->policies[i];
		long free_now = p->limit;
		double t;

		if (!applies[i] || !p->limit)
			continue;
		for (int k = 0; k < p->count; k++)
			if (p->sent[k] > now - p->window)
				free_now--;
		/* What does not fit now goes out a full window per `limit`. */
		t = n > free_now ? ceil((double)(n - free_now) / p->limit) * p->window : 0;
		if (t > longest || !binding->name) {
			longest = t > longest ? t : longest;
			binding->name = policy_name(i);
			binding->limit = p->limit;
			binding->window = p->window;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return longest;
}

double budget_spread(struct budget *b, const char *path, bool transcripts, long n,
		     const char **name)
{
	bool applies[P_COUNT];
	double longest = 0;

	policies_of(path, transcripts, applies);
	*name = NULL;
	pthread_mutex_lock(&b->lock);
	for (int i = 0; i < P_COUNT; i++) {
		const struct policy *share = b->policies[i].share;
		double t = applies[i] && share ? (double)n * share->window / share->limit : 0;

		if (t > longest) {
			longest = t;
			*name = policy_name(i);
		}
	}
	pthread_mutex_unlock(&b->lock);
	return longest;
}

size_t budget_sends(struct budget *b, struct budget_send **out)
{
	double mono = now_monotonic(), wall = clock_seconds(CLOCK_REALTIME);
	size_t n = 0, cap = 0;

	*out = NULL;
	pthread_mutex_lock(&b->lock);
	for (int i = 0; i < P_COUNT; i++) {
		const struct policy *p = &b->policies[i];

		for (int k = 0; k < p->count; k++) {
			if (p->sent[k] < b->started || p->sent[k] <= mono - p->window)
				continue;
			*out = xgrow(*out, &cap, n, sizeof(**out), 64);
			(*out)[n++] = (struct budget_send){ .policy = policy_name(i),
							    .at = wall - (mono - p->sent[k]) };
		}
	}
	pthread_mutex_unlock(&b->lock);
	return n;
}

void budget_add_earlier_send(struct budget *b, const char *policy, double at)
{
	double mono = now_monotonic(), wall = clock_seconds(CLOCK_REALTIME);
	/* Before this run began, whatever the clocks say: budget_sends
	 * must never hand it on as this run's. */
	double sent = fmin(mono - (wall - at), b->started - 1e-6);

	pthread_mutex_lock(&b->lock);
	for (int i = 0; i < P_COUNT; i++) {
		struct policy *p = &b->policies[i];

		if (p->limit && strcmp(policy_name(i), policy) == 0 && sent > mono - p->window)
			policy_record(p, sent, false);
	}
	pthread_mutex_unlock(&b->lock);
}

int budget_status(struct budget *b, struct status_policy *out, int max)
{
	double now = now_monotonic();
	int n = 0;

	pthread_mutex_lock(&b->lock);
	for (int i = 0; i < P_COUNT && n < max; i++) {
		const struct policy *p = &b->policies[i];
		struct status_policy *o = &out[n];

		if (!p->limit)
			continue;
		*o = (struct status_policy){ .name = policy_name(i), .limit = p->limit,
					     .window = p->window };
		for (int k = 0; k < p->count; k++)
			if (p->sent[k] > now - p->window)
				o->used++;
		if (o->used >= p->limit)
			o->wait = policy_wait(p, now);
		n++;
	}
	pthread_mutex_unlock(&b->lock);
	return n;
}
