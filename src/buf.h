/*
 * buf: a growable byte buffer, the one way omifs builds strings and file
 * contents.
 *
 * Ownership: a struct buf owns its data. buf_free() releases it;
 * buf_steal() hands it to the caller. The data is always NUL-terminated
 * (the NUL is not counted in len), so it can be used as a C string when it
 * holds text.
 *
 * Allocation failure aborts the process, as glib does for sshfs: a
 * filesystem that carries on without memory would serve short files.
 */
#ifndef OMIFS_BUF_H
#define OMIFS_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <time.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The same with a va_list (ap is used up). */
void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Appends t as UTC text, the one form omifs shows times in to programs
 * and people alike: 2026-12-05T15:20:00Z. */
void buf_put_utc(struct buf *b, time_t t);
/* Empties the buffer, keeping its memory for reuse. */
void buf_reset(struct buf *b);
/* Keeps the first len bytes (len <= b->len), dropping what follows. */
void buf_truncate(struct buf *b, size_t len);
/* Returns the NUL-terminated data (never NULL); the buffer is left empty. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);

/* malloc, calloc, realloc and strdup that abort on failure. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Makes room for item n of an array of `size`-byte items holding *cap:
 * returns the array (moved, perhaps), *cap doubled from `first` as
 * needed. The caller owns it, as it owned `array`. */
void *xgrow(void *array, size_t *cap, size_t n, size_t size, size_t first);

#endif
