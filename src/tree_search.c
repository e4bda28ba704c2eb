/*
 * tree_search: search/'s entries (searchdir.h) as the tree shows them:
 * their stats, a lookup, a query's directory listed. A part of tree
 * (tree_state.h); calls tree_content.c for what every stat shares.
 */
#include "tree_state.h"

#include "searchdir.h"

#include <errno.h>

/* The stat of an entry below search/. */
void tree_search_stat(const struct tree *t, const struct searchdir_entry *e, struct stat *st)
{
	tree_owned_stat(t, e->ino, t->search_mtime, st);
	st->st_size = (off_t)e->size;
	st->st_nlink = e->kind == SEARCHDIR_QUERY ? 2 : 1;
	st->st_mode = e->kind == SEARCHDIR_QUERY ? S_IFDIR | (0555 & ~t->opts.umask)
		    : e->kind == SEARCHDIR_LINK ? S_IFLNK | 0777 : S_IFREG | (0444 & ~t->opts.umask);
	st->st_blocks = (blkcnt_t)((e->size + 511) / 512);
}

/* The entry name in search/ or in one of its queries. */
int tree_search_lookup(struct tree *t, uint64_t parent, const char *name, struct stat *st)
{
	struct searchdir_entry e;
	int rc = searchdir_lookup(t->search, parent, name, &e);

	if (rc == 0)
		tree_search_stat(t, &e, st);
	return rc;
}

struct search_fill {
	struct tree *t;
	tree_fill_fn fill;
	void *ctx;
};

static int fill_search_entry(void *ctx, const char *name, const struct searchdir_entry *e,
			     off_t next)
{
	struct search_fill *f = ctx;
	struct stat st;

	tree_search_stat(f->t, e, &st);
	return f->fill(f->ctx, name, &st, true, next);
}

/* A query's directory: its own entry, search/, then what searchdir has. */
int tree_search_readdir(struct tree *t, const struct searchdir_entry *self, off_t offset,
			tree_fill_fn fill, void *ctx)
{
	struct search_fill f = { t, fill, ctx };
	struct searchdir_entry up = { t->search_ino, SEARCHDIR_QUERY, 4096 };
	struct stat st;

	if (self->kind != SEARCHDIR_QUERY)
		return -ENOTDIR;
	tree_search_stat(t, self, &st);
	if (offset <= 0 && fill(ctx, ".", &st, true, 1) != 0)
		return 0;
	tree_search_stat(t, &up, &st);
	if (offset <= 1 && fill(ctx, "..", &st, false, 2) != 0)
		return 0;
	return searchdir_readdir(t->search, self->ino, offset, fill_search_entry, &f);
}
