/*
 * Unit tests of the tree below FUSE: a store in memory stands in for what
 * was fetched, and an offline sync never sends a request, so what is
 * tested is the tree's own promises (sizes equal bytes read, stable inode
 * numbers, exact invalidations after a refresh).
 */
#include "store.h"
#include "sync.h"
#include "tree.h"
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CONV(id, day, title) \
	"{\"id\":\"" id "\",\"created_at\":\"" day "T10:00:00Z\",\"started_at\":\"" day \
	"T10:00:00Z\",\"finished_at\":\"" day "T10:30:00Z\",\"structured\":{\"title\":\"" \
	title "\",\"overview\":\"o\",\"category\":\"work\",\"action_items\":[{\"description\":" \
	"\"call Sam\",\"completed\":false}],\"events\":[]}}"

#define MEMORY_M2 { "m2", "{\"id\":\"m2\",\"content\":\"a/b\",\"category\":\"a/b\"," \
		 "\"created_at\":\"2025-01-02T03:04:05Z\"}" }

static struct store_item memories[] = {
	{ "m1", "{\"id\":\"m1\",\"content\":\"likes tea\",\"category\":\"core\"}" },
	MEMORY_M2,
};
/* memories with m1's text made longer. */
static struct store_item m1_longer[] = {
	{ "m1", "{\"id\":\"m1\",\"content\":\"likes coffee now\",\"category\":\"core\"}" },
	MEMORY_M2,
};
static struct store_item action_items[] = {
	{ "a1", "{\"id\":\"a1\",\"description\":\"buy milk\",\"completed\":false}" },
	{ "a2", "{\"id\":\"a2\",\"description\":\"done it\",\"completed\":true,"
		"\"completed_at\":\"2025-01-03T00:00:00Z\"}" },
};
static struct store_item conversations[] = {
	{ "c1", CONV("c1", "2025-06-30", "Mortgage call") },
	{ "c2", CONV("c2", "2025-07-01", "Dentist") },
};

struct world {
	struct store *store;
	struct sync *sync;
	struct tree *tree;
};

/* Caches conversations[i]'s transcript in store. */
static void put_transcript(struct store *store, size_t i)
{
	struct buf full = BUF_INIT;

	buf_append(&full, conversations[i].json, strlen(conversations[i].json) - 1);
	buf_puts(&full, ",\"transcript_segments\":[{\"text\":\"hello there\","
		 "\"speaker_name\":\"Sam\",\"start\":1.5,\"end\":3}]}");
	CHECK(store_put_full_conversation(store, conversations[i].id, full.data) == 0);
	buf_free(&full);
}

/* A world whose store is the file at path (NULL: in memory), with the
 * transcripts of the first `transcripts` conversations cached. */
static void open_world_with(struct world *w, const char *path, size_t transcripts)
{
	struct sync_options opts = { .refresh_interval = 60, .full_refresh_interval = 60,
				     .page_size = 10, .transcript_batch = 1, .offline = true };
	struct tree_options owner = { .uid = 1000, .gid = 1000, .umask = 027 };
	char err[128];

	setenv("TZ", "UTC", 1);
	w->store = store_open(path, err, sizeof(err));
	CHECK(store_replace_listing(w->store, STORE_MEMORIES, memories, 2, 1) == 2);
	CHECK(store_replace_listing(w->store, STORE_ACTION_ITEMS, action_items, 2, 1) == 2);
	CHECK(store_replace_listing(w->store, STORE_CONVERSATIONS, conversations, 2, 1) == 2);
	for (size_t i = 0; i < transcripts; i++)
		put_transcript(w->store, i);
	w->sync = sync_new(NULL, w->store, &opts);
	w->tree = tree_new(w->sync, &owner);
}

static void open_world_at(struct world *w, const char *path)
{
	open_world_with(w, path, 2);
}

static void open_world(struct world *w)
{
	open_world_at(w, NULL);
}

static void close_world(struct world *w)
{
	tree_free(w->tree);
	sync_free(w->sync);
	store_close(w->store);
}

/* tree_read as fs.c makes it: the reply "sent", the tree is told. */
static int read_ino(struct tree *t, uint64_t ino, off_t off, size_t size, struct buf *out)
{
	int rc = tree_read(t, ino, 0, off, size, out);

	tree_read_done(t, ino);
	return rc;
}

/* The inode at a path such as "conversations/2025-06-30/c1/summary.md". */
static int walk(struct tree *t, const char *path, struct stat *st)
{
	char *copy = strdup(path), *save = NULL;
	uint64_t ino = TREE_ROOT_INO;
	int rc = tree_getattr(t, ino, 0, st, NULL);

	for (char *part = strtok_r(copy, "/", &save); part && rc == 0;
	     part = strtok_r(NULL, "/", &save)) {
		rc = tree_lookup(t, ino, part, 0, st, NULL);
		ino = st->st_ino;
	}
	free(copy);
	return rc;
}

struct names {
	char names[64][256];
	uint64_t inos[64];
	size_t n;
};

