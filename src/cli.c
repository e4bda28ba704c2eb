/*
 * cli: the command line (see cli.h). One fuse_opt table serves every
 * command; process_option refuses what no table knows, so a typo stops
 * the command instead of being passed on to libfuse.
 */
#include "cli.h"

#include "cache_command.h"
#include "curl_lib.h"
#include "keys_command.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	KEY_HELP, KEY_HELP_FUSE, KEY_VERSION, KEY_FOREGROUND, KEY_DEBUG, KEY_JSON, KEY_QUIET,
	KEY_KEY_ON_COMMAND_LINE, KEY_NUMBER
};

/* The options that take a number: parsed here rather than by fuse_opt,
 * whose refusal names neither the option nor what it takes, and in
 * libfuse's words. An int in struct omifs_config, or a double. */
static const struct number_option {
	const char *name;	/* as written before the value: "ttl=", "--limit" */
	size_t offset;
	bool is_double;
	double min, max;	/* allowed range; a double must be above min */
	const char *takes;	/* what the value is, for the error */
} number_options[] = {
#define SECONDS(n, field, least) { n, offsetof(struct omifs_config, field), false, least, INT_MAX, \
				   least ? "a number of seconds, 1 or more" \
					 : "a number of seconds, 0 or more" }
#define COUNT(n, field, least) { n, offsetof(struct omifs_config, field), false, least, INT_MAX, \
				 least ? "a whole number, 1 or more" : "a whole number, 0 or more" }
	SECONDS("ttl=", cache_ttl, 0),
	SECONDS("refresh=", refresh_interval, 1),
	SECONDS("full_refresh=", full_refresh_interval, 1),
	SECONDS("timeout=", request_timeout, 1),
	SECONDS("connect_timeout=", connect_timeout, 1),
	SECONDS("budget_wait=", budget_wait, 0),
	COUNT("retries=", retries, 0),
	COUNT("max_per_minute=", per_minute, 0),
	COUNT("max_per_day=", per_day, 0),
	COUNT("max_transcripts_per_hour=", transcripts_per_hour, 0),
	COUNT("page_size=", page_size, 1),
	COUNT("transcript_batch=", transcript_batch, 1),
	COUNT("transcript_page=", transcript_page, 1),
	COUNT("--limit", search_limit, 0),
	{ "log_level=", offsetof(struct omifs_config, log_level), false, 0, 3,
	  "0 (errors), 1 (warnings), 2 (info) or 3 (debug)" },
	{ "rate_window_scale=", offsetof(struct omifs_config, rate_window_scale), true, 0, 1e6,
	  "a factor above 0" },
#undef SECONDS
#undef COUNT
};

