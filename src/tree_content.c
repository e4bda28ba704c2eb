/*
 * tree_content: the bytes and attributes of the snapshot's nodes. A file
 * is rendered from the JSON of the version its snapshot names; its size
 * is learnt from its bytes the first time it is asked, for this snapshot
 * and later mounts. A part of tree (tree_state.h); calls tree_snapshots.c
 * (the former snapshot) and tree_status.c (the .omifs files).
 */
#include "tree_state.h"

#include "hash.h"
#include "kept.h"
#include "snapshot.h"

#include <errno.h>
#include <string.h>

/* The JSON n is rendered from, at the snapshot's version: 0, 1 when it
 * is another version's (sync_source_json), or -errno. */
static int source_json(struct tree *t, const struct snapshot *snap, const struct node *n,
		       char **json)
{
	bool full = n->kind == NODE_TRANSCRIPT || n->kind == NODE_CONV_JSON;

	return sync_source_json(t->sync, (enum store_kind)n->collection, snapshot_id(snap, n),
				snapshot_version(snap, n->id), full, json);
}

/* Renders n into out; status_nsec: see tree_render_status_file; note: see
 * snapshot_render; *partial (may be NULL): see snapshot_render_view.
 * Returns 0, 1 when the bytes are not the snapshot's version's (so no
 * size may be learnt from them), or -errno. */
int tree_render_node(struct tree *t, const struct snapshot *snap, const struct node *n,
		     pid_t reader, struct buf *out, long *status_nsec, struct buf *note,
		     bool *partial)
{
	bool ignored;
	char *json;
	int rc, other;

	if (n->kind == NODE_DIR)
		return -EISDIR;
	if (n->kind == NODE_STATUS) {
		tree_render_status_file(t, snap, (enum status_file)n->id, reader, out, status_nsec);
		return 0;
	}
	if (n->kind == NODE_JSONL)
		return -EIO;	/* sized by the build, read line by line */
	if (n->kind >= NODE_VAULT_NOTE)
		return snapshot_render_view(snap, n, t->sync, out, partial ? partial : &ignored);
	other = source_json(t, snap, n, &json);
	if (other < 0)
		return other;
	rc = snapshot_render(n, json, out, note);
	return rc < 0 ? rc : other;
}

/* What every stat of the mount shares: the owner, one time, blocks of 4 KiB. */
void tree_owned_stat(const struct tree *t, uint64_t ino, time_t mtime, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = t->opts.uid;
	st->st_gid = t->opts.gid;
	st->st_mtime = st->st_ctime = st->st_atime = mtime;
	st->st_blksize = 4096;
}

/* The stat of n (inode number ino) in snap, sized `size` when it is a
 * file. */
void tree_fill_stat(const struct tree *t, const struct snapshot *snap, uint64_t ino,
		    const struct node *n, int64_t size, struct stat *st)
{
	tree_owned_stat(t, ino, (time_t)snapshot_mtime(snap, n), st);
	if (n->kind == NODE_DIR) {
		st->st_mode = S_IFDIR | (0555 & ~t->opts.umask);
		st->st_nlink = (nlink_t)(2 + snapshot_n_subdirs(snap, n));
		st->st_size = 4096;
	} else {
		st->st_mode = S_IFREG | (0444 & ~t->opts.umask);
		st->st_nlink = 1;
		st->st_size = (off_t)size;
		st->st_blocks = (blkcnt_t)((size + 511) / 512);
	}
}

/* Learns n's size and date from its bytes, for this snapshot and for
 * later mounts. */
static void learn_file(struct tree *t, struct node *n, uint64_t ino, const struct buf *content)
{
	snapshot_learn_size(n, (int64_t)content->len);
	sync_remember_size(t->sync, ino, snapshot_kept_digest(n), (int64_t)content->len);
	snapshot_date_learnt(n, ino, t->sync, hash_bytes(content->data, content->len));
}

/* The vault note of transcript n when its size is still to learn. */
static struct node *note_to_learn(const struct snapshot *snap, const struct node *n)
{
	struct node *note = n->kind == NODE_TRANSCRIPT ? snapshot_note_of(snap, snapshot_id(snap, n))
						       : NULL;

