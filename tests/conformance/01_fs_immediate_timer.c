/* Inside a file-completion callback, an immediate and a 0 ms timer: the immediate runs first
 * (check comes before timers). Twice: after a pool stat, and after a pool read of a file with
 * the timer already due (busy-wait) before the immediate is even started. */
#include <fcntl.h>
#include <sys/stat.h>

#include "pool.h"
#include "trace.h"

struct file_job {
  pool_job_t job;
  const char *path;
  int err; /* errno of the work, 0 on success */
};

static pool_t *pool;
static const char *path;
static struct file_job stat_job, read_job;
static loop_timer_t timer_a, timer_b;
static loop_immediate_t imm1, imm2;

static void stat_work(pool_job_t *job) {
  struct file_job *f = job->data;
  struct stat st;
  f->err = stat(f->path, &st) < 0 ? errno : 0;
}

/* fs.readFile: open, read to the end, close, all on the pool thread. */
static void read_work(pool_job_t *job) {
  struct file_job *f = job->data;
  char buf[65536];
  ssize_t n;
  int fd = open(f->path, O_RDONLY | O_CLOEXEC);
  f->err = 0;
  if (fd < 0) {
    f->err = errno;
    return;
  }
  while ((n = read(fd, buf, sizeof buf)) != 0) {
    if (n < 0 && errno != EINTR) {
      f->err = errno;
      break;
    }
  }
  close(fd);
}

static void on_timer_b(loop_timer_t *t) { (void)t; trace("timer B (0 ms, from readFile)"); }
static void on_imm2(loop_immediate_t *im) { (void)im; trace("immediate 2 (from readFile)"); }

static void read_done(pool_job_t *job, int status) {
  struct file_job *f = job->data;
  trace("readFile done%s", status || f->err ? " (error)" : "");
  CHECK(loop_timer_start(&timer_b, on_timer_b, 1, 0));
  spin_ms(4);
  CHECK(loop_immediate_start(&imm2, on_imm2));
}

static void on_timer_a(loop_timer_t *t) {
  (void)t;
  trace("timer A (0 ms, from stat)");
  read_job.path = path;
  read_job.job.data = &read_job;
  CHECK(pool_submit(pool, &read_job.job, read_work, read_done));
}

static void on_imm1(loop_immediate_t *im) { (void)im; trace("immediate 1 (from stat)"); }

static void stat_done(pool_job_t *job, int status) {
  struct file_job *f = job->data;
  trace("stat done%s", status || f->err ? " (error)" : "");
  CHECK(loop_timer_start(&timer_a, on_timer_a, 1, 0));
  CHECK(loop_immediate_start(&imm1, on_imm1));
}

int main(int argc, char **argv) {
  (void)argc;
  loop_t *loop = scenario_start();
  path = argv[0];
  CHECK(pool_new(loop, 1, POOL_DEFAULT_MAX_QUEUED, &pool));
  CHECK(loop_timer_init(loop, &timer_a));
  CHECK(loop_timer_init(loop, &timer_b));
  CHECK(loop_immediate_init(loop, &imm1));
  CHECK(loop_immediate_init(loop, &imm2));
  stat_job.path = path;
  stat_job.job.data = &stat_job;
  CHECK(pool_submit(pool, &stat_job.job, stat_work, stat_done));
  scenario_run(loop);
  pool_free(pool);
  return scenario_end(loop, &timer_a.h, &timer_b.h, &imm1.h, &imm2.h, NULL);
}