#define OPT(t, field) { t, offsetof(struct omifs_config, field), 1 }
static const struct fuse_opt option_spec[] = {
	OPT("url=%s", url),
	OPT("key_file=%s", key_file),
	OPT("cafile=%s", cafile),
	OPT("cache_dir=%s", cache_dir),
	OPT("no_disk_cache", no_disk_cache),
	OPT("api_profile=%s", api_profile),
	OPT("offline", offline),
	OPT("accept_shrink", accept_shrink),
	OPT("--accept-deletions", accept_deletions),
	OPT("--wait", wait),
	OPT("--follow", follow),
	OPT("--check", check),
	OPT("xattr", xattr),
	OPT("log_file=%s", log_file),
	OPT("fuse_debug", fuse_debug),
	OPT("allow_http", allow_http),
	OPT("token_file=%s", key_file),
	OPT("--save=%s", save_path),
	OPT("--save %s", save_path),
	OPT("--fts", search_fts),
	OPT("--metrics", metrics),
	OPT("--kind=%s", search_kind),
	OPT("--kind %s", search_kind),
	OPT("--since=%s", search_since),
	OPT("--since %s", search_since),
	OPT("--until=%s", search_until),
	OPT("--until %s", search_until),
	OPT("--speaker=%s", search_speaker),
	OPT("--speaker %s", search_speaker),
	FUSE_OPT_KEY("ttl=", KEY_NUMBER),
	FUSE_OPT_KEY("refresh=", KEY_NUMBER),
	FUSE_OPT_KEY("full_refresh=", KEY_NUMBER),
	FUSE_OPT_KEY("timeout=", KEY_NUMBER),
	FUSE_OPT_KEY("connect_timeout=", KEY_NUMBER),
	FUSE_OPT_KEY("budget_wait=", KEY_NUMBER),
	FUSE_OPT_KEY("retries=", KEY_NUMBER),
	FUSE_OPT_KEY("max_per_minute=", KEY_NUMBER),
	FUSE_OPT_KEY("max_per_day=", KEY_NUMBER),
	FUSE_OPT_KEY("max_transcripts_per_hour=", KEY_NUMBER),
	FUSE_OPT_KEY("page_size=", KEY_NUMBER),
	FUSE_OPT_KEY("transcript_batch=", KEY_NUMBER),
	FUSE_OPT_KEY("transcript_page=", KEY_NUMBER),
	FUSE_OPT_KEY("log_level=", KEY_NUMBER),
	FUSE_OPT_KEY("rate_window_scale=", KEY_NUMBER),
	FUSE_OPT_KEY("--limit=", KEY_NUMBER),
	FUSE_OPT_KEY("--limit ", KEY_NUMBER),
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
	       "       %s cache list|remove         the accounts cached (omifs cache -h)\n"
	       "       %s changes [--follow]        what changed (omifs changes -h)\n"
	       "       %s mcp                       an MCP server for assistants (omifs mcp -h)\n"
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
	       "    -o xattr                 show ids, titles, categories and dates as\n"
	       "                             user.omi.* extended attributes (each ls -l\n"
	       "                             then asks for them: off by default)\n"
	       "    -o refresh=SECONDS       look for new items this often (default 300)\n"
	       "    -o full_refresh=SECONDS  list conversations completely, finding edits\n"
	       "                             and deletions, this often (default 3600)\n"
	       "    -o accept_shrink         delete what two listings agree is gone even\n"
	       "                             from a collection listed empty or shrinking\n"
	       "                             fast (default: held until omifs refresh\n"
	       "                             --accept-deletions)\n"
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
	       "    -d                       debug: foreground, log every request and\n"
	       "                             decision\n"
	       "    -o log_file=PATH         append the log to PATH (created mode 0600)\n"
	       "    -o fuse_debug            foreground, and libfuse's trace of every\n"
	       "                             operation\n"
	       "    -h, --help               this help\n"
	       "    --help-fuse              the generic FUSE options omifs accepts\n"
	       "    -V, --version            versions\n"
	       "\n"
	       "Exit codes: 0 ok, 1 usage or configuration, 2 key refused, 3 server\n"
	       "unreachable, 4 mountpoint unusable.\n",
	       prog, prog, prog, prog, prog, prog, prog, prog, prog, DEFAULT_URL);
}

static void usage_sync(const char *prog)
{
	printf("usage: %s sync [-q] [--json] [--check] [-o option,...]\n"
	       "\n"
	       "Fills the disk cache with everything, transcripts included, paced to the\n"
	       "API's limits, so that a later -o offline mount needs no network. Resumes\n"
	       "where it stopped. Progress goes to stderr; Ctrl-C stops it (exit 130).\n"
	       "A cache that cannot be read whole fails the sync (exit 3).\n"
	       "\n"
	       "    -q, --quiet              print nothing but errors\n"
	       "    --json                   print a summary object on stdout at the end\n"
	       "    --check                  check that the cache is whole, fetch nothing\n"
	       "                             (exit 0 whole, 3 damaged)\n"
	       "    -o url=, key_file=, cache_dir=, api_profile=, transcript_batch=, ...\n"
	       "                             as for a mount (omifs -h)\n"
	       "\n"
	       "Exit codes: 0 done, 1 usage, 2 key refused, 3 server failing, budget\n"
	       "spent or cache damaged, 5 the disk is full, 130 interrupted.\n", prog);
}

static void usage_cache(const char *prog)
{
	printf("usage: %s cache list [--json] [-o cache_dir=DIR]\n"
	       "       %s cache remove PATH|URL [-o cache_dir=DIR]\n"
	       "\n"
	       "list shows each account in the cache directory: its file, the API URL it\n"
	       "is for, its size, its items, transcripts cached, when it was last listed\n"
	       "completely, and the process using it, if any. remove deletes the one\n"
	       "cache a path (as listed) or a URL names, unless a process uses it.\n"
	       "\n"
	       "    --json                   list: the caches as a JSON array\n"
	       "\n"
	       "Exit codes: 0 ok, 1 usage, nothing or several match, or in use.\n",
	       prog, prog);
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
	       "    -o url=URL               API base URL (default %s)\n"
	       "\n"
	       "Exit codes: 0 done, 1 usage, 2 the token refused, 3 the server failing,\n"
	       "4 revoke: no key has that id.\n", prog, prog, prog, DEFAULT_URL);
}

