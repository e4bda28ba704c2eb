/*
 * Unit tests of snapshots shared: a build on a base (what a refresh does)
 * must give, path for path, what a build from nothing gives, while taking
 * the base's records of everything that did not change. A store in
 * memory and an offline sync stand in for what was fetched.
 */
#include "buf.h"
#include "snapshot.h"
#include "store.h"
#include "sync.h"
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONV(id, day, title) \
	"{\"id\":\"" id "\",\"created_at\":\"" day "T10:00:00Z\",\"started_at\":\"" day \
	"T10:00:00Z\",\"finished_at\":\"" day "T10:30:00Z\",\"structured\":{\"title\":\"" \
	title "\",\"overview\":\"o\",\"category\":\"work\",\"action_items\":[],\"events\":[]}}"

static struct store_item memories[] = {
	{ "m1", "{\"id\":\"m1\",\"content\":\"likes tea\",\"category\":\"core\"}" },
	{ "m2", "{\"id\":\"m2\",\"content\":\"a/b\",\"category\":\"work\"}" },
};
static struct store_item memories_later[] = {
	{ "m1", "{\"id\":\"m1\",\"content\":\"likes coffee now\",\"category\":\"core\"}" },
	{ "m2", "{\"id\":\"m2\",\"content\":\"a/b\",\"category\":\"work\"}" },
};
static struct store_item conversations[] = {
	{ "c1", CONV("c1", "2025-06-30", "Mortgage call") },
	{ "c2", CONV("c2", "2025-07-01", "Dentist") },
	{ "c4", CONV("c4", "2025-07-02", "Standup") },
};
/* c3 comes on c1's day, c2 goes with its day, c4 is retitled. */
static struct store_item conversations_later[] = {
	{ "c3", CONV("c3", "2025-06-30", "New one") },
	{ "c1", CONV("c1", "2025-06-30", "Mortgage call") },
	{ "c4", CONV("c4", "2025-07-02", "Standup, moved") },
};

struct world {
	struct store *store;
	struct sync *sync;
};

static void open_world(struct world *w)
{
	struct sync_options opts = { .refresh_interval = 60, .full_refresh_interval = 60,
				     .page_size = 10, .transcript_batch = 1, .offline = true };
	char err[128];

	setenv("TZ", "UTC", 1);
	w->store = store_open(NULL, err, sizeof(err));
	CHECK(store_replace_listing(w->store, STORE_MEMORIES, memories, 2, 1) == 2);
	CHECK(store_replace_listing(w->store, STORE_ACTION_ITEMS, NULL, 0, 1) == 0);
	CHECK(store_replace_listing(w->store, STORE_CONVERSATIONS, conversations, 3, 1) == 3);
	w->sync = sync_new(NULL, w->store, &opts);
}

static void close_world(struct world *w)
{
	sync_free(w->sync);
	store_close(w->store);
}

/* Checks that dir in a and dir in b hold the same, all the way down: the
 * names in order, inode numbers, kinds, digests, dates and counts. A
 * size learnt in b may be unknown in a. */
static void check_same_tree(const struct snapshot *a, const struct node *da,
			    const struct snapshot *b, const struct node *db, int depth)
{
	char room_a[SNAPSHOT_NAME_ROOM], room_b[SNAPSHOT_NAME_ROOM];
	size_t n = snapshot_n_children(a, da);

	CHECK(n == snapshot_n_children(b, db));
	CHECK(snapshot_n_subdirs(a, da) == snapshot_n_subdirs(b, db));
	CHECK(snapshot_mtime(a, da) == snapshot_mtime(b, db));
	for (size_t i = 0; i < n && i < snapshot_n_children(b, db) && depth < 8; i++) {
		const struct node *ca = snapshot_child_at(a, da, i), *cb = snapshot_child_at(b, db, i);
		const char *name = snapshot_name(a, ca, room_a);

		CHECK_STR(snapshot_name(b, cb, room_b), name);
		CHECK(snapshot_ino(a, ca) == snapshot_ino(b, cb));
		CHECK(ca->kind == cb->kind && ca->collection == cb->collection);
		CHECK(ca->digest == cb->digest);
		CHECK(snapshot_mtime(a, ca) == snapshot_mtime(b, cb));
		CHECK(snapshot_size(ca) == snapshot_size(cb) || snapshot_size(ca) < 0);
		CHECK((snapshot_id(a, ca) == NULL) == (snapshot_id(b, cb) == NULL));
		if (snapshot_id(a, ca))
			CHECK_STR(snapshot_id(b, cb), snapshot_id(a, ca));
		if (ca->kind == NODE_DIR)
			check_same_tree(a, ca, b, cb, depth + 1);
	}
}

