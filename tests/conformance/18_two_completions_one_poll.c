/* Two stats on one pool thread, both finished before the loop polls again (busy-wait): both
 * done callbacks run in the same poll phase, in completion order, before the immediate
 * started beside them. */
#include "statjob.h"

static pool_t *pool;
static struct stat_job a, b;
static loop_timer_t timer;
static loop_immediate_t imm;

static void on_imm(loop_immediate_t *im) { (void)im; trace("immediate"); }

static void on_timer(loop_timer_t *t) {
  (void)t;
  trace("timer");
  stat_submit(pool, &a, "stat A", "/proc/self/exe", stat_done);
  stat_submit(pool, &b, "stat B", ".", stat_done);
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
