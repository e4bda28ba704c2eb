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
#include "collections.h"
#include "config.h"
#include "core.h"
#include "fs.h"
#include "log.h"
#include "store.h"
#include "keys_command.h"
#include "mount_command.h"
#include "search_command.h"
#include "sync_command.h"

#include <ctype.h>
#include <curl/curl.h>
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

enum { EXIT_USAGE = 1, EXIT_AUTH = 2, EXIT_SERVER = 3, EXIT_MOUNTPOINT = 4 };
enum {
	KEY_HELP, KEY_HELP_FUSE, KEY_VERSION, KEY_FOREGROUND, KEY_DEBUG, KEY_JSON, KEY_QUIET,
	KEY_KEY_ON_COMMAND_LINE
};
enum command { CMD_MOUNT, CMD_SYNC, CMD_KEYS, CMD_STATUS, CMD_REFRESH, CMD_SEARCH };

#define SEARCH_DEFAULT_LIMIT 20

#define DEFAULT_URL "https://api.omi.me/v1/dev"

#define OPT(t, field) { t, offsetof(struct omifs_config, field), 1 }
static const struct fuse_opt option_spec[] = {
	OPT("url=%s", url),
	OPT("key_file=%s", key_file),
	OPT("cafile=%s", cafile),
	OPT("cache_dir=%s", cache_dir),
	OPT("no_disk_cache", no_disk_cache),
	OPT("ttl=%d", cache_ttl),
	OPT("refresh=%d", refresh_interval),
	OPT("full_refresh=%d", full_refresh_interval),
	OPT("timeout=%d", request_timeout),
	OPT("connect_timeout=%d", connect_timeout),
	OPT("retries=%d", retries),
	OPT("api_profile=%s", api_profile),
	OPT("max_per_minute=%d", per_minute),
	OPT("max_per_day=%d", per_day),
	OPT("max_transcripts_per_hour=%d", transcripts_per_hour),
	OPT("rate_window_scale=%lf", rate_window_scale),
	OPT("budget_wait=%d", budget_wait),
	OPT("page_size=%d", page_size),
	OPT("transcript_batch=%d", transcript_batch),
	OPT("transcript_page=%d", transcript_page),
	OPT("log_level=%d", log_level),
	OPT("offline", offline),
	OPT("allow_http", allow_http),
	OPT("token_file=%s", key_file),
	OPT("--save=%s", save_path),
	OPT("--save %s", save_path),
	OPT("--limit=%d", search_limit),
	OPT("--limit %d", search_limit),
	FUSE_OPT_KEY("key=", KEY_KEY_ON_COMMAND_LINE),
	FUSE_OPT_KEY("api_key=", KEY_KEY_ON_COMMAND_LINE),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("--help-fuse", KEY_HELP_FUSE),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("--json", KEY_JSON),
	FUSE_OPT_KEY("-q", KEY_QUIET),
	FUSE_OPT_KEY("--quiet", KEY_QUIET),
	FUSE_OPT_END
};

/*
 * The libfuse options a mount passes on, and the only ones: an allow-list
 * rather than asking libfuse, because libfuse checks its options only
 * inside fuse_new and fuse_session_new, after the key check, in its own
 * words and with its own exit code. The list is short on purpose: options
 * that would break omifs's promises (kernel_cache keeps stale pages,
 * modules= renames files) are left out.
 */
static const struct {
	const char *name;	/* "uid=N": anything after '=' is the value's name */
	const char *help;
} fuse_passthrough[] = {
	{ "allow_other", "let other users in (needs user_allow_other in /etc/fuse.conf)" },
	{ "allow_root", "let root in as well as you" },
	{ "auto_unmount", "unmount when omifs dies, even by kill -9" },
	{ "default_permissions", "the kernel checks permissions (always on)" },
	{ "max_idle_threads=N", "idle worker threads kept (default 10)" },
	{ "max_threads=N", "worker threads at most (default 10)" },
	{ "clone_fd", "a /dev/fuse descriptor per worker thread" },
	{ "noatime", "the usual mount flag" },
	{ "uid=N", "owner shown for every file (default: you)" },
	{ "gid=N", "group shown for every file (default: yours)" },
	{ "umask=M", "permission bits to clear (octal)" },
};