static void usage_status(const char *prog)
{
	printf("usage: %s status [--json | --metrics] MOUNTPOINT\n"
	       "       %s refresh [--wait] [--accept-deletions] MOUNTPOINT\n"
	       "\n"
	       "status prints the mount's .omifs/status; with --json its figures as one\n"
	       "JSON object (.omifs/status.json), with --metrics in Prometheus' text\n"
	       "format (.omifs/metrics). refresh asks the omifs process\n"
	       "serving MOUNTPOINT to look for new, changed and deleted items now (as\n"
	       "kill -HUP would), found through the mount itself. With --wait it\n"
	       "returns once that refresh is done: exit 0 when every collection was\n"
	       "listed, 1 when one failed (the reason on stderr). With\n"
	       "--accept-deletions (kill -USR1), that refresh also deletes what the\n"
	       "status says is held back: items two listings agree are gone, from a\n"
	       "collection listed empty or that lost over a quarter within a day.\n",
	       prog, prog);
}

static void usage_search(const char *prog)
{
	printf("usage: %s search [options] [-o option,...] QUERY\n"
	       "\n"
	       "Searches everything cached (titles, overviews, transcripts, action items,\n"
	       "events, memories) and prints the best matches first (ties: newest first),\n"
	       "each with its path in the mount, date, kind, title and the matching words.\n"
	       "Reads the disk cache only: no mount, no request; no key needed when one\n"
	       "account is cached. Says how many matched and how many transcripts are\n"
	       "indexed: omifs sync fetches the rest.\n"
	       "\n"
	       "QUERY is any text: every word must match (e-mail, don't, 3.5 and\n"
	       "sam@example.com too), case and accents ignored (cafe finds café);\n"
	       "Chinese, Japanese and Korean are found by any part. Also \"a phrase\",\n"
	       "a OR b, -word or NOT word, prefix*, NEAR(a b, 5), ( ), and the filters\n"
	       "kind:memory|conversation|action-item, after:2025-01-01, before:2025-02-01,\n"
	       "speaker:Sam, category:work. Filters alone list what passes, newest first.\n"
	       "Several arguments are one query, joined by spaces.\n"
	       "\n"
	       "    --json                   print one JSON object: query, total, results,\n"
	       "                             indexed\n"
	       "    --limit N                at most N results (default %d; 0: all)\n"
	       "    --kind K                 memory, conversation, action-item or goal\n"
	       "    --since DAY, --until DAY created from DAY, through DAY (YYYY-MM-DD)\n"
	       "    --speaker NAME           a transcript segment by NAME (or \"Speaker 2\")\n"
	       "    --fts                    QUERY is SQLite FTS5 syntax as it is\n"
	       "    -o url=, key_file=, cache_dir=   which account's cache (omifs -h)\n"
	       "\n"
	       "Exit codes: 0 found, 1 nothing matched, 2 a bad --fts query, a bad option\n"
	       "or no cache.\n", prog, SEARCH_DEFAULT_LIMIT);
}

static void usage_changes(const char *prog)
{
	printf("usage: %s changes [--since TIME] [--follow] [--json] [-o option,...]\n"
	       "\n"
	       "Prints what changed in the account, oldest first, as the cache saw it: an\n"
	       "item added, changed or removed by a refresh of a mount or an omifs sync,\n"
	       "with its path in the mount and, for conversations, its title. The cache\n"
	       "keeps 35 days of changes; a collection's first listing is none. Reads the\n"
	       "disk cache only: no mount, no request; no key needed when one account is\n"
	       "cached. A mount shows the same lines in .omifs/changes.\n"
	       "\n"
	       "    --since TIME   from TIME: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (local, or\n"
	       "                   UTC with a Z), or an age: 30m, 2h, 7d\n"
	       "    --follow       then wait for the next changes, until interrupted; without\n"
	       "                   --since, only those\n"
	       "    --json         one JSON object a line: seq, time, change, collection,\n"
	       "                   id, path, views, title\n"
	       "    -o url=, key_file=, cache_dir=   which account's cache (omifs -h)\n"
	       "\n"
	       "Exit codes: 0 ok (also when nothing changed), 1 a bad option or no cache.\n",
	       prog);
}

