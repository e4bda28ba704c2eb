/*
 * config: where the account's cache lives. The conversions from the
 * configuration to each layer's options are core's (core.c), above the
 * layers they fill.
 */
#include "config.h"

#include "buf.h"
#include "hash.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

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

char *config_default_key_file(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	struct buf path = BUF_INIT;

	if (xdg && *xdg == '/')
		buf_printf(&path, "%s/omifs/key", xdg);
	else if (home && *home == '/')
		buf_printf(&path, "%s/.config/omifs/key", home);
	return buf_steal(&path);
}

char *config_cache_dir(const struct omifs_config *c, bool create, char *err, size_t errlen)
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
	if (!create && stat(dir.data, &st) < 0 && errno == ENOENT)
		return buf_steal(&dir);
	rc = create ? make_private_dir(dir.data) : 0;
	if (rc == 0 && (stat(dir.data, &st) < 0 || !S_ISDIR(st.st_mode)))
		rc = -ENOTDIR;
	/* It holds private transcripts: nobody else may look in. Our own
	 * directory is put right; one the user named is not ours to chmod. */
	if (rc == 0 && (st.st_mode & 077) && !c->cache_dir && chmod(dir.data, 0700) < 0)
		rc = -errno;
	if (rc == 0 && (st.st_mode & 077) && c->cache_dir) {
		/* A directory shared with others (/tmp) is not to be made private. */
		if (st.st_uid == getuid() && !(st.st_mode & S_ISVTX))
			snprintf(err, errlen, "cache directory %s can be read by others: use a private "
				 "one (chmod 700 %s)", dir.data, dir.data);
		else
			snprintf(err, errlen, "cache directory %s can be read by others: use a private "
				 "directory of your own (mkdir -m 700 %s/omifs-cache, say)", dir.data,
				 strcmp(dir.data, "/") ? dir.data : "");
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

char *config_cache_path(const struct omifs_config *c, bool create, char *err, size_t errlen)
{
	struct buf path = BUF_INIT, identity = BUF_INIT;
	const char *host = strstr(c->url, "://");
	char *dir = config_cache_dir(c, create, err, errlen);

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

void config_free(struct omifs_config *c)
{
	if (c->key) {
		explicit_bzero(c->key, strlen(c->key));
		free(c->key);
	}
	free(c->url);
	free(c->key_file);
	free(c->cafile);
	free(c->api_profile);
	free(c->cache_dir);
	free(c->cache_path);
	free(c->first_memories_page);
	free(c->save_path);
	free(c->search_kind);
	free(c->search_since);
	free(c->search_until);
	free(c->search_speaker);
	free(c->log_file);
	for (int i = 0; i < c->n_words; i++)
		free(c->words[i]);
	free(c->mountpoint);
	free(c->source);
}
