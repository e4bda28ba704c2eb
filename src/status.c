/*
 * status: the three renderings of struct status.
 *
 * Times are UTC: in the text as 2026-12-05T15:20:00Z, in JSON as the same
 * text (null when there is none), in the metrics as Unix seconds.
 */
#include "status.h"


#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

const double status_read_bounds[STATUS_READ_BUCKETS] = {
	0.0001, 0.0005, 0.001, 0.005, 0.01, 0.1, 1, 10,
};

void status_note_odd(struct status_odd *odd, const char *id)
{
	size_t n = strlen(id), keep = n;
	char *out;

	if (odd->count < STATUS_ODD_SAMPLE) {
		out = odd->sample[odd->count];
		if (n > STATUS_ODD_ID_BYTES) {
			keep = STATUS_ODD_ID_BYTES;
			while (keep > 0 && ((unsigned char)id[keep] & 0xC0) == 0x80)
				keep--;
		}
		for (size_t i = 0; i < keep; i++)
			out[i] = (unsigned char)id[i] < 0x20 || id[i] == 0x7f ? '?' : id[i];
		strcpy(out + keep, keep < n ? "..." : "");
	}
	odd->count++;
}

/* A length of time as people say it: "40 s", "12 min", "2 h 05 min". */
static void put_duration(struct buf *out, long seconds)
{
	if (seconds < 60)
		buf_printf(out, "%ld s", seconds);
	else if (seconds < 3600)
		buf_printf(out, "%ld min", (seconds + 59) / 60);
	else
		buf_printf(out, "%ld h %02ld min", seconds / 3600, seconds % 3600 / 60);
}

/* The line of one collection. */
static void render_collection(const struct status_collection *c, struct buf *out)
{
	buf_printf(out, "%-14s ", c->name);
	if (c->listed_at) {
		buf_printf(out, "%zu items, listed completely at ", c->count);
		buf_put_utc(out, c->listed_at);
	} else {
		buf_puts(out, c->not_served ? "not served by this server" : "not listed yet");
	}
	if (c->so_far) {
		buf_printf(out, "; %zu listed so far, the listing continues at ", c->so_far);
		buf_put_utc(out, c->continues_at);
		if (c->paced_by)
			buf_printf(out, " (%s policy)", c->paced_by);
	}
	if (c->full_period) {
		buf_puts(out, "; full listing every ");
		put_duration(out, c->full_period);
		buf_printf(out, " (half of the %s policy)", c->period_policy);
	}
	if (c->refresh_error && !c->not_served)
		buf_printf(out, "; last refresh failed: %s", strerror(-c->refresh_error));
	if (c->skipped)
		buf_printf(out, "; %zu skipped (no usable id)", c->skipped);
	if (c->pending)
		buf_printf(out, "; %zu missing from the last listing, deleted if the next "
			   "agrees", c->pending);
	if (c->held)
		buf_printf(out, "; %zu deletions held back (%s): omifs refresh "
			   "--accept-deletions deletes them", c->held,
			   c->held_why[0] ? c->held_why : "too many at once");
	if (c->locked)
		buf_printf(out, "; %zu %s locked by the server: full text kept", c->locked,
			   c->name);
	buf_putc(out, '\n');
}

static void render_collections(const struct status *st, struct buf *out)
{
	for (int k = 0; k < STATUS_COLLECTIONS; k++)
		render_collection(&st->collections[k], out);
	if (st->conversations_complete)
		buf_printf(out, "%-14s %zu of %zu conversations cached", "transcripts",
			   st->transcripts, st->conversations);
	else
		buf_printf(out, "%-14s %zu cached, of %zu conversations listed so far",
			   "transcripts", st->transcripts, st->conversations);
	if (st->transcripts_error) {
		buf_printf(out, "; the last fetch failed: %s", st->transcripts_why);
		if (st->transcripts_retry_at > st->now) {
			buf_puts(out, "; reads fail at once until ");
			buf_put_utc(out, st->transcripts_retry_at);
			buf_puts(out, " (omifs refresh tries again now)");
		}
	}
	if (st->transcripts_refused_alone)
		buf_printf(out, "; %zu refused by the server, each alone (the log names them)",
			   st->transcripts_refused_alone);
	buf_putc(out, '\n');
	buf_printf(out, "%-14s %.1f MiB", "cache size", (double)st->cache_bytes / 1048576);
	if (st->cache_path)
		buf_printf(out, " in %s", st->cache_path);
	buf_putc(out, '\n');
	if (st->search[0])
		buf_printf(out, "%-14s %s\n", "search", st->search);
	if (st->offline)
		buf_printf(out, "%-14s offline: no request is sent\n", "mode");
	else
		buf_printf(out, "%-14s online: new items every %d s, full listings every %d s\n",
			   "mode", st->refresh_interval, st->full_refresh_interval);
	/* omifs refresh --wait reads this line: keep its shape. */
	buf_printf(out, "%-14s %lu asked, %lu done", "refreshes", st->refreshes_asked,
		   st->refreshes_done);
	if (st->refreshes_done && st->refresh_error)
		buf_printf(out, "; the last failed: %s: %s\n", st->refresh_failed,
			   strerror(-st->refresh_error));
	else
		buf_puts(out, st->refreshes_done ? "; the last succeeded\n" : "\n");
}