static void usage_mcp(const char *prog)
{
	printf("usage: %s mcp [-o option,...]\n"
	       "\n"
	       "A Model Context Protocol server on stdin and stdout, for assistants\n"
	       "(Claude Desktop and other MCP clients: \"command\": \"omifs\", \"args\":\n"
	       "[\"mcp\"]). It answers from the disk cache, offline, and sends no request:\n"
	       "tools search, read, list_conversations, memories, action_items and\n"
	       "recent_changes, and the tree's files as omi:/// resources. It follows what\n"
	       "a mount or omifs sync adds to the cache. No key needed when one account\n"
	       "is cached. Logs go to stderr; stdout carries the protocol only.\n"
	       "\n"
	       "    -o url=, key_file=, cache_dir=   which account's cache (omifs -h)\n"
	       "\n"
	       "Exit codes: 0 when stdin ends, 1 no cache or stdout unwritable.\n",
	       prog);
}

/* What omifs --version prints: its own, libfuse's and libcurl's versions. */
static void print_versions(void)
{
	char err[256];
	const struct curl_lib *curl = curl_lib_get(err, sizeof(err));

	printf("omifs %s\nlibfuse %s\n%s\n", OMIFS_VERSION, fuse_pkgversion(),
	       curl ? curl->version() : err);
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
	case CMD_CACHE: usage_cache("omifs"); break;
	case CMD_CHANGES: usage_changes("omifs"); break;
	case CMD_MCP: usage_mcp("omifs"); break;
	}
}

/* fuse_opt's data: the configuration first (option_spec's offsets are
 * into it), then what it does not hold. */
struct parse_state {
	struct omifs_config config;
	enum command command;
};

static const char *const command_name[] = { "omifs", "omifs sync", "omifs keys", "omifs status",
					     "omifs refresh", "omifs search", "omifs cache",
					     "omifs changes", "omifs mcp" };

static int unknown_option(const struct parse_state *p, const char *arg)
{
	fprintf(stderr, "%s: unknown option '%s%s' (see %s -h)\n", command_name[p->command],
		arg[0] == '-' ? "" : "-o ", arg, command_name[p->command]);
	return -1;
}

/* Sets the numeric option arg ("ttl=60", or "--limit" and its value run
 * together as fuse_opt hands them over). Returns 0, or -1 after saying
 * which option takes what. */
static int set_number(struct parse_state *p, const char *arg)
{
	const struct number_option *o = NULL;
	const char *text, *cmd = command_name[p->command];
	char *end;
	double value;
	bool flag;
	int name_len;

	for (size_t i = 0; i < sizeof(number_options) / sizeof(*number_options) && !o; i++)
		if (strncmp(arg, number_options[i].name, strlen(number_options[i].name)) == 0)
			o = &number_options[i];
	if (!o)
		return unknown_option(p, arg);
	flag = o->name[0] == '-';
	name_len = (int)strcspn(o->name, "=");
	text = arg + strlen(o->name);
	if (flag && *text == '=')
		text++;
	errno = 0;
	value = o->is_double ? strtod(text, &end) : (double)strtol(text, &end, 10);
	if (!*text || *end || errno || value < o->min || value > o->max ||
	    (o->is_double && value <= o->min)) {
		fprintf(stderr, "%s: %s%.*s%s%s: %.*s takes %s (see %s -h)\n", cmd,
			flag ? "" : "-o ", name_len, o->name, flag ? " " : "=", text, name_len,
			o->name, o->takes, cmd);
		return -1;
	}
	if (o->is_double)
		*(double *)((char *)&p->config + o->offset) = value;
	else
		*(int *)((char *)&p->config + o->offset) = (int)value;
	return 0;
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
	/* mount(8) passes "source mountpoint"; nothing passes more. */
	if (c->source) {
		fprintf(stderr, "omifs: too many arguments: '%s' after the source '%s' and the "
				"mountpoint '%s' (see omifs -h)\n", arg, c->source, c->mountpoint);
		return -1;
	}
	if (c->mountpoint)
		c->source = c->mountpoint;
	c->mountpoint = strdup(arg);
	return 0;
}

