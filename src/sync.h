/*
 * sync: what to fetch and when.
 *
 * - Listings: each collection is listed completely (api_list) into the
 *   store when its last listing is older than the TTL. A failed listing
 *   changes nothing in the store: what was listed before is still served.
 *   Concurrent callers cause one listing (single flight per collection),
 *   and after a failure the next attempt waits a few seconds rather than
 *   hammering a server that is down.
 * - Transcripts: fetched on demand, never one request a file: the
 *   conversations around the wanted one in listing order (up to
 *   transcript_batch of them still lacking a transcript) are fetched by one
 *   date-range listing with include_transcript=true, paged as the server
 *   allows, and all kept in the store.
 *
 * Thread-safe. Functions return 0 or -errno: -EAGAIN when the request
 * budget is spent, -EACCES for a refused key, -EIO for other failures.
 */
#ifndef OMIFS_SYNC_H
#define OMIFS_SYNC_H

#include "api.h"
#include "buf.h"
#include "store.h"

#include <stdbool.h>

struct sync_options {
	int listing_ttl;	/* seconds a complete listing is served as fresh */
	int page_size;		/* limit asked for listings; servers clamp it */
	int transcript_batch;	/* conversations fetched together with a transcript */
	bool offline;		/* never send a request; serve the store */
};

struct sync;

/* api, store: borrowed, must outlive the sync. */
struct sync *sync_new(struct api_client *api, struct store *store, const struct sync_options *opts);
void sync_free(struct sync *s);

/* Lists every collection whose listing is stale. Returns 0, or the error of
 * the first collection that has never been listed and could not be now. */
int sync_refresh_stale(struct sync *s);

/* 0 when kind has a listing to serve, else the error that prevented it
 * (the last one seen), or -EIO when none was tried yet. */
int sync_kind_error(struct sync *s, enum store_kind kind);

/* Makes sure the store holds conversation id with its transcript. */
int sync_fetch_transcript(struct sync *s, const char *id);

/* Appends the sync state for .omifs/status: per collection, when it was
 * listed and how many items; transcripts cached; the API's counters. */
void sync_describe(struct sync *s, struct buf *out);

#endif
