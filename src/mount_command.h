/*
 * mount_command: `omifs status MOUNTPOINT` and `omifs refresh MOUNTPOINT`,
 * and what they and main need to know about a mount: whether a path is an
 * omifs mount in this process's mount table, and which process serves it
 * (read through the mount itself, from the "pid" line of .omifs/status,
 * never guessed from process names).
 */
#ifndef OMIFS_MOUNT_COMMAND_H
#define OMIFS_MOUNT_COMMAND_H

#include <stdbool.h>
#include <sys/types.h>

/* path made absolute without touching its last component (a dead mount
 * cannot be stat'ed). Returns a malloc'd path or NULL. */
char *mount_absolute_path(const char *path);

/* Whether the mount at abs (an absolute path) is an omifs one. */
bool mount_is_omifs(const char *abs);

/* Whether process pid has path open (read from /proc: only this user's
 * processes can be seen). */
bool mount_process_holds(pid_t pid, const char *path);

/* The pid the omifs mount at path reports in its .omifs/status, or -1. */
pid_t mount_server_pid(const char *path);

/* The commands; return a process exit code (1 usage, 4 not an omifs
 * mount or not readable, 3 the process could not be signalled).
 * accept_deletions: the refresh deletes what the mount holds back.
 * wait: return once that refresh is done, 0 when it succeeded and 1 when
 * it failed (the reason said), or 3 when the mount went away. */
enum mount_status_form {
	MOUNT_STATUS_TEXT,	/* .omifs/status */
	MOUNT_STATUS_JSON,	/* .omifs/status.json (--json) */
	MOUNT_STATUS_METRICS,	/* .omifs/metrics (--metrics) */
};
int mount_status_command(const char *path, enum mount_status_form form);
int mount_refresh_command(const char *path, bool accept_deletions, bool wait);

#endif
