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
#include "config.h"
#include "fs.h"
#include "log.h"
#include "store.h"
#include "keys_command.h"
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
enum { KEY_HELP, KEY_VERSION, KEY_FOREGROUND, KEY_DEBUG, KEY_KEY_ON_COMMAND_LINE };

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
	FUSE_OPT_KEY("key=", KEY_KEY_ON_COMMAND_LINE),
	FUSE_OPT_KEY("api_key=", KEY_KEY_ON_COMMAND_LINE),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_END
};

static void usage(const char *prog)
{
	printf("usage: %s [options] [source] MOUNTPOINT\n"
	       "       %s sync [options]\n"
	       "       %s keys list | create NAME [--save PATH] | revoke ID [options]\n"
	       "\n"
	       "Mounts your Omi memories, conversations and action items read-only;\n"
	       "'sync' fills the disk cache with everything, transcripts included;\n"
	       "'keys' lists, creates and revokes API keys.\n"
	       "The API key comes from $OMI_API_KEY or -o key_file=FILE (mode 0600).\n"
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
	       "    -o offline               send no request; serve what is cached\n"
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
	       "    -s                       single-threaded\n"
	       "    -h, --help               this help, then libfuse's options\n"
	       "    -V, --version            versions\n"
	       "\n",
	       prog, prog, prog, DEFAULT_URL);
}

