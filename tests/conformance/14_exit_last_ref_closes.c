/* A listening socket keeps the loop alive; when it is closed (the last ref'd handle), the
 * loop ends after its close callback and what that callback scheduled. A silent unref'd
 * interval does not hold it. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "trace.h"

static loop_io_t listener;
static loop_timer_t iv, timer;
static loop_immediate_t im;

static void on_accept(loop_io_t *io, int events) {
  (void)io;
  (void)events;
  trace("unexpected connection");
}
static void on_iv(loop_timer_t *t) { (void)t; }
static void on_im(loop_immediate_t *i) { (void)i; trace("immediate (from close)"); }
static void on_close_l(loop_handle_t *h) {
  (void)h;
  trace("close L");
  close(listener.fd);
  CHECK(loop_immediate_start(&im, on_im));
}
static void on_timer(loop_timer_t *t) {
  (void)t;
  trace("timer: close listener");
  loop_close(&listener.h, on_close_l);
}

int main(void) {
  loop_t *loop = scenario_start();
  int fd = tcp_socket();
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, 16) < 0) {
    trace("listen failed");
    return 1;
  }
  CHECK(loop_io_init(loop, &listener, fd, LOOP_REF_LISTENER));
  CHECK(loop_io_start(&listener, LOOP_READ, on_accept));
  CHECK(loop_timer_init(loop, &iv));
  CHECK(loop_timer_init(loop, &timer));
  CHECK(loop_immediate_init(loop, &im));
  CHECK(loop_timer_start(&iv, on_iv, 2, 2));
  loop_unref(&iv.h);
  CHECK(loop_timer_start(&timer, on_timer, 20, 0));
  scenario_run(loop);
  return scenario_end(loop, &iv.h, &timer.h, &im.h, NULL);
}