/* What mount(8) and fstab say that means nothing to omifs, which always
 * mounts ro,nosuid,nodev: accepted and dropped. */
static const char *const mount_words[] = {
	"ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "atime", "relatime",
	"async", "defaults", "auto", "noauto", "user", "users", "nouser", "nofail", "_netdev",
};

static bool option_matches(const char *arg, const char *name)
{
	const char *eq = strchr(name, '=');

	return eq ? strncmp(arg, name, (size_t)(eq - name + 1)) == 0 && arg[eq - name + 1]
		  : strcmp(arg, name) == 0;
}

static bool is_passthrough(const char *arg)
{
	for (size_t i = 0; i < sizeof(fuse_passthrough) / sizeof(*fuse_passthrough); i++)
		if (option_matches(arg, fuse_passthrough[i].name))
			return true;
	return strcmp(arg, "-s") == 0;
}

static bool is_mount_word(const char *arg)
{
	for (size_t i = 0; i < sizeof(mount_words) / sizeof(*mount_words); i++)
		if (strcmp(arg, mount_words[i]) == 0)
			return true;
	return strncmp(arg, "x-", 2) == 0 || strncmp(arg, "comment=", 8) == 0;
}

static void help_fuse(void)
{
	printf("Generic FUSE options that omifs passes on to libfuse (mounts only):\n");
	for (size_t i = 0; i < sizeof(fuse_passthrough) / sizeof(*fuse_passthrough); i++)
		printf("    -o %-22s %s\n", fuse_passthrough[i].name, fuse_passthrough[i].help);
	printf("    -s                       single-threaded\n"
	       "\n"
	       "mount(8)'s ro, rw, [no]suid, [no]dev, [no]exec, atime, relatime, async,\n"
	       "defaults, [no]auto, user(s), nofail, _netdev, x-* and comment= are accepted\n"
	       "and ignored: omifs always mounts ro,nosuid,nodev. Any other option is an\n"
	       "error.\n");
}

static void usage_mount(const char *prog)
{
	printf("usage: %s [options] [source] MOUNTPOINT\n"
	       "       %s sync [options]            fill the disk cache (omifs sync -h)\n"
	       "       %s keys list|create|revoke   manage API keys (omifs keys -h)\n"
	       "       %s status MOUNTPOINT         print a mount's .omifs/status\n"
	       "       %s refresh MOUNTPOINT        make a mount look for changes now\n"
	       "       %s search QUERY              search the cache (omifs search -h)\n"
	       "\n"
	       "Mounts your Omi memories, conversations and action items read-only.\n"
	       "The API key comes from $OMI_API_KEY or -o key_file=FILE (mode 0600).\n"
	       "source is the name df and findmnt show for the mount (default\n"
	       "omifs:HOST, HOST from the URL); mount(8) passes it.\n"
	       "\n"
	       "omifs options:\n"
	       "    -o url=URL               API base URL (default %s)\n"
	       "    -o key_file=FILE         read the API key from FILE\n"
	       "    -o token_file=FILE       the same (for keys: the app's login token)\n"
	       "    -o cafile=FILE           trust this CA bundle (self-hosted servers)\n"
	       "    -o allow_http            allow plain http:// to a host other than\n"
	       "                             this machine (the key travels in clear)\n"
	       "    -o cache_dir=DIR         where the cache lives (default\n"
	       "                             $XDG_CACHE_HOME/omifs or ~/.cache/omifs)\n"
	       "    -o no_disk_cache         keep nothing on disk (memory only)\n"
	       "    -o offline               send no request; serve what is cached (no key\n"
	       "                             needed when one account is cached)\n"
	       "    -o refresh=SECONDS       look for new items this often (default 300)\n"
	       "    -o full_refresh=SECONDS  list conversations completely, finding edits\n"
	       "                             and deletions, this often (default 3600)\n"
	       "    -o ttl=SECONDS           how long the kernel caches names and\n"
	       "                             attributes (default 60)\n"
	       "    -o timeout=SECONDS       give up on a request after this (default 60)\n"
	       "    -o connect_timeout=SECONDS  (default 10)\n"
	       "    -o retries=N             retries of a failed request (default 4)\n"
	       "    -o api_profile=NAME      the server's rate limits: documented (default:\n"
	       "                             100/min, 10000/day) or backend (per hour:\n"
	       "                             120 memories, 120 action items, 60 listings,\n"
	       "                             25 with transcripts)\n"
	       "    -o max_per_minute=N      request budget per minute (0: none)\n"
	       "    -o max_per_day=N         request budget per day (0: none)\n"
	       "    -o max_transcripts_per_hour=N  requests with transcripts per hour\n"
	       "    -o rate_window_scale=F   multiply every rate window by F (for tests)\n"
	       "    -o budget_wait=SECONDS   longest wait for budget before EAGAIN (default 30)\n"
	       "    -o page_size=N           items asked per page (default 1000)\n"
	       "    -o transcript_batch=N    conversations fetched with a single transcript\n"
	       "                             read (default 25)\n"
	       "    -o transcript_page=N     ... with each read of a walk such as rsync: the\n"
	       "                             largest page the server serves with transcripts\n"
	       "                             (default 1000; 25 with api_profile=backend)\n"
	       "    -o log_level=N           0 errors, 1 warnings (default), 2 info, 3 debug\n"
	       "    -f                       stay in the foreground, log to stderr\n"
	       "    -d                       debug: foreground, log every request\n"
	       "    -h, --help               this help\n"
	       "    --help-fuse              the generic FUSE options omifs accepts\n"
	       "    -V, --version            versions\n"
	       "\n"
	       "Exit codes: 0 ok, 1 usage or configuration, 2 key refused, 3 server\n"
	       "unreachable, 4 mountpoint unusable.\n",
	       prog, prog, prog, prog, prog, prog, DEFAULT_URL);
}

