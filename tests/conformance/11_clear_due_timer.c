/* A timer stopped by an earlier timer of the same timers phase, while both are due, does not
 * fire (same delay, longer delay, and an interval). */
#include "trace.h"

static loop_timer_t a, b, c, iv, d;

static void on_a(loop_timer_t *t) {
  (void)t;
  trace("timer A: clear B, C and interval I");
  CHECK(loop_timer_stop(&b));
  CHECK(loop_timer_stop(&c));
  CHECK(loop_timer_stop(&iv));
}
static void on_b(loop_timer_t *t) { (void)t; trace("timer B (must not fire)"); }
static void on_c(loop_timer_t *t) { (void)t; trace("timer C (must not fire)"); }
static void on_iv(loop_timer_t *t) { (void)t; trace("interval I (must not fire)"); }
static void on_d(loop_timer_t *t) { (void)t; trace("timer D"); }

int main(void) {
  loop_t *loop = scenario_start();
  loop_timer_t *all[] = {&a, &b, &c, &iv, &d};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    CHECK(loop_timer_init(loop, all[i]));
  CHECK(loop_timer_start(&a, on_a, 5, 0));
  CHECK(loop_timer_start(&b, on_b, 5, 0));
  CHECK(loop_timer_start(&c, on_c, 6, 0));
  CHECK(loop_timer_start(&iv, on_iv, 7, 7));
  CHECK(loop_timer_start(&d, on_d, 30, 0));
  spin_ms(10); /* A, B, C and I are all due at the first timers run */
  scenario_run(loop);
  return scenario_end(loop, &a.h, &b.h, &c.h, &iv.h, &d.h, NULL);
}