static int collect(void *ctx, const char *name, const struct stat *st, bool complete, off_t next)
{
	struct names *l = ctx;

	(void)complete;
	(void)next;
	if (l->n < 64) {
		snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
		l->inos[l->n++] = st->st_ino;
	}
	return 0;
}

/* Reads file ino in small pieces, as the kernel would in large ones. */
static void read_in_pieces(struct tree *t, uint64_t ino, struct buf *out)
{
	for (off_t off = 0;; off += 7) {
		size_t before = out->len;

		CHECK(read_ino(t, ino, off, 7, out) == 0);
		if (out->len - before < 7)
			break;
	}
}

/* Every file, wherever it is: stat's size is what reading gives, byte
 * for byte the same whether read at once or in pieces. */
static void check_files(struct tree *t, uint64_t dir, int depth, size_t *files)
{
	struct names l = { .n = 0 };

	CHECK(tree_readdir(t, dir, 0, collect, &l) == 0);
	CHECK(l.n >= 2 && strcmp(l.names[0], ".") == 0 && strcmp(l.names[1], "..") == 0);
	for (size_t i = 2; i < l.n && depth < 6; i++) {
		struct stat st;
		struct buf whole = BUF_INIT, pieces = BUF_INIT;

		CHECK(tree_lookup(t, dir, l.names[i], 0, &st, NULL) == 0);
		CHECK(st.st_ino == l.inos[i]);
		if (S_ISDIR(st.st_mode)) {
			CHECK((st.st_mode & 0777) == 0550);
			check_files(t, st.st_ino, depth + 1, files);
			continue;
		}
		CHECK(read_ino(t, st.st_ino, 0, 1 << 20, &whole) == 0);
		read_in_pieces(t, st.st_ino, &pieces);
		CHECK((off_t)whole.len == st.st_size);
		CHECK(pieces.len == whole.len &&
		      (whole.len == 0 || memcmp(pieces.data, whole.data, whole.len) == 0));
		CHECK(st.st_uid == 1000 && (st.st_mode & 0777) == 0440);
		buf_free(&whole);
		buf_free(&pieces);
		(*files)++;
	}
}

static void test_sizes_are_bytes_read(void)
{
	struct world w;
	size_t files = 0;

	open_world(&w);
	check_files(w.tree, TREE_ROOT_INO, 0, &files);
	/* 2 memories, 2 action items, 2 x 4 conversation files, status,
	 * status.json, metrics and changes; 3 .jsonl files; in vault/, 2
	 * notes, 2 days, 2 categories and Action items.md */
	CHECK(files == 26);
	close_world(&w);
}

static void test_layout_and_inodes(void)
{
	struct world w, again;
	struct stat st, st2;
	struct buf text = BUF_INIT;

	open_world(&w);
	CHECK(walk(w.tree, "memories/a%2Fb/m2.txt", &st) == 0);
	CHECK(st.st_mtime == 1735787045);
	CHECK(walk(w.tree, "action-items/done/a2.txt", &st) == 0);
	CHECK(walk(w.tree, "action-items/open/a2.txt", &st) == -ENOENT);
	CHECK(walk(w.tree, "conversations/2025-06-30/c1/transcript.txt", &st) == 0);
	CHECK(read_ino(w.tree, st.st_ino, 0, 4096, &text) == 0);
	CHECK(strstr(text.data, "Sam") && strstr(text.data, "hello there"));
	CHECK(walk(w.tree, "conversations/2025-06-30", &st) == 0);
	CHECK(st.st_nlink == 3 && st.st_mtime == 1751279400);
	CHECK(walk(w.tree, "conversations/2025-06-30/c1/summary.md/x", &st) == -ENOTDIR);
	CHECK(read_ino(w.tree, TREE_ROOT_INO, 0, 10, &text) == -EISDIR);
	CHECK(tree_getattr(w.tree, 12345, 0, &st, NULL) == -ENOENT);
	/* The same path has the same inode number in another tree. */
	open_world(&again);
	CHECK(walk(w.tree, "memories/core/m1.txt", &st) == 0);
	CHECK(walk(again.tree, "memories/core/m1.txt", &st2) == 0);
	CHECK(st.st_ino == st2.st_ino && st.st_ino != TREE_ROOT_INO);
	close_world(&again);
	buf_free(&text);
	close_world(&w);
}

/* The whole of the file at path, which must exist. */
static void read_path(struct tree *t, const char *path, struct buf *out)
{
	struct stat st;

	buf_reset(out);
	CHECK(walk(t, path, &st) == 0);
	CHECK(read_ino(t, st.st_ino, 0, 1 << 20, out) == 0);
	CHECK((off_t)out->len == st.st_size);
}

/* The value .omifs/metrics gives the metric called name (-1: none). */
static double metric(struct tree *t, const char *name)
{
	struct buf metrics = BUF_INIT, line = BUF_INIT;
	const char *at;
	double value = -1;

	read_path(t, ".omifs/metrics", &metrics);
	buf_printf(&line, "\n%s ", name);
	at = metrics.data ? strstr(metrics.data, line.data) : NULL;
	CHECK(at != NULL);
	if (at)
		value = strtod(at + line.len, NULL);
	buf_free(&line);
	buf_free(&metrics);
	return value;
}