static void usage_sync(const char *prog)
{
	printf("usage: %s sync [-q] [--json] [-o option,...]\n"
	       "\n"
	       "Fills the disk cache with everything, transcripts included, paced to the\n"
	       "API's limits, so that a later -o offline mount needs no network. Resumes\n"
	       "where it stopped. Progress goes to stderr; Ctrl-C stops it (exit 130).\n"
	       "\n"
	       "    -q, --quiet              print nothing but errors\n"
	       "    --json                   print a summary object on stdout at the end\n"
	       "    -o url=, key_file=, cache_dir=, api_profile=, transcript_batch=, ...\n"
	       "                             as for a mount (omifs -h)\n"
	       "\n"
	       "Exit codes: 0 done, 1 usage, 2 key refused, 3 server failing or budget\n"
	       "spent, 130 interrupted.\n", prog);
}

static void usage_keys(const char *prog)
{
	printf("usage: %s keys list [--json] [-o option,...]\n"
	       "       %s keys create NAME [--save PATH] [-o option,...]\n"
	       "       %s keys revoke ID [-o option,...]\n"
	       "\n"
	       "Lists, creates and revokes API keys with the token from $OMI_API_KEY or\n"
	       "-o key_file=FILE (token_file=: the backend wants the app's login token).\n"
	       "\n"
	       "    --json                   list: the keys as a JSON array\n"
	       "    --save PATH              create: write the new secret to PATH (mode\n"
	       "                             0600, which must not exist) instead of\n"
	       "                             printing it\n"
	       "    -o url=URL               API base URL (default %s)\n", prog, prog, prog,
	       DEFAULT_URL);
}

static void usage_status(const char *prog)
{
	printf("usage: %s status MOUNTPOINT\n"
	       "       %s refresh MOUNTPOINT\n"
	       "\n"
	       "status prints the mount's .omifs/status. refresh asks the omifs process\n"
	       "serving MOUNTPOINT to look for new, changed and deleted items now (as\n"
	       "kill -HUP would), found through the mount itself.\n", prog, prog);
}

