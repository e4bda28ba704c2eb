/*
 * fs: FUSE's low-level handlers over the tree, and the mount's life cycle.
 *
 * Why the low-level API: a warm `grep -r` must cost what it costs on a
 * local disk, so the kernel must answer from its caches. Here open and
 * opendir answer ENOSYS, after which the kernel sends neither (nor
 * release) and keeps pages and directory listings cached (no_open,
 * no_opendir); inode numbers are the tree's own, so no path is built per
 * request; and each reply says how long its attributes may be cached,
 * which lets .omifs/status alone be asked again every time. A refresh
 * then drops exactly what changed (tree_refresh's invalidations).
 *
 * Life cycle (fs_run), in this order and no other:
 *   1. mount, go to the background, install libfuse's signal handlers
 *   2. the session loop; its init handler builds api, store, sync, tree
 *      and starts the refresher, the one thread outside the loop that
 *      calls into libfuse (to invalidate changed paths)
 *   3. the loop returns (unmount, SIGTERM, SIGINT): SIGHUP, SIGINT and
 *      SIGTERM are ignored from here on, requests in flight are cancelled
 *      and the refresher is joined, so nothing calls into libfuse again
 *   4. unmount, then fuse_session_destroy, which calls the destroy
 *      handler, which frees our layers
 * fuse_main would do 4 straight after 2, with the refresher still
 * running: it once invalidated paths through freed nodes.
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
#include <libgen.h>
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

/* The tree numbers inodes for the kernel as they are: the roots agree. */
_Static_assert(TREE_ROOT_INO == FUSE_ROOT_ID, "the tree's root is the kernel's");

/* The one thing a signal handler needs: set in init, cleared (with the
 * handler gone) before the sync it points to is stopped. */
static struct sync *_Atomic refresh_on_hangup;

/* SIGHUP: refresh now; SIGUSR1: refresh now, deleting what is held back
 * (omifs refresh --accept-deletions). */
static void on_hangup(int sig)
{
	struct sync *s = atomic_load(&refresh_on_hangup);

	if (s && sig == SIGUSR1)
		sync_accept_deletions(s);
	else if (s)
		sync_request_refresh(s);
}

/* Whether the session loop is over or ending: requests in flight are
 * then abandoned (api's cancel check) and nothing is invalidated. */
static bool session_ending(void *ctx)
{
	struct fs_context *fs = ctx;

	return atomic_load(&fs->stopping) || fuse_session_exited(fs->session);
}

/* -ENOENT from the kernel only means it had not cached that. */
static void invalidate(uint64_t ino, uint64_t parent, const char *name, void *ctx)
{
	struct fs_context *fs = ctx;

	if (session_ending(fs))
		return;
	if (name)
		fuse_lowlevel_notify_inval_entry(fs->session, parent, name, strlen(name));
	if (ino)
		fuse_lowlevel_notify_inval_inode(fs->session, ino, 0, 0);
}

/* The refresher changed the store: tell the kernel what changed. */
static void store_changed(void *ctx)
{
	struct fs_context *fs = ctx;

	tree_refresh(fs->tree, invalidate, fs);
}

/* The refresher's beat: what only time lets go. */
static void settle_tree(void *ctx)
{
	struct fs_context *fs = ctx;

	tree_settle(fs->tree);
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

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs_context *ctx = userdata;
	const struct omifs_config *c = ctx->config;
	char err[512];

	/* Stale pages of a file whose mtime moved are dropped at its next
	 * read (what keeps .omifs/status fresh); listings come with
	 * attributes, so `ls -l` and `find` need no lookup per entry. */
	conn->want |= conn->capable & (FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_READDIRPLUS);
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	ctx->no_open = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) != 0;
	ctx->no_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
	ctx->core = core_open(c, c->offline, err, sizeof(err));
	if (!ctx->core) {
		/* main checked both before mounting: this is not expected. */
		log_error("cannot start: %s", err);
		exit(1);
	}
	api_set_cancel_check(ctx->core->api, session_ending, ctx);
	ctx->owner.cache_ttl = c->cache_ttl;
	ctx->owner.cache_path = c->no_disk_cache ? NULL : c->cache_path;
	ctx->tree = tree_new(ctx->core->sync, &ctx->owner);
	/* The kernel sends nothing else before init returns: the root is
	 * first listed knowing whether it holds goals/. */
	sync_ensure_optional_listed(ctx->core->sync);
	if (sync_start(ctx->core->sync, store_changed, settle_tree, ctx) < 0)
		log_error("cannot start the refresher: listings will not be refreshed");
	/* libfuse makes SIGHUP unmount; here it means "refresh now". */
	atomic_store(&refresh_on_hangup, ctx->core->sync);
	signal(SIGHUP, on_hangup);
	signal(SIGUSR1, on_hangup);
	notify_ready();
}

