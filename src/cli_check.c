/*
 * cli_check: which command a command line names, and what only the
 * command line can get wrong, said before anything else happens: a
 * mistyped command, options given to a command that does not take them,
 * missing or extra words. A part of cli (cli_state.h) that calls none of
 * the others.
 */
#include "cli_state.h"

#include "cache_command.h"
#include "keys_command.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const command_name[] = { "omifs", "omifs sync", "omifs keys", "omifs status",
					     "omifs refresh", "omifs search", "omifs cache",
					     "omifs changes", "omifs mcp" };

/* How the command is written, for messages: "omifs sync". Constant. */
const char *cli_command_name(enum command cmd)
{
	return command_name[cmd];
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
int cli_refuse_unknown_command(int argc, char **argv)
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
enum command cli_command_of(int argc, char **argv)
{
	for (int k = CMD_SYNC; argc > 1 && k <= CMD_MCP; k++)
		if (strcmp(argv[1], command_words[k]) == 0)
			return k;
	return CMD_MOUNT;
}

/* What is wrong with the options given to cmd, asked first (with the
 * words of the commands that take none or need some): a constant
 * message, or NULL. */
static const char *option_problem(const struct omifs_config *c, enum command cmd)
{
	const char *word = c->n_words > 0 ? c->words[0] : "";
	bool filtered = c->search_kind || c->search_since || c->search_until || c->search_speaker;

	if (c->json && !(cmd == CMD_SYNC || cmd == CMD_SEARCH || cmd == CMD_STATUS ||
			 cmd == CMD_CHANGES ||
			 ((cmd == CMD_KEYS || cmd == CMD_CACHE) && strcmp(word, "list") == 0)))
		return "--json goes with omifs sync, omifs search, omifs status, omifs changes, "
		       "omifs keys list and omifs cache list";
	if (c->metrics && cmd != CMD_STATUS)
		return "--metrics goes with omifs status";
	if (c->metrics && c->json)
		return "give --json or --metrics, not both";
	if (cmd == CMD_CHANGES && (c->search_limit != -1 || c->search_fts || c->search_kind ||
				   c->search_until || c->search_speaker))
		return "omifs changes takes --since, --follow and --json";
	if ((cmd == CMD_CHANGES || cmd == CMD_MCP) && c->n_words > 0)
		return cmd == CMD_MCP ? "omifs mcp takes no words" : "omifs changes takes no words";
	if ((c->search_limit != -1 || c->search_fts || filtered) && cmd != CMD_SEARCH &&
	    cmd != CMD_CHANGES)
		return "--limit, --fts, --kind, --since, --until and --speaker go with omifs "
		       "search";
	if (c->follow && cmd != CMD_CHANGES)
		return "--follow goes with omifs changes";
	if (cmd == CMD_SEARCH && c->n_words < 1 && !filtered)
		return "give a QUERY, or a filter such as --kind memory";
	if (c->quiet && cmd != CMD_SYNC)
		return "-q goes with omifs sync";
	if (c->check && cmd != CMD_SYNC)
		return "--check goes with omifs sync";
	if (c->accept_deletions && cmd != CMD_REFRESH)
		return "--accept-deletions goes with omifs refresh";
	if (c->wait && cmd != CMD_REFRESH)
		return "--wait goes with omifs refresh";
	if (c->fuse_debug && cmd != CMD_MOUNT)
		return "-o fuse_debug goes with a mount";
	if (c->log_file && cmd != CMD_MOUNT && cmd != CMD_SYNC)
		return "-o log_file goes with a mount and omifs sync";
	if (c->save_path && !(cmd == CMD_KEYS && strcmp(word, "create") == 0))
		return "--save goes with omifs keys create";
	return NULL;
}

/* What is wrong with cmd's words, asked once its options are right: what
 * a command of keys or cache says, the mountpoints, the API profile named.
 * A message (in `said` when made up here), or NULL. */
static const char *words_problem(const struct omifs_config *c, enum command cmd,
				 char *said, size_t size)
{
	if (cmd == CMD_CACHE && !cache_command_valid(c->words, c->n_words))
		return "usage: omifs cache list [--json] | remove PATH|URL";
	if (cmd == CMD_KEYS && !keys_command_valid(c->words, c->n_words))
		return "usage: omifs keys list | create NAME [--save PATH] | revoke ID";
	if ((cmd == CMD_STATUS || cmd == CMD_REFRESH) && c->n_words != 1)
		return "give one MOUNTPOINT";
	if (cmd == CMD_SYNC && c->mountpoint)
		return "sync takes no mountpoint";
	if (cmd == CMD_MOUNT && !c->mountpoint)
		return "no mountpoint given";
	if (c->api_profile && strcmp(c->api_profile, "documented") != 0 &&
	    strcmp(c->api_profile, "backend") != 0) {
		snprintf(said, size, "-o api_profile=%.80s: api_profile takes documented "
			 "or backend", c->api_profile);
		return said;
	}
	return NULL;
}

/* What only the command line can get wrong, said before anything else
 * happens (no key is read, nothing is mounted). Returns 0 or -1. */
int cli_check_command_line(const struct omifs_config *c, enum command cmd)
{
	char said[160];
	const char *problem = option_problem(c, cmd);

	if (!problem)
		problem = words_problem(c, cmd, said, sizeof(said));
	if (problem)
		fprintf(stderr, "%s: %s (see %s -h)\n", command_name[cmd], problem, command_name[cmd]);
	return problem ? -1 : 0;
}
