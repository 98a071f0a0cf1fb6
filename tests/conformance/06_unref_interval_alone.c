/* An unref'd interval alone does not keep the loop alive: the loop never iterates and the
 * interval never fires, even though it is due when the loop starts. */
#include "trace.h"

static void on_interval(loop_timer_t *t) { (void)t; trace("interval (must not fire)"); }

int main(void) {
  static loop_timer_t iv;
  loop_t *loop = scenario_start();
  CHECK(loop_timer_init(loop, &iv));
  CHECK(loop_timer_start(&iv, on_interval, 1, 1));
  loop_unref(&iv.h);
  spin_ms(5);
  scenario_run(loop);
  return scenario_end(loop, &iv.h, NULL);
}
