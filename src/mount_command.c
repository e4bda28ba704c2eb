/*
 * mount_command: status and refresh of a running mount, found through the
 * mount table and the mount's own status file.
 */
#include "mount_command.h"

#include "buf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_USAGE = 1, EXIT_REFRESH_FAILED = 1, EXIT_FAILED = 3, EXIT_MOUNTPOINT = 4 };

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

bool mount_is_omifs(const char *abs)
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
		found = strcmp(point, abs) == 0 && strcmp(fstype, "fuse.omifs") == 0;
	}
	fclose(f);
	return found;
}

char *mount_absolute_path(const char *path)
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

/* A read this large takes any .omifs file in one call. */
#define META_READ (1 << 20)

/* Reads path's .omifs/<file> into out. Returns 0 or -errno. Each read(2)
 * of a status file gives one version of it whole, and the next read may
 * give the next version, longer: so one call, stopping at a short one. */
static int read_meta_file(const char *path, const char *file, struct buf *out)
{
	char *chunk = xmalloc(META_READ);
	ssize_t n;
	int fd;

	buf_printf(out, "%s/.omifs/%s", path, file);
	fd = open(out->data, O_RDONLY | O_CLOEXEC);
	buf_reset(out);
	if (fd < 0) {
		free(chunk);
		return -errno;
	}
	do {
		n = read(fd, chunk, META_READ);
		if (n > 0)
			buf_append(out, chunk, (size_t)n);
	} while (n == META_READ);
	close(fd);
	free(chunk);
	return n < 0 ? -EIO : 0;
}

pid_t mount_server_pid(const char *path)
{
	struct buf status = BUF_INIT;
	long pid = -1;

	if (read_meta_file(path, "status", &status) == 0) {
		const char *line = status.data;

		while (line && sscanf(line, "pid %ld", &pid) != 1) {
			line = strchr(line, '\n');
			line = line ? line + 1 : NULL;
		}
	}
	buf_free(&status);
	return pid > 0 && pid <= INT_MAX ? (pid_t)pid : -1;
}

/* The check both commands start with: path must be an omifs mount in
 * this mount table. Returns the absolute path or NULL (said why). */
static char *omifs_mount(const char *command, const char *path)
{
	char *abs = mount_absolute_path(path);

	if (!abs || !mount_is_omifs(abs)) {
		fprintf(stderr, "omifs %s: %s is not an omifs mount\n", command, path);
		free(abs);
		return NULL;
	}
	return abs;
}

int mount_status_command(const char *path, enum mount_status_form form)
{
	static const char *const file[] = {
		[MOUNT_STATUS_TEXT] = "status", [MOUNT_STATUS_JSON] = "status.json",
		[MOUNT_STATUS_METRICS] = "metrics",
	};
	struct buf status = BUF_INIT;
	char *abs = omifs_mount("status", path);
	int rc;

	if (!abs)
		return EXIT_MOUNTPOINT;
	rc = read_meta_file(abs, file[form], &status);
	if (rc < 0)
		fprintf(stderr, "omifs status: cannot read %s/.omifs/%s: %s\n", path, file[form],
			strerror(-rc));
	else
		fwrite(status.data, 1, status.len, stdout);
	buf_free(&status);
	free(abs);
	return rc < 0 ? EXIT_MOUNTPOINT : 0;
}

bool mount_process_holds(pid_t pid, const char *path)
{
	char link[64], target[PATH_MAX];
	struct dirent *e;
	bool found = false;
	ssize_t n;
	DIR *dir;

	snprintf(link, sizeof(link), "/proc/%ld/fd", (long)pid);
	dir = opendir(link);
	while (dir && !found && (e = readdir(dir)) != NULL) {
		snprintf(link, sizeof(link), "/proc/%ld/fd/%.20s", (long)pid, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			found = strcmp(target, path) == 0;
		}
	}
	if (dir)
		closedir(dir);
	return found;
}

/* Whether pid is an omifs process holding /dev/fuse open. The pid came
 * from the server of this very mount (its status file), so this guards
 * against one thing only: the pid having been reused since. */
static bool is_omifs_server(pid_t pid)
{
	char link[64], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%ld/exe", (long)pid);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strcmp(base, "omifs") != 0 && strcmp(base, "omifs (deleted)") != 0)
		return false;
	return mount_process_holds(pid, "/dev/fuse");
}

