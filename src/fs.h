/*
 * fs: the fuse_operations table. Thin glue: paths go to tree, bytes come
 * from tree_read, errors are -errno. The layers below are built in the
 * init handler (after libfuse has daemonized, so no thread or SQLite
 * connection crosses a fork) and torn down in destroy.
 */
#ifndef OMIFS_FS_H
#define OMIFS_FS_H

#include "config.h"

#include <fuse.h>

/* The private_data handed to fuse_main: config is borrowed. */
struct fs_context {
	const struct omifs_config *config;
	struct fuse *fuse;
	struct api_client *api;
	struct store *store;
	struct sync *sync;
	struct tree *tree;
};

extern const struct fuse_operations fs_operations;

#endif
