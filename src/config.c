/*
 * config: from the one configuration struct to each layer's options.
 */
#include "config.h"

#include "hash.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void config_api_options(const struct omifs_config *c, struct api_options *out)
{
	bool backend = c->api_profile && strcmp(c->api_profile, "backend") == 0;

	memset(out, 0, sizeof(*out));
	out->base_url = c->url;
	out->key = c->key;
	out->cafile = c->cafile;
	/* Pages wait beside the cache they are going to, private like it. */
	out->spool_beside = c->offline ? NULL : c->cache_path;
	out->allow_http = c->allow_http;
	out->connect_timeout = c->connect_timeout;
	out->request_timeout = c->request_timeout;
	out->max_retries = c->retries;
	out->max_wait = c->budget_wait;
	budget_defaults(backend ? BUDGET_BACKEND : BUDGET_DOCUMENTED, &out->budget);
	if (c->per_minute >= 0)
		out->budget.per_minute = c->per_minute;
	if (c->per_day >= 0)
		out->budget.per_day = c->per_day;
	if (c->transcripts_per_hour >= 0)
		out->budget.transcripts_per_hour = c->transcripts_per_hour;
	out->budget.window_scale = c->rate_window_scale;
}

void config_sync_options(const struct omifs_config *c, struct sync_options *out)
{
	memset(out, 0, sizeof(*out));
	out->refresh_interval = c->refresh_interval;
	out->full_refresh_interval = c->full_refresh_interval;
	out->page_size = c->page_size;
	out->transcript_batch = c->transcript_batch;
	/* The largest page with transcripts: 1,000 documented, 25 on the backend. */
	out->transcript_page = c->api_profile && strcmp(c->api_profile, "backend") == 0 ? 25 : 1000;
	if (c->transcript_page > 0)
		out->transcript_page = c->transcript_page;
	out->offline = c->offline;
	out->first_memories_page = c->first_memories_page;
}

/* mkdir -p with mode 0700 for what it creates. */
static int make_private_dir(const char *path)
{
	char *copy = xstrdup(path);
	int rc = 0;

	for (char *p = copy + 1; *p && rc == 0; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) < 0 && errno != EEXIST)
			rc = -errno;
		*p = '/';
	}
	if (rc == 0 && mkdir(copy, 0700) < 0 && errno != EEXIST)
		rc = -errno;
	free(copy);
	return rc;
}

char *config_cache_dir(const struct omifs_config *c, char *err, size_t errlen)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	struct buf dir = BUF_INIT;
	struct stat st;
	int rc;

	if (c->cache_dir)
		buf_puts(&dir, c->cache_dir);
	else if (xdg && *xdg == '/')
		buf_printf(&dir, "%s/omifs", xdg);
	else if (home && *home == '/')
		buf_printf(&dir, "%s/.cache/omifs", home);
	else {
		snprintf(err, errlen, "no cache directory: set HOME or use -o cache_dir=DIR");
		return NULL;
	}
	rc = make_private_dir(dir.data);
	if (rc == 0 && (stat(dir.data, &st) < 0 || !S_ISDIR(st.st_mode)))
		rc = -ENOTDIR;
	/* It holds private transcripts: nobody else may look in. Our own
	 * directory is put right; one the user named is not ours to chmod. */
	if (rc == 0 && (st.st_mode & 077) && !c->cache_dir && chmod(dir.data, 0700) < 0)
		rc = -errno;
	if (rc == 0 && (st.st_mode & 077) && c->cache_dir) {
		snprintf(err, errlen, "cache directory %s can be read by others: use a private one "
			 "(chmod 700 %s)", dir.data, dir.data);
		buf_free(&dir);
		return NULL;
	}
	if (rc < 0) {
		snprintf(err, errlen, "cannot use cache directory %s: %s", dir.data, strerror(-rc));
		buf_free(&dir);
		return NULL;
	}
	return buf_steal(&dir);
}

char *config_cache_path(const struct omifs_config *c, char *err, size_t errlen)
{
	struct buf path = BUF_INIT, identity = BUF_INIT;
	const char *host = strstr(c->url, "://");
	char *dir = config_cache_dir(c, err, errlen);

	if (!dir)
		return NULL;
	buf_printf(&identity, "%s\n%s", c->url, c->key);
	buf_printf(&path, "%s/", dir);
	for (host = host ? host + 3 : c->url; *host && *host != '/'; host++)
		buf_putc(&path, (*host == ':' || *host == '.' || (*host >= '0' && *host <= '9') ||
				 (*host >= 'a' && *host <= 'z') || (*host >= 'A' && *host <= 'Z') ||
				 *host == '-') ? *host : '_');
	buf_printf(&path, "-%016" PRIx64 ".sqlite", hash_bytes(identity.data, identity.len));
	explicit_bzero(identity.data, identity.len);
	buf_free(&identity);
	free(dir);
	return buf_steal(&path);
}