static struct node *at_path(const struct snapshot *snap, const char *path)
{
	char *copy = strdup(path), *save = NULL;
	struct node *n = &snap->nodes[0];

	for (char *part = strtok_r(copy, "/", &save); part && n; part = strtok_r(NULL, "/", &save))
		n = n->kind == NODE_DIR ? snapshot_child(snap, n, part) : NULL;
	free(copy);
	return n;
}

static void test_a_build_on_a_base_is_a_build_from_nothing(void)
{
	struct snapshot *before, *shared, *fresh;
	struct node *transcript;
	struct world w;

	open_world(&w);
	before = snapshot_build_now(w.sync, NULL);
	CHECK(before && before->n_new == before->n_nodes);
	/* A size learnt in the base holds in what shares its record. */
	transcript = at_path(before, "conversations/2025-06-30/c1/transcript.txt");
	CHECK(transcript && snapshot_size(transcript) < 0);
	snapshot_learn_size(transcript, 1234);
	CHECK(store_replace_listing(w.store, STORE_MEMORIES, memories_later, 2, 2) == 1);
	CHECK(store_replace_listing(w.store, STORE_CONVERSATIONS, conversations_later, 3, 2) == 3);

	shared = snapshot_build_now(w.sync, before);
	fresh = snapshot_build_now(w.sync, NULL);
	CHECK(shared && fresh && shared->pool == before->pool && fresh->pool != before->pool);
	CHECK(shared->n_nodes == fresh->n_nodes);
	check_same_tree(fresh, &fresh->nodes[0], shared, &shared->nodes[0], 0);

	/* What stayed is the base's own record; what changed or came is not. */
	CHECK(at_path(shared, "conversations/2025-06-30/c1/transcript.txt") == transcript);
	CHECK(snapshot_size(at_path(shared, "conversations/2025-06-30/c1/transcript.txt")) == 1234);
	CHECK(at_path(shared, "memories/work/m2.txt") == at_path(before, "memories/work/m2.txt"));
	CHECK(at_path(shared, "conversations") == at_path(before, "conversations"));
	CHECK(at_path(shared, "vault/Daily/2025-07-02.md") != NULL);
	CHECK(at_path(shared, "memories/core/m1.txt") != at_path(before, "memories/core/m1.txt"));
	CHECK(at_path(shared, "conversations/2025-07-02/c4/summary.md") !=
	      at_path(before, "conversations/2025-07-02/c4/summary.md"));
	CHECK(at_path(shared, "conversations/2025-06-30/c3/summary.md") != NULL);
	CHECK(at_path(shared, "conversations/2025-07-01") == NULL);
	CHECK(at_path(before, "conversations/2025-07-01/c2/summary.md") != NULL);
	/* New: m1, c3's and c4's directories and files and notes, and the
	 * views those items are in. Nothing else. */
	CHECK(shared->n_new > 0 && shared->n_new < 30);

	/* A view nothing changed in is the base's (snapshot_share_tail). */
	CHECK(at_path(shared, "vault/Memories/work.md") == at_path(before, "vault/Memories/work.md"));
	CHECK(at_path(shared, "vault/Memories/core.md") != at_path(before, "vault/Memories/core.md"));

	/* The pool outlives the base, as long as a snapshot shares it. */
	snapshot_free(before);
	check_same_tree(fresh, &fresh->nodes[0], shared, &shared->nodes[0], 0);
	snapshot_free(shared);
	snapshot_free(fresh);
	close_world(&w);
}

