/* The worker's access log: lines in combined format gathered in memory and written by the
 * pool, so the loop never blocks on a log write. Reopened on request (log rotation). */
#ifndef EVC_ACCESS_LOG_H
#define EVC_ACCESS_LOG_H

#include <stdint.h>

#include "http_log.h"
#include "loop.h"
#include "pool.h"

typedef struct alog alog_t;

/* path NULL: logging is off and alog_write does nothing. Opens the file now (at worker
 * start, before serving). 0 or -errno. */
int alog_new(loop_t *loop, pool_t *pool, const char *path, alog_t **out);
/* Formats the line into the current buffer; a full buffer is handed to the pool. When every
 * buffer is in flight the line is dropped and counted (the log must not grow memory without
 * bound when the disk stalls). */
void alog_write(alog_t *a, const struct http_log_entry *e);
/* Hands what is buffered to the pool now. */
void alog_flush(alog_t *a);
/* Opens the path again on the pool and switches to it once open. */
void alog_reopen(alog_t *a);
uint64_t alog_dropped(const alog_t *a);
/* 0 when logging is off: callers skip building the entry. */
int alog_enabled(const alog_t *a);
/* Writes what is left synchronously (the worker is exiting and serves nobody) and closes;
 * the memory goes in the loop's next close phase. No flush may be in flight: call after the
 * loop has run out of refs. NULL: no-op. */
void alog_close(alog_t *a);

#endif