static void usage_search(const char *prog)
{
	printf("usage: %s search [--json] [--limit N] [-o option,...] QUERY\n"
	       "\n"
	       "Searches everything cached (titles, overviews, transcripts, action items,\n"
	       "events, memories) and prints the best matches first, each with its path\n"
	       "in the mount, date, kind, title and the matching words. Reads the disk\n"
	       "cache only: no mount, no request; no key needed when one account is\n"
	       "cached. Says how many transcripts are indexed: omifs sync fetches the rest.\n"
	       "\n"
	       "QUERY is FTS5 syntax: words (all must match), \"a phrase\", a OR b,\n"
	       "a NOT b, NEAR(a b, 10), prefix*. Case and accents are ignored (cafe finds\n"
	       "café); Chinese, Japanese and Korean are found by any part. Several\n"
	       "arguments are one query, joined by spaces.\n"
	       "\n"
	       "    --json                   print one JSON object: query, results, indexed\n"
	       "    --limit N                at most N results (default %d; 0: all)\n"
	       "    -o url=, key_file=, cache_dir=   which account's cache (omifs -h)\n"
	       "\n"
	       "Exit codes: 0 found, 1 nothing matched, 2 a bad query or no cache.\n", prog,
	       SEARCH_DEFAULT_LIMIT);
}

static void usage(enum command cmd)
{
	switch (cmd) {
	case CMD_MOUNT: usage_mount("omifs"); break;
	case CMD_SYNC: usage_sync("omifs"); break;
	case CMD_KEYS: usage_keys("omifs"); break;
	case CMD_STATUS:
	case CMD_REFRESH: usage_status("omifs"); break;
	case CMD_SEARCH: usage_search("omifs"); break;
	}
}

/* fuse_opt's data: the configuration first (option_spec's offsets are
 * into it), then what it does not hold. */
struct parse_state {
	struct omifs_config config;
	enum command command;
};

static const char *const command_name[] = { "omifs", "omifs sync", "omifs keys", "omifs status",
					     "omifs refresh", "omifs search" };

static int unknown_option(const struct parse_state *p, const char *arg)
{
	fprintf(stderr, "%s: unknown option '%s%s' (see %s -h)\n", command_name[p->command],
		arg[0] == '-' ? "" : "-o ", arg, command_name[p->command]);
	return -1;
}

static int keep_word(struct omifs_config *c, const char *arg)
{
	if (c->n_words >= 0) {
		if (c->n_words == (int)(sizeof(c->words) / sizeof(*c->words))) {
			fprintf(stderr, "omifs: too many arguments (quote a query of many words)\n");
			return -1;
		}
		c->words[c->n_words++] = strdup(arg);
		return 0;
	}
	/* mount(8) passes "source mountpoint": keep the last as the mountpoint. */
	if (c->mountpoint) {
		free(c->source);
		c->source = c->mountpoint;
	}
	c->mountpoint = strdup(arg);
	return 0;
}

static int process_option(void *data, const char *arg, int key, struct fuse_args *args)
{
	struct parse_state *p = data;
	struct omifs_config *c = &p->config;

	(void)args;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		return keep_word(c, arg);
	case FUSE_OPT_KEY_OPT:
		/* Anything no table above knows is a mistake worth stopping for. */
		if (p->command == CMD_MOUNT && is_mount_word(arg))
			return 0;
		if (p->command == CMD_MOUNT && is_passthrough(arg))
			return 1;
		return unknown_option(p, arg);
	case KEY_KEY_ON_COMMAND_LINE:
		fprintf(stderr, "omifs: the API key is never taken from the command line "
				"(it would show in ps); use OMI_API_KEY or -o key_file=FILE\n");
		exit(EXIT_USAGE);
	case KEY_HELP:
		usage(p->command);
		exit(0);
	case KEY_HELP_FUSE:
		help_fuse();
		exit(0);
	case KEY_VERSION:
		printf("omifs %s\nlibfuse %s\n%s\n", OMIFS_VERSION, fuse_pkgversion(),
		       curl_version());
		exit(0);
	case KEY_JSON:
		c->json = true;
		return 0;
	case KEY_QUIET:
		c->quiet = true;
		return 0;
	case KEY_DEBUG:
		c->debug = true;
		c->foreground = true;
		return p->command == CMD_MOUNT;
	case KEY_FOREGROUND:
		c->foreground = true;
		return p->command == CMD_MOUNT;
	}
	return 1;
}

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
		fd = open(c->key_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
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
		line[strcspn(line, "\r\n")] = '\0';
		c->key = strdup(line);
		explicit_bzero(line, sizeof(line));
	} else {
		fprintf(stderr, "omifs: no API key: set OMI_API_KEY or use -o key_file=FILE\n");
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
 * check costs no request of its own. */
static int check_server(struct omifs_config *c)
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
		fprintf(stderr, "omifs: the server refused the API key: %s\n", err.message);
		return EXIT_AUTH;
	}
	fprintf(stderr, "omifs: cannot reach the Omi API at %s: %s\n", c->url, err.message);
	return EXIT_SERVER;
}

