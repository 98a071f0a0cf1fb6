/* A 1 ms interval repeats until stopped from its own callback; an immediate started from a
 * tick runs before the next tick; a timer started at the last tick fires after it. */
#include "trace.h"

static loop_timer_t iv, after;
static loop_immediate_t im;
static unsigned n;

static void on_im(loop_immediate_t *i) { (void)i; trace("immediate (from tick 3)"); }
static void on_after(loop_timer_t *t) { (void)t; trace("timer (from tick 5)"); }
static void on_iv(loop_timer_t *t) {
  (void)t;
  trace("interval tick %u", ++n);
  if (n == 3)
    CHECK(loop_immediate_start(&im, on_im));
  if (n == 5) {
    CHECK(loop_timer_stop(&iv));
    CHECK(loop_timer_start(&after, on_after, 1, 0));
  }
}

int main(void) {
  loop_t *loop = scenario_start();
  CHECK(loop_timer_init(loop, &iv));
  CHECK(loop_timer_init(loop, &after));
  CHECK(loop_immediate_init(loop, &im));
  CHECK(loop_timer_start(&iv, on_iv, 1, 1));
  scenario_run(loop);
  return scenario_end(loop, &iv.h, &after.h, &im.h, NULL);
}
