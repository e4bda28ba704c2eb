/*
 * fs: the fuse_lowlevel_ops table and the mount's life cycle. Thin glue:
 * inode numbers go to tree, bytes come from tree_read, errors are -errno
 * (replies carry errno). The layers below are built in the init handler (after libfuse has
 * daemonized, so no thread or SQLite connection crosses a fork), stopped
 * when the session loop ends and freed after libfuse is done.
 */
#ifndef OMIFS_FS_H
#define OMIFS_FS_H

#include "config.h"
#include "core.h"
#include "tree.h"

#include <fuse_lowlevel.h>
#include <stdatomic.h>
#include <stdbool.h>

/* The private_data of the mount: config is borrowed; the rest is fs's. */
struct fs_context {
	const struct omifs_config *config;
	struct fuse_session *session;
	struct tree_options owner;	/* from -o uid=, gid=, umask= */
	bool no_open, no_opendir;	/* the kernel can skip open/opendir */
	atomic_bool stopping;	/* the session loop has ended */
	struct core *core;	/* api, store and sync */
	struct tree *tree;
};

/* Mounts at the mountpoint in args (libfuse's command line, which it
 * consumes), serves until unmounted or sent SIGTERM/SIGINT, and tears
 * everything down. Returns 0 after a normal end, -1 when mounting failed
 * (libfuse has said why on stderr), -2 when the session failed (logged). */
int fs_run(struct fuse_args *args, struct fs_context *ctx);

#endif
