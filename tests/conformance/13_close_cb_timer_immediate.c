/* From a close callback: a timer that is due by the end of the close phase fires in the same
 * iteration (timers follow close), before an immediate started next to it. */
#include "trace.h"

static loop_io_t h;
static loop_timer_t timer;
static loop_immediate_t i1, i2;

static void on_timer(loop_timer_t *t) { (void)t; trace("timer (0 ms, from close)"); }
static void on_i2(loop_immediate_t *im) { (void)im; trace("immediate 2 (from close)"); }
static void on_close_h(loop_handle_t *handle) {
  (void)handle;
  trace("close H");
  close(h.fd);
  CHECK(loop_immediate_start(&i2, on_i2));
  CHECK(loop_timer_start(&timer, on_timer, 1, 0));
  spin_ms(4);
}
static void on_i1(loop_immediate_t *im) {
  (void)im;
  trace("immediate 1: close H");
  loop_close(&h.h, on_close_h);
}

int main(void) {
  loop_t *loop = scenario_start();
  CHECK(loop_io_init(loop, &h, tcp_socket(), LOOP_REF_OTHER));
  CHECK(loop_timer_init(loop, &timer));
  CHECK(loop_immediate_init(loop, &i1));
  CHECK(loop_immediate_init(loop, &i2));
  CHECK(loop_immediate_start(&i1, on_i1));
  scenario_run(loop);
  return scenario_end(loop, &timer.h, &i1.h, &i2.h, NULL);
}