static void render_requests(const struct status *st, struct buf *out)
{
	buf_printf(out, "\nrequests       %lu sent, %lu failed, %lu retries, %lu rate-limited (429)\n",
		   st->requests, st->failures, st->retries, st->rate_limited);
	for (int i = 0; i < st->n_policies; i++) {
		const struct status_policy *p = &st->policies[i];

		buf_printf(out, "budget         %s: %d of %d used in the last %.0f s", p->name,
			   p->used, p->limit, p->window);
		if (p->used >= p->limit)
			buf_printf(out, "; spent, the next request in %.0f s", ceil(p->wait));
		buf_putc(out, '\n');
	}
	if (st->server_remaining >= 0) {
		buf_printf(out, "server         %ld requests left", st->server_remaining);
		if (st->server_reset) {
			buf_puts(out, ", window resets at ");
			buf_put_utc(out, st->server_reset);
		}
		buf_putc(out, '\n');
	}
	if (st->waiting > 0)
		buf_printf(out, "waiting        %d %s for the request budget (reads are slow, not "
				"failing)\n", st->waiting,
			   st->waiting == 1 ? "request waits" : "requests wait");
	if (st->blocked_until > st->now) {
		buf_puts(out, "paused         by the server until ");
		buf_put_utc(out, st->blocked_until);
		buf_putc(out, '\n');
	}
	buf_puts(out, "last error     ");
	if (st->last_error_at) {
		buf_put_utc(out, st->last_error_at);
		buf_printf(out, ": %s\n", st->last_error);
	} else {
		buf_puts(out, "none\n");
	}
	if (st->cache_error_at) {
		buf_puts(out, "cache error    ");
		buf_put_utc(out, st->cache_error_at);
		buf_printf(out, ": %s (what could not be written is fetched again)\n",
			   st->cache_error);
	}
}

static void render_odd(const struct status *st, struct buf *out)
{
	buf_printf(out, "\n%-14s ", "odd fields");
	for (int k = 0; k < STATUS_COLLECTIONS; k++) {
		const struct status_odd *odd = &st->odd[k];
		size_t shown = odd->count < STATUS_ODD_SAMPLE ? odd->count : STATUS_ODD_SAMPLE;

		buf_printf(out, "%s%s: %zu", k ? "; " : "", st->collections[k].name, odd->count);
		if (odd->count == 0)
			continue;
		buf_puts(out, odd->count == 1 ? " item (" : " items (");
		for (size_t i = 0; i < shown; i++)
			buf_printf(out, "%s%s", i ? ", " : "", odd->sample[i]);
		buf_puts(out, odd->count > shown ? ", ...)" : ")");
	}
	buf_putc(out, '\n');
}

void render_status(const struct status *st, struct buf *out)
{
	buf_printf(out, "omifs %s\n\n", OMIFS_VERSION);
	render_collections(st, out);
	render_requests(st, out);
	render_odd(st, out);
	/* How omifs status/refresh find the process serving this mount. */
	buf_printf(out, "pid            %ld\n", st->pid);
}

/* ---- status.json ---- */

static json_object *json_time(time_t t)
{
	struct buf text = BUF_INIT;
	json_object *o;

	if (!t)
		return NULL;
	buf_put_utc(&text, t);
	o = json_object_new_string(text.data);
	buf_free(&text);
	return o;
}

