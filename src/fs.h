/*
 * fs: the fuse_operations table and the mount's life cycle. Thin glue:
 * paths go to tree, bytes come from tree_read, errors are -errno. The
 * layers below are built in the init handler (after libfuse has
 * daemonized, so no thread or SQLite connection crosses a fork), stopped
 * when the session loop ends and freed after libfuse is done.
 */
#ifndef OMIFS_FS_H
#define OMIFS_FS_H

#include "config.h"
#include "core.h"

#include <fuse.h>
#include <stdatomic.h>
#include <stdbool.h>

/* TRANSITIONAL, until fs_init builds its layers with core_open (see
 * ARCHITECTURE.md, "One constructor"): the old names fs.c still calls.
 * Delete these two lines then. */
#define config_api_options core_api_options
#define config_sync_options core_sync_options

/* The private_data of the mount: config is borrowed; the rest is fs's. */
struct fs_context {
	const struct omifs_config *config;
	struct fuse *fuse;
	atomic_bool stopping;	/* the session loop has ended */
	struct api_client *api;
	struct store *store;
	struct sync *sync;
	struct tree *tree;
};

/* Mounts at the mountpoint in args (libfuse's command line, which it
 * consumes), serves until unmounted or sent SIGTERM/SIGINT, and tears
 * everything down. Returns 0 after a normal end, -1 when mounting failed
 * (libfuse has said why on stderr), -2 when the session failed (logged). */
int fs_run(struct fuse_args *args, struct fs_context *ctx);

#endif
