/* An immediate scheduled from an immediate runs in the next check phase, after its siblings. */
#include "trace.h"

static loop_immediate_t i1, i11, i111, i2, i21, i3;

static void on_i111(loop_immediate_t *im) { (void)im; trace("immediate 1.1.1"); }
static void on_i11(loop_immediate_t *im) {
  (void)im;
  trace("immediate 1.1");
  CHECK(loop_immediate_start(&i111, on_i111));
}
static void on_i1(loop_immediate_t *im) {
  (void)im;
  trace("immediate 1");
  CHECK(loop_immediate_start(&i11, on_i11));
}
static void on_i21(loop_immediate_t *im) { (void)im; trace("immediate 2.1"); }
static void on_i2(loop_immediate_t *im) {
  (void)im;
  trace("immediate 2");
  CHECK(loop_immediate_start(&i21, on_i21));
}
static void on_i3(loop_immediate_t *im) { (void)im; trace("immediate 3"); }

int main(void) {
  loop_t *loop = scenario_start();
  loop_immediate_t *all[] = {&i1, &i11, &i111, &i2, &i21, &i3};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    CHECK(loop_immediate_init(loop, all[i]));
  CHECK(loop_immediate_start(&i1, on_i1));
  CHECK(loop_immediate_start(&i2, on_i2));
  CHECK(loop_immediate_start(&i3, on_i3));
  scenario_run(loop);
  return scenario_end(loop, &i1.h, &i11.h, &i111.h, &i2.h, &i21.h, &i3.h, NULL);
}
