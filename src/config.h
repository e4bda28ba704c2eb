/*
 * config: the one configuration struct, filled by main from the command
 * line and the environment, read by everyone else.
 */
#ifndef OMIFS_CONFIG_H
#define OMIFS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* A flag that a fuse_opt template sets is an int, never a bool: fuse_opt
 * writes an int, which would also clear the bools beside it. */
struct omifs_config {
	char *url;		/* API base URL */
	char *key_file;		/* where the key came from, if not OMI_API_KEY */
	char *key;		/* the secret itself; never printed */
	char *cafile;
	char *mountpoint;
	char *source;		/* mount(8)'s first argument, for fsname */
	char *save_path;	/* keys create --save PATH */
	char *words[4];		/* a subcommand's arguments ("keys create NAME") */
	int n_words;		/* -1 when not running a subcommand that takes them */
	bool json;		/* --json: machine-readable output (keys list, sync, search,
				 * status) */
	int metrics;		/* status --metrics: the Prometheus text */
	bool quiet;		/* -q: nothing but errors (sync) */
	int follow;		/* --follow: wait for more (changes) */
	int search_limit;	/* --limit N (search); -1 when not given */
	int search_fts;	/* --fts: the query is FTS5 as it is (search) */
	char *search_kind, *search_since, *search_until, *search_speaker; /* search's filters;
									    * --since is changes' too */
	char *cache_dir;	/* where the cache lives; NULL: the default */
	char *cache_path;	/* the account's cache file; NULL: in memory */
	char *first_memories_page; /* the key check's answer, JSON text, for sync */
	int no_disk_cache;
	int cache_ttl;		/* seconds the kernel may cache names and attributes */
	int refresh_interval;
	int full_refresh_interval;
	int connect_timeout;
	int request_timeout;
	int retries;
	char *api_profile;	/* "documented" or "backend": default budget */
	int per_minute;		/* -1: the profile's default */
	int per_day;
	int transcripts_per_hour;
	double rate_window_scale;
	int budget_wait;	/* seconds a read may wait for the budget */
	int page_size;
	int transcript_batch;
	int transcript_page;	/* -1: the profile's */
	int log_level;		/* enum log_level */
	char *log_file;		/* -o log_file: where lines go instead */
	int fuse_debug;	/* -o fuse_debug: libfuse's trace of every operation */
	int offline;
	int accept_shrink;	/* -o accept_shrink: delete what two listings agree on */
	int accept_deletions;	/* refresh --accept-deletions */
	int wait;		/* refresh --wait: until that refresh is done */
	int check;		/* sync --check: check the cache, fetch nothing */
	int xattr;		/* serve user.omi.* extended attributes */
	int allow_http;
	bool foreground;
	bool debug;
};

/* The path of the account's cache file under c->cache_dir (or
 * $XDG_CACHE_HOME/omifs, or ~/.cache/omifs), named from the URL and a
 * hash of the URL and the key, never the key; creates the directory with
 * mode 0700 when `create` (a command that only reads the cache leaves a
 * missing one missing). Returns a malloc'd path, or NULL with a message
 * in err. */
char *config_cache_path(const struct omifs_config *c, bool create, char *err, size_t errlen);
/* The directory config_cache_path puts the file in, created as it would
 * be. Returns a malloc'd path, or NULL with a message in err. */
char *config_cache_dir(const struct omifs_config *c, bool create, char *err, size_t errlen);

/* $XDG_CONFIG_HOME/omifs/key, or ~/.config/omifs/key: where the key is
 * kept when neither OMI_API_KEY nor -o key_file names it (malloc'd; NULL
 * without HOME). */
char *config_default_key_file(void);

/* Frees the strings the configuration owns (the key wiped first); the
 * struct itself is the caller's. */
void config_free(struct omifs_config *c);

#endif
