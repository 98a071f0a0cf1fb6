/* Timers started from check, due by the end of that check phase: they fire in the same
 * iteration's timers phase (after the close phase), before the next iteration's immediates. */
#include "trace.h"

static loop_io_t h;
static loop_timer_t t1, t2;
static loop_immediate_t i1, i2, i3;

static void on_t1(loop_timer_t *t) { (void)t; trace("timer 1 (from check)"); }
static void on_t2(loop_timer_t *t) { (void)t; trace("timer 2 (from check)"); }
static void on_close_h(loop_handle_t *handle) {
  (void)handle;
  trace("close H");
  close(h.fd);
}
static void on_i1(loop_immediate_t *im) {
  (void)im;
  trace("immediate 1: start timers 1 and 2, close H");
  CHECK(loop_timer_start(&t1, on_t1, 1, 0));
  CHECK(loop_timer_start(&t2, on_t2, 1, 0));
  loop_close(&h.h, on_close_h);
  spin_ms(4); /* both timers are due before the timers phase of this iteration */
}
static void on_i3(loop_immediate_t *im) { (void)im; trace("immediate 3 (next check)"); }
static void on_i2(loop_immediate_t *im) {
  (void)im;
  trace("immediate 2 (sibling)");
  CHECK(loop_immediate_start(&i3, on_i3));
}

int main(void) {
  loop_t *loop = scenario_start();
  CHECK(loop_io_init(loop, &h, tcp_socket(), LOOP_REF_OTHER));
  CHECK(loop_timer_init(loop, &t1));
  CHECK(loop_timer_init(loop, &t2));
  CHECK(loop_immediate_init(loop, &i1));
  CHECK(loop_immediate_init(loop, &i2));
  CHECK(loop_immediate_init(loop, &i3));
  CHECK(loop_immediate_start(&i1, on_i1));
  CHECK(loop_immediate_start(&i2, on_i2));
  scenario_run(loop);
  return scenario_end(loop, &t1.h, &t2.h, &i1.h, &i2.h, &i3.h, NULL);
}
