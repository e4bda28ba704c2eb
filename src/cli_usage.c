/*
 * cli_usage: each command's help text (-h), and what --version says. A
 * part of cli (cli_state.h) that calls none of the others.
 */
#include "cli_state.h"

#include "curl_lib.h"

#include <sqlite3.h>
#include <stdio.h>

/* omifs -h after its first lines: what a mount does, and its options. */
static const char mount_help[] =
	"\n"
	"Mounts your Omi memories, conversations and action items read-only.\n"
	"The API key comes from $OMI_API_KEY or -o key_file=FILE (mode 0600).\n"
	"source is the name df and findmnt show for the mount (default\n"
	"omifs:HOST, HOST from the URL); mount(8) passes it.\n"
	"\n"
	"omifs options:\n"
	"    -o url=URL               API base URL (default " DEFAULT_URL ")\n"
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
	"unreachable, 4 mountpoint unusable.\n";

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
	       "       %s mcp                       an MCP server for assistants (omifs mcp -h)\n",
	       prog, prog, prog, prog, prog, prog, prog, prog, prog);
	fputs(mount_help, stdout);
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

/* What omifs --version prints: its own, libfuse's, SQLite's (linked in
 * unless built with SQLITE_LINK=shared) and libcurl's versions. */
void cli_print_versions(void)
{
	char err[256];
	const struct curl_lib *curl = curl_lib_get(err, sizeof(err));

	printf("omifs %s\nlibfuse %s\nSQLite %s\n%s\n", OMIFS_VERSION, fuse_pkgversion(),
	       sqlite3_libversion(), curl ? curl->version() : err);
}

/* What -h prints for cmd. */
void cli_usage(enum command cmd)
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