static int process_option(void *data, const char *arg, int key, struct fuse_args *args)
{
	struct omifs_config *c = data;

	(void)args;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (c->n_words >= 0) {
			if (c->n_words == (int)(sizeof(c->words) / sizeof(*c->words)))
				return -1;
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
	case KEY_KEY_ON_COMMAND_LINE:
		fprintf(stderr, "omifs: the API key is never taken from the command line "
				"(it would show in ps); use OMI_API_KEY or -o key_file=FILE\n");
		exit(EXIT_USAGE);
	case KEY_HELP:
		usage(args->argv[0]);
		fuse_cmdline_help();
		fuse_lib_help(args);
		exit(0);
	case KEY_VERSION:
		printf("omifs %s\nlibfuse %s\n%s\n", OMIFS_VERSION, fuse_pkgversion(),
		       curl_version());
		exit(0);
	case KEY_DEBUG:
		c->debug = true;
		c->foreground = true;
		return 1;
	case KEY_FOREGROUND:
		c->foreground = true;
		return 1;
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

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape_mountinfo(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/* Whether the mount at path (an absolute path) is an omifs one, as far as
 * this process's mount table says. */
static bool is_omifs_mount(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192], point[4096], fstype[256];
	bool found = false;

	if (!f)
		return false;
	/* id parent major:minor root mountpoint options [optional...] - fstype ... */
	while (!found && fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
		    sscanf(sep + 3, "%255s", fstype) != 1)
			continue;
		unescape_mountinfo(point);
		found = strcmp(point, path) == 0 && strcmp(fstype, "fuse.omifs") == 0;
	}
	fclose(f);
	return found;
}

/* path made absolute without touching its last component (a dead mount
 * cannot be stat'ed). Returns a malloc'd path or NULL. */
static char *absolute_path(const char *path)
{
	char *copy = xstrdup(path), *slash, *dir, *out = NULL;
	struct buf b = BUF_INIT;

	while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
		copy[strlen(copy) - 1] = '\0';
	slash = strrchr(copy, '/');
	if (slash == copy) {
		out = xstrdup(copy);
	} else {
		if (slash)
			*slash = '\0';
		dir = realpath(slash ? copy : ".", NULL);
		if (dir) {
			buf_printf(&b, "%s/%s", strcmp(dir, "/") ? dir : "", slash ? slash + 1 : copy);
			out = buf_steal(&b);
		}
		free(dir);
	}
	free(copy);
	return out;
}

/* A mountpoint whose FUSE process died answers ENOTCONN to everything.
 * When it was an omifs mount, clearing it loses nothing (the data is in
 * the cache and on the server): do it. Returns 0 once it is gone. */
static int clear_dead_mount(const char *path)
{
	char *abs = absolute_path(path);
	char *const argv[] = { "fusermount3", "-u", "-z", abs, NULL };
	bool ours = abs && is_omifs_mount(abs);
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
	if (strncmp(path, "/dev/fd/", 8) == 0 ||
	    (statfs(path, &fs) == 0 && fs.f_type == AUTOFS_SUPER_MAGIC))
		return 0;
	d = opendir(path);
	if (!d && errno == ENOTCONN && clear_dead_mount(path) == 0)
		d = opendir(path);
	else if (!d && errno == ENOTCONN)
		return -1;
	if (!d) {
		fprintf(stderr, "omifs: cannot use mountpoint %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = false;
	closedir(d);
	if (!empty) {
		fprintf(stderr, "omifs: mountpoint %s is not empty\n", path);
		return -1;
	}
	return 0;
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

	config_api_options(c, &opts);
	opts.max_retries = 1;
	api = api_new(&opts, &err);

	if (!api) {
		fprintf(stderr, "omifs: %s\n", err.message);
		return EXIT_USAGE;
	}
	snprintf(query, sizeof(query), "limit=%d&offset=0", c->page_size);
	result = api_get_json(api, "/user/memories", query, &page, &err);
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

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct omifs_config config = {
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
	};
	struct fs_context ctx = { .config = &config };
	struct buf opt = BUF_INIT;
	bool sync_mode = false;
	int rc;

	/* The key must not end up in a core dump. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* A transcript batch is tens of MiB of short-lived JSON; with an arena
	 * per FUSE thread each would keep its own high-water mark. */
	mallopt(M_ARENA_MAX, 2);
	/* "omifs sync|keys ...": the same options, no mountpoint. */
	if (argc > 1 && strcmp(argv[1], "sync") == 0) {
		sync_mode = true;
		args.argc--;
		args.argv++;
	} else if (argc > 1 && strcmp(argv[1], "keys") == 0) {
		config.n_words = 0;
		args.argc--;
		args.argv++;
	}
	if (fuse_opt_parse(&args, &config, option_spec, process_option) < 0)
		return EXIT_USAGE;
	if (!config.url)
		config.url = strdup(DEFAULT_URL);
	if (config.debug)
		config.log_level = LOG_DEBUG;
	log_setup(config.log_level, false);
	if (config.n_words >= 0) {
		rc = load_key(&config) < 0 ? EXIT_USAGE
					   : keys_command(&config, config.words, config.n_words);
		goto out;
	}
	if (sync_mode ? config.mountpoint != NULL : config.mountpoint == NULL) {
		fprintf(stderr, sync_mode ? "omifs: sync takes no mountpoint (see omifs -h)\n"
					  : "omifs: no mountpoint given (see omifs -h)\n");
		rc = EXIT_USAGE;
		goto out;
	}
	if (config.cache_ttl < 0 || config.refresh_interval < 1 ||
	    config.full_refresh_interval < 1 || config.page_size < 1 || config.transcript_batch < 1 ||
	    config.transcript_page == 0 || config.transcript_page < -1 ||
	    config.request_timeout < 1 || config.connect_timeout < 1 || config.retries < 0 ||
	    config.budget_wait < 0 || config.rate_window_scale <= 0 ||
	    (config.api_profile && strcmp(config.api_profile, "documented") != 0 &&
	     strcmp(config.api_profile, "backend") != 0)) {
		fprintf(stderr, "omifs: an option has a value out of range (see omifs -h)\n");
		rc = EXIT_USAGE;
		goto out;
	}
	if (load_key(&config) < 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	if (sync_mode) {
		if (config.offline || config.no_disk_cache) {
			fprintf(stderr, "omifs: sync fills the disk cache: it cannot be offline "
					"or without one\n");
			rc = EXIT_USAGE;
		} else if ((rc = check_server(&config)) == 0) {
			rc = open_cache(&config) < 0 ? EXIT_USAGE : sync_command(&config);
		}
		goto out;
	}
	if (check_mountpoint(config.mountpoint) < 0) {
		rc = EXIT_MOUNTPOINT;
		goto out;
	}
	if (!config.offline && (rc = check_server(&config)) != 0)
		goto out;
	if (open_cache(&config) < 0) {
		rc = EXIT_USAGE;
		goto out;
	}

	/* fsname goes into an option list: a comma would split it. */
	buf_printf(&opt, "-oro,nosuid,nodev,default_permissions,subtype=omifs,fsname=%s",
		   config.source && !strpbrk(config.source, ",\\") ? config.source : "omifs");
	fuse_opt_add_arg(&args, opt.data);
	/* libfuse 3.14 warns on every start unless this is set; the user's own
	 * value, later on the command line, still wins. */
	fuse_opt_insert_arg(&args, 1, "-omax_idle_threads=10");
	fuse_opt_add_arg(&args, config.mountpoint);
	log_setup(config.log_level, !config.foreground);
	rc = fs_run(&args, &ctx);
	rc = rc == -1 ? EXIT_MOUNTPOINT : rc == -2 ? EXIT_USAGE : 0;
out:
	buf_free(&opt);
	fuse_opt_free_args(&args);
	free_config(&config);
	return rc;
}