static json_object *json_text(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

static json_object *json_count(unsigned long long n)
{
	return json_object_new_int64(n > INT64_MAX ? INT64_MAX : (int64_t)n);
}

static json_object *json_error(time_t at, const char *message)
{
	json_object *o;

	if (!at)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "at", json_time(at));
	json_object_object_add(o, "message", json_text(message));
	return o;
}

static json_object *json_collection(const struct status_collection *c, const struct status_odd *odd)
{
	json_object *o = json_object_new_object(), *sample = json_object_new_array();
	size_t shown = odd->count < STATUS_ODD_SAMPLE ? odd->count : STATUS_ODD_SAMPLE;

	json_object_object_add(o, "served", json_object_new_boolean(!c->not_served));
	json_object_object_add(o, "items", json_count(c->count));
	json_object_object_add(o, "listed_at", json_time(c->listed_at));
	json_object_object_add(o, "listing_seconds",
			       c->listing_seconds >= 0 ? json_object_new_double(c->listing_seconds)
						       : NULL);
	json_object_object_add(o, "refresh_error",
			       c->refresh_error && !c->not_served
				       ? json_text(strerror(-c->refresh_error)) : NULL);
	json_object_object_add(o, "skipped", json_count(c->skipped));
	json_object_object_add(o, "pending_deletions", json_count(c->pending));
	json_object_object_add(o, "held_deletions", json_count(c->held));
	json_object_object_add(o, "held_why", c->held ? json_text(c->held_why) : NULL);
	json_object_object_add(o, "locked", json_count(c->locked));
	json_object_object_add(o, "listed_so_far", json_count(c->so_far));
	json_object_object_add(o, "continues_at", c->so_far ? json_time(c->continues_at) : NULL);
	json_object_object_add(o, "paced_by", json_text(c->paced_by));
	json_object_object_add(o, "full_listing_every_seconds",
			       c->full_period ? json_object_new_int64(c->full_period) : NULL);
	json_object_object_add(o, "odd_fields", json_count(odd->count));
	for (size_t i = 0; i < shown; i++)
		json_object_array_add(sample, json_object_new_string(odd->sample[i]));
	json_object_object_add(o, "odd_sample", sample);
	return o;
}

static json_object *json_requests(const struct status *st)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "sent", json_count(st->requests));
	json_object_object_add(o, "failed", json_count(st->failures));
	json_object_object_add(o, "retries", json_count(st->retries));
	json_object_object_add(o, "rate_limited", json_count(st->rate_limited));
	json_object_object_add(o, "bytes_received", json_count(st->bytes_received));
	json_object_object_add(o, "waiting_for_budget", json_object_new_int(st->waiting));
	json_object_object_add(o, "paused_until",
			       st->blocked_until > st->now ? json_time(st->blocked_until) : NULL);
	json_object_object_add(o, "server_remaining",
			       st->server_remaining >= 0 ? json_object_new_int64(st->server_remaining)
							 : NULL);
	json_object_object_add(o, "server_reset_at", json_time(st->server_reset));
	json_object_object_add(o, "last_error", json_error(st->last_error_at, st->last_error));
	return o;
}

static json_object *json_budget(const struct status *st)
{
	json_object *list = json_object_new_array();

	for (int i = 0; i < st->n_policies; i++) {
		const struct status_policy *p = &st->policies[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "policy", json_object_new_string(p->name));
		json_object_object_add(o, "used", json_object_new_int(p->used));
		json_object_object_add(o, "limit", json_object_new_int(p->limit));
		json_object_object_add(o, "window_seconds", json_object_new_double(p->window));
		json_object_object_add(o, "next_in_seconds",
				       json_object_new_double(p->used >= p->limit ? ceil(p->wait) : 0));
		json_object_array_add(list, o);
	}
	return list;
}

static json_object *json_transcripts(const struct status *st)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "cached", json_count(st->transcripts));
	json_object_object_add(o, "refused_alone", json_count(st->transcripts_refused_alone));
	json_object_object_add(o, "conversations", json_count(st->conversations));
	json_object_object_add(o, "conversations_complete",
			       json_object_new_boolean(st->conversations_complete));
	json_object_object_add(o, "error",
			       st->transcripts_error ? json_text(st->transcripts_why) : NULL);
	json_object_object_add(o, "retry_at",
			       st->transcripts_error && st->transcripts_retry_at > st->now
				       ? json_time(st->transcripts_retry_at) : NULL);
	return o;
}