/* Finds the cache file and makes sure it opens, so that a problem is
 * reported here rather than by a daemon. */
static int open_cache(struct omifs_config *c)
{
	char err[512];
	struct store *store = NULL;

	if (c->no_disk_cache) {
		if (c->offline) {
			fprintf(stderr, "omifs: offline needs the disk cache\n");
			return -1;
		}
		return 0;
	}
	if (!c->cache_path)
		c->cache_path = config_cache_path(c, err, sizeof(err));
	if (c->cache_path)
		store = c->offline ? store_open_readonly(c->cache_path, err, sizeof(err))
				   : store_open(c->cache_path, err, sizeof(err));
	if (!store) {
		fprintf(stderr, "omifs: %s\n", err);
		return -1;
	}
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
	char err[512], *dir = config_cache_dir(c, err, sizeof(err));
	struct buf found = BUF_INIT, names = BUF_INIT;
	struct dirent *e;
	int n = 0;
	DIR *d = dir ? opendir(dir) : NULL;

	if (!d) {
		fprintf(stderr, "omifs: %s\n", dir ? strerror(errno) : err);
		free(dir);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len < 8 || strcmp(e->d_name + len - 7, ".sqlite") != 0 ||
		    !cache_is_for(e->d_name, url))
			continue;
		buf_reset(&found);
		buf_printf(&found, "%s/%s", dir, e->d_name);
		buf_printf(&names, "%s%s", n++ ? ", " : "", e->d_name);
	}
	closedir(d);
	if (n == 1)
		c->cache_path = buf_steal(&found);
	else if (n == 0)
		fprintf(stderr, "omifs: offline: no account is cached in %s; give the key "
				"(OMI_API_KEY or -o key_file=FILE) or run omifs sync first\n", dir);
	else
		fprintf(stderr, "omifs: offline: %d accounts are cached in %s (%s); give the key "
				"of the one to mount (OMI_API_KEY or -o key_file=FILE), or -o url=\n",
			n, dir, names.data);
	buf_free(&found);
	buf_free(&names);
	free(dir);
	return n == 1 ? 0 : -1;
}

static void free_config(struct omifs_config *c)
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
	for (int i = 0; i < c->n_words; i++)
		free(c->words[i]);
	free(c->mountpoint);
	free(c->source);
}

/* Which command argv names; the words after it are its own. */
static enum command command_of(int argc, char **argv)
{
	static const char *const names[] = { [CMD_SYNC] = "sync", [CMD_KEYS] = "keys",
					     [CMD_STATUS] = "status", [CMD_REFRESH] = "refresh",
					     [CMD_SEARCH] = "search" };

	for (int k = CMD_SYNC; argc > 1 && k <= CMD_SEARCH; k++)
		if (strcmp(argv[1], names[k]) == 0)
			return k;
	return CMD_MOUNT;
}

/* What only the command line can get wrong, said before anything else
 * happens (no key is read, nothing is mounted). Returns 0 or -1. */
