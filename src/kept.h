/*
 * kept: renderings of files being read in several calls, kept so that a
 * 50 MB transcript is rendered once, not once per read call. A rendering
 * is dropped when its last byte has been read, or, the least recently
 * used first, when KEPT_RENDERINGS others are kept or the renderings kept
 * pass KEPT_BYTES together (the newest is always kept).
 *
 * A rendering is known by the file's inode number and the digest of what
 * it was rendered from, so a changed file never gets an old one.
 * Thread-safe.
 */
#ifndef OMIFS_KEPT_H
#define OMIFS_KEPT_H

#include "buf.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define KEPT_RENDERINGS 4
#define KEPT_BYTES (32u << 20)
#define KEPT_ONE_READ (128 * 1024)	/* the most FUSE reads in one call */

struct kept;

struct kept *kept_new(void);
void kept_free(struct kept *k);

/* Appends content[off, off + size) to out. Returns whether that reached
 * the end. */
bool kept_copy_part(const struct buf *content, off_t off, size_t size, struct buf *out);

/* Serves [off, off + size) of (ino, digest) from a kept rendering into
 * out; returns false when there is none. */
bool kept_read(struct kept *k, uint64_t ino, uint64_t digest, off_t off, size_t size,
	       struct buf *out);

/* Keeps content for the reads still to come, taking it over (content is
 * left empty). */
void kept_put(struct kept *k, uint64_t ino, uint64_t digest, struct buf *content);

#endif
