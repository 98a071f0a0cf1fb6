/* A pool job that stats a path, shared by the conformance scenarios that trace pool
 * completions (the C halves of fs.stat). Its done traces "<label> done", with " (error)" when
 * the stat failed or the job was cancelled. */
#ifndef EVC_CONFORMANCE_STATJOB_H
#define EVC_CONFORMANCE_STATJOB_H

#include <sys/stat.h>

#include "pool.h"
#include "trace.h"

struct stat_job {
  pool_job_t job;
  const char *label;
  const char *path;
  int err; /* errno of the stat, 0 on success */
};

static inline void stat_work(pool_job_t *job) {
  struct stat_job *s = job->data;
  struct stat st;
  s->err = stat(s->path, &st) < 0 ? errno : 0;
}

static inline void stat_done(pool_job_t *job, int status) {
  struct stat_job *s = job->data;
  trace("%s done%s", s->label, status || s->err ? " (error)" : "");
}

/* Submits s; done is stat_done or a callback that calls it first. */
static inline void stat_submit(pool_t *pool, struct stat_job *s, const char *label,
                               const char *path, pool_done_fn done) {
  s->label = label;
  s->path = path;
  s->job.data = s;
  CHECK(pool_submit(pool, &s->job, stat_work, done));
}

#endif