	return note && snapshot_size(note) < 0 ? note : NULL;
}

/* The attributes of n (inode number ino), rendering it (and fetching
 * its transcript) when its size is not known yet. */
static int node_attributes(struct tree *t, const struct snapshot *snap, struct node *n,
			   uint64_t ino, pid_t reader, struct stat *st, bool *changing)
{
	struct buf content = BUF_INIT, note_text = BUF_INIT;
	struct node *note = note_to_learn(snap, n);
	long mtime_nsec = 0;
	int64_t size = snapshot_size(n);
	bool partial = false;
	int rc = 0;

	if (changing)
		*changing = n->kind == NODE_STATUS;
	if (n->kind != NODE_DIR && (size < 0 || n->kind == NODE_STATUS)) {
		rc = tree_render_node(t, snap, n, reader, &content, &mtime_nsec,
				      note ? &note_text : NULL, &partial);
		size = (int64_t)content.len;
		/* A note without its transcript grows when the transcript
		 * comes (a sync beside an offline mount): its size is asked
		 * again each time, never kept. Nor is a size from another
		 * version's transcript. */
		if (((rc == 0 && partial) || rc == 1) && changing)
			*changing = true;
		if (rc == 0 && n->kind != NODE_STATUS && !partial)
			learn_file(t, n, ino, &content);
		if (rc == 0 && note)
			learn_file(t, note, snapshot_ino(snap, note), &note_text);
		/* Learning the size was the costly part: the reads that
		 * follow a first stat get the same bytes. */
		if (rc == 0 && n->kind != NODE_STATUS && content.len > KEPT_ONE_READ)
			kept_put(t->kept, ino, n->digest, &content);
		buf_free(&content);
		buf_free(&note_text);
	}
	if (rc < 0)
		return rc;
	tree_fill_stat(t, snap, ino, n, size, st);
	if (n->kind == NODE_STATUS)
		st->st_mtim.tv_nsec = st->st_ctim.tv_nsec = mtime_nsec;
	return 0;
}

/*
 * The attributes the kernel is given of n, a node of the current snapshot
 * snap. A file the last refresh changed whose reads still answer from the
 * former snapshot gives the former attributes, not to be cached, while
 * one of those reads awaits its reply: the kernel copies up to the size
 * it holds when the reply comes, and the new size with the former bytes
 * would be padded with zeros. Otherwise n's, and from then on the file's
 * reads answer from the current snapshot. What no answer here can close:
 * a reply already sent whose copy the kernel makes after it takes these
 * attributes (omifs.1, CACHING AND REFRESH; test_parallel.size_race).
 */
int tree_kernel_attributes(struct tree *t, const struct snapshot *snap, struct node *n,
			   pid_t reader, struct stat *st, bool *changing)
{
	struct node *was;
	uint64_t ino = snapshot_ino(snap, n);	/* the same in the former: the same path */
	struct snapshot *former = tree_former_while_read(t, ino, &was);
	int rc;

	if (former) {
		rc = node_attributes(t, former, was, ino, reader, st, changing);
		if (changing)
			*changing = true;
		tree_release(t, former);
		return rc;
	}
	return node_attributes(t, snap, n, ino, reader, st, changing);
}

/*
 * Whether learning n's attributes would wait for the server: its
 * collection is not listed yet (a view at the top), or its transcript is
 * not fetched yet. A lookup must not wait: the kernel holds the
 * directory's lock through it (libfuse 3.14 does not pass
 * FUSE_PARALLEL_DIROPS on), so every other name there would wait too.
 */
bool tree_attributes_wait(struct tree *t, const struct snapshot *snap, const struct node *n)
{
	if (n->kind == NODE_DIR || n->kind == NODE_STATUS || snapshot_size(n) >= 0)
		return false;
	if (n->collection >= 0 && snap->kind_error[n->collection])
		return true;
	return (n->kind == NODE_TRANSCRIPT || n->kind == NODE_CONV_JSON ||
		n->kind == NODE_VAULT_NOTE) &&
	       sync_would_fetch_transcript(t->sync, snapshot_id(snap, n));
}
