/* The access log (see access_log.h). Loop thread only, except the write and open jobs that
 * run on the pool and touch only their own job struct. */
#define _GNU_SOURCE
#include "access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALOG_BUF 65536
#define ALOG_FLUSH_AT (ALOG_BUF - 4096) /* leave room for one more line before handing over */
#define ALOG_JOBS 4
#define ALOG_LINE_MAX 8192

struct alog_job {
  pool_job_t job;
  alog_t *a;
  int fd;
  char *buf; /* owned by the job while it is in flight */
  size_t len;
  int busy;
};

struct alog_open {
  pool_job_t job;
  alog_t *a;
  int fd; /* result: the new descriptor or -errno */
  int busy;
};

struct alog {
  loop_t *loop;
  pool_t *pool;
  char *path;
  int fd;
  int old_fd;     /* replaced by a reopen; closed once no write uses it */
  char *buf;      /* the buffer being filled */
  size_t len;
  struct alog_job jobs[ALOG_JOBS];
  struct alog_open reopen;
  unsigned in_flight;
  uint64_t dropped;
  loop_timer_t timer;
};

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return; /* a full disk loses log lines, never requests */
    buf += n;
    len -= (size_t)n;
  }
}

static void write_work(pool_job_t *job) {
  struct alog_job *j = job->data;
  write_all(j->fd, j->buf, j->len);
}

static void write_done(pool_job_t *job, int status) {
  struct alog_job *j = job->data;
  alog_t *a = j->a;
  if (status == -ECANCELED)
    write_all(j->fd, j->buf, j->len);
  j->busy = 0;
  j->len = 0;
  a->in_flight--;
  if (a->in_flight == 0 && a->old_fd >= 0) {
    close(a->old_fd);
    a->old_fd = -1;
  }
}

void alog_flush(alog_t *a) {
  if (!a || a->len == 0)
    return;
  struct alog_job *j = NULL;
  for (int i = 0; i < ALOG_JOBS; i++) {
    if (!a->jobs[i].busy) {
      j = &a->jobs[i];
      break;
    }
  }
  if (!j)
    return; /* every buffer in flight: keep filling, alog_write drops when full */
  /* Swap buffers: the job takes the filled one, we keep its empty one. */
  char *tmp = j->buf;
  j->buf = a->buf;
  j->len = a->len;
  a->buf = tmp;
  a->len = 0;
  j->fd = a->fd;
  j->busy = 1;
  j->job.data = j;
  if (pool_submit(a->pool, &j->job, write_work, write_done) < 0) {
    write_all(j->fd, j->buf, j->len); /* queue full: better a blocking write than a lost log */
    j->busy = 0;
    j->len = 0;
    return;
  }
  a->in_flight++;
}

static void timer_cb(loop_timer_t *t) {
  alog_flush(t->h.data);
}

int alog_new(loop_t *loop, pool_t *pool, const char *path, alog_t **out) {
  int rc = 0;
  alog_t *a = calloc(1, sizeof(*a));
  if (!a)
    return -ENOMEM;
  a->loop = loop;
  a->pool = pool;
  a->fd = -1;
  a->old_fd = -1;
  if (!path) {
    *out = a;
    return 0;
  }
  a->path = strdup(path);
  a->buf = malloc(ALOG_BUF);
  if (!a->path || !a->buf) {
    rc = -ENOMEM;
    goto fail;
  }
  for (int i = 0; i < ALOG_JOBS; i++) {
    a->jobs[i].a = a;
    a->jobs[i].buf = malloc(ALOG_BUF);
    if (!a->jobs[i].buf) {
      rc = -ENOMEM;
      goto fail;
    }
  }
  a->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (a->fd < 0) {
    rc = -errno;
    goto fail;
  }
  loop_timer_init(loop, &a->timer);
  a->timer.h.data = a;
  loop_timer_start(&a->timer, timer_cb, 1000, 1000);
  loop_unref(&a->timer.h); /* a log flush never keeps a draining worker alive */
  *out = a;
  return 0;
fail:
  for (int i = 0; i < ALOG_JOBS; i++)
    free(a->jobs[i].buf);
  free(a->buf);
  free(a->path);
  free(a);
  return rc;
}

void alog_write(alog_t *a, const struct http_log_entry *e) {
  if (!a || a->fd < 0)
    return;
  if (ALOG_BUF - a->len < ALOG_LINE_MAX)
    alog_flush(a);
  if (ALOG_BUF - a->len < ALOG_LINE_MAX) {
    a->dropped++;
    return;
  }
  int n = http_log_format(a->buf + a->len, ALOG_LINE_MAX, e);
  if (n < 0) {
    a->dropped++;
    return;
  }
  a->len += (size_t)n;
  if (a->len >= ALOG_FLUSH_AT)
    alog_flush(a);
}

static void open_work(pool_job_t *job) {
  struct alog_open *o = job->data;
  o->fd = open(o->a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (o->fd < 0)
    o->fd = -errno;
}

static void open_done(pool_job_t *job, int status) {
  struct alog_open *o = job->data;
  alog_t *a = o->a;
  o->busy = 0;
  if (status < 0 || o->fd < 0)
    return; /* keep writing to the old file rather than nowhere */
  alog_flush(a); /* what was gathered before the reopen belongs to the old file */
  if (a->old_fd >= 0)
    close(a->old_fd);
  a->old_fd = a->in_flight ? a->fd : -1;
  if (a->old_fd < 0)
    close(a->fd);
  a->fd = o->fd;
}

void alog_reopen(alog_t *a) {
  if (!a || a->fd < 0 || a->reopen.busy)
    return;
  a->reopen.a = a;
  a->reopen.job.data = &a->reopen;
  if (pool_submit(a->pool, &a->reopen.job, open_work, open_done) == 0)
    a->reopen.busy = 1;
}

int alog_enabled(const alog_t *a) {
  return a && a->fd >= 0;
}

uint64_t alog_dropped(const alog_t *a) {
  return a ? a->dropped : 0;
}

static void free_mem(alog_t *a) {
  for (int i = 0; i < ALOG_JOBS; i++)
    free(a->jobs[i].buf);
  free(a->buf);
  free(a->path);
  free(a);
}

static void timer_closed(loop_handle_t *h) {
  free_mem(h->data);
}

void alog_close(alog_t *a) {
  if (!a)
    return;
  if (a->old_fd >= 0)
    close(a->old_fd);
  if (a->fd < 0) {
    free_mem(a);
    return;
  }
  write_all(a->fd, a->buf, a->len);
  close(a->fd);
  loop_close(&a->timer.h, timer_closed);
}
