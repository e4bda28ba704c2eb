/*
 * fs: FUSE handlers over the tree, and the mount's life cycle.
 *
 * The first read of an open file renders the whole file into a buffer
 * kept in fi->fh, so that reads are copies and every read of one open sees
 * the same bytes, the same ones whose length getattr reported.
 *
 * Life cycle (fs_run), in this order and no other:
 *   1. mount, go to the background, install libfuse's signal handlers
 *   2. the session loop; its init handler builds api, store, sync, tree
 *      and starts the refresher, the one thread outside the loop that
 *      calls into libfuse (to invalidate changed paths)
 *   3. the loop returns (unmount, SIGTERM, SIGINT): SIGHUP, SIGINT and
 *      SIGTERM are ignored from here on, requests in flight are cancelled
 *      and the refresher is joined, so nothing calls into libfuse again
 *   4. unmount, then fuse_destroy, which frees libfuse's nodes and only
 *      then calls the destroy handler, which frees our layers
 * fuse_main would do 4 straight after 2, with the refresher still
 * running: it then invalidated paths through freed nodes.
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
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <unistd.h>

static struct fs_context *context(void)
{
	return fuse_get_context()->private_data;
}

/* The one thing a signal handler needs: set in init, cleared (with the
 * handler gone) before the sync it points to is stopped. */
static struct sync *_Atomic refresh_on_hangup;

static void on_hangup(int sig)
{
	struct sync *s = atomic_load(&refresh_on_hangup);

	(void)sig;
	if (s)
		sync_request_refresh(s);
}

/* Whether the session loop is over or ending: requests in flight are
 * then abandoned (api's cancel check) and nothing is invalidated. */
static bool session_ending(void *ctx)
{
	struct fs_context *fs = ctx;

	return atomic_load(&fs->stopping) || fuse_session_exited(fuse_get_session(fs->fuse));
}

static void invalidate_path(const char *path, void *ctx)
{
	struct fs_context *fs = ctx;

	if (session_ending(fs))
		return;
	/* -ENOENT only means the kernel had not cached it. */
	fuse_invalidate_path(fs->fuse, path);
}

/* The refresher changed the store: tell the kernel what changed. */
static void store_changed(void *ctx)
{
	struct fs_context *fs = ctx;

	tree_refresh(fs->tree, invalidate_path, fs);
}

/* systemd's readiness protocol (Type=notify): one datagram to
 * $NOTIFY_SOCKET, sent once the mount answers, which is after main's key
 * check. Without systemd there is no socket and nothing to do. */
static void notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(addr.sun_path))
		return;
	memcpy(addr.sun_path, path, strlen(path));
	if (path[0] == '@')
		addr.sun_path[0] = '\0';	/* an abstract socket */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&addr, len) < 0)
		log_warn("cannot tell systemd the mount is ready: %s", strerror(errno));
	close(fd);
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
	ctx->store = c->offline && c->cache_path
			     ? store_open_readonly(c->cache_path, store_err, sizeof(store_err))
			     : store_open(c->cache_path, store_err, sizeof(store_err));
	if (!ctx->api || !ctx->store) {
		/* main checked both before mounting: this is not expected. */
		log_error("cannot start: %s", ctx->api ? store_err : err.message);
		exit(1);
	}
	api_set_cancel_check(ctx->api, session_ending, ctx);
	if (c->first_memories_page)
		api_note_sent(ctx->api, "/user/memories");
	ctx->sync = sync_new(ctx->api, ctx->store, &sync_opts);
	ctx->tree = tree_new(ctx->sync, ctx->store);
	if (sync_start(ctx->sync, store_changed, ctx) < 0)
		log_error("cannot start the refresher: listings will not be refreshed");
	/* libfuse makes SIGHUP unmount; here it means "refresh now". */
	atomic_store(&refresh_on_hangup, ctx->sync);
	signal(SIGHUP, on_hangup);
	notify_ready();
	return ctx;
}

/* Step 3 of the life cycle: after it, no thread of ours calls libfuse. */
static void stop_background_work(struct fs_context *ctx)
{
	/* Teardown is short and bounded: a signal now must neither start a
	 * refresh nor kill the process before it has unmounted. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	atomic_store(&refresh_on_hangup, NULL);
	atomic_store(&ctx->stopping, true);
	sync_stop(ctx->sync);
}

/* Step 4, called by fuse_destroy once libfuse is done with the session. */
static void fs_destroy(void *private_data)
{
	struct fs_context *ctx = private_data;

	sync_free(ctx->sync);
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

/* df shows the cache as the space used and the items as the inodes, so
 * that `df -h` says something; nothing is ever free: the mount is
 * read-only. */
static int fs_statfs(const char *path, struct statvfs *st)
{
	struct fs_context *ctx = context();
	long long bytes = store_size(ctx->store);
	time_t listed_at;
	size_t count, items = 0;

	(void)path;
	memset(st, 0, sizeof(*st));
	st->f_bsize = 4096;
	st->f_frsize = 4096;
	st->f_namemax = 255;
	st->f_flag = ST_RDONLY | ST_NOSUID;
	st->f_blocks = bytes > 0 ? (fsblkcnt_t)((bytes + 4095) / 4096) : 0;
	for (int k = 0; k < STORE_KINDS; k++)
		if (store_listing_info(ctx->store, k, &listed_at, &count) == 0)
			items += count;
	st->f_files = items;
	return 0;
}

static const struct fuse_operations fs_operations = {
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

int fs_run(struct fuse_args *args, struct fs_context *ctx)
{
	struct fuse_cmdline_opts opts = { 0 };
	struct fuse_loop_config loop = { 0 };
	struct fuse_session *se;
	struct fuse *fuse;
	int rc = -1;

	if (fuse_parse_cmdline(args, &opts) != 0)
		return -1;
	fuse = fuse_new(args, &fs_operations, sizeof(fs_operations), ctx);
	if (!fuse)
		goto out;
	if (fuse_mount(fuse, opts.mountpoint) != 0)
		goto destroy;
	se = fuse_get_session(fuse);
	if (fuse_daemonize(opts.foreground) != 0 || fuse_set_signal_handlers(se) != 0)
		goto unmount;
	loop.clone_fd = opts.clone_fd;
	loop.max_idle_threads = opts.max_idle_threads;
	/* 0 after an unmount, the signal's number after SIGTERM or SIGINT:
	 * both are a normal end. */
	rc = opts.singlethread ? fuse_loop(fuse) : fuse_loop_mt(fuse, &loop);
	if (rc < 0)
		log_error("the FUSE session failed: %s", strerror(-rc));
	rc = rc < 0 ? -2 : 0;
	stop_background_work(ctx);
	fuse_remove_signal_handlers(se);
unmount:
	fuse_unmount(fuse);
destroy:
	fuse_destroy(fuse);
out:
	free(opts.mountpoint);
	return rc;
}
