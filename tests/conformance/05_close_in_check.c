/* A handle closed in check: its close callback runs in the same iteration's close phase,
 * after the sibling immediates and before the next iteration's immediates. */
#include "trace.h"

static loop_io_t h;
static loop_immediate_t i1, i1b, i2, i3;

static void on_i3(loop_immediate_t *im) { (void)im; trace("immediate 3 (from close)"); }
static void on_close_h(loop_handle_t *handle) {
  (void)handle;
  trace("close H");
  close(h.fd);
  CHECK(loop_immediate_start(&i3, on_i3));
}
static void on_i2(loop_immediate_t *im) { (void)im; trace("immediate 2 (from immediate 1)"); }
static void on_i1(loop_immediate_t *im) {
  (void)im;
  trace("immediate 1: close H");
  loop_close(&h.h, on_close_h);
  CHECK(loop_immediate_start(&i2, on_i2));
}
static void on_i1b(loop_immediate_t *im) { (void)im; trace("immediate 1b (sibling)"); }

int main(void) {
  loop_t *loop = scenario_start();
  CHECK(loop_io_init(loop, &h, tcp_socket(), LOOP_REF_OTHER));
  CHECK(loop_immediate_init(loop, &i1));
  CHECK(loop_immediate_init(loop, &i1b));
  CHECK(loop_immediate_init(loop, &i2));
  CHECK(loop_immediate_init(loop, &i3));
  CHECK(loop_immediate_start(&i1, on_i1));
  CHECK(loop_immediate_start(&i1b, on_i1b));
  scenario_run(loop);
  return scenario_end(loop, &i1.h, &i1b.h, &i2.h, &i3.h, NULL);
}