/* The size readdir tells of one entry, or -1 when it leaves it unknown. */
struct told {
	const char *name;
	off_t size;
};

static int tell_size(void *ctx, const char *name, const struct stat *st, bool complete,
		     off_t next)
{
	struct told *t = ctx;

	(void)next;
	if (strcmp(name, t->name) == 0)
		t->size = complete ? st->st_size : -1;
	return 0;
}

/* The note's size comes with the transcript's, from the same parse: a
 * backup of the id tree leaves the vault's sizes known. */
static void test_a_transcript_teaches_its_note_size(void)
{
	struct told told = { "2025-06-30 1000 Mortgage call.md", -2 };
	struct buf text = BUF_INIT;
	struct stat st;
	struct world w;

	open_world(&w);
	CHECK(walk(w.tree, "vault/Conversations", &st) == 0);
	CHECK(tree_readdir(w.tree, st.st_ino, 0, tell_size, &told) == 0 && told.size == -1);
	CHECK(walk(w.tree, "conversations/2025-06-30/c1/transcript.txt", &st) == 0);
	CHECK(walk(w.tree, "vault/Conversations", &st) == 0);
	CHECK(tree_readdir(w.tree, st.st_ino, 0, tell_size, &told) == 0);
	read_path(w.tree, "vault/Conversations/2025-06-30 1000 Mortgage call.md", &text);
	CHECK(told.size > 0 && (size_t)told.size == text.len);
	buf_free(&text);
	close_world(&w);
}

static void test_views(void)
{
	struct buf text = BUF_INIT, expected = BUF_INIT;
	struct world w;

	open_world(&w);
	read_path(w.tree, "memories.jsonl", &text);
	buf_printf(&expected, "%s\n%s\n", memories[0].json, memories[1].json);
	CHECK(text.len == expected.len && memcmp(text.data, expected.data, text.len) == 0);
	read_path(w.tree, "vault/Conversations/2025-06-30 1000 Mortgage call.md", &text);
	CHECK(strstr(text.data, "---\nid: \"c1\"\ncreated: \"2025-06-30T10:00:00Z\"\n") == text.data);
	CHECK(strstr(text.data, "duration: 1800\n") && strstr(text.data, "speakers: [\"Sam\"]\n"));
	CHECK(strstr(text.data, "\n## Transcript\n\n[00:00:01] Sam: hello there\n"));
	read_path(w.tree, "vault/Daily/2025-07-01.md", &text);
	CHECK(strcmp(text.data, "# 2025-07-01\n\n## Conversations\n\n"
		     "- 10:00 [[2025-07-01 1000 Dentist|Dentist]]\n\n## Open action items\n\n"
		     "- [ ] call Sam · [[2025-07-01 1000 Dentist|Dentist]]\n") == 0);
	read_path(w.tree, "vault/Memories/a%2Fb.md", &text);
	CHECK(strcmp(text.data, "# a%2Fb\n\n- a/b\n") == 0);
	read_path(w.tree, "vault/Action items.md", &text);
	CHECK(strcmp(text.data, "# Action items\n\n## Open\n\n- [ ] buy milk\n\n## Done\n\n"
		     "- [x] done it\n") == 0);
	buf_free(&text);
	buf_free(&expected);
	close_world(&w);
}

/* What a refresh reported, as "inode" and "parent/name" records. */
struct reported {
	uint64_t inos[64], parents[64];
	char names[64][64];
	size_t n_inos, n_entries;
};

static void record(uint64_t ino, uint64_t parent, const char *name, void *ctx)
{
	struct reported *r = ctx;

	if (ino && r->n_inos < 64)
		r->inos[r->n_inos++] = ino;
	if (name && r->n_entries < 64) {
		r->parents[r->n_entries] = parent;
		snprintf(r->names[r->n_entries++], sizeof(r->names[0]), "%s", name);
	}
}

static bool has_ino(const struct reported *r, uint64_t ino)
{
	for (size_t i = 0; i < r->n_inos; i++)
		if (r->inos[i] == ino)
			return true;
	return false;
}

static bool has_entry(const struct reported *r, uint64_t parent, const char *name)
{
	for (size_t i = 0; i < r->n_entries; i++)
		if (r->parents[i] == parent && strcmp(r->names[i], name) == 0)
			return true;
	return false;
}