static json_object *json_refreshes(const struct status *st)
{
	json_object *o = json_object_new_object(), *error = NULL;

	json_object_object_add(o, "asked", json_count(st->refreshes_asked));
	json_object_object_add(o, "done", json_count(st->refreshes_done));
	if (st->refreshes_done && st->refresh_error) {
		error = json_object_new_object();
		json_object_object_add(error, "collection", json_text(st->refresh_failed));
		json_object_object_add(error, "message", json_text(strerror(-st->refresh_error)));
	}
	json_object_object_add(o, "last_error", error);
	json_object_object_add(o, "interval_seconds", json_object_new_int(st->refresh_interval));
	json_object_object_add(o, "full_interval_seconds",
			       json_object_new_int(st->full_refresh_interval));
	return o;
}

void render_status_json(const struct status *st, struct buf *out)
{
	json_object *o = json_object_new_object(), *collections = json_object_new_object();
	json_object *cache = json_object_new_object();

	json_object_object_add(o, "version", json_object_new_string(OMIFS_VERSION));
	json_object_object_add(o, "pid", json_object_new_int64(st->pid));
	json_object_object_add(o, "mode", json_object_new_string(st->offline ? "offline"
									       : "online"));
	for (int k = 0; k < STATUS_COLLECTIONS; k++)
		json_object_object_add(collections, st->collections[k].name,
				       json_collection(&st->collections[k], &st->odd[k]));
	json_object_object_add(o, "collections", collections);
	json_object_object_add(o, "transcripts", json_transcripts(st));
	json_object_object_add(cache, "path", json_text(st->cache_path));
	json_object_object_add(cache, "bytes", json_object_new_int64(st->cache_bytes));
	json_object_object_add(cache, "last_error", json_error(st->cache_error_at,
							       st->cache_error));
	json_object_object_add(o, "cache", cache);
	json_object_object_add(o, "search", json_text(st->search));
	json_object_object_add(o, "refreshes", json_refreshes(st));
	json_object_object_add(o, "requests", json_requests(st));
	json_object_object_add(o, "budget", json_budget(st));
	buf_puts(out, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							JSON_C_TO_STRING_SPACED |
							JSON_C_TO_STRING_NOSLASHESCAPE));
	buf_putc(out, '\n');
	json_object_put(o);
}

/* ---- metrics ---- */

/* A label's value: backslash, double quote and line end escaped. */
static void put_label(struct buf *out, const char *name, const char *value)
{
	buf_printf(out, "%s=\"", name);
	for (; *value; value++) {
		if (*value == '\\' || *value == '"')
			buf_putc(out, '\\');
		if (*value == '\n')
			buf_puts(out, "\\n");
		else
			buf_putc(out, *value);
	}
	buf_putc(out, '"');
}

