/* A timer callback starts a pool stat and an immediate, then busy-waits until the stat has
 * surely finished: the stat's done runs in that iteration's poll phase, before the immediate
 * (issue 19; a pool that defers completions to the next pending phase prints them swapped). */
#include "statjob.h"

static pool_t *pool;
static const char *path;
static struct stat_job job;
static loop_timer_t timer;
static loop_immediate_t imm;

static void on_imm(loop_immediate_t *im) { (void)im; trace("immediate"); }

static void on_timer(loop_timer_t *t) {
  (void)t;
  trace("timer");
  stat_submit(pool, &job, "stat", path, stat_done);
  CHECK(loop_immediate_start(&imm, on_imm));
  spin_ms(20);
}

int main(int argc, char **argv) {
  (void)argc;
  loop_t *loop = scenario_start();
  path = argv[0];
  CHECK(pool_new(loop, 4, POOL_DEFAULT_MAX_QUEUED, &pool));
  CHECK(loop_timer_init(loop, &timer));
  CHECK(loop_immediate_init(loop, &imm));
  CHECK(loop_timer_start(&timer, on_timer, 1, 0));
  scenario_run(loop);
  pool_free(pool);
  return scenario_end(loop, &timer.h, &imm.h, NULL);
}