/* Step 3 of the life cycle: after it, no thread of ours calls libfuse. */
static void stop_background_work(struct fs_context *ctx)
{
	/* Teardown is short and bounded: a signal now must neither start a
	 * refresh nor kill the process before it has unmounted. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	atomic_store(&refresh_on_hangup, NULL);
	atomic_store(&ctx->stopping, true);
	if (ctx->core)
		sync_stop(ctx->core->sync);
}

/* Step 4, called by fuse_session_destroy once the session is over. */
static void fs_destroy(void *userdata)
{
	struct fs_context *ctx = userdata;

	tree_free(ctx->tree);
	core_close(ctx->core);
}

static struct fs_context *context(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* How long the kernel may keep what a reply says. */
static double cache_seconds(fuse_req_t req, bool changing)
{
	return changing ? 0 : context(req)->config->cache_ttl;
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e = { 0 };
	bool changing = false;
	int rc = tree_lookup(context(req)->tree, parent, name, fuse_req_ctx(req)->pid, &e.attr,
			     &changing);

	if (rc == -ENOENT) {
		/* Cached as absent; a refresh that adds it says so. */
		e.entry_timeout = cache_seconds(req, false);
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	e.ino = e.attr.st_ino;
	/* A changing file's name is looked up at every open, which gives an
	 * .omifs file's reader a new version (tree_lookup). */
	e.entry_timeout = cache_seconds(req, changing);
	e.attr_timeout = cache_seconds(req, changing);
	fuse_reply_entry(req, &e);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	bool changing = false;
	int rc = tree_getattr(context(req)->tree, ino, fuse_req_ctx(req)->pid, &st, &changing);

	(void)fi;
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, cache_seconds(req, changing));
}

/* A reply to readdir or readdirplus being filled. */
struct listing {
	fuse_req_t req;
	bool plus;
	char *buf;
	size_t size, used;
};

static int add_entry(void *ctx, const char *name, const struct stat *st, bool complete,
		     off_t next)
{
	struct listing *l = ctx;
	size_t room = l->size - l->used, len;

	if (l->plus) {
		/* An entry without its size (a transcript not fetched yet) is
		 * given without attributes, ino 0: the kernel then looks it up
		 * when it needs them, so a listing never fetches. "." and ".."
		 * are never linked. */
		struct fuse_entry_param e = { .attr = *st };
		bool linked = complete && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;

		if (linked) {
			e.ino = st->st_ino;
			e.entry_timeout = e.attr_timeout = cache_seconds(l->req, false);
		}
		len = fuse_add_direntry_plus(l->req, l->buf + l->used, room, name, &e, next);
	} else {
		len = fuse_add_direntry(l->req, l->buf + l->used, room, name, st, next);
	}
	if (len > room)
		return 1;
	l->used += len;
	return 0;
}

static void list_directory(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct listing l = { .req = req, .plus = plus, .size = size };
	int rc;

	l.buf = xcalloc(1, size ? size : 1);
	rc = tree_readdir(context(req)->tree, ino, off, add_entry, &l);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, l.buf, l.used);
	free(l.buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	list_directory(req, ino, size, off, false);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)fi;
	list_directory(req, ino, size, off, true);
}

/* ENOSYS tells the kernel to stop sending opens (and releases) and to
 * keep what it caches; a kernel that cannot do that gets a plain open. */
static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_context *ctx = context(req);
	bool changing;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	rc = tree_open(ctx->tree, ino, &changing);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
	} else if (ctx->no_open) {
		fuse_reply_err(req, ENOSYS);
	} else {
		fi->keep_cache = !changing;
		fi->direct_io = changing;
		fuse_reply_open(req, fi);
	}
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (context(req)->no_opendir) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	/* Listings change only through a refresh, which invalidates them;
	 * but the root gains goals/ when their first listing answers, which
	 * a reader's snapshot may show before that refresh reports it. */
	fi->cache_readdir = ino != FUSE_ROOT_ID;
	fi->keep_cache = ino != FUSE_ROOT_ID;
	fuse_reply_open(req, fi);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_context *fs = context(req);
	struct buf part = BUF_INIT;
	int rc = tree_read(fs->tree, ino, fuse_req_ctx(req)->pid, off, size, &part);

	(void)fi;
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, part.data, part.len);
	tree_read_done(fs->tree, ino);
	buf_free(&part);
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct buf target = BUF_INIT;
	int rc = tree_readlink(context(req)->tree, ino, &target);

	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, target.data);
	buf_free(&target);
}

/*
 * Extended attributes, served only with -o xattr: without getxattr and
 * listxattr the kernel learns at the first ask that there are none and
 * never asks again, while with them every `ls -l` asks each file for its
 * ACL and SELinux label, two uncached round trips a file.
 */
struct attribute_reply {
	const char *wanted;	/* getxattr: the one asked; listxattr: NULL */
	struct buf out;		/* its value, or every name with its NUL */
	bool found;
};

static int collect_attribute(const char *name, const char *value, void *ctx)
{
	struct attribute_reply *r = ctx;

	if (!r->wanted) {
		buf_append(&r->out, name, strlen(name) + 1);
		return 0;
	}
	if (strcmp(name, r->wanted) != 0)
		return 0;
	buf_puts(&r->out, value);
	r->found = true;
	return 1;
}

/* Replies with r's bytes as getxattr and listxattr do: their length when
 * size is 0, ERANGE when they do not fit. */