static void family(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample, with one label or none (label NULL). */
static void sample(struct buf *out, const char *name, const char *label, const char *value,
		   double number)
{
	buf_puts(out, name);
	if (label) {
		buf_putc(out, '{');
		put_label(out, label, value);
		buf_putc(out, '}');
	}
	buf_printf(out, " %.17g\n", number);
}

static void metric(struct buf *out, const char *name, const char *type, const char *help,
		   double number)
{
	family(out, name, type, help);
	sample(out, name, NULL, NULL, number);
}

static void metrics_requests(const struct status *st, struct buf *out)
{
	char status[24];

	family(out, "omifs_requests_total", "counter",
	       "HTTP requests sent, retries included, by route, budget policy and status "
	       "(0: no answer).");
	for (int i = 0; i < st->n_by_kind; i++) {
		const struct status_request_kind *r = &st->by_kind[i];

		buf_puts(out, "omifs_requests_total{");
		put_label(out, "route", r->route);
		buf_putc(out, ',');
		put_label(out, "policy", r->policy);
		snprintf(status, sizeof(status), "%ld", r->http_status);
		buf_putc(out, ',');
		put_label(out, "status", status);
		buf_printf(out, "} %lu\n", r->count);
	}
	metric(out, "omifs_request_failures_total", "counter",
	       "Requests that did not succeed, retries included.", (double)st->failures);
	metric(out, "omifs_request_retries_total", "counter", "Requests that were retries.",
	       (double)st->retries);
	metric(out, "omifs_rate_limited_total", "counter", "429 answers.",
	       (double)st->rate_limited);
	metric(out, "omifs_received_bytes_total", "counter",
	       "Bytes of response bodies received.", (double)st->bytes_received);
	family(out, "omifs_budget_used", "gauge",
	       "Requests a client-side budget policy counts in its window now.");
	for (int i = 0; i < st->n_policies; i++)
		sample(out, "omifs_budget_used", "policy", st->policies[i].name,
		       st->policies[i].used);
	family(out, "omifs_budget_left", "gauge",
	       "Requests a client-side budget policy allows before it waits.");
	for (int i = 0; i < st->n_policies; i++)
		sample(out, "omifs_budget_left", "policy", st->policies[i].name,
		       st->policies[i].used < st->policies[i].limit
			       ? st->policies[i].limit - st->policies[i].used : 0);
	if (st->server_remaining >= 0)
		metric(out, "omifs_server_remaining_requests", "gauge",
		       "Requests the server's X-RateLimit-Remaining says are left.",
		       (double)st->server_remaining);
}

static void metrics_collections(const struct status *st, struct buf *out)
{
	family(out, "omifs_items", "gauge", "Items of a collection at its last complete listing.");
	for (int k = 0; k < STATUS_COLLECTIONS; k++)
		sample(out, "omifs_items", "collection", st->collections[k].name,
		       (double)st->collections[k].count);
	family(out, "omifs_last_complete_listing_timestamp_seconds", "gauge",
	       "When a collection was last listed completely (Unix time); absent: never.");
	for (int k = 0; k < STATUS_COLLECTIONS; k++)
		if (st->collections[k].listed_at)
			sample(out, "omifs_last_complete_listing_timestamp_seconds", "collection",
			       st->collections[k].name, (double)st->collections[k].listed_at);
	family(out, "omifs_listing_duration_seconds", "gauge",
	       "How long the last complete listing of a collection took.");
	for (int k = 0; k < STATUS_COLLECTIONS; k++)
		if (st->collections[k].listing_seconds >= 0)
			sample(out, "omifs_listing_duration_seconds", "collection",
			       st->collections[k].name, st->collections[k].listing_seconds);
	metric(out, "omifs_transcripts_cached", "gauge", "Conversations whose transcript is cached.",
	       (double)st->transcripts);
	metric(out, "omifs_transcripts_refused_alone", "gauge",
	       "Conversations whose transcript the server refused alone.",
	       (double)st->transcripts_refused_alone);
	metric(out, "omifs_cache_bytes", "gauge", "Size of the cache file.",
	       (double)st->cache_bytes);
	metric(out, "omifs_snapshots", "gauge",
	       "Pictures of the tree in memory: two while a refresh keeps the one it replaced.",
	       (double)st->snapshots);
	metric(out, "omifs_snapshot_bytes", "gauge", "Memory those pictures of the tree take.",
	       (double)st->snapshot_bytes);
	metric(out, "omifs_refreshes_total", "counter", "Refreshes done that were asked for.",
	       (double)st->refreshes_done);
}

static void metrics_reads(const struct status *st, struct buf *out)
{
	unsigned long long below = 0;

	family(out, "omifs_read_duration_seconds", "histogram",
	       "How long FUSE reads took to serve.");
	for (int i = 0; i <= STATUS_READ_BUCKETS; i++) {
		below += st->reads.counts[i];
		if (i < STATUS_READ_BUCKETS)
			buf_printf(out, "omifs_read_duration_seconds_bucket{le=\"%g\"} %llu\n",
				   status_read_bounds[i], below);
		else
			buf_printf(out, "omifs_read_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
				   below);
	}
	buf_printf(out, "omifs_read_duration_seconds_sum %.9g\n", st->reads.seconds);
	buf_printf(out, "omifs_read_duration_seconds_count %llu\n", below);
}

void render_metrics(const struct status *st, struct buf *out)
{
	family(out, "omifs_info", "gauge", "The omifs version serving the mount.");
	sample(out, "omifs_info", "version", OMIFS_VERSION, 1);
	metric(out, "omifs_offline", "gauge", "1 when the mount sends no request.", st->offline);
	metrics_collections(st, out);
	metrics_requests(st, out);
	metrics_reads(st, out);
}