static int check_command_line(const struct omifs_config *c, enum command cmd)
{
	const char *word = c->n_words > 0 ? c->words[0] : "";
	const char *problem = NULL;

	if (c->json && !(cmd == CMD_SYNC || cmd == CMD_SEARCH ||
			 (cmd == CMD_KEYS && strcmp(word, "list") == 0)))
		problem = "--json goes with omifs sync, omifs search and omifs keys list";
	else if (c->search_limit != -1 && cmd != CMD_SEARCH)
		problem = "--limit goes with omifs search";
	else if (cmd == CMD_SEARCH && (c->n_words < 1 || c->search_limit < -1))
		problem = c->n_words < 1 ? "give a QUERY" : "--limit takes a number >= 0";
	else if (c->quiet && cmd != CMD_SYNC)
		problem = "-q goes with omifs sync";
	else if (c->save_path && !(cmd == CMD_KEYS && strcmp(word, "create") == 0))
		problem = "--save goes with omifs keys create";
	else if (cmd == CMD_KEYS && !keys_command_valid(c->words, c->n_words))
		problem = "usage: omifs keys list | create NAME [--save PATH] | revoke ID";
	else if ((cmd == CMD_STATUS || cmd == CMD_REFRESH) && c->n_words != 1)
		problem = "give one MOUNTPOINT";
	else if (cmd == CMD_SYNC && c->mountpoint)
		problem = "sync takes no mountpoint";
	else if (cmd == CMD_MOUNT && !c->mountpoint)
		problem = "no mountpoint given";
	else if (c->cache_ttl < 0 || c->refresh_interval < 1 || c->full_refresh_interval < 1 ||
		 c->page_size < 1 || c->transcript_batch < 1 || c->transcript_page == 0 ||
		 c->transcript_page < -1 || c->request_timeout < 1 ||
		 c->connect_timeout < 1 || c->retries < 0 || c->budget_wait < 0 ||
		 c->rate_window_scale <= 0 ||
		 (c->api_profile && strcmp(c->api_profile, "documented") != 0 &&
		  strcmp(c->api_profile, "backend") != 0))
		problem = "an option has a value out of range";
	if (problem)
		fprintf(stderr, "%s: %s (see %s -h)\n", command_name[cmd], problem, command_name[cmd]);
	return problem ? -1 : 0;
}

static int run_sync(struct omifs_config *c)
{
	int rc;

	if (c->offline || c->no_disk_cache) {
		fprintf(stderr, "omifs: sync fills the disk cache: it cannot be offline or "
				"without one\n");
		return EXIT_USAGE;
	}
	if (load_key(c) < 0)
		return EXIT_USAGE;
	if ((rc = check_server(c)) != 0)
		return rc;
	return open_cache(c) < 0 ? EXIT_USAGE : sync_command(c);
}

/* Whether the cache (one per server and key) holds every collection
 * listed less than a refresh interval ago: the key worked then, and the
 * mount has nothing to ask the server before the refresher's next turn,
 * so a warm remount sends no request at all. */
static bool cache_is_fresh(const struct omifs_config *c)
{
	char err[512];
	struct store *store;
	time_t listed_at, now = time(NULL);
	size_t count;
	bool fresh = true;

	if (c->no_disk_cache || !c->cache_path)
		return false;
	store = store_open_readonly(c->cache_path, err, sizeof(err));
	if (!store)
		return false;
	for (int k = 0; k < STORE_KINDS && fresh; k++)
		fresh = store_listing_info(store, k, &listed_at, &count) == 0 &&
			listed_at <= now && now - listed_at < c->refresh_interval;
	store_close(store);
	return fresh;
}

/* omifs search: the cache of the key's account, or the one cached
 * account (as for an offline mount), read-only. Returns an exit code. */
static int run_search(struct omifs_config *c, const char *url_given)
{
	const char *env = getenv("OMI_API_KEY");
	struct buf query = BUF_INIT;
	char err[512];
	int rc;

	if (c->no_disk_cache) {
		fprintf(stderr, "omifs search: it searches the disk cache, so it cannot go "
				"without one\n");
		return SEARCH_TROUBLE;
	}
	if (c->key_file || (env && *env)) {
		if (load_key(c) < 0)
			return SEARCH_TROUBLE;
		c->cache_path = config_cache_path(c, err, sizeof(err));
		if (!c->cache_path) {
			fprintf(stderr, "omifs search: %s\n", err);
			return SEARCH_TROUBLE;
		}
	} else if (pick_offline_cache(c, url_given) < 0) {
		return SEARCH_TROUBLE;
	}
	for (int i = 0; i < c->n_words; i++)
		buf_printf(&query, "%s%s", i ? " " : "", c->words[i]);
	rc = search_command(c, query.data, c->search_limit < 0 ? SEARCH_DEFAULT_LIMIT
							    : c->search_limit);
	buf_free(&query);
	return rc;
}