static void test_refresh_reports_exactly_what_changed(void)
{
	struct store_item new_items[] = { action_items[1] };
	struct store_item new_conversations[] = {
		{ "c3", CONV("c3", "2025-06-30", "New one") }, conversations[0], conversations[1],
	};
	struct stat m1, m2, a1, open_dir, day, c1, c2, top, absent;
	struct reported r = { .n_inos = 0 };
	struct world w;

	open_world(&w);
	CHECK(walk(w.tree, "memories/core/m1.txt", &m1) == 0);
	CHECK(walk(w.tree, "memories/a%2Fb/m2.txt", &m2) == 0);
	CHECK(walk(w.tree, "action-items/open/a1.txt", &a1) == 0);
	CHECK(walk(w.tree, "action-items/open", &open_dir) == 0);
	CHECK(walk(w.tree, "conversations/2025-06-30", &day) == 0);
	CHECK(walk(w.tree, "conversations/2025-07-01/c2", &c2) == 0);
	CHECK(walk(w.tree, "conversations/2025-06-30/c3", &absent) == -ENOENT);
	CHECK(store_replace_listing(w.store, STORE_MEMORIES, m1_longer, 2, 2) == 1);
	CHECK(store_replace_listing(w.store, STORE_ACTION_ITEMS, new_items, 1, 2) == 1);
	CHECK(store_replace_listing(w.store, STORE_CONVERSATIONS, new_conversations, 3, 2) == 1);
	/* Nothing moves before the refresh: the kernel's caches stay true. */
	CHECK(walk(w.tree, "action-items/open/a1.txt", &a1) == 0);
	tree_refresh(w.tree, record, &r);
	CHECK(has_ino(&r, m1.st_ino));
	CHECK(!has_ino(&r, m2.st_ino));
	CHECK(has_entry(&r, open_dir.st_ino, "a1.txt") && has_ino(&r, a1.st_ino));
	CHECK(has_ino(&r, open_dir.st_ino));
	CHECK(has_entry(&r, day.st_ino, "c3") && has_ino(&r, day.st_ino));
	CHECK(!has_ino(&r, c2.st_ino));
	CHECK(walk(w.tree, "action-items/open/a1.txt", &a1) == -ENOENT);
	CHECK(walk(w.tree, "conversations/2025-06-30/c3/summary.md", &absent) == 0);

	/* A conversation that goes takes its day along: every path below
	 * is told gone, in its own directory, and what stays is not told. */
	CHECK(walk(w.tree, "conversations", &top) == 0);
	CHECK(walk(w.tree, "conversations/2025-07-01", &day) == 0);
	CHECK(walk(w.tree, "conversations/2025-07-01/c2", &c2) == 0);
	CHECK(walk(w.tree, "conversations/2025-06-30/c1", &c1) == 0);
	CHECK(store_replace_listing(w.store, STORE_CONVERSATIONS, new_conversations, 2, 3) == 1);
	memset(&r, 0, sizeof(r));
	tree_refresh(w.tree, record, &r);
	CHECK(has_entry(&r, top.st_ino, "2025-07-01") && has_ino(&r, day.st_ino));
	CHECK(has_entry(&r, day.st_ino, "c2") && has_ino(&r, c2.st_ino));
	CHECK(has_entry(&r, c2.st_ino, "summary.md") && has_entry(&r, c2.st_ino, "transcript.txt"));
	CHECK(!has_ino(&r, c1.st_ino) && !has_ino(&r, m1.st_ino));
	CHECK(walk(w.tree, "conversations/2025-07-01", &day) == -ENOENT);
	close_world(&w);
}

/* What the refresher does: tree_refresh a moment after the store changed.
 * told is set once the kernel would have been told that ino changed. */
struct refresher {
	struct world *w;
	uint64_t ino;
	atomic_bool told;
};

static void tell_of(uint64_t ino, uint64_t parent, const char *name, void *ctx)
{
	struct refresher *r = ctx;

	(void)parent;
	(void)name;
	if (ino == r->ino)
		atomic_store(&r->told, true);
}

static void *refresh_soon(void *arg)
{
	struct refresher *r = arg;
	struct timespec moment = { 0, 200 * 1000 * 1000 };

	nanosleep(&moment, NULL);
	tree_refresh(r->w->tree, tell_of, r);
	return NULL;
}

/* Reads the whole of ino while a refresh that changed the store is on
 * its way, as fs.c would: the kernel is told of the change only once the
 * read's reply is out. */
static int read_while_refreshing(struct world *w, uint64_t ino, struct buf *out)
{
	struct refresher r = { .w = w, .ino = ino, .told = false };
	struct timespec moment = { 0, 300 * 1000 * 1000 };
	pthread_t refresher;
	int rc;

	buf_reset(out);
	CHECK(pthread_create(&refresher, NULL, refresh_soon, &r) == 0);
	rc = tree_read(w->tree, ino, 0, 0, 1 << 20, out);
	nanosleep(&moment, NULL);
	CHECK(!atomic_load(&r.told));
	tree_read_done(w->tree, ino);
	pthread_join(refresher, NULL);
	CHECK(atomic_load(&r.told));
	return rc;
}

/* A refresh changes the store a moment before it builds the snapshot
 * that shows it, and tells the kernel a moment after: a read gives the
 * bytes of the version whose size the kernel was given, never an error
 * nor other bytes cut or padded to that size. The kernel asks a changed
 * file's attributes again before its next read: from then on, the new
 * bytes. */