/* Builds that share one after another leave nothing behind when nothing
 * changes, and what an edit leaves is bounded: a pool mostly unused is
 * not shared any more. */
static void test_refreshes_leave_the_pool_bounded(void)
{
	struct snapshot *snap, *next;
	size_t first, first_bytes, most = 0;
	int new_pools = 0;
	struct world w;

	open_world(&w);
	snap = snapshot_build_now(w.sync, NULL);
	first = snap->n_nodes;
	first_bytes = snapshot_bytes(snap);
	next = snapshot_build_now(w.sync, snap);
	CHECK(next && next->pool == snap->pool && next->n_new == 0);
	snapshot_free(snap);
	snap = next;
	for (int round = 0; round < 400; round++) {
		CHECK(store_replace_listing(w.store, STORE_MEMORIES,
					    round % 2 ? memories : memories_later, 2,
					    (uint64_t)round + 2) == 1);
		next = snapshot_build_now(w.sync, snap);
		CHECK(next && next->n_nodes == first);
		new_pools += next->pool != snap->pool;
		snapshot_free(snap);
		snap = next;
		if (snapshot_bytes(snap) > most)
			most = snapshot_bytes(snap);
	}
	/* Each edit leaves m1's old file, its id and the core category's old
	 * vault file behind: the pool was started again, and never held
	 * more than what snapshot_may_share lets it. */
	CHECK(new_pools > 0);
	CHECK(most < 2 * first_bytes + 1024 * sizeof(struct node) + 4096);
	snapshot_free(snap);
	close_world(&w);
}

/* The views' files a refresh finds unchanged take the base's records and
 * leave no slot in the pool's index behind: a thousand refreshes that
 * change nothing share one pool, whose index has room for an eighth more
 * records than the first build made (and 4,096), less than a thousand
 * refreshes' views. */
static void test_unchanged_refreshes_keep_one_pool(void)
{
	struct snapshot *snap, *next;
	int new_pools = 0;
	struct world w;

	open_world(&w);
	snap = snapshot_build_now(w.sync, NULL);
	for (int round = 0; round < 1000 && snap; round++) {
		next = snapshot_build_now(w.sync, snap);
		CHECK(next && next->n_new == 0);
		new_pools += next && next->pool != snap->pool;
		snapshot_free(snap);
		snap = next;
	}
	CHECK(new_pools == 0);
	snapshot_free(snap);
	close_world(&w);
}

/* What a reader of a snapshot looks for, and what it must find: its own
 * nodes, and nothing at the paths that only the builds after it add. */
struct reader {
	const struct snapshot *snap;
	uint64_t inos[128];
	const struct node *nodes[128];	/* NULL: a path it does not have */
	size_t n;
	atomic_bool stop;
	size_t rounds, misses;
};

/* Adds what snap holds below dir for r to look for, as r->snap holds it. */
static void collect(struct reader *r, const struct snapshot *snap, const struct node *dir)
{
	for (size_t i = 0; i < snapshot_n_children(snap, dir) && r->n < 128; i++) {
		const struct node *n = snapshot_child_at(snap, dir, i);
		uint64_t ino = snapshot_ino(snap, n);

		if (snap == r->snap || !snapshot_node(r->snap, ino)) {
			r->inos[r->n] = ino;
			r->nodes[r->n++] = snap == r->snap ? n : NULL;
		}
		if (n->kind == NODE_DIR)
			collect(r, snap, n);
	}
}

static void *read_all(void *ctx)
{
	struct reader *r = ctx;

	/* Bounded, should the builds never end. */
	while (!atomic_load(&r->stop) && r->rounds < 1000000) {
		for (size_t i = 0; i < r->n; i++)
			r->misses += snapshot_node(r->snap, r->inos[i]) != r->nodes[i];
		r->rounds++;
	}
	return NULL;
}

/* A snapshot's readers probe the pool's index while builds on it add
 * records and slots, at the very paths they look for when the snapshot
 * has none there: each node is found, and is the record it was, and
 * nothing is found where it has none. */
