/*
 * cache_command: the cache directory's accounts, listed and removed.
 *
 * Each cache file is opened read-only for its figures, so that listing
 * never changes a cache a mount is using. Whether one is in use is read
 * from /proc: a process of this user holding the file open.
 */
#include "cache_command.h"

#include "buf.h"
#include "collections.h"
#include "mount_command.h"
#include "store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SQLITE_SUFFIX ".sqlite"

struct cached {
	char *path;
	char *url;		/* NULL: a cache made before the URL was kept */
	long long bytes;	/* the file and its write-ahead log */
	size_t items[STORE_KINDS];
	time_t listed_at[STORE_KINDS];	/* 0: never listed completely */
	size_t transcripts;
	long in_use_by;		/* a pid, or 0 */
};

bool cache_command_valid(char *const *words, int n_words)
{
	return (n_words == 1 && strcmp(words[0], "list") == 0) ||
	       (n_words == 2 && strcmp(words[0], "remove") == 0);
}

static long long file_bytes(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* A process other than this one with path open, or 0. */
static long process_using(const char *path)
{
	DIR *procs = opendir("/proc");
	struct dirent *p;
	long found = 0;

	while (procs && !found && (p = readdir(procs)) != NULL)
		if (isdigit((unsigned char)p->d_name[0]) && atol(p->d_name) != (long)getpid() &&
		    mount_process_holds((pid_t)atol(p->d_name), path))
			found = atol(p->d_name);
	if (procs)
		closedir(procs);
	return found;
}

/* Fills one entry from the cache file at path (taken). */
static void read_cached(char *path, struct cached *out)
{
	char err[256], *wal = NULL;
	struct store *store;

	memset(out, 0, sizeof(*out));
	out->path = path;
	if (asprintf(&wal, "%s-wal", path) < 0)
		wal = NULL;
	out->bytes = file_bytes(path) + (wal ? file_bytes(wal) : 0);
	free(wal);
	out->in_use_by = process_using(path);
	store = store_open_readonly(path, false, err, sizeof(err));
	if (!store)
		return;
	out->url = store_account_url(store);
	for (int k = 0; k < STORE_KINDS; k++)
		if (store_listing_info(store, k, &out->listed_at[k], &out->items[k]) < 0)
			out->listed_at[k] = 0;
	out->transcripts = store_count_full_conversations(store);
	store_close(store);
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct cached *)a)->path, ((const struct cached *)b)->path);
}

/* The caches in dir, sorted by path; *n of them. NULL with errno set
 * when dir cannot be read. */
static struct cached *read_caches(const char *dir, size_t *n)
{
	struct cached *all = NULL;
	size_t cap = 0;
	struct dirent *e;
	DIR *d = opendir(dir);
	char *path;

	*n = 0;
	if (!d)
		return errno == ENOENT ? xcalloc(1, sizeof(*all)) : NULL;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len <= strlen(SQLITE_SUFFIX) ||
		    strcmp(e->d_name + len - strlen(SQLITE_SUFFIX), SQLITE_SUFFIX) != 0)
			continue;
		all = xgrow(all, &cap, *n, sizeof(*all), 8);
		if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
			break;
		read_cached(path, &all[(*n)++]);
	}
	closedir(d);
	if (*n > 1)
		qsort(all, *n, sizeof(*all), by_path);
	return all ? all : xcalloc(1, sizeof(*all));
}

static void free_caches(struct cached *all, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(all[i].path);
		free(all[i].url);
	}
	free(all);
}

/* The oldest of the collections' last complete listings: when the whole
 * account was last seen; 0 when one was never listed (but one that some
 * servers do not serve). */
static time_t oldest_listing(const struct cached *c)
{
	time_t oldest = 0;

	for (int k = 0; k < STORE_KINDS; k++) {
		if (!c->listed_at[k] && collection_of(k)->optional)
			continue;
		if (!c->listed_at[k])
			return 0;
		if (!oldest || c->listed_at[k] < oldest)
			oldest = c->listed_at[k];
	}
	return oldest;
}

static void print_text(const struct cached *all, size_t n, const char *dir)
{
	struct buf when = BUF_INIT;

	if (n == 0)
		printf("no account is cached in %s\n", dir);
	for (size_t i = 0; i < n; i++) {
		const struct cached *c = &all[i];
		time_t listed = oldest_listing(c);

		printf("%s%s\n", i ? "\n" : "", c->path);
		printf("  url          %s\n", c->url ? c->url : "(not kept by this older cache)");
		printf("  size         %.1f MiB\n", (double)c->bytes / 1048576);
		printf("  items        ");
		for (int k = 0; k < STORE_KINDS; k++)
			printf("%s%zu %s", k ? ", " : "", c->items[k], collection_of(k)->label);
		printf("\n  transcripts  %zu cached\n", c->transcripts);
		buf_reset(&when);
		if (listed)
			buf_put_utc(&when, listed);
		printf("  listed       %s\n", listed ? when.data : "never completely");
		if (c->in_use_by)
			printf("  in use       by process %ld\n", c->in_use_by);
	}
	buf_free(&when);
}