static int process_option(void *data, const char *arg, int key, struct fuse_args *args)
{
	struct parse_state *p = data;
	struct omifs_config *c = &p->config;

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
		print_versions();
		exit(0);
	case KEY_NUMBER:
		return set_number(p, arg);
	case KEY_JSON:
		c->json = true;
		return 0;
	case KEY_QUIET:
		c->quiet = true;
		return 0;
	case KEY_DEBUG:
		/* omifs' own requests and decisions; libfuse's trace of every
		 * operation only with -o fuse_debug. */
		c->debug = true;
		c->foreground = true;
		if (p->command == CMD_MOUNT)
			fuse_opt_add_arg(args, "-f");
		return 0;
	case KEY_FOREGROUND:
		c->foreground = true;
		return p->command == CMD_MOUNT;
	}
	return 1;
}


/* The distance between a and b in single-letter edits (insert, delete,
 * replace, swap two neighbours), or 3 when it is more than 2: enough to
 * tell a typo of a command from another word. */
static int edits(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int d[16][16];

	if (la >= 16 || lb >= 16 || (la > lb ? la - lb : lb - la) > 2)
		return 3;
	for (size_t i = 0; i <= la; i++)
		for (size_t j = 0; j <= lb; j++) {
			if (i == 0 || j == 0) {
				d[i][j] = (int)(i + j);
				continue;
			}
			d[i][j] = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < d[i][j])
				d[i][j] = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < d[i][j])
				d[i][j] = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < d[i][j])
				d[i][j] = d[i - 2][j - 2] + 1;
		}
	return d[la][lb] > 2 ? 3 : d[la][lb];
}

static const char *const command_words[] = { [CMD_SYNC] = "sync", [CMD_KEYS] = "keys",
					     [CMD_STATUS] = "status", [CMD_REFRESH] = "refresh",
					     [CMD_SEARCH] = "search", [CMD_CACHE] = "cache",
					     [CMD_CHANGES] = "changes", [CMD_MCP] = "mcp" };

/*
 * A mount's first word when it reads as a mistyped command rather than a
 * mountpoint or mount(8)'s source: a plain word (no '/', ':' or '.'),
 * not an existing path, and either one or two edits from a command
 * ("serach dentist") or the only word, so that the mountpoint it would
 * be does not exist ("stauts"). A directory named like a command is
 * mounted as ./sync. Says so and returns -1; 0 otherwise.
 */
static int refuse_unknown_command(int argc, char **argv)
{
	const char *word = NULL, *closest = NULL;
	int words = 0, best = 3;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "-o") == 0) {
			i++;
			continue;
		}
		if (argv[i][0] == '-')
			continue;
		if (!word)
			word = argv[i];
		words++;
	}
	if (!word || strpbrk(word, "/:.") || access(word, F_OK) == 0)
		return 0;
	for (int k = CMD_SYNC; k <= CMD_MCP; k++)
		if (edits(word, command_words[k]) < best) {
			best = edits(word, command_words[k]);
			closest = command_words[k];
		}
	if (!closest && words > 1)
		return 0;
	if (closest)
		fprintf(stderr, "omifs: unknown command '%s' (did you mean %s?)\n", word, closest);
	else
		fprintf(stderr, "omifs: unknown command '%s' (the commands: sync, keys, status, cache, "
				"refresh, search, changes, mcp; a mountpoint must be an existing directory)\n", word);
	return -1;
}

/* Which command argv names; the words after it are its own. */
static enum command command_of(int argc, char **argv)
{
	for (int k = CMD_SYNC; argc > 1 && k <= CMD_MCP; k++)
		if (strcmp(argv[1], command_words[k]) == 0)
			return k;
	return CMD_MOUNT;
}

/* What only the command line can get wrong, said before anything else
 * happens (no key is read, nothing is mounted). Returns 0 or -1. */
