/*
 * omifs: mount your Omi data (memories, conversations, action items) as a
 * read-only directory tree.
 *
 * main reads the command line and the key, proves the key and the server
 * work with one request while still in the foreground (so a mistake is a
 * one-line error and an exit code, not a mount that fails later), then
 * hands over to libfuse.
 *
 * Exit codes: 0 ok, 1 usage or configuration, 2 the key was refused,
 * 3 the server is unreachable or failing, 4 the mountpoint is unusable.
 */
#include "api.h"
#include "buf.h"
#include "cli.h"
#include "collections.h"
#include "config.h"
#include "core.h"
#include "fs.h"
#include "log.h"
#include "store.h"
#include "cache_command.h"
#include "keys_command.h"
#include "mount_command.h"
#include "search_command.h"
#include "changes_command.h"
#include "mcp_command.h"
#include "sync_command.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <spawn.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <linux/magic.h>
#include <unistd.h>

extern char **environ;

/* A key is a bearer token: printable, no spaces, so it cannot forge a
 * header line. */
static bool key_is_sane(const char *key)
{
	if (!*key)
		return false;
	for (const char *p = key; *p; p++)
		if (!isgraph((unsigned char)*p))
			return false;
	return true;
}

/* Names the default key file as c->key_file when nothing else names the
 * key and that file exists: every command then runs as the README and
 * the systemd unit write it. */
static void use_default_key_file(struct omifs_config *c)
{
	const char *env = getenv("OMI_API_KEY");
	char *path;

	if (c->key_file || (env && *env))
		return;
	path = config_default_key_file();
	if (path && access(path, F_OK) == 0)
		c->key_file = path;
	else
		free(path);
}

/* The key in line, without the spaces, tabs or line end around it. */
static char *trimmed(char *line)
{
	size_t n;

	line += strspn(line, " \t");
	n = strcspn(line, "\r\n");
	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	line[n] = '\0';
	return line;
}

/* Loads the key into c->key. Returns 0 or prints why not and returns -1. */
static int load_key(struct omifs_config *c)
{
	const char *env = getenv("OMI_API_KEY");
	char line[4096];
	struct stat st;
	FILE *f;
	int fd;

	if (env && *env && !c->key_file) {
		c->key = strdup(env);
	} else if (c->key_file) {
		/* O_NONBLOCK: a FIFO must be refused below, not waited on. */
		fd = open(c->key_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0 || fstat(fd, &st) < 0) {
			fprintf(stderr, "omifs: cannot read key file %s: %s\n", c->key_file,
				strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
			fprintf(stderr, "omifs: refusing key file %s: it must be a regular file "
					"readable only by you (chmod 600 %s)\n",
				c->key_file, c->key_file);
			close(fd);
			return -1;
		}
		f = fdopen(fd, "r");
		if (!f || !fgets(line, sizeof(line), f))
			line[0] = '\0';
		if (f)
			fclose(f);
		else
			close(fd);
		c->key = strdup(trimmed(line));
		explicit_bzero(line, sizeof(line));
	} else {
		fprintf(stderr, "omifs: no API key: set OMI_API_KEY, use -o key_file=FILE or put it "
				"in ~/.config/omifs/key (mode 0600)\n");
		return -1;
	}
	/* Scrub the variable where it lives (the environment block that
	 * /proc/PID/environ shows), and keep it from any child process. */
	if (env)
		explicit_bzero((char *)env, strlen(env));
	unsetenv("OMI_API_KEY");
	if (!c->key || !key_is_sane(c->key)) {
		fprintf(stderr, "omifs: the API key is empty or holds spaces or control "
				"characters\n");
		return -1;
	}
	return 0;
}

/* A mountpoint whose FUSE process died answers ENOTCONN to everything.
 * When it was an omifs mount, clearing it loses nothing (the data is in
 * the cache and on the server): do it. Returns 0 once it is gone. */
static int clear_dead_mount(const char *path)
{
	char *abs = mount_absolute_path(path);
	char *const argv[] = { "fusermount3", "-u", "-z", abs, NULL };
	bool ours = abs && mount_is_omifs(abs);
	int status = -1;
	pid_t pid;

	if (ours && posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ) == 0 &&
	    waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		fprintf(stderr, "omifs: cleared the dead omifs mount left at %s\n", path);
		free(abs);
		return 0;
	}
	fprintf(stderr, "omifs: mountpoint %s is a dead FUSE mount (its process is gone); "
			"clear it with: fusermount3 -u %s\n", path, path);
	free(abs);
	return -1;
}

