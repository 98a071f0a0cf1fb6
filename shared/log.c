/* The error log: see log.h. Used by the supervisor and by each worker, on its loop thread
 * only (pool threads never log). Writes are synchronous: the error log is rare by design;
 * the access log, which is not, is buffered and written on the pool (worker/access_log.c). */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

struct log_s {
  char role[48];
  char *path; /* NULL: stderr */
  int fd;
  enum log_level level;
  int echo; /* warnings and errors go to stderr too (a file log during start-up) */
  /* repeat suppression: the last message's text, when it was first seen, and its repeats */
  char last[LOG_LINE_MAX];
  time_t last_sec;
  unsigned repeats;
};

static const char *level_name[] = {"error", "warn", "info", "debug"};

static int open_path(const char *path) {
  int fd;
  do {
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : fd;
}

int log_new(const char *role, const char *path, log_t **out) {
  log_t *log = calloc(1, sizeof(*log));
  if (!log)
    return -ENOMEM;
  log->fd = STDERR_FILENO;
  log->level = LOG_INFO;
  log->last_sec = -1;
  log_set_role(log, role);
  if (path) {
    int fd = open_path(path);
    if (fd < 0) {
      free(log);
      return fd;
    }
    log->fd = fd;
    log->path = strdup(path);
    if (!log->path) {
      close(fd);
      free(log);
      return -ENOMEM;
    }
  }
  *out = log;
  return 0;
}

void log_free(log_t *log) {
  if (!log)
    return;
  if (log->path)
    close(log->fd);
  free(log->path);
  free(log);
}

int log_reopen(log_t *log) {
  if (!log->path)
    return 0;
  int fd = open_path(log->path);
  if (fd < 0)
    return fd;
  close(log->fd);
  log->fd = fd;
  return 0;
}

int log_retarget(log_t *log, const char *path) {
  char *copy = NULL;
  int fd = STDERR_FILENO;
  if (path) {
    copy = strdup(path);
    if (!copy)
      return -ENOMEM;
    fd = open_path(path);
    if (fd < 0) {
      free(copy);
      return fd;
    }
  }
  if (log->path)
    close(log->fd);
  free(log->path);
  log->path = copy;
  log->fd = fd;
  return 0;
}

void log_set_role(log_t *log, const char *role) {
  snprintf(log->role, sizeof(log->role), "%s", role ? role : "evcluster");
}

void log_set_echo(log_t *log, int on) {
  log->echo = on;
}

void log_set_level(log_t *log, enum log_level level) {
  log->level = level;
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return; /* nowhere left to report a failing error log */
    buf += n;
    len -= (size_t)n;
  }
}

static void emit(log_t *log, enum log_level level, const char *text) {
  char line[LOG_LINE_MAX + 128];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%ld] %s: %s%s%s\n",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec / 1000000, (long)getpid(), log->role,
                   level <= LOG_WARN ? level_name[level] : "", level <= LOG_WARN ? ": " : "",
                   text);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof(line)) {
    n = sizeof(line) - 1;
    line[n - 1] = '\n';
  }
  write_all(log->fd, line, (size_t)n);
  if (log->echo && level <= LOG_WARN && log->fd != STDERR_FILENO)
    write_all(STDERR_FILENO, line, (size_t)n);
}

void log_msg(log_t *log, enum log_level level, const char *fmt, ...) {
  if (!log || level > log->level)
    return;
  char text[LOG_LINE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);

  time_t now = time(NULL);
  if (log->last_sec == now && strcmp(text, log->last) == 0) {
    log->repeats++;
    return;
  }
  if (log->repeats > 0) {
    char note[LOG_LINE_MAX + 64];
    snprintf(note, sizeof(note), "%.*s (repeated %u times)", LOG_LINE_MAX - 1, log->last,
             log->repeats);
    emit(log, LOG_INFO, note);
    log->repeats = 0;
  }
  memcpy(log->last, text, sizeof(text));
  log->last_sec = now;
  emit(log, level, text);
}