static void test_a_read_gives_the_version_whose_size_was_given(void)
{
	struct store_item shorter[] = { { "m1", "{\"id\":\"m1\",\"content\":\"tea\","
					  "\"category\":\"core\"}" } };
	struct buf text = BUF_INIT, expected = BUF_INIT;
	struct stat jsonl, m1, m2, st;
	struct world w;

	open_world(&w);
	CHECK(walk(w.tree, "memories.jsonl", &jsonl) == 0);
	CHECK(walk(w.tree, "memories/core/m1.txt", &m1) == 0);
	CHECK(walk(w.tree, "memories/a%2Fb/m2.txt", &m2) == 0);

	CHECK(store_replace_listing(w.store, STORE_MEMORIES, m1_longer, 2, 2) == 1);
	/* Before the refresh, during it, and after it until asked again. */
	CHECK(read_while_refreshing(&w, jsonl.st_ino, &text) == 0);
	buf_printf(&expected, "%s\n%s\n", memories[0].json, memories[1].json);
	CHECK(text.len == expected.len && memcmp(text.data, expected.data, text.len) == 0);
	CHECK((off_t)text.len == jsonl.st_size);
	buf_reset(&text);
	CHECK(read_ino(w.tree, jsonl.st_ino, 0, 1 << 20, &text) == 0);
	CHECK(text.len == expected.len && memcmp(text.data, expected.data, text.len) == 0);
	/* Asked again: the new size and the new bytes. */
	CHECK(tree_getattr(w.tree, jsonl.st_ino, 0, &st, NULL) == 0);
	buf_reset(&text);
	buf_reset(&expected);
	CHECK(read_ino(w.tree, jsonl.st_ino, 0, 1 << 20, &text) == 0);
	buf_printf(&expected, "%s\n%s\n", m1_longer[0].json, m1_longer[1].json);
	CHECK(text.len == expected.len && memcmp(text.data, expected.data, text.len) == 0);
	CHECK((off_t)text.len == st.st_size);

	CHECK(walk(w.tree, "memories/core/m1.txt", &m1) == 0);
	CHECK(store_replace_listing(w.store, STORE_MEMORIES, shorter, 1, 3) == 2);
	buf_reset(&text);
	CHECK(read_while_refreshing(&w, m1.st_ino, &text) == 0);
	CHECK(strcmp(text.data, "likes coffee now\n") == 0);
	/* A lookup gives the attributes too. */
	CHECK(walk(w.tree, "memories/core/m1.txt", &st) == 0 && st.st_size == 4);
	buf_reset(&text);
	CHECK(read_ino(w.tree, m1.st_ino, 0, 1 << 20, &text) == 0);
	CHECK(strcmp(text.data, "tea\n") == 0);
	/* Gone with that refresh: an open file of it reads what it held, as
	 * a local file removed under its reader does; it is found no more. */
	buf_reset(&text);
	CHECK(read_ino(w.tree, m2.st_ino, 0, 1 << 20, &text) == 0);
	CHECK(strcmp(text.data, "a/b\n") == 0);
	CHECK(walk(w.tree, "memories/a%2Fb/m2.txt", &st) == -ENOENT);
	buf_free(&text);
	buf_free(&expected);
	close_world(&w);
}

/* What fs.c does when the refresher says the store changed. */
static void refresh_tree(void *ctx)
{
	struct world *w = ctx;

	tree_refresh(w->tree, tell_of, &(struct refresher){ .w = w, .ino = 0, .told = false });
}

/* The snapshot a refresh replaced goes a few seconds after the kernel
 * was told what changed, whether the kernel asked since or not: until
 * then a file it has not asked about reads its former bytes. */
static void test_the_former_snapshot_goes_soon_after_a_refresh(void)
{
	struct timespec moment = { 0, 200 * 1000 * 1000 };
	struct buf text = BUF_INIT;
	struct stat m1;
	struct world w;
	int waited = 0;

	open_world(&w);
	CHECK(walk(w.tree, "memories/core/m1.txt", &m1) == 0);
	CHECK(metric(w.tree, "omifs_snapshots") == 1);
	CHECK(store_replace_listing(w.store, STORE_MEMORIES, m1_longer, 2, 2) == 1);
	refresh_tree(&w);
	tree_settle(w.tree);
	CHECK(metric(w.tree, "omifs_snapshots") == 2);
	CHECK(read_ino(w.tree, m1.st_ino, 0, 4096, &text) == 0);
	CHECK(strcmp(text.data, "likes tea\n") == 0);
	/* Kept 3 s; bounded at 10. */
	while (metric(w.tree, "omifs_snapshots") == 2 && waited++ < 50) {
		nanosleep(&moment, NULL);
		tree_settle(w.tree);
	}
	CHECK(waited >= 14 && waited <= 20);
	CHECK(metric(w.tree, "omifs_snapshots") == 1);
	buf_reset(&text);
	CHECK(read_ino(w.tree, m1.st_ino, 0, 4096, &text) == 0);
	CHECK(strcmp(text.data, "likes coffee now\n") == 0);
	buf_free(&text);
	close_world(&w);
}

/* A world on a cache file that a second store, another omifs (a sync
 * beside a mount), has open too. */