static void print_json(const struct cached *all, size_t n)
{
	json_object *list = json_object_new_array();
	struct buf when = BUF_INIT;

	for (size_t i = 0; i < n; i++) {
		const struct cached *c = &all[i];
		json_object *o = json_object_new_object(), *items = json_object_new_object();
		time_t listed = oldest_listing(c);

		json_object_object_add(o, "path", json_object_new_string(c->path));
		json_object_object_add(o, "url", c->url ? json_object_new_string(c->url) : NULL);
		json_object_object_add(o, "bytes", json_object_new_int64(c->bytes));
		for (int k = 0; k < STORE_KINDS; k++)
			json_object_object_add(items, collection_of(k)->json_key,
					       json_object_new_int64((int64_t)c->items[k]));
		json_object_object_add(o, "items", items);
		json_object_object_add(o, "transcripts",
				       json_object_new_int64((int64_t)c->transcripts));
		buf_reset(&when);
		if (listed)
			buf_put_utc(&when, listed);
		json_object_object_add(o, "listed_at", listed ? json_object_new_string(when.data)
							      : NULL);
		json_object_object_add(o, "in_use_by",
				       c->in_use_by ? json_object_new_int64(c->in_use_by) : NULL);
		json_object_array_add(list, o);
	}
	puts(json_object_to_json_string_ext(list, JSON_C_TO_STRING_PRETTY |
						  JSON_C_TO_STRING_SPACED |
						  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(list);
	buf_free(&when);
}

/* Whether a URL names c: its kept URL (a final '/' aside), or for an
 * older cache the host its file is named after (HOST-HASH.sqlite). */
static bool url_names(const char *url, const struct cached *c)
{
	const char *host = strstr(url, "://"), *name = strrchr(c->path, '/') + 1;
	size_t len = strlen(url);

	while (len > 0 && url[len - 1] == '/')
		len--;
	if (c->url)
		return strlen(c->url) == len && strncmp(c->url, url, len) == 0;
	host = host ? host + 3 : url;
	len = strcspn(host, "/");
	return strncmp(name, host, len) == 0 && name[len] == '-';
}

/* Removes the one cache what names: a path (as listed) or a URL. */
static int remove_cache(struct cached *all, size_t n, const char *what)
{
	char *real = strstr(what, "://") ? NULL : realpath(what, NULL), *dead;
	static const char *const beside[] = { "-wal", "-shm", "-journal" };
	size_t matched = 0, pick = 0;

	for (size_t i = 0; i < n; i++) {
		char *listed = real ? realpath(all[i].path, NULL) : NULL;
		bool match = real ? listed && strcmp(listed, real) == 0 : url_names(what, &all[i]);

		free(listed);
		if (match) {
			matched++;
			pick = i;
		}
	}
	free(real);
	if (matched == 0) {
		fprintf(stderr, "omifs cache: no cached account is %s (see omifs cache list)\n",
			what);
		return 1;
	}
	if (matched > 1) {
		fprintf(stderr, "omifs cache: %zu caches are for %s; give the path of the one to "
				"remove:\n", matched, what);
		for (size_t i = 0; matched && i < n; i++)
			if (url_names(what, &all[i]))
				fprintf(stderr, "  %s\n", all[i].path);
		return 1;
	}
	if (all[pick].in_use_by) {
		fprintf(stderr, "omifs cache: %s is in use by process %ld: unmount it (or stop "
				"omifs sync) first\n", all[pick].path, all[pick].in_use_by);
		return 1;
	}
	if (unlink(all[pick].path) < 0) {
		fprintf(stderr, "omifs cache: cannot remove %s: %s\n", all[pick].path,
			strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < sizeof(beside) / sizeof(*beside); i++)
		if (asprintf(&dead, "%s%s", all[pick].path, beside[i]) >= 0) {
			unlink(dead);
			free(dead);
		}
	printf("removed %s (%.1f MiB)\n", all[pick].path, (double)all[pick].bytes / 1048576);
	return 0;
}

int cache_command(const struct omifs_config *c, char *const *words, int n_words)
{
	char err[512], *dir = config_cache_dir(c, false, err, sizeof(err));
	struct cached *all;
	size_t n;
	int rc = 0;

	(void)n_words;
	if (!dir) {
		fprintf(stderr, "omifs cache: %s\n", err);
		return 1;
	}
	all = read_caches(dir, &n);
	if (!all) {
		fprintf(stderr, "omifs cache: cannot read %s: %s\n", dir, strerror(errno));
		free(dir);
		return 1;
	}
	if (strcmp(words[0], "list") == 0 && c->json)
		print_json(all, n);
	else if (strcmp(words[0], "list") == 0)
		print_text(all, n, dir);
	else
		rc = remove_cache(all, n, words[1]);
	free_caches(all, n);
	free(dir);
	return rc;
}
