/*
 * fs: FUSE handlers over the tree.
 *
 * The first read of an open file renders the whole file into a buffer
 * kept in fi->fh, so that reads are copies and every read of one open sees
 * the same bytes, the same ones whose length getattr reported.
 */
#include "fs.h"

#include "api.h"
#include "buf.h"
#include "log.h"
#include "store.h"
#include "sync.h"
#include "tree.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

static struct fs_context *context(void)
{
	return fuse_get_context()->private_data;
}

/* The one thing a signal handler needs; set once in init. */
static struct sync *refresh_on_hangup;

static void on_hangup(int sig)
{
	(void)sig;
	if (refresh_on_hangup)
		sync_request_refresh(refresh_on_hangup);
}

static void invalidate_path(const char *path, void *ctx)
{
	struct fs_context *fs = ctx;

	/* -ENOENT only means the kernel had not cached it. */
	fuse_invalidate_path(fs->fuse, path);
}

/* The refresher changed the store: tell the kernel what changed. */
static void store_changed(void *ctx)
{
	struct fs_context *fs = ctx;

	tree_refresh(fs->tree, invalidate_path, fs);
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fs_context *ctx = context();
	const struct omifs_config *c = ctx->config;
	struct api_options api_opts;
	struct sync_options sync_opts;
	struct api_error err;
	char store_err[256];

	(void)conn;
	config_api_options(c, &api_opts);
	config_sync_options(c, &sync_opts);
	cfg->use_ino = 1;
	cfg->readdir_ino = 1;
	cfg->entry_timeout = c->cache_ttl;
	cfg->attr_timeout = c->cache_ttl;
	cfg->negative_timeout = c->cache_ttl;
	/* Keep the page cache while size and mtime stay the same. */
	cfg->auto_cache = 1;

	ctx->fuse = fuse_get_context()->fuse;
	ctx->api = api_new(&api_opts, &err);
	ctx->store = store_open(c->cache_path, store_err, sizeof(store_err));
	if (!ctx->api || !ctx->store) {
		/* main checked both before mounting: this is not expected. */
		log_error("cannot start: %s", ctx->api ? store_err : err.message);
		exit(1);
	}
	ctx->sync = sync_new(ctx->api, ctx->store, &sync_opts);
	ctx->tree = tree_new(ctx->sync, ctx->store);
	if (sync_start(ctx->sync, store_changed, ctx) < 0)
		log_error("cannot start the refresher: listings will not be refreshed");
	/* libfuse makes SIGHUP unmount; here it means "refresh now". */
	refresh_on_hangup = ctx->sync;
	signal(SIGHUP, on_hangup);
	return ctx;
}

static void fs_destroy(void *private_data)
{
	struct fs_context *ctx = private_data;

	refresh_on_hangup = NULL;
	sync_free(ctx->sync);	/* stops the refresher, which uses the tree */
	tree_free(ctx->tree);
	store_close(ctx->store);
	api_free(ctx->api);
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	return tree_getattr(context()->tree, path, st);
}

struct fill_context {
	void *buf;
	fuse_fill_dir_t filler;
};

static int fill_entry(void *ctx, const char *name, const struct stat *st, bool complete)
{
	struct fill_context *f = ctx;

	/* Without FUSE_FILL_DIR_PLUS the kernel asks getattr when it needs to,
	 * so an ls or a find never fetches a transcript just to list it. */
	return f->filler(f->buf, name, st, 0, complete ? FUSE_FILL_DIR_PLUS : 0);
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t offset,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct fill_context f = { buf, filler };

	(void)offset;
	(void)fi;
	(void)flags;
	return tree_readdir(context()->tree, path, fill_entry, &f);
}

/* An open file: rendered at the first read, not at open, so that an open
 * whose reads the kernel serves from its page cache costs nothing. */
struct open_file {
	pthread_mutex_t lock;
	char *path;
	bool rendered;
	int error;		/* of the rendering, for every later read */
	struct buf content;
};

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct open_file *f;
	bool changing;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	rc = tree_open(context()->tree, path, &changing);
	if (rc < 0)
		return rc;
	f = xcalloc(1, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	f->path = xstrdup(path);
	fi->fh = (uint64_t)(uintptr_t)f;
	/* status changes by itself: its size cannot be trusted by the cache. */
	fi->direct_io = changing;
	return 0;
}

static int fs_read(const char *path, char *out, size_t size, off_t offset,
		   struct fuse_file_info *fi)
{
	struct open_file *f = (struct open_file *)(uintptr_t)fi->fh;
	bool changing;
	int rc;

	(void)path;
	pthread_mutex_lock(&f->lock);
	if (!f->rendered) {
		/* Every read of one open sees the same bytes. */
		f->error = tree_read(context()->tree, f->path, &f->content, &changing);
		f->rendered = true;
	}
	rc = f->error;
	if (rc == 0 && offset >= 0 && (size_t)offset < f->content.len) {
		if (size > f->content.len - (size_t)offset)
			size = f->content.len - (size_t)offset;
		memcpy(out, f->content.data + offset, size);
		rc = (int)size;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	struct open_file *f = (struct open_file *)(uintptr_t)fi->fh;

	(void)path;
	buf_free(&f->content);
	free(f->path);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

static int fs_opendir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	/* Listings change only through a refresh, which invalidates them. */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	return 0;
}

static int fs_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	memset(st, 0, sizeof(*st));
	st->f_bsize = 4096;
	st->f_frsize = 4096;
	st->f_namemax = 255;
	st->f_flag = ST_RDONLY | ST_NOSUID;
	return 0;
}

const struct fuse_operations fs_operations = {
	.init = fs_init,
	.destroy = fs_destroy,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.opendir = fs_opendir,
	.open = fs_open,
	.read = fs_read,
	.release = fs_release,
	.statfs = fs_statfs,
};