struct shared {
	char path[64];
	struct store *other;
};

static void open_shared_world(struct world *w, struct shared *sh, size_t transcripts)
{
	char err[128];
	int fd;

	snprintf(sh->path, sizeof(sh->path), "/tmp/omifs-tree-test-XXXXXX");
	fd = mkstemp(sh->path);
	CHECK(fd >= 0);
	close(fd);
	open_world_with(w, sh->path, transcripts);
	sh->other = store_open(sh->path, err, sizeof(err));
	CHECK(sh->other != NULL);
}

static void close_shared_world(struct world *w, struct shared *sh)
{
	char wal[80];

	store_close(sh->other);
	close_world(w);
	snprintf(wal, sizeof(wal), "%s-wal", sh->path);
	unlink(wal);
	snprintf(wal, sizeof(wal), "%s-shm", sh->path);
	unlink(wal);
	unlink(sh->path);
}

/* Another omifs writing the same cache changes the store with no refresh
 * of this mount's on the way: reads give the version shown until the
 * refresher, which looks every 2 s, shows the change. */
static void test_a_store_changed_elsewhere_is_shown(void)
{
	struct timespec moment = { 0, 100 * 1000 * 1000 };
	struct buf text = BUF_INIT;
	struct shared sh;
	struct stat m1;
	struct world w;

	open_shared_world(&w, &sh, 2);
	CHECK(sync_start(w.sync, refresh_tree, NULL, &w) == 0);
	CHECK(walk(w.tree, "memories/core/m1.txt", &m1) == 0);
	CHECK(store_replace_listing(sh.other, STORE_MEMORIES, m1_longer, 2, 2) == 1);
	CHECK(read_ino(w.tree, m1.st_ino, 0, 1 << 20, &text) == 0);
	CHECK(strcmp(text.data, "likes tea\n") == 0);
	/* As the kernel does after the refresh's invalidation: asks the
	 * attributes, then reads. */
	for (int i = 0; i < 100 && strcmp(text.data, "likes coffee now\n") != 0; i++) {
		nanosleep(&moment, NULL);
		buf_reset(&text);
		CHECK(walk(w.tree, "memories/core/m1.txt", &m1) == 0);
		CHECK(read_ino(w.tree, m1.st_ino, 0, 1 << 20, &text) == 0);
	}
	CHECK(strcmp(text.data, "likes coffee now\n") == 0);
	sync_stop(w.sync);
	close_shared_world(&w, &sh);
	buf_free(&text);
}

static void ignore_change(uint64_t ino, uint64_t parent, const char *name, void *ctx)
{
	(void)ino;
	(void)parent;
	(void)name;
	(void)ctx;
}

/* The mtime of path: a file whose bytes are learnt at its first stat is
 * dated then. */
static time_t mtime_of(struct tree *t, const char *path)
{
	struct stat st;

	CHECK(walk(t, path, &st) == 0);
	return st.st_mtime;
}

/* A file's mtime moves whenever its bytes do, even when its size does
 * not, and never otherwise: files of one item and files of several, in
 * this mount and the next. */
static void test_mtime_moves_with_the_bytes(void)
{
	static const char *const paths[] = {
		"memories/core/m1.txt", "memories/a%2Fb/m2.txt", "memories.jsonl",
		"vault/Memories/core.md", "vault/Memories/a%2Fb.md",
		"conversations/2025-06-30/c1/summary.md", "conversations/2025-06-30/c1/transcript.txt",
		"vault/Daily/2025-06-30.md", "action-items.jsonl",
	};
	enum { M1, M2, JSONL, CORE, AB, SUMMARY, TRANSCRIPT, DAY, ITEMS, N };
	struct store_item same_size[] = {
		{ "m1", "{\"id\":\"m1\",\"content\":\"likes tee\",\"category\":\"core\"}" },
		memories[1],
	};
	struct store_item retitled[] = {
		{ "c1", CONV("c1", "2025-06-30", "Mortgage cell") }, conversations[1],
	};
	time_t before[N], after[N], now;
	struct shared sh;
	struct world w;

	open_shared_world(&w, &sh, 2);
	for (int i = 0; i < N; i++)
		before[i] = mtime_of(w.tree, paths[i]);
	CHECK(before[M1] == 1);	/* no timestamp: when first listed */
	CHECK(before[SUMMARY] == 1751279400);	/* finished_at */
	now = time(NULL);
	CHECK(store_replace_listing(w.store, STORE_MEMORIES, same_size, 2, 2) == 1);
	CHECK(store_replace_listing(w.store, STORE_CONVERSATIONS, retitled, 2, 2) == 1);
	put_transcript(w.store, 0);	/* fetched again for the new version */
	tree_refresh(w.tree, ignore_change, NULL);
	for (int i = 0; i < N; i++)
		after[i] = mtime_of(w.tree, paths[i]);
	CHECK(after[M1] >= now && after[JSONL] >= now && after[CORE] >= now);
	CHECK(after[SUMMARY] >= now && after[DAY] >= now);
	CHECK(after[M2] == before[M2] && after[AB] == before[AB] && after[ITEMS] == before[ITEMS]);
	/* The transcript's bytes did not move with the title. */
	CHECK(after[TRANSCRIPT] == before[TRANSCRIPT]);
	/* A refresh that changes nothing moves nothing; nor does a new mount. */
	tree_refresh(w.tree, ignore_change, NULL);
	for (int i = 0; i < N; i++)
		CHECK(mtime_of(w.tree, paths[i]) == after[i]);
	tree_free(w.tree);
	sync_free(w.sync);
	{
		struct sync_options opts = { .refresh_interval = 60, .full_refresh_interval = 60,
					     .page_size = 10, .transcript_batch = 1, .offline = true };
		struct tree_options owner = { .uid = 1000, .gid = 1000, .umask = 027 };

		w.sync = sync_new(NULL, w.store, &opts);
		w.tree = tree_new(w.sync, &owner);
	}
	for (int i = 0; i < N; i++)
		CHECK(mtime_of(w.tree, paths[i]) == after[i]);
	close_shared_world(&w, &sh);
}

