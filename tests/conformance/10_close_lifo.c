/* Several handles closed in one callback: close callbacks run LIFO. Closed in the timers
 * phase, they wait for the next close phase (after check); a handle closed from a close
 * callback waits one more iteration. */
#include "trace.h"

static loop_io_t hs[4], e;
static loop_timer_t timer;
static loop_immediate_t i1, i2;

static void on_i1(loop_immediate_t *im) { (void)im; trace("immediate 1 (from timer)"); }
static void on_i2(loop_immediate_t *im) { (void)im; trace("immediate 2 (from close D)"); }
static void on_close_e(loop_handle_t *h) {
  (void)h;
  trace("close E (from close D)");
  close(e.fd);
}
static void on_close(loop_handle_t *h) {
  loop_io_t *io = (loop_io_t *)h;
  const char *name = h->data;
  trace("close %s", name);
  close(io->fd);
  if (name[0] == 'D') {
    loop_close(&e.h, on_close_e);
    CHECK(loop_immediate_start(&i2, on_i2));
  }
}
static void on_timer(loop_timer_t *t) {
  (void)t;
  trace("timer: close A B C D");
  for (int i = 0; i < 4; i++)
    loop_close(&hs[i].h, on_close);
  CHECK(loop_immediate_start(&i1, on_i1));
}

int main(void) {
  static const char *names[4] = {"A", "B", "C", "D"};
  loop_t *loop = scenario_start();
  for (int i = 0; i < 4; i++) {
    CHECK(loop_io_init(loop, &hs[i], tcp_socket(), LOOP_REF_OTHER));
    hs[i].h.data = (void *)names[i];
  }
  CHECK(loop_io_init(loop, &e, tcp_socket(), LOOP_REF_OTHER));
  CHECK(loop_timer_init(loop, &timer));
  CHECK(loop_immediate_init(loop, &i1));
  CHECK(loop_immediate_init(loop, &i2));
  CHECK(loop_timer_start(&timer, on_timer, 1, 0));
  scenario_run(loop);
  return scenario_end(loop, &timer.h, &i1.h, &i2.h, NULL);
}