static void test_readers_find_their_nodes_while_a_build_adds(void)
{
	struct reader r = { .n = 0 };
	struct snapshot *before, *later, *snap, *next;
	size_t own;
	pthread_t thread;
	struct world w;

	open_world(&w);
	before = snapshot_build_now(w.sync, NULL);
	r.snap = before;
	collect(&r, before, &before->nodes[0]);
	own = r.n;
	CHECK(store_replace_listing(w.store, STORE_CONVERSATIONS, conversations_later, 3, 2) == 3);
	later = snapshot_build_now(w.sync, NULL);
	collect(&r, later, &later->nodes[0]);
	snapshot_free(later);
	CHECK(store_replace_listing(w.store, STORE_CONVERSATIONS, conversations, 3, 3) == 3);
	CHECK(own > 20 && r.n > own + 5);
	atomic_init(&r.stop, false);
	CHECK(pthread_create(&thread, NULL, read_all, &r) == 0);
	snap = before;
	for (int round = 0; round < 200; round++) {
		CHECK(store_replace_listing(w.store, STORE_CONVERSATIONS,
					    round % 2 ? conversations : conversations_later, 3,
					    (uint64_t)round + 4) == 3);
		next = snapshot_build_now(w.sync, snap);
		CHECK(next != NULL);
		if (snap != before)
			snapshot_free(snap);
		snap = next;
	}
	atomic_store(&r.stop, true);
	pthread_join(thread, NULL);
	CHECK(r.rounds > 0 && r.misses == 0);
	if (snap != before)
		snapshot_free(snap);
	snapshot_free(before);
	close_world(&w);
}

/* A .jsonl file read in any piece gives the bytes of the whole at that
 * place: lines are found from marks every SNAPSHOT_LINES_STEP lines. */
static void test_a_jsonl_reads_the_same_in_any_piece(void)
{
	enum { N = 3 * SNAPSHOT_LINES_STEP + 5 };
	struct store_item items[N];
	char ids[N][16], jsons[N][160];
	struct buf whole = BUF_INIT, piece = BUF_INIT;
	struct snapshot *snap;
	const struct node *jsonl;
	struct world w;

	open_world(&w);
	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "m%03d", i);
		/* Lines of uneven lengths. */
		snprintf(jsons[i], sizeof(jsons[i]),
			 "{\"id\":\"m%03d\",\"content\":\"%.*s\",\"category\":\"core\"}", i,
			 1 + (i * 37) % 90, "likes tea and coffee and long walks by the sea, "
					    "at dawn, at dusk and in between, most days of the year");
		items[i] = (struct store_item){ ids[i], jsons[i] };
		buf_printf(&whole, "%s\n", jsons[i]);
	}
	CHECK(store_replace_listing(w.store, STORE_MEMORIES, items, N, 2) == N + 2);
	snap = snapshot_build_now(w.sync, NULL);
	jsonl = at_path(snap, "memories.jsonl");
	CHECK(jsonl && snapshot_size(jsonl) == (int64_t)whole.len);
	for (size_t off = 0; jsonl && off <= whole.len; off += 97) {
		for (size_t size = 1; size < 9000; size = size * 3 + 1) {
			size_t want = off + size > whole.len ? whole.len - off : size;

			buf_reset(&piece);
			CHECK(snapshot_read_lines(snap, jsonl, w.sync, (off_t)off, size, &piece) == 0);
			CHECK(piece.len == want && memcmp(piece.data, whole.data + off, want) == 0);
		}
	}
	buf_free(&whole);
	buf_free(&piece);
	snapshot_free(snap);
	close_world(&w);
}

int main(void)
{
	RUN(test_a_jsonl_reads_the_same_in_any_piece);
	RUN(test_a_build_on_a_base_is_a_build_from_nothing);
	RUN(test_refreshes_leave_the_pool_bounded);
	RUN(test_unchanged_refreshes_keep_one_pool);
	RUN(test_readers_find_their_nodes_while_a_build_adds);
	return unit_failed_tests ? 1 : 0;
}
