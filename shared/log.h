/* The error log of one process (supervisor or worker): one line per message,
 *   2026-11-23T11:50:00.123Z [1234] worker 2: accept() failed: Too many open files
 * written with one write(2) to a descriptor (stderr or a file opened O_APPEND), so lines of
 * several processes sharing the file never interleave. Repeats of the same message within a
 * second are counted and reported once ("(repeated N times)") instead of flooding the log. */
#ifndef EVC_LOG_H
#define EVC_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

typedef struct log_s log_t;

/* role: "supervisor", "worker 3"... (copied). path NULL: stderr. 0 or -errno; *out is owned
 * by the caller (log_free). */
int log_new(const char *role, const char *path, log_t **out);
void log_free(log_t *log);
/* Reopens the file (log rotation); stderr stays. 0 or -errno (the old descriptor is kept). */
int log_reopen(log_t *log);
/* Writes to another file from now on (a reload changed error_log); NULL: stderr. 0, or -errno
 * with the old target kept. */
int log_retarget(log_t *log, const char *path);
void log_set_role(log_t *log, const char *role);
void log_set_level(log_t *log, enum log_level level);
/* With on, warnings and errors also go to stderr when the log is a file: whoever started a
 * server sees why it did not come up, not only the file. */
void log_set_echo(log_t *log, int on);
void log_msg(log_t *log, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