/* The status line "refreshes      N asked, M done; the last ..." of the
 * mount at path: *asked and *done, and in why (may be NULL) what follows
 * "the last failed: ", or "" when it succeeded. Returns 0, or -1 when the
 * status cannot be read or has no such line. */
static int refresh_counts(const char *path, unsigned long *asked, unsigned long *done,
			  char *why, size_t whylen)
{
	static const char failed_said[] = "; the last failed: ";
	struct buf status = BUF_INIT;
	const char *line, *end, *failed;
	int rc = -1;

	if (read_meta_file(path, "status", &status) == 0 && (line = strstr(status.data, "\nrefreshes ")) &&
	    sscanf(line, "\nrefreshes %lu asked, %lu done", asked, done) == 2) {
		rc = 0;
		end = line + 1 + strcspn(line + 1, "\n");
		failed = strstr(line, failed_said);
		if (why && failed && failed < end)
			snprintf(why, whylen, "%.*s", (int)(end - failed - (sizeof(failed_said) - 1)),
				 failed + sizeof(failed_said) - 1);
		else if (why)
			why[0] = '\0';
	}
	buf_free(&status);
	return rc;
}

/* Waits (polling the status file, for a day at most) until a refresh
 * asked after `asked` is done. Returns the exit code. */
static int wait_for_refresh(const char *path, pid_t pid, unsigned long asked)
{
	const struct timespec tick = { .tv_nsec = 200 * 1000 * 1000 };
	unsigned long now_asked, done;
	char why[512];

	for (long i = 0; i < 24L * 3600 * 5; i++) {
		if (refresh_counts(path, &now_asked, &done, why, sizeof(why)) < 0 ||
		    kill(pid, 0) < 0) {
			fprintf(stderr, "omifs refresh: the mount at %s went away\n", path);
			return EXIT_FAILED;
		}
		if (done > asked) {
			if (!why[0])
				return 0;
			fprintf(stderr, "omifs refresh: the refresh failed: %s\n", why);
			return EXIT_REFRESH_FAILED;
		}
		nanosleep(&tick, NULL);
	}
	fprintf(stderr, "omifs refresh: gave up waiting after a day\n");
	return EXIT_FAILED;
}

int mount_refresh_command(const char *path, bool accept_deletions, bool wait)
{
	char *abs = omifs_mount("refresh", path);
	unsigned long asked = 0, done = 0;
	struct buf status = BUF_INIT;
	pid_t pid;
	int rc = 0;

	if (!abs)
		return EXIT_MOUNTPOINT;
	pid = mount_server_pid(abs);
	if (wait && read_meta_file(abs, "status", &status) == 0 && strstr(status.data, "\nmode           offline")) {
		fprintf(stderr, "omifs refresh: %s is mounted offline: it sends no request, so "
				"nothing refreshes\n", path);
		rc = EXIT_USAGE;
	} else if (wait && refresh_counts(abs, &asked, &done, NULL, 0) < 0) {
		fprintf(stderr, "omifs refresh: %s/.omifs/status counts no refreshes (an older "
				"omifs?)\n", path);
		rc = EXIT_MOUNTPOINT;
	} else if (pid < 0) {
		fprintf(stderr, "omifs refresh: %s/.omifs/status names no process (an older omifs?)\n",
			path);
		rc = EXIT_MOUNTPOINT;
	} else if (!is_omifs_server(pid)) {
		fprintf(stderr, "omifs refresh: process %ld, named by %s, is not omifs serving a "
				"mount\n", (long)pid, path);
		rc = EXIT_FAILED;
	} else if (kill(pid, accept_deletions ? SIGUSR1 : SIGHUP) < 0) {
		fprintf(stderr, "omifs refresh: cannot signal omifs (pid %ld): %s\n", (long)pid,
			strerror(errno));
		rc = EXIT_FAILED;
	} else {
		printf("omifs refresh: omifs (pid %ld) serving %s is refreshing%s\n", (long)pid, abs,
		       accept_deletions ? ", deleting what two listings agree is gone" : "");
		fflush(stdout);
		if (wait)
			rc = wait_for_refresh(abs, pid, asked);
	}
	buf_free(&status);
	free(abs);
	return rc;
}
