/* An unref'd interval next to a ref'd timer fires while the timer is pending; once the timer
 * has fired, nothing ref'd is left and the loop ends (the interval does not hold it). */
#include "trace.h"

static unsigned ticks;

static void on_interval(loop_timer_t *t) {
  (void)t;
  if (++ticks <= 3)
    trace("interval tick %u", ticks);
}
static void on_timer(loop_timer_t *t) {
  (void)t;
  trace("timer T (ref'd) done, interval ticked %s times", ticks >= 3 ? "at least 3" : "fewer than 3");
}

int main(void) {
  static loop_timer_t iv, t;
  loop_t *loop = scenario_start();
  CHECK(loop_timer_init(loop, &iv));
  CHECK(loop_timer_init(loop, &t));
  CHECK(loop_timer_start(&iv, on_interval, 5, 5));
  loop_unref(&iv.h);
  CHECK(loop_timer_start(&t, on_timer, 150, 0));
  scenario_run(loop);
  return scenario_end(loop, &iv.h, &t.h, NULL);
}
