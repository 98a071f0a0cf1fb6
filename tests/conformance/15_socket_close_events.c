/* Two connected sockets (a socketpair, both watched for reading), closed in one immediate:
 * their close callbacks run in the close phase, LIFO, before the next iteration's immediates. */
#include "trace.h"

static loop_io_t client, peer;
static loop_immediate_t i1, i2;

static void on_read(loop_io_t *io, int events) {
  (void)events;
  trace("unexpected read on %s", (const char *)io->h.data);
}
static void on_close(loop_handle_t *h) {
  trace("close %s", (const char *)h->data);
  close(((loop_io_t *)h)->fd);
}
static void on_i2(loop_immediate_t *im) { (void)im; trace("immediate 2 (next check)"); }
static void on_i1(loop_immediate_t *im) {
  (void)im;
  trace("immediate 1: destroy client, then peer");
  loop_close(&client.h, on_close);
  loop_close(&peer.h, on_close);
  CHECK(loop_immediate_start(&i2, on_i2));
}

int main(void) {
  int sv[2];
  loop_t *loop = scenario_start();
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    perror("socketpair() failed");
    return 2;
  }
  CHECK(loop_io_init(loop, &client, sv[0], LOOP_REF_CONNECTION));
  CHECK(loop_io_init(loop, &peer, sv[1], LOOP_REF_CONNECTION));
  client.h.data = "client";
  peer.h.data = "peer";
  CHECK(loop_io_start(&client, LOOP_READ, on_read));
  CHECK(loop_io_start(&peer, LOOP_READ, on_read));
  CHECK(loop_immediate_init(loop, &i1));
  CHECK(loop_immediate_init(loop, &i2));
  CHECK(loop_immediate_start(&i1, on_i1));
  scenario_run(loop);
  return scenario_end(loop, &i1.h, &i2.h, NULL);
}
