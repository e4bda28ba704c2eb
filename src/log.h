/*
 * log: one place for diagnostics. Lines go, in this order of preference:
 * - to the log file, when one was opened (log_open_file);
 * - to the systemd journal, when stderr is the journal's stream
 *   ($JOURNAL_STREAM), in the foreground or not, with the journal's
 *   "<N>" priority prefix;
 * - to stderr in the foreground;
 * - to syslog once the process is a daemon.
 * Nothing logged may contain the API key: callers pass messages that
 * never hold it (the api module strips it).
 */
#ifndef OMIFS_LOG_H
#define OMIFS_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Sets the most verbose level that is printed, and where lines go once
 * the process is a daemon (daemon: before it becomes one, since the
 * journal's stream is recognised on stderr, which the daemon loses).
 * Called before any thread starts. */
void log_setup(enum log_level level, bool daemon);

/* Appends every line from now on to path, each with its time and pid.
 * The file is created with mode 0600; an existing one must be a regular
 * file that only its owner can read. Returns 0, or -1 with the reason in
 * err. Called before any thread starts. */
int log_open_file(const char *path, char *err, size_t errlen);

bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