/* Says so when path is already an omifs mount, and by which process. */
static bool already_mounted(const char *path)
{
	char *abs = mount_absolute_path(path);
	bool mounted = abs && mount_is_omifs(abs);
	pid_t pid = mounted ? mount_server_pid(abs) : -1;

	if (mounted && pid > 0)
		fprintf(stderr, "omifs: %s is already mounted (omifs, pid %ld)\n", path, (long)pid);
	else if (mounted)
		fprintf(stderr, "omifs: %s is already mounted (omifs)\n", path);
	free(abs);
	return mounted;
}

/* Returns 0 when the mountpoint is an empty directory we can mount on. */
static int check_mountpoint(const char *path)
{
	struct statfs fs;
	struct dirent *e;
	bool empty = true;
	DIR *d;

	/* mount.fuse3's drop_privileges hands over an open /dev/fuse; and
	 * reading an automount point (x-systemd.automount) would wait for
	 * the very mount being made. Neither can hold files of the user's. */
	if (strncmp(path, "/dev/fd/", 8) == 0)
		return 0;
	/* statfs always reaches a FUSE server, where a listing may come from
	 * the kernel's cache even after the server died. */
	if (statfs(path, &fs) == 0) {
		if (fs.f_type == AUTOFS_SUPER_MAGIC)
			return 0;
	} else if (errno == ENOTCONN && clear_dead_mount(path) != 0) {
		return -1;
	}
	d = opendir(path);
	if (!d) {
		fprintf(stderr, "omifs: cannot use mountpoint %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = false;
	closedir(d);
	if (!empty && !already_mounted(path))
		fprintf(stderr, "omifs: mountpoint %s is not empty\n", path);
	return empty ? 0 : -1;
}

/* One authenticated request, so that a bad key or URL fails here. It is
 * the first page of memories, kept in c for the first listing, so that the
 * check costs no request of its own. Returns 0, or an exit code with what
 * went wrong said on stderr and written to why. */
static int check_server(struct omifs_config *c, char *why, size_t whylen)
{
	struct api_options opts;
	struct api_error err;
	struct api_client *api;
	json_object *page = NULL;
	enum api_result result;
	char query[64];

	core_api_options(c, &opts);
	opts.max_retries = 1;
	api = api_new(&opts, &err);

	if (!api) {
		fprintf(stderr, "omifs: %s\n", err.message);
		snprintf(why, whylen, "%s", err.message);
		return EXIT_USAGE;
	}
	snprintf(query, sizeof(query), "limit=%d&offset=0", c->page_size);
	result = api_get_json(api, collection_of(STORE_MEMORIES)->api_path, query, &page, &err);
	if (result == API_OK && json_object_is_type(page, json_type_array))
		c->first_memories_page = xstrdup(json_object_to_json_string_ext(
			page, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(page);
	api_free(api);
	if (result == API_OK)
		return 0;
	if (result == API_E_AUTH) {
		snprintf(why, whylen, "the server refused the API key: %s", err.message);
		fprintf(stderr, "omifs: %s\n", why);
		return EXIT_AUTH;
	}
	snprintf(why, whylen, "cannot reach the Omi API at %s: %s", c->url, err.message);
	fprintf(stderr, "omifs: %s\n", why);
	return EXIT_SERVER;
}

/* Whether store holds every collection listed less than a refresh
 * interval ago: the key worked then, and the mount has nothing to ask the
 * server before the refresher's next turn, so a warm remount sends no
 * request at all. */
static bool listed_recently(struct store *store, const struct omifs_config *c)
{
	time_t listed_at, now = time(NULL);
	size_t count;
	bool fresh = true;

	for (int k = 0; k < STORE_KINDS && fresh; k++) {
		/* A collection this server does not serve was not listed. */
		if (store_listing_info(store, k, &listed_at, &count) < 0)
			listed_at = collection_of(k)->optional ? store_not_served_at(store, k) : 0;
		fresh = listed_at && listed_at <= now && now - listed_at < c->refresh_interval;
	}
	return fresh;
}

/* Whether the account's cache file exists (c->cache_path found, its
 * directory made, when it can be). */
static bool cache_exists(struct omifs_config *c)
{
	char err[512];

	if (!c->no_disk_cache && !c->cache_path)
		c->cache_path = config_cache_path(c, true, err, sizeof(err));
	return c->cache_path && access(c->cache_path, F_OK) == 0;
}

/* Finds the cache file and makes sure it opens, so that a problem is
 * reported here rather than by a daemon. *fresh (may be NULL) tells
 * whether the cache was listed recently (listed_recently). */
static int open_cache(struct omifs_config *c, bool *fresh)
{
	char err[512];
	struct store *store = NULL;

	if (fresh)
		*fresh = false;
	if (c->no_disk_cache) {
		if (c->offline) {
			fprintf(stderr, "omifs: offline needs the disk cache\n");
			return -1;
		}
		return 0;
	}
	if (!c->cache_path)
		c->cache_path = config_cache_path(c, true, err, sizeof(err));
	if (c->cache_path)
		store = c->offline ? store_open_readonly(c->cache_path, false, err, sizeof(err))
				   : store_open(c->cache_path, err, sizeof(err));
	if (!store) {
		fprintf(stderr, "omifs: %s\n", err);
		return -1;
	}
	if (fresh)
		*fresh = listed_recently(store, c);
	store_close(store);
	return 0;
}

/* Whether the cache file name (HOST-HASH.sqlite, see config_cache_path)
 * is for url's host; any host when url is NULL. */
static bool cache_is_for(const char *name, const char *url)
{
	const char *host = url ? strstr(url, "://") : NULL, *end;
	size_t len;

	if (!url)
		return true;
	host = host ? host + 3 : url;
	end = strchr(host, '/');
	len = end ? (size_t)(end - host) : strlen(host);
	return strncmp(name, host, len) == 0 && name[len] == '-';
}

/*
 * An offline mount needs the key only to find the account's cache file.
 * With no key given, the one cache in the cache directory (for the URL's
 * host, when -o url is given) is the account meant; with several, say
 * which and stop. Returns 0 with c->cache_path set, or -1.
 */
static int pick_offline_cache(struct omifs_config *c, const char *url)
{
	char err[512], *dir = config_cache_dir(c, false, err, sizeof(err));
	struct buf found = BUF_INIT, names = BUF_INIT;
	struct dirent *e;
	int n = 0;
	DIR *d = dir ? opendir(dir) : NULL;

	/* A missing directory holds no account: said below, as an empty one. */
	if (!d && !(dir && errno == ENOENT)) {
		fprintf(stderr, "omifs: %s\n", dir ? strerror(errno) : err);
		free(dir);
		return -1;
	}
	while (d && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len < 8 || strcmp(e->d_name + len - 7, ".sqlite") != 0 ||
		    !cache_is_for(e->d_name, url))
			continue;
		buf_reset(&found);
		buf_printf(&found, "%s/%s", dir, e->d_name);
		buf_printf(&names, "%s%s", n++ ? ", " : "", e->d_name);
	}
	if (d)
		closedir(d);
	if (n == 1)
		c->cache_path = buf_steal(&found);
	else if (n == 0)
		fprintf(stderr, "omifs: offline: no account is cached in %s; give the key "
				"(OMI_API_KEY or -o key_file=FILE) or run omifs sync first\n", dir);
	else
		fprintf(stderr, "omifs: offline: %d accounts are cached in %s (%s); give the key "
				"of the one to mount (OMI_API_KEY or -o key_file=FILE), or -o url=; "
				"omifs cache list shows them\n", n, dir, names.data);
	buf_free(&found);
	buf_free(&names);
	free(dir);
	return n == 1 ? 0 : -1;
}

/* The cache a command reads without the network: the key's account's,
 * or the one account cached (as for an offline mount). 0 or -1 (said). */
static int find_cache(struct omifs_config *c, const char *url_given, const char *command)
{
	const char *env = getenv("OMI_API_KEY");
	char err[512];

	if (c->no_disk_cache) {
		fprintf(stderr, "omifs %s: it reads the disk cache, so it cannot go without one\n",
			command);
		return -1;
	}
	if (!c->key_file && !(env && *env))
		return pick_offline_cache(c, url_given);
	if (load_key(c) < 0)
		return -1;
	c->cache_path = config_cache_path(c, false, err, sizeof(err));
	if (!c->cache_path)
		fprintf(stderr, "omifs %s: %s\n", command, err);
	return c->cache_path ? 0 : -1;
}

static int run_sync(struct omifs_config *c, const char *url_given)
{
	char why[600];
	int rc;

	if (c->check)
		return find_cache(c, url_given, "sync --check") < 0 ? EXIT_USAGE
								 : sync_check_command(c);
	if (c->offline || c->no_disk_cache) {
		fprintf(stderr, "omifs: sync fills the disk cache: it cannot be offline or "
				"without one\n");
		return EXIT_USAGE;
	}
	if (load_key(c) < 0)
		return sync_command_stopped(c, EXIT_USAGE, "no usable API key");
	if ((rc = check_server(c, why, sizeof(why))) != 0)
		return sync_command_stopped(c, rc, why);
	if (open_cache(c, NULL) < 0)
		return sync_command_stopped(c, EXIT_USAGE, "the cache cannot be opened");
	return sync_command(c);
}

/* omifs search: the cache of the key's account, or the one cached
 * account (as for an offline mount), read-only. Returns an exit code. */
static int run_search(struct omifs_config *c, const char *url_given)
{
	struct buf query = BUF_INIT;
	int rc;

	if (find_cache(c, url_given, "search") < 0)
		return SEARCH_TROUBLE;
	for (int i = 0; i < c->n_words; i++)
		buf_printf(&query, "%s%s", i ? " " : "", c->words[i]);
	rc = search_command(c, query.data ? query.data : "",
			    c->search_limit < 0 ? SEARCH_DEFAULT_LIMIT : c->search_limit);
	buf_free(&query);
	return rc;
}

/* omifs changes and omifs mcp: the same cache as omifs search, offline.
 * Returns an exit code. */
static int run_offline(struct omifs_config *c, const char *url_given, enum command cmd)
{
	if (find_cache(c, url_given, cmd == CMD_MCP ? "mcp" : "changes") < 0)
		return cmd == CMD_MCP ? MCP_TROUBLE : CHANGES_TROUBLE;
	if (!c->key)
		c->key = xstrdup("");	/* offline: no request carries it */
	return cmd == CMD_MCP ? mcp_command(c) : changes_command(c);
}

/* The mount's name in the mount table (df, findmnt): the source mount(8)
 * gave, else one that tells accounts on different servers apart. It goes
 * into an option list, where a comma or a backslash would split it. */
/* The name df and findmnt show: mount(8)'s source, or omifs:HOST. An
 * offline mount of the one cached account, with no -o url, takes HOST
 * from the cache file's name (HOST-HASH.sqlite), not from the default URL. */
static void add_fsname(const struct omifs_config *c, bool host_from_cache, struct buf *opt)
{
	const char *host = strstr(c->url, "://"), *file;
	size_t len;

	if (c->source && !strpbrk(c->source, ",\\")) {
		buf_printf(opt, "%s", c->source);
		return;
	}
	if (host_from_cache && c->cache_path && (file = strrchr(c->cache_path, '/')) &&
	    strlen(file + 1) > sizeof("-0123456789abcdef.sqlite") - 1) {
		len = strlen(file + 1) - (sizeof("-0123456789abcdef.sqlite") - 1);
		buf_printf(opt, "omifs:%.*s", (int)len, file + 1);
		return;
	}
	host = host ? host + 3 : c->url;
	len = strcspn(host, "/,\\");
	buf_printf(opt, "omifs:%.*s", (int)len, host);
}

static int run_mount(struct omifs_config *c, struct fuse_args *args, const char *url_given)
{
	struct fs_context ctx = { .config = c };
	struct buf opt = BUF_INIT;
	char why[600];
	const char *env = getenv("OMI_API_KEY");
	bool keyless = c->offline && !c->key_file && !(env && *env) && !c->no_disk_cache;
	bool fresh, checked = false;
	int rc;

	if (keyless ? pick_offline_cache(c, url_given) < 0 : load_key(c) < 0)
		return EXIT_USAGE;
	if (keyless)
		c->key = xstrdup("");	/* offline: no request carries it */
	if (check_mountpoint(c->mountpoint) < 0)
		return EXIT_MOUNTPOINT;
	/* A cache is made only for a key the server accepts: a wrong key or
	 * URL must leave no file that later commands take for an account. */
	if (!c->offline && !cache_exists(c)) {
		if ((rc = check_server(c, why, sizeof(why))) != 0)
			return rc;
		checked = true;
	}
	if (open_cache(c, &fresh) < 0)
		return EXIT_USAGE;
	if (!c->offline && !fresh && !checked && (rc = check_server(c, why, sizeof(why))) != 0)
		return rc;
	buf_puts(&opt, "-oro,nosuid,nodev,default_permissions,subtype=omifs,fsname=");
	add_fsname(c, keyless && !url_given, &opt);
	fuse_opt_add_arg(args, opt.data);
	buf_free(&opt);
	/* libfuse 3.14 warns on every start unless this is set; the user's own
	 * value, later on the command line, still wins. */
	fuse_opt_insert_arg(args, 1, "-omax_idle_threads=10");
	if (c->fuse_debug)
		fuse_opt_add_arg(args, "-d");
	fuse_opt_add_arg(args, c->mountpoint);
	log_setup(c->log_level, !c->foreground);
	rc = fs_run(args, &ctx);
	return rc == -1 ? EXIT_MOUNTPOINT : rc == -2 ? EXIT_USAGE : 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct omifs_config config;
	enum command command;
	char *url_given, why[600];
	int rc;

	/* The key must not end up in a core dump. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* A transcript batch is tens of MiB of short-lived JSON; with an arena
	 * per FUSE thread each would keep its own high-water mark. */
	mallopt(M_ARENA_MAX, 2);
	/* Blocks past 128 KiB (a rendered transcript, a page of JSON) are
	 * mapped and unmapped alone. glibc would raise this bound as they
	 * are freed and then place them in the heaps, whose holes stay
	 * resident: a backup of 100,000 conversations grew the mount by
	 * 8 MiB that way, for good. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	if (cli_parse(&args, &config, &command) < 0) {
		/* search answers like grep: 1 means nothing matched. */
		rc = command == CMD_SEARCH ? SEARCH_TROUBLE : EXIT_USAGE;
		goto out;
	}
	url_given = config.url;
	if (!config.url)
		config.url = strdup(DEFAULT_URL);
	use_default_key_file(&config);
	if (config.debug)
		config.log_level = LOG_DEBUG;
	if (config.fuse_debug)
		config.foreground = true;
	log_setup(config.log_level, false);
	if (config.log_file && log_open_file(config.log_file, why, sizeof(why)) < 0) {
		fprintf(stderr, "%s: %s\n", command == CMD_SYNC ? "omifs sync" : "omifs", why);
		rc = EXIT_USAGE;
		goto out;
	}
	switch (command) {
	case CMD_KEYS:
		rc = load_key(&config) < 0 ? EXIT_USAGE
					   : keys_command(&config, config.words, config.n_words);
		break;
	case CMD_STATUS:
		rc = mount_status_command(config.words[0], config.metrics ? MOUNT_STATUS_METRICS
						: config.json ? MOUNT_STATUS_JSON : MOUNT_STATUS_TEXT);
		break;
	case CMD_REFRESH:
		rc = mount_refresh_command(config.words[0], config.accept_deletions, config.wait);
		break;
	case CMD_SYNC: rc = run_sync(&config, url_given); break;
	case CMD_SEARCH: rc = run_search(&config, url_given); break;
	case CMD_CACHE: rc = cache_command(&config, config.words, config.n_words); break;
	case CMD_CHANGES:
	case CMD_MCP: rc = run_offline(&config, url_given, command); break;
	default: rc = run_mount(&config, &args, url_given); break;
	}
out:
	fuse_opt_free_args(&args);
	config_free(&config);
	return rc;
}
