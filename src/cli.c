/*
 * cli: the command line (see cli.h). One fuse_opt table serves every
 * command; process_option refuses what no table knows, so a typo stops
 * the command instead of being passed on to libfuse. Which command is
 * named and what the line may not say are cli_check.c's, the libfuse
 * options a mount passes on cli_fuse.c's, the help texts cli_usage.c's
 * (cli_state.h).
 */
#include "cli.h"
#include "cli_state.h"

#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* fuse_opt's data: the configuration first (option_spec's offsets are
 * into it), then what it does not hold. */
struct parse_state {
	struct omifs_config config;
	enum command command;
};

static int unknown_option(const struct parse_state *p, const char *arg)
{
	fprintf(stderr, "%s: unknown option '%s%s' (see %s -h)\n", cli_command_name(p->command),
		arg[0] == '-' ? "" : "-o ", arg, cli_command_name(p->command));
	return -1;
}

/* Sets the numeric option arg ("ttl=60", or "--limit" and its value run
 * together as fuse_opt hands them over). Returns 0, or -1 after saying
 * which option takes what. */
static int set_number(struct parse_state *p, const char *arg)
{
	const struct number_option *o = NULL;
	const char *text, *cmd = cli_command_name(p->command);
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
		if (p->command == CMD_MOUNT && cli_is_mount_word(arg))
			return 0;
		if (p->command == CMD_MOUNT && cli_is_passthrough(arg))
			return 1;
		return unknown_option(p, arg);
	case KEY_KEY_ON_COMMAND_LINE:
		fprintf(stderr, "omifs: the API key is never taken from the command line "
				"(it would show in ps); use OMI_API_KEY or -o key_file=FILE\n");
		exit(EXIT_USAGE);
	case KEY_HELP:
		cli_usage(p->command);
		exit(0);
	case KEY_HELP_FUSE:
		cli_help_fuse();
		exit(0);
	case KEY_VERSION:
		cli_print_versions();
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
	}, .command = cli_command_of(args->argc, args->argv) };
	int rc;

	*c = state.config;
	*cmd = state.command;
	if (args->argc > 1 && strcmp(args->argv[args->argc - 1], "-o") == 0) {
		fprintf(stderr, "%s: -o needs options, such as -o url=URL (see %s -h)\n",
			cli_command_name(state.command), cli_command_name(state.command));
		return -1;
	}
	if (state.command == CMD_MOUNT && cli_refuse_unknown_command(args->argc, args->argv) < 0)
		return -1;
	if (state.command != CMD_MOUNT) {
		state.config.n_words = state.command == CMD_SYNC ? -1 : 0;
		args->argc--;
		args->argv++;
	}
	rc = fuse_opt_parse(args, &state, option_spec, process_option) < 0 ||
	     cli_check_command_line(&state.config, state.command) < 0 ? -1 : 0;
	*c = state.config;
	*cmd = state.command;
	return rc;
}
