/*
 * log: leveled diagnostics to a file, the journal, stderr or syslog.
 *
 * The settings below are written by main before any thread starts and
 * only read afterwards, so they need no lock. Each line is written with
 * one write(2), so that lines from several threads (and, in a shared log
 * file opened O_APPEND, several processes) never interleave.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum log_target { TO_STDERR, TO_SYSLOG, TO_JOURNAL, TO_FILE };

static enum log_level max_level = LOG_WARN;
static enum log_target target = TO_STDERR;
static int target_fd = STDERR_FILENO;	/* for TO_JOURNAL and TO_FILE */

/* Whether fd 2 is the stream systemd gave the service: $JOURNAL_STREAM
 * holds its "device:inode" (systemd.exec(5)). Anything else on stderr (a
 * terminal, a pipe to a test) is not the journal, even under systemd. */
static bool stderr_is_journal(void)
{
	const char *stream = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!stream || sscanf(stream, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(enum log_level level, bool daemon)
{
	int fd;

	max_level = level;
	if (target == TO_FILE)
		return;
	if (stderr_is_journal()) {
		/* A daemon's stderr becomes /dev/null: keep the stream on a
		 * descriptor of its own. */
		fd = daemon ? fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3) : STDERR_FILENO;
		if (fd >= 0) {
			target = TO_JOURNAL;
			target_fd = fd;
			return;
		}
	}
	target = daemon ? TO_SYSLOG : TO_STDERR;
	if (daemon)
		openlog("omifs", LOG_PID, LOG_USER);
}

int log_open_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
		  0600);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot open log file %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		snprintf(err, errlen, "refusing log file %s: it must be a regular file that "
			 "only you can read (chmod 600 %s)", path, path);
		goto fail;
	}
	target = TO_FILE;
	target_fd = fd;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

bool log_enabled(enum log_level level)
{
	return level <= max_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int syslog_priority[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_DEBUG };
	static const char *const prefix[] = { "error", "warning", "info", "debug" };
	char text[1024], line[1200], stamp[32];
	struct tm tm;
	time_t now;
	va_list ap;
	int n;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	switch (target) {
	case TO_SYSLOG:
		syslog(syslog_priority[level], "%s", text);
		return;
	case TO_JOURNAL:
		n = snprintf(line, sizeof(line), "<%d>omifs: %s: %s\n", syslog_priority[level],
			     prefix[level], text);
		break;
	case TO_FILE:
		now = time(NULL);
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		n = snprintf(line, sizeof(line), "%s omifs[%ld]: %s: %s\n", stamp, (long)getpid(),
			     prefix[level], text);
		break;
	default:
		n = snprintf(line, sizeof(line), "omifs: %s: %s\n", prefix[level], text);
		break;
	}
	if (n > (int)sizeof(line) - 1) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (write(target_fd, line, (size_t)n) < 0)
		return;	/* nowhere left to say so */
}
