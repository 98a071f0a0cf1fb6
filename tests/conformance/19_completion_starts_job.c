/* A done callback starts another stat, an immediate and a 0 ms timer, and busy-waits until
 * that stat has finished too: it waits for the next poll (the finished jobs were taken before
 * it finished), after the immediate and the due timer of this iteration. */
#include "statjob.h"

static pool_t *pool;
static struct stat_job a, b;
static loop_timer_t timer, timer_a;
static loop_immediate_t imm;

static void on_imm(loop_immediate_t *im) { (void)im; trace("immediate (from A)"); }
static void on_timer_a(loop_timer_t *t) { (void)t; trace("timer (0 ms, from A)"); }

static void a_done(pool_job_t *job, int status) {
  stat_done(job, status);
  stat_submit(pool, &b, "stat B (from A)", ".", stat_done);
  CHECK(loop_immediate_start(&imm, on_imm));
  CHECK(loop_timer_start(&timer_a, on_timer_a, 1, 0));
  spin_ms(20);
}

static void on_timer(loop_timer_t *t) {
  (void)t;
  trace("timer");
  stat_submit(pool, &a, "stat A", "/proc/self/exe", a_done);
  spin_ms(20);
}

int main(void) {
  loop_t *loop = scenario_start();
  CHECK(pool_new(loop, 1, POOL_DEFAULT_MAX_QUEUED, &pool));
  CHECK(loop_timer_init(loop, &timer));
  CHECK(loop_timer_init(loop, &timer_a));
  CHECK(loop_immediate_init(loop, &imm));
  CHECK(loop_timer_start(&timer, on_timer, 1, 0));
  scenario_run(loop);
  pool_free(pool);
  return scenario_end(loop, &timer.h, &timer_a.h, &imm.h, NULL);
}
