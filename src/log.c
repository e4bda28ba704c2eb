/*
 * log: leveled diagnostics to stderr or syslog.
 *
 * The two settings below are written once by main before any thread
 * starts and only read afterwards, so they need no lock.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

static enum log_level max_level = LOG_WARN;
static bool use_syslog;

void log_setup(enum log_level level, bool to_syslog)
{
	max_level = level;
	use_syslog = to_syslog;
	if (to_syslog)
		openlog("omifs", LOG_PID, LOG_USER);
}

bool log_enabled(enum log_level level)
{
	return level <= max_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int syslog_priority[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_DEBUG };
	static const char *const prefix[] = { "error", "warning", "info", "debug" };
	char line[1024];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (use_syslog)
		syslog(syslog_priority[level], "%s", line);
	else
		fprintf(stderr, "omifs: %s: %s\n", prefix[level], line);
}
