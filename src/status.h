/*
 * status: what a mount says of itself in .omifs/: status (for people),
 * status.json (for programs) and metrics (for Prometheus).
 *
 * The figures are gathered from those who know them (sync, api, budget,
 * the tree's snapshot and its reads) into one plain struct, which this
 * module renders three ways, deterministically: the same struct gives
 * the same bytes. Strings in the struct are its own or point into
 * constant tables.
 */
#ifndef OMIFS_STATUS_H
#define OMIFS_STATUS_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define STATUS_COLLECTIONS 4	/* the collections, in collections' order */
#define STATUS_POLICIES 8
#define STATUS_ODD_SAMPLE 3
#define STATUS_ODD_ID_BYTES 40	/* of an id shown; longer ones are cut, "..." */

struct status_collection {
	const char *name;	/* its directory */
	time_t listed_at;	/* of its last complete listing; 0: never */
	bool not_served;	/* the server said it has no such collection (404) */
	size_t count;
	int refresh_error;	/* -errno of a failed last refresh, or 0 */
	size_t skipped;		/* items without a usable id */
	size_t pending;		/* missing from one complete listing: deleted if the next agrees */
	size_t held;		/* deletions two listings agree on, held back */
	char held_why[160];	/* why they are held, when they are */
	size_t locked;		/* items the server sends cut, whose full text is kept */
	size_t so_far;		/* items of an unfinished listing, to be continued */
	time_t continues_at;	/* when it goes on (so_far > 0) */
	const char *paced_by;	/* the budget policy it waits for, or NULL */
	long full_period;	/* seconds between full listings, when the budget
				 * stretches them past the refresh interval; 0 */
	const char *period_policy; /* ... the policy that does */
	double listing_seconds;	/* the last complete listing took (its last
				 * part, when the budget spread it); -1: none */
};

/* Requests of one kind sent, for the metrics. */
#define STATUS_REQUEST_KINDS 48	/* kinds past these are counted only in requests */
struct status_request_kind {
	const char *route;	/* the path, ids as "{id}": "/user/conversations/{id}";
				 * "other" for paths outside the collections */
	const char *policy;	/* the hourly budget policy it counts against
				 * (budget_policy_of) */
	long http_status;	/* 0: no answer (a network failure, a timeout) */
	unsigned long count;
};

/* How long FUSE reads took to serve: counts[i] took at most
 * status_read_bounds[i] seconds and more than the bound before;
 * counts[STATUS_READ_BUCKETS] took longer than every bound. */
#define STATUS_READ_BUCKETS 8
extern const double status_read_bounds[STATUS_READ_BUCKETS];
struct status_reads {
	unsigned long long counts[STATUS_READ_BUCKETS + 1];
	double seconds;		/* all of them together */
};

/* One client-side budget policy in force. */
struct status_policy {
	const char *name;
	int used, limit;
	double window;		/* seconds */
	double wait;		/* until the next request, when spent */
};

/* Items whose fields omifs could not read as documented. */
struct status_odd {
	size_t count;
	char sample[STATUS_ODD_SAMPLE][STATUS_ODD_ID_BYTES + sizeof("...")];
};

struct status {
	struct status_collection collections[STATUS_COLLECTIONS];
	size_t transcripts, conversations;	/* cached, of listed */
	bool conversations_complete;	/* conversations were listed completely once */
	long long cache_bytes;
	size_t snapshots;		/* pictures of the tree in memory */
	long long snapshot_bytes;	/* ... and what they hold */
	char search[160];		/* how much of the account search/ covers */
	bool offline;
	int refresh_interval, full_refresh_interval;
	unsigned long refreshes_asked, refreshes_done;	/* omifs refresh, SIGHUP */
	int refresh_error;		/* of the last one done: 0, or -errno */
	const char *refresh_failed;	/* ... and the collection it failed on */
	unsigned long requests, failures, retries, rate_limited;
	struct status_policy policies[STATUS_POLICIES];
	int n_policies;
	long server_remaining;		/* -1: unknown */
	time_t server_reset;		/* 0: unknown */
	int waiting;			/* requests waiting for the budget */
	time_t now, blocked_until;
	time_t last_error_at;		/* 0: none */
	char last_error[512];
	time_t cache_error_at;		/* 0: none */
	char cache_error[256];
	struct status_odd odd[STATUS_COLLECTIONS];
	long pid;			/* of the process serving the mount */
	const char *cache_path;		/* NULL: in memory */
	/* Transcripts: why the last fetch failed (0 once one succeeds) and
	 * until when reads fail at once rather than ask again. */
	int transcripts_error;
	char transcripts_why[512];
	time_t transcripts_retry_at;
	size_t transcripts_refused_alone; /* conversations whose own failed */
	struct status_request_kind by_kind[STATUS_REQUEST_KINDS];
	int n_by_kind;
	unsigned long long bytes_received;	/* response bodies, retries included */
	struct status_reads reads;
};

/* Copies id into out as one line of text: control bytes become '?', and
 * an id longer than STATUS_ODD_ID_BYTES is cut before a UTF-8 character
 * and ends with "...". Counts it in odd. */
void status_note_odd(struct status_odd *odd, const char *id);

/* .omifs/status: for people, a figure a line. */
void render_status(const struct status *st, struct buf *out);
/* .omifs/status.json: the same figures as one JSON object, with a final
 * newline; every key is documented in omifs.1 (STATUS). */
void render_status_json(const struct status *st, struct buf *out);
/* .omifs/metrics: the same in Prometheus' text exposition format 0.0.4. */
void render_metrics(const struct status *st, struct buf *out);

#endif
