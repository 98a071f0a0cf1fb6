/* A 0 ms timer started inside a timer callback runs in the next timers phase: after the due
 * sibling timer and after an immediate started next to it, even when it is due before the
 * timers phase ends (A1 busy-waits): the phase runs only what was due when it began. */
#include "trace.h"

static loop_timer_t a1, a2, b;
static loop_immediate_t im;

static void on_b(loop_timer_t *t) { (void)t; trace("timer B (0 ms, from A1)"); }
static void on_im(loop_immediate_t *i) { (void)i; trace("immediate (from A1)"); }
static void on_a1(loop_timer_t *t) {
  (void)t;
  trace("timer A1");
  CHECK(loop_timer_start(&b, on_b, 1, 0));
  CHECK(loop_immediate_start(&im, on_im));
  spin_ms(4);
}
static void on_a2(loop_timer_t *t) { (void)t; trace("timer A2"); }

int main(void) {
  loop_t *loop = scenario_start();
  CHECK(loop_timer_init(loop, &a1));
  CHECK(loop_timer_init(loop, &a2));
  CHECK(loop_timer_init(loop, &b));
  CHECK(loop_immediate_init(loop, &im));
  CHECK(loop_timer_start(&a1, on_a1, 1, 0));
  CHECK(loop_timer_start(&a2, on_a2, 1, 0));
  scenario_run(loop);
  return scenario_end(loop, &a1.h, &a2.h, &b.h, &im.h, NULL);
}
