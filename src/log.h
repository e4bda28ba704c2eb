/*
 * log: one place for diagnostics. To stderr in the foreground, to syslog
 * once the process is a daemon. Nothing logged may contain the API key:
 * callers pass messages that never hold it (the api module strips it).
 */
#ifndef OMIFS_LOG_H
#define OMIFS_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Sets the most verbose level that is printed, and where lines go. */
void log_setup(enum log_level level, bool to_syslog);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
