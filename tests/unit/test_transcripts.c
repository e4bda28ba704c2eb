/* Unit tests of transcripts.c, below FUSE: what a cold backup costs with
 * the read-ahead (sync_plan_batch), and the cache form that keeps
 * transcripts from being fetched again. */
#include "store.h"
#include "sync.h"
#include "unit.h"

#include <stdlib.h>

#define N 2000

/* A listing of N conversations: which are held, which cannot be fetched. */
struct listing {
	bool held[N];
	bool unusable[N];
	int batches;
	size_t fetched;
};

static struct sync_plan plan_for(size_t initial, size_t walking)
{
	struct sync_plan p = { .initial = initial, .walking = walking, .n = N };

	return p;
}

/* Reads conversation i as omifs does: a batch unless it is held. */
static void read_one(struct sync_plan *p, struct listing *l, size_t i)
{
	size_t lo, hi;

	if (l->held[i])
		return;
	sync_plan_batch(p, i, &lo, &hi);
	l->batches++;
	for (size_t k = lo; k <= hi; k++) {
		if (!l->held[k] && !l->unusable[k])
			l->fetched++;
		if (!l->unusable[k])
			l->held[k] = true;
	}
	l->held[i] = true;
}

static void test_blocks(void)
{
	struct sync_plan p = plan_for(25, 1000);
	size_t lo, hi;

	p.n = 5000;
	/* A read alone: its block of 25. */
	sync_plan_batch(&p, 510, &lo, &hi);
	CHECK(lo == 500 && hi == 524);
	/* Far away: alone again. */
	sync_plan_batch(&p, 4990, &lo, &hi);
	CHECK(lo == 4975 && hi == 4999);
	/* In the same block of 1,000: a walk takes the whole block... */
	sync_plan_batch(&p, 4500, &lo, &hi);
	CHECK(lo == 4000 && hi == 4999);
	/* ...and the next one, but never past the listing's end. */
	sync_plan_batch(&p, 3999, &lo, &hi);
	CHECK(lo == 3000 && hi == 3999);
	p.n = 4010;
	sync_plan_batch(&p, 4005, &lo, &hi);
	CHECK(lo == 4000 && hi == 4009);
	/* The initial block stays inside its walking block. */
	p = plan_for(30, 100);
	p.n = 5000;
	sync_plan_batch(&p, 105, &lo, &hi);
	CHECK(lo == 100 && hi == 119);
}

/* The order rsync and grep -r read in: days ascending (the listing is
 * newest first, so from its end), a day's conversations in name order,
 * which is no order at all in time. */
static void walk_like_rsync(struct sync_plan *p, struct listing *l, size_t per_day)
{
	unsigned seed = 7;

	for (size_t day_end = N; day_end > 0;) {
		size_t day_start = day_end > per_day ? day_end - per_day : 0;
		size_t n = day_end - day_start;
		size_t *order = malloc(n * sizeof(*order));

		for (size_t k = 0; k < n; k++)
			order[k] = day_start + k;
		for (size_t k = n - 1; k > 0; k--) {
			size_t j = (seed = seed * 1103515245u + 12345u) % (k + 1), t = order[k];

			order[k] = order[j];
			order[j] = t;
		}
		for (size_t k = 0; k < n; k++)
			read_one(p, l, order[k]);
		free(order);
		day_end = day_start;
	}
}

static void test_a_walk_costs_the_floor(void)
{
	static const size_t per_day[] = { 1, 5, 83, 400 };

	for (size_t d = 0; d < sizeof(per_day) / sizeof(*per_day); d++) {
		struct listing *l = calloc(1, sizeof(*l));
		struct sync_plan documented = plan_for(25, 1000);

		walk_like_rsync(&documented, l, per_day[d]);
		/* The floor is 2 pages of 1,000 (and the empty page that a
		 * listing needs but a batch does not). */
		CHECK(l->fetched == N);
		CHECK(l->batches <= 3);
		if (l->batches > 3)
			fprintf(stderr, "  %zu a day: %d batches (documented)\n", per_day[d], l->batches);
		free(l);

		l = calloc(1, sizeof(*l));
		struct sync_plan backend = plan_for(25, 25);
		walk_like_rsync(&backend, l, per_day[d]);
		CHECK(l->fetched == N);
		CHECK(l->batches <= N / 25 + 1);
		if (l->batches > N / 25 + 1)
			fprintf(stderr, "  %zu a day: %d batches (backend)\n", per_day[d], l->batches);
		free(l);
	}
}

static void test_omifs_sync_order_costs_the_floor(void)
{
	struct listing *l = calloc(1, sizeof(*l));
	struct sync_plan p = plan_for(25, 1000);

	/* sync asks for the missing ones in listing order, newest first. */
	for (size_t i = 0; i < N; i++)
		read_one(&p, l, i);
	CHECK(l->fetched == N);
	CHECK(l->batches <= 3);
	free(l);
}

static int find(const char *id, const char *json, void *ctx)
{
	(void)id;
	return strstr(json, "transcript_segments") != NULL ? (*(int *)ctx = 1) : 0;
}

/* A cache made when listing entries kept the backend's
 * "transcript_segments": null is brought to today's form when a sync is
 * made on it, without dropping a transcript; a listing in today's form is
 * then no change. */
static void test_old_cache_form_keeps_its_transcripts(void)
{
	char err[128];
	struct store *store = store_open(NULL, err, sizeof(err));
	struct store_item old[] = { { "c1", "{\"id\":\"c1\",\"transcript_segments\":null}" } };
	struct store_item now[] = { { "c1", "{\"id\":\"c1\"}" } };
	struct sync_options opts = { .refresh_interval = 60, .full_refresh_interval = 60,
				     .page_size = 10, .transcript_batch = 1, .offline = true };
	struct sync *s;
	uint64_t count;
	int found = 0;

	CHECK(store_replace_listing(store, STORE_CONVERSATIONS, old, 1, 1) == 1);
	CHECK(store_put_full_conversation(store, "c1", "{\"id\":\"c1\",\"transcript_segments\":[]}") == 0);
	count = store_listings_count(store);
	s = sync_new(NULL, store, &opts);
	store_foreach(store, STORE_CONVERSATIONS, find, &found);
	CHECK(!found);
	CHECK(store_has_full_conversation(store, "c1"));
	CHECK(store_listings_count(store) == count);
	CHECK(store_replace_listing(store, STORE_CONVERSATIONS, now, 1, 2) == 0);
	CHECK(store_has_full_conversation(store, "c1"));
	sync_free(s);
	store_close(store);
}

int main(void)
{
	RUN(test_blocks);
	RUN(test_a_walk_costs_the_floor);
	RUN(test_omifs_sync_order_costs_the_floor);
	RUN(test_old_cache_form_keeps_its_transcripts);
	return UNIT_RESULT();
}