static double seconds_since(const struct timespec *then)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - then->tv_sec) + (now.tv_nsec - then->tv_nsec) / 1e9;
}

/* Whether two stats of an .omifs file show one version: its changes move
 * the mtime's nanoseconds. */
static bool same_version(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Ten reads of a file: the metrics' read histogram changes. */
static void grow_the_metrics(struct world *w)
{
	struct buf scratch = BUF_INIT;
	struct stat data;

	CHECK(walk(w->tree, "memories/core/m1.txt", &data) == 0);
	for (int i = 0; i < 10; i++) {
		buf_reset(&scratch);
		CHECK(read_ino(w->tree, data.st_ino, 0, 4096, &scratch) == 0);
	}
	buf_free(&scratch);
}

/* An .omifs file is made afresh at every open, but a reader that reads on
 * soon after (cat reads once more at the end) is shown the version it was
 * reading, even on a busy machine; another reader, or the same one
 * opening it again or once its version is a second old, a new one. A
 * reader in the middle of the file keeps its version while it reads on. */
static void test_a_reader_reads_one_status_version_to_its_end(void)
{
	struct buf text = BUF_INIT;
	struct stat st, again, meta;
	struct timespec made;
	struct world w;
	uint64_t metrics;

	open_world(&w);
	CHECK(walk(w.tree, ".omifs", &meta) == 0);
	CHECK(walk(w.tree, ".omifs/metrics", &st) == 0);
	metrics = st.st_ino;
	clock_gettime(CLOCK_MONOTONIC, &made);
	CHECK(tree_getattr(w.tree, metrics, 42, &st, NULL) == 0);
	CHECK(tree_read(w.tree, metrics, 42, 0, 1 << 20, &text) == 0);
	tree_read_done(w.tree, metrics);
	CHECK((off_t)text.len == st.st_size);
	grow_the_metrics(&w);
	CHECK(tree_getattr(w.tree, metrics, 43, &again, NULL) == 0);
	CHECK(!same_version(&again, &st));
	/* cat's last stat, late: 0.3 s after its read. */
	usleep(300 * 1000);
	CHECK(tree_getattr(w.tree, metrics, 42, &again, NULL) == 0);
	CHECK(same_version(&again, &st) || seconds_since(&made) >= 1);
	/* Opened again (looked up by name): a new version, read whole. */
	clock_gettime(CLOCK_MONOTONIC, &made);
	CHECK(tree_lookup(w.tree, meta.st_ino, "metrics", 42, &again, NULL) == 0);
	CHECK(!same_version(&again, &st));
	st = again;
	buf_reset(&text);
	CHECK(tree_read(w.tree, metrics, 42, 0, 1 << 20, &text) == 0);
	tree_read_done(w.tree, metrics);
	CHECK((off_t)text.len == st.st_size);
	/* Polled without opening: a new version once its own is a second old. */
	grow_the_metrics(&w);
	CHECK(tree_getattr(w.tree, metrics, 42, &again, NULL) == 0);
	CHECK(same_version(&again, &st) || seconds_since(&made) >= 1);
	usleep(1100 * 1000);
	CHECK(tree_getattr(w.tree, metrics, 42, &again, NULL) == 0);
	CHECK(!same_version(&again, &st));

	/* A reader in pieces, slower than a second in all. */
	clock_gettime(CLOCK_MONOTONIC, &made);
	CHECK(tree_getattr(w.tree, metrics, 44, &st, NULL) == 0);
	for (off_t off = 0; off < 40; off += 10) {
		struct timespec read_at;

		buf_reset(&text);
		clock_gettime(CLOCK_MONOTONIC, &read_at);
		CHECK(tree_read(w.tree, metrics, 44, off, 10, &text) == 0 && text.len == 10);
		tree_read_done(w.tree, metrics);
		grow_the_metrics(&w);
		usleep(400 * 1000);
		CHECK(tree_getattr(w.tree, metrics, 44, &again, NULL) == 0);
		CHECK(same_version(&again, &st) || seconds_since(&read_at) >= 1);
	}
	CHECK(seconds_since(&made) >= 1);
	buf_free(&text);
	close_world(&w);
}

/* Offline, a note whose transcript is not cached says so; when another
 * omifs caches the transcript (no listing changes, nothing to refresh),
 * the note reads whole, with the size its stat tells: never EIO. */
static void test_a_note_without_its_transcript_follows_it(void)
{
	const char *note = "vault/Conversations/2025-06-30 1000 Mortgage call.md";
	struct buf text = BUF_INIT;
	struct shared sh;
	struct stat st;
	struct world w;

	open_shared_world(&w, &sh, 0);
	read_path(w.tree, note, &text);
	CHECK(strstr(text.data, "not cached") && !strstr(text.data, "hello there"));
	put_transcript(sh.other, 0);
	read_path(w.tree, note, &text);
	CHECK(strstr(text.data, "hello there") && !strstr(text.data, "not cached"));
	CHECK(walk(w.tree, note, &st) == 0 && (size_t)st.st_size == text.len);
	close_shared_world(&w, &sh);
	buf_free(&text);
}

static void test_unlisted_collection_is_an_error_not_empty(void)
{
	struct sync_options opts = { .refresh_interval = 60, .full_refresh_interval = 60,
				     .page_size = 10, .transcript_batch = 1, .offline = true };
	struct tree_options owner = { .uid = 0, .gid = 0, .umask = 0 };
	char err[128];
	struct store *store = store_open(NULL, err, sizeof(err));
	struct sync *s = sync_new(NULL, store, &opts);
	struct tree *t = tree_new(s, &owner);
	struct names l = { .n = 0 };
	struct stat st;

	CHECK(walk(t, "memories", &st) == 0);
	CHECK(tree_readdir(t, st.st_ino, 0, collect, &l) < 0);
	CHECK(walk(t, "memories/core", &st) < 0 && walk(t, "memories/core", &st) != -ENOENT);
	tree_free(t);
	sync_free(s);
	store_close(store);
}

/* omifs_snapshot_bytes of a tree of n memories whose ids are id_len
 * bytes long, as .omifs/metrics says it. */
static double snapshot_bytes_with_ids(size_t n, size_t id_len)
{
	struct sync_options opts = { .refresh_interval = 60, .full_refresh_interval = 60,
				     .page_size = 10, .transcript_batch = 1, .offline = true };
	struct tree_options owner = { .uid = 0, .gid = 0, .umask = 0 };
	struct store_item *items = calloc(n, sizeof(*items));
	char err[128], **ids = calloc(n, sizeof(*ids)), **jsons = calloc(n, sizeof(*jsons));
	struct store *store = store_open(NULL, err, sizeof(err));
	struct sync *s;
	struct tree *t;
	double bytes;

	for (size_t i = 0; i < n; i++) {
		ids[i] = malloc(id_len + 1);
		snprintf(ids[i], id_len + 1, "%04zu%0*d", i, (int)(id_len - 4), 0);
		jsons[i] = malloc(id_len + 64);
		snprintf(jsons[i], id_len + 64, "{\"id\":\"%s\",\"content\":\"x\",\"category\":\"core\"}",
			 ids[i]);
		items[i] = (struct store_item){ ids[i], jsons[i] };
	}
	CHECK(store_replace_listing(store, STORE_MEMORIES, items, n, 1) == (int)n);
	s = sync_new(NULL, store, &opts);
	t = tree_new(s, &owner);
	bytes = metric(t, "omifs_snapshot_bytes");
	tree_free(t);
	sync_free(s);
	store_close(store);
	for (size_t i = 0; i < n; i++) {
		free(ids[i]);
		free(jsons[i]);
	}
	free(ids);
	free(jsons);
	free(items);
	return bytes;
}

/* A memory's file is named after its id: the snapshot keeps the id's
 * bytes once, not again as the name (ids 200 bytes longer cost about 200
 * bytes a memory more, not 400). */
static void test_a_name_that_is_the_id_is_not_kept_twice(void)
{
	double longer = snapshot_bytes_with_ids(100, 220) - snapshot_bytes_with_ids(100, 20);

	CHECK(longer >= 100 * 200 && longer < 100 * 200 * 1.25);
}

int main(void)
{
	RUN(test_sizes_are_bytes_read);
	RUN(test_layout_and_inodes);
	RUN(test_views);
	RUN(test_a_transcript_teaches_its_note_size);
	RUN(test_refresh_reports_exactly_what_changed);
	RUN(test_a_read_gives_the_version_whose_size_was_given);
	RUN(test_the_former_snapshot_goes_soon_after_a_refresh);
	RUN(test_a_store_changed_elsewhere_is_shown);
	RUN(test_mtime_moves_with_the_bytes);
	RUN(test_a_note_without_its_transcript_follows_it);
	RUN(test_unlisted_collection_is_an_error_not_empty);
	RUN(test_a_reader_reads_one_status_version_to_its_end);
	RUN(test_a_name_that_is_the_id_is_not_kept_twice);
	return UNIT_RESULT();
}