static int check_command_line(const struct omifs_config *c, enum command cmd)
{
	const char *word = c->n_words > 0 ? c->words[0] : "";
	const char *problem = NULL;
	static char said[160];
	bool filtered = c->search_kind || c->search_since || c->search_until || c->search_speaker;

	if (c->json && !(cmd == CMD_SYNC || cmd == CMD_SEARCH || cmd == CMD_STATUS ||
			 cmd == CMD_CHANGES ||
			 ((cmd == CMD_KEYS || cmd == CMD_CACHE) && strcmp(word, "list") == 0)))
		problem = "--json goes with omifs sync, omifs search, omifs status, omifs changes, "
			  "omifs keys list and omifs cache list";
	else if (c->metrics && cmd != CMD_STATUS)
		problem = "--metrics goes with omifs status";
	else if (c->metrics && c->json)
		problem = "give --json or --metrics, not both";
	else if (cmd == CMD_CHANGES && (c->search_limit != -1 || c->search_fts || c->search_kind ||
					c->search_until || c->search_speaker))
		problem = "omifs changes takes --since, --follow and --json";
	else if ((cmd == CMD_CHANGES || cmd == CMD_MCP) && c->n_words > 0)
		problem = cmd == CMD_MCP ? "omifs mcp takes no words" : "omifs changes takes no words";
	else if ((c->search_limit != -1 || c->search_fts || filtered) && cmd != CMD_SEARCH &&
		 cmd != CMD_CHANGES)
		problem = "--limit, --fts, --kind, --since, --until and --speaker go with omifs "
			  "search";
	else if (c->follow && cmd != CMD_CHANGES)
		problem = "--follow goes with omifs changes";
	else if (cmd == CMD_SEARCH && c->n_words < 1 && !filtered)
		problem = "give a QUERY, or a filter such as --kind memory";
	else if (c->quiet && cmd != CMD_SYNC)
		problem = "-q goes with omifs sync";
	else if (c->check && cmd != CMD_SYNC)
		problem = "--check goes with omifs sync";
	else if (c->accept_deletions && cmd != CMD_REFRESH)
		problem = "--accept-deletions goes with omifs refresh";
	else if (c->wait && cmd != CMD_REFRESH)
		problem = "--wait goes with omifs refresh";
	else if (c->fuse_debug && cmd != CMD_MOUNT)
		problem = "-o fuse_debug goes with a mount";
	else if (c->log_file && cmd != CMD_MOUNT && cmd != CMD_SYNC)
		problem = "-o log_file goes with a mount and omifs sync";
	else if (c->save_path && !(cmd == CMD_KEYS && strcmp(word, "create") == 0))
		problem = "--save goes with omifs keys create";
	else if (cmd == CMD_CACHE && !cache_command_valid(c->words, c->n_words))
		problem = "usage: omifs cache list [--json] | remove PATH|URL";
	else if (cmd == CMD_KEYS && !keys_command_valid(c->words, c->n_words))
		problem = "usage: omifs keys list | create NAME [--save PATH] | revoke ID";
	else if ((cmd == CMD_STATUS || cmd == CMD_REFRESH) && c->n_words != 1)
		problem = "give one MOUNTPOINT";
	else if (cmd == CMD_SYNC && c->mountpoint)
		problem = "sync takes no mountpoint";
	else if (cmd == CMD_MOUNT && !c->mountpoint)
		problem = "no mountpoint given";
	else if (c->api_profile && strcmp(c->api_profile, "documented") != 0 &&
		 strcmp(c->api_profile, "backend") != 0) {
		snprintf(said, sizeof(said), "-o api_profile=%.80s: api_profile takes documented "
			 "or backend", c->api_profile);
		problem = said;
	}
	if (problem)
		fprintf(stderr, "%s: %s (see %s -h)\n", command_name[cmd], problem, command_name[cmd]);
	return problem ? -1 : 0;
}

int cli_parse(struct fuse_args *args, struct omifs_config *c, enum command *cmd)
{
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
	}, .command = command_of(args->argc, args->argv) };
	int rc;

	*c = state.config;
	*cmd = state.command;
	if (args->argc > 1 && strcmp(args->argv[args->argc - 1], "-o") == 0) {
		fprintf(stderr, "%s: -o needs options, such as -o url=URL (see %s -h)\n",
			command_name[state.command], command_name[state.command]);
		return -1;
	}
	if (state.command == CMD_MOUNT && refuse_unknown_command(args->argc, args->argv) < 0)
		return -1;
	if (state.command != CMD_MOUNT) {
		state.config.n_words = state.command == CMD_SYNC ? -1 : 0;
		args->argc--;
		args->argv++;
	}
	rc = fuse_opt_parse(args, &state, option_spec, process_option) < 0 ||
	     check_command_line(&state.config, state.command) < 0 ? -1 : 0;
	*c = state.config;
	*cmd = state.command;
	return rc;
}
