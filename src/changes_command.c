/*
 * changes_command: prints the change log (store.h) through feed's lines.
 * Views are named from a snapshot of the cache built here, offline, as a
 * mount would build it; --follow builds one again for each new batch.
 */
#include "changes_command.h"

#include "core.h"
#include "feed.h"
#include "snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How often --follow looks for new changes: a refresh takes longer. */
#define FOLLOW_POLL_US 500000

struct printing {
	const struct snapshot *snap;
	enum feed_format format;
	int64_t last;
	struct buf line;
};

static int print_change(const struct store_change *c, void *ctx)
{
	struct printing *p = ctx;

	buf_reset(&p->line);
	feed_line(c, p->snap, p->format, &p->line);
	fwrite(p->line.data, 1, p->line.len, stdout);
	p->last = c->seq;
	return 0;
}

/* Prints the changes after p->last and since `since`, naming views from
 * a snapshot of the cache now. 0, or -errno (said). */
static int print_changes(struct core *core, struct printing *p, time_t since)
{
	struct snapshot *snap = snapshot_build_now(core->sync, NULL);
	int rc;

	if (!snap) {
		fprintf(stderr, "omifs changes: cannot read the cache\n");
		return -EIO;
	}
	p->snap = snap;
	rc = store_foreach_change(core->store, p->last, since, print_change, p);
	p->snap = NULL;
	snapshot_free(snap);
	if (rc < 0)
		fprintf(stderr, "omifs changes: cannot read the changes: %s\n", strerror(-rc));
	fflush(stdout);
	return rc;
}

int changes_command(const struct omifs_config *c)
{
	struct printing p = { .format = c->json ? FEED_JSON : FEED_TEXT, .line = BUF_INIT };
	time_t since = 0;
	struct core *core;
	char err[512];
	int64_t last;
	int rc;

	if (c->search_since && !feed_parse_since(c->search_since, time(NULL), &since)) {
		fprintf(stderr, "omifs changes: --since takes " FEED_SINCE_FORMS "\n");
		return CHANGES_TROUBLE;
	}
	core = core_open_cached(c, err, sizeof(err));
	if (!core) {
		fprintf(stderr, "omifs changes: %s\n", err);
		return CHANGES_TROUBLE;
	}
	if (c->follow && !c->search_since)
		p.last = store_last_change(core->store);
	if (p.last < 0)
		fprintf(stderr, "omifs changes: cannot read the changes\n");
	rc = p.last < 0 ? (int)p.last : print_changes(core, &p, since);
	while (rc >= 0 && c->follow && !ferror(stdout)) {
		usleep(FOLLOW_POLL_US);
		last = store_last_change(core->store);
		if (last > p.last)
			rc = print_changes(core, &p, since);
	}
	buf_free(&p.line);
	core_close(core);
	return rc < 0 || ferror(stdout) ? CHANGES_TROUBLE : CHANGES_OK;
}
