/* A completion ready beside a due timer. At start: the timer runs before the first
 * iteration, the completion in its poll. Inside the loop: an immediate starts a stat and
 * busy-waits; a timer due in that iteration's timers phase starts another immediate: the
 * stat's done (next poll) comes before it (next check). */
#include "statjob.h"

static pool_t *pool;
static struct stat_job a, b;
static loop_timer_t timer1, timer2;
static loop_immediate_t imm1, imm2;

static void on_imm1(loop_immediate_t *im) {
  (void)im;
  trace("immediate 1 (from A)");
  stat_submit(pool, &b, "stat B (from immediate 1)", ".", stat_done);
  spin_ms(20);
}
static void on_imm2(loop_immediate_t *im) { (void)im; trace("immediate 2 (from timer 2)"); }
static void on_timer1(loop_timer_t *t) { (void)t; trace("timer 1"); }

static void on_timer2(loop_timer_t *t) {
  (void)t;
  trace("timer 2 (from A)");
  CHECK(loop_immediate_start(&imm2, on_imm2));
}

static void a_done(pool_job_t *job, int status) {
  stat_done(job, status);
  CHECK(loop_timer_start(&timer2, on_timer2, 1, 0));
  CHECK(loop_immediate_start(&imm1, on_imm1));
}

int main(void) {
  loop_t *loop = scenario_start();
  CHECK(pool_new(loop, 1, POOL_DEFAULT_MAX_QUEUED, &pool));
  CHECK(loop_timer_init(loop, &timer1));
  CHECK(loop_timer_init(loop, &timer2));
  CHECK(loop_immediate_init(loop, &imm1));
  CHECK(loop_immediate_init(loop, &imm2));
  stat_submit(pool, &a, "stat A", "/proc/self/exe", a_done);
  CHECK(loop_timer_start(&timer1, on_timer1, 1, 0));
  spin_ms(20);
  scenario_run(loop);
  pool_free(pool);
  return scenario_end(loop, &timer1.h, &timer2.h, &imm1.h, &imm2.h, NULL);
}