/* The mount's name in the mount table (df, findmnt): the source mount(8)
 * gave, else one that tells accounts on different servers apart. It goes
 * into an option list, where a comma or a backslash would split it. */
static void add_fsname(const struct omifs_config *c, struct buf *opt)
{
	const char *host = strstr(c->url, "://");
	size_t len;

	if (c->source && !strpbrk(c->source, ",\\")) {
		buf_printf(opt, "%s", c->source);
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
	const char *env = getenv("OMI_API_KEY");
	bool keyless = c->offline && !c->key_file && !(env && *env) && !c->no_disk_cache;
	int rc;

	if (keyless ? pick_offline_cache(c, url_given) < 0 : load_key(c) < 0)
		return EXIT_USAGE;
	if (keyless)
		c->key = xstrdup("");	/* offline: no request carries it */
	if (check_mountpoint(c->mountpoint) < 0)
		return EXIT_MOUNTPOINT;
	if (open_cache(c) < 0)
		return EXIT_USAGE;
	if (!c->offline && !cache_is_fresh(c) && (rc = check_server(c)) != 0)
		return rc;
	buf_puts(&opt, "-oro,nosuid,nodev,default_permissions,subtype=omifs,fsname=");
	add_fsname(c, &opt);
	fuse_opt_add_arg(args, opt.data);
	buf_free(&opt);
	/* libfuse 3.14 warns on every start unless this is set; the user's own
	 * value, later on the command line, still wins. */
	fuse_opt_insert_arg(args, 1, "-omax_idle_threads=10");
	fuse_opt_add_arg(args, c->mountpoint);
	log_setup(c->log_level, !c->foreground);
	rc = fs_run(args, &ctx);
	return rc == -1 ? EXIT_MOUNTPOINT : rc == -2 ? EXIT_USAGE : 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct parse_state state = { .config = {
		.cache_ttl = 60,
		.refresh_interval = 300,
		.full_refresh_interval = 3600,
		.connect_timeout = 10,
		.request_timeout = 60,
		.retries = 4,
		.per_minute = -1,
		.per_day = -1,
		.transcripts_per_hour = -1,
		.rate_window_scale = 1,
		.budget_wait = 30,
		.page_size = 1000,
		.transcript_batch = 25,
		.transcript_page = -1,
		.log_level = LOG_WARN,
		.n_words = -1,
		.search_limit = -1,
	}, .command = command_of(argc, argv) };
	struct omifs_config *config = &state.config;
	char *url_given;
	int rc;

	/* The key must not end up in a core dump. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* A transcript batch is tens of MiB of short-lived JSON; with an arena
	 * per FUSE thread each would keep its own high-water mark. */
	mallopt(M_ARENA_MAX, 2);
	if (state.command != CMD_MOUNT) {
		config->n_words = state.command == CMD_SYNC ? -1 : 0;
		args.argc--;
		args.argv++;
	}
	if (fuse_opt_parse(&args, &state, option_spec, process_option) < 0 ||
	    check_command_line(config, state.command) < 0) {
		/* search answers like grep: 1 means nothing matched. */
		rc = state.command == CMD_SEARCH ? SEARCH_TROUBLE : EXIT_USAGE;
		goto out;
	}
	url_given = config->url;
	if (!config->url)
		config->url = strdup(DEFAULT_URL);
	if (config->debug)
		config->log_level = LOG_DEBUG;
	log_setup(config->log_level, false);
	switch (state.command) {
	case CMD_KEYS:
		rc = load_key(config) < 0 ? EXIT_USAGE
					   : keys_command(config, config->words, config->n_words);
		break;
	case CMD_STATUS: rc = mount_status_command(config->words[0]); break;
	case CMD_REFRESH: rc = mount_refresh_command(config->words[0]); break;
	case CMD_SYNC: rc = run_sync(config); break;
	case CMD_SEARCH: rc = run_search(config, url_given); break;
	default: rc = run_mount(config, &args, url_given); break;
	}
out:
	fuse_opt_free_args(&args);
	free_config(config);
	return rc;
}