static void reply_attributes(fuse_req_t req, int rc, const struct attribute_reply *r, size_t size)
{
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (r->wanted && !r->found)
		fuse_reply_err(req, ENODATA);
	else if (size == 0)
		fuse_reply_xattr(req, r->out.len);
	else if (r->out.len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, r->out.data, r->out.len);
}

static void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct attribute_reply r = { .wanted = name, .out = BUF_INIT };
	int rc = tree_attributes(context(req)->tree, ino, collect_attribute, &r);

	reply_attributes(req, rc, &r, size);
	buf_free(&r.out);
}

static void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct attribute_reply r = { .out = BUF_INIT };
	int rc = tree_attributes(context(req)->tree, ino, collect_attribute, &r);

	reply_attributes(req, rc, &r, size);
	buf_free(&r.out);
}

/* df: the cache is what the mount uses, and it can grow into what is
 * free where it lives, so Used is the cache and Avail that free space:
 * never "100%", which read-only mounts that claim no space show. No
 * inode counts: omifs has no limit on them, and a count of items would
 * change under df -i as the first listings arrive. */
static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_context *ctx = context(req);
	const char *cache = ctx->config->no_disk_cache ? NULL : ctx->config->cache_path;
	long long bytes = cache ? store_size(ctx->core->store) : 0;
	struct statvfs st = { 0 }, disk;
	fsblkcnt_t free_blocks = 0;
	char *dir;

	(void)ino;
	if (cache && (dir = strdup(cache))) {
		if (statvfs(dirname(dir), &disk) == 0)
			free_blocks = (fsblkcnt_t)((long double)disk.f_bavail * disk.f_frsize / 4096);
		free(dir);
	}
	st.f_bsize = 4096;
	st.f_frsize = 4096;
	st.f_namemax = 255;
	st.f_flag = ST_RDONLY | ST_NOSUID;
	st.f_blocks = (bytes > 0 ? (fsblkcnt_t)((bytes + 4095) / 4096) : 0) + free_blocks;
	st.f_bfree = free_blocks;
	st.f_bavail = free_blocks;
	fuse_reply_statfs(req, &st);
}

static const struct fuse_lowlevel_ops fs_operations = {
	.init = fs_init,
	.destroy = fs_destroy,
	.lookup = fs_lookup,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.opendir = fs_opendir,
	.open = fs_open,
	.read = fs_read,
	.readlink = fs_readlink,
	.statfs = fs_statfs,
};

/* The owner options libfuse's high-level layer would have taken. */
struct owner_options {
	int uid_set, gid_set, umask_set;
	unsigned uid, gid, umask;
};

#define OWNER_OPT(t, field) { t, offsetof(struct owner_options, field), 0 }
static const struct fuse_opt owner_opts[] = {
	OWNER_OPT("uid=%u", uid), OWNER_OPT("uid=", uid_set),
	OWNER_OPT("gid=%u", gid), OWNER_OPT("gid=", gid_set),
	OWNER_OPT("umask=%o", umask), OWNER_OPT("umask=", umask_set),
	FUSE_OPT_END
};

static int parse_owner(struct fuse_args *args, struct tree_options *owner)
{
	struct owner_options o = { 0 };

	if (fuse_opt_parse(args, &o, owner_opts, NULL) != 0)
		return -1;
	owner->uid = o.uid_set ? (uid_t)o.uid : getuid();
	owner->gid = o.gid_set ? (gid_t)o.gid : getgid();
	owner->umask = o.umask_set ? (mode_t)(o.umask & 0777) : 0;
	return 0;
}

int fs_run(struct fuse_args *args, struct fs_context *ctx)
{
	struct fuse_cmdline_opts opts = { 0 };
	struct fuse_loop_config loop = { 0 };
	struct fuse_lowlevel_ops operations;
	struct fuse_session *se;
	int rc = -1;

	if (parse_owner(args, &ctx->owner) != 0 || fuse_parse_cmdline(args, &opts) != 0)
		return -1;
	operations = fs_operations;
	if (ctx->config->xattr) {
		operations.getxattr = fs_getxattr;
		operations.listxattr = fs_listxattr;
	}
	se = fuse_session_new(args, &operations, sizeof(operations), ctx);
	if (!se)
		goto out;
	ctx->session = se;
	if (fuse_session_mount(se, opts.mountpoint) != 0)
		goto destroy;
	if (fuse_daemonize(opts.foreground) != 0 || fuse_set_signal_handlers(se) != 0)
		goto unmount;
	loop.clone_fd = opts.clone_fd;
	loop.max_idle_threads = opts.max_idle_threads;
	/* 0 after an unmount, the signal's number after SIGTERM or SIGINT:
	 * both are a normal end. */
	rc = opts.singlethread ? fuse_session_loop(se) : fuse_session_loop_mt(se, &loop);
	if (rc < 0)
		log_error("the FUSE session failed: %s", strerror(-rc));
	rc = rc < 0 ? -2 : 0;
	stop_background_work(ctx);
	fuse_remove_signal_handlers(se);
unmount:
	fuse_session_unmount(se);
destroy:
	fuse_session_destroy(se);
out:
	free(opts.mountpoint);
	return rc;
}
