/* Two stats on one pool thread, both finished before the loop polls again (busy-wait): both
 * done callbacks run in the same poll phase, in completion order, before the immediate
 * started beside them. */
#include <sys/stat.h>

#include "pool.h"
#include "trace.h"

struct stat_job {
  pool_job_t job;
  const char *label;
  const char *path;
  int err;
};

static pool_t *pool;
static struct stat_job a, b;
static loop_timer_t timer;
static loop_immediate_t imm;

static void stat_work(pool_job_t *job) {
  struct stat_job *s = job->data;
  struct stat st;
  s->err = stat(s->path, &st) < 0 ? errno : 0;
}

static void stat_done(pool_job_t *job, int status) {
  struct stat_job *s = job->data;
  trace("%s done%s", s->label, status || s->err ? " (error)" : "");
}

static void submit(struct stat_job *s, const char *label, const char *path) {
  s->label = label;
  s->path = path;
  s->job.data = s;
  CHECK(pool_submit(pool, &s->job, stat_work, stat_done));
}

static void on_imm(loop_immediate_t *im) { (void)im; trace("immediate"); }

static void on_timer(loop_timer_t *t) {
  (void)t;
  trace("timer");
  submit(&a, "stat A", "/proc/self/exe");
  submit(&b, "stat B", ".");
  CHECK(loop_immediate_start(&imm, on_imm));
  spin_ms(20);
}

int main(void) {
  loop_t *loop = scenario_start();
  CHECK(pool_new(loop, 1, POOL_DEFAULT_MAX_QUEUED, &pool));
  CHECK(loop_timer_init(loop, &timer));
  CHECK(loop_immediate_init(loop, &imm));
  CHECK(loop_timer_start(&timer, on_timer, 1, 0));
  scenario_run(loop);
  pool_free(pool);
  return scenario_end(loop, &timer.h, &imm.h, NULL);
}
