/* In an I/O callback (poll phase: a socket readable), a 0 ms timer that is already due
 * (busy-wait) and an immediate: the immediate still runs first (check comes before timers). */
#include "trace.h"

static loop_io_t peer;
static loop_timer_t timer;
static loop_immediate_t im;
static int sv[2];

static void on_timer(loop_timer_t *t) { (void)t; trace("timer (0 ms, from data)"); }
static void on_im(loop_immediate_t *i) { (void)i; trace("immediate (from data)"); }
static void on_read(loop_io_t *io, int events) {
  char c = 0;
  (void)events;
  if (read(io->fd, &c, 1) != 1) {
    trace("read failed");
    exit(2);
  }
  trace("data: %c", c);
  CHECK(loop_io_stop(io));
  CHECK(loop_timer_start(&timer, on_timer, 1, 0));
  spin_ms(4);
  CHECK(loop_immediate_start(&im, on_im));
}

int main(void) {
  loop_t *loop = scenario_start();
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    perror("socketpair() failed");
    return 2;
  }
  CHECK(loop_io_init(loop, &peer, sv[1], LOOP_REF_CONNECTION));
  CHECK(loop_io_start(&peer, LOOP_READ, on_read));
  CHECK(loop_timer_init(loop, &timer));
  CHECK(loop_immediate_init(loop, &im));
  if (write(sv[0], "x", 1) != 1) {
    perror("write() failed");
    return 2;
  }
  scenario_run(loop);
  close(sv[0]);
  loop_close(&peer.h, NULL);
  scenario_end(loop, &timer.h, &im.h, NULL);
  close(sv[1]);
  return 0;
}
