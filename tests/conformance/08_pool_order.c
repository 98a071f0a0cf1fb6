/* With one pool thread, file-system jobs complete in submission order; one submitted from a
 * done callback completes after those already queued. */
#include <dirent.h>
#include <sys/stat.h>

#include "pool.h"
#include "trace.h"

enum op { OP_STAT, OP_LSTAT, OP_ACCESS, OP_READDIR };

struct fs_job {
  pool_job_t job;
  const char *label;
  enum op op;
  const char *path;
  int err; /* errno of the work, 0 on success */
};

static pool_t *pool;
static struct fs_job jobs[6];

static void fs_work(pool_job_t *job) {
  struct fs_job *f = job->data;
  struct stat st;
  DIR *d;
  int rc = 0;
  switch (f->op) {
  case OP_STAT: rc = stat(f->path, &st); break;
  case OP_LSTAT: rc = lstat(f->path, &st); break;
  case OP_ACCESS: rc = access(f->path, F_OK); break;
  case OP_READDIR:
    if ((d = opendir(f->path)) == NULL) {
      rc = -1;
      break;
    }
    while (readdir(d) != NULL) {
    }
    closedir(d);
    break;
  }
  f->err = rc < 0 ? errno : 0;
}

static void submit(struct fs_job *f, const char *label, enum op op, const char *path,
                   pool_done_fn done) {
  f->label = label;
  f->op = op;
  f->path = path;
  f->job.data = f;
  CHECK(pool_submit(pool, &f->job, fs_work, done));
}

static void on_done(pool_job_t *job, int status) {
  struct fs_job *f = job->data;
  trace("%s done%s", f->label, status || f->err ? " (error)" : "");
}

static void on_done_first(pool_job_t *job, int status) {
  on_done(job, status);
  submit(&jobs[5], "stat 6 (from 1)", OP_STAT, ".", on_done);
}

static void on_done_enoent(pool_job_t *job, int status) {
  struct fs_job *f = job->data;
  trace("%s done (%s)", f->label, status ? "cancelled" : f->err == ENOENT ? "ENOENT" : f->err ? "other error" : "ok");
}

int main(int argc, char **argv) {
  (void)argc;
  loop_t *loop = scenario_start();
  CHECK(pool_new(loop, 1, POOL_DEFAULT_MAX_QUEUED, &pool));
  submit(&jobs[0], "stat 1", OP_STAT, argv[0], on_done_first);
  submit(&jobs[1], "lstat 2", OP_LSTAT, ".", on_done);
  submit(&jobs[2], "access 3", OP_ACCESS, argv[0], on_done);
  submit(&jobs[3], "readdir 4", OP_READDIR, ".", on_done);
  submit(&jobs[4], "stat 5", OP_STAT, "/nonexistent-evc-conformance", on_done_enoent);
  scenario_run(loop);
  pool_free(pool);
  return scenario_end(loop, NULL);
}
