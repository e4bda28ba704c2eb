/*
 * cli_fuse: what a mount's command line may say to libfuse and mount(8):
 * the libfuse options passed on (an allow-list, with --help-fuse's
 * text), and mount(8)'s words, accepted and dropped. A part of cli
 * (cli_state.h) that calls none of the others.
 */
#include "cli_state.h"

#include <stdio.h>
#include <string.h>

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

/* Whether arg (an option of -o, or -s) goes on to libfuse. */
bool cli_is_passthrough(const char *arg)
{
	for (size_t i = 0; i < sizeof(fuse_passthrough) / sizeof(*fuse_passthrough); i++)
		if (option_matches(arg, fuse_passthrough[i].name))
			return true;
	return strcmp(arg, "-s") == 0;
}

/* Whether arg is one of mount(8)'s words, accepted and dropped. */
bool cli_is_mount_word(const char *arg)
{
	for (size_t i = 0; i < sizeof(mount_words) / sizeof(*mount_words); i++)
		if (strcmp(arg, mount_words[i]) == 0)
			return true;
	return strncmp(arg, "x-", 2) == 0 || strncmp(arg, "comment=", 8) == 0;
}

/* What omifs --help-fuse prints. */
void cli_help_fuse(void)
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
