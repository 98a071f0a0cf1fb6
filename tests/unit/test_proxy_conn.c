/* Unit tests of the PROXY header reader (worker/proxy_conn.c) over a socketpair: a header
 * whole or in pieces is taken off the socket and not one byte past it; partial bytes are
 * consumed (a level-triggered loop must not see them again); a close before or inside the
 * header, garbage and an oversized v2 header are told apart. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "proxy_conn.h"

static const uint8_t V2_SIG[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

struct fx {
  int peer, fd; /* peer writes what a client or proxy sends; fd is the server's side */
  proxy_conn_t *pc;
};

static int setup(void **state) {
  static struct fx f;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  f.peer = sv[0];
  f.fd = sv[1];
  f.pc = proxy_conn_new();
  *state = &f;
  return 0;
}

static int teardown(void **state) {
  struct fx *f = *state;
  if (f->peer >= 0)
    close(f->peer);
  close(f->fd);
  proxy_conn_free(f->pc);
  return 0;
}

static void send_all(int fd, const void *p, size_t n) {
  assert_int_equal(send(fd, p, n, 0), (ssize_t)n);
}

/* What is left on the server's side, without blocking. */
static size_t rest(int fd, char *buf, size_t cap) {
  ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);
  return n < 0 ? 0 : (size_t)n;
}

static size_t v2_tcp4(uint8_t *h, const char *src, size_t tlv_len) {
  memcpy(h, V2_SIG, 12);
  h[12] = 0x21;
  h[13] = 0x11;
  uint16_t body = htons((uint16_t)(12 + tlv_len));
  memcpy(h + 14, &body, 2);
  inet_pton(AF_INET, src, h + 16);
  inet_pton(AF_INET, "10.0.0.1", h + 20);
  h[24] = 0x13, h[25] = 0x88, h[26] = 0, h[27] = 80;
  if (tlv_len >= 3) { /* one TLV filling the rest: a NOOP */
    h[28] = 0x04;
    h[29] = (uint8_t)((tlv_len - 3) >> 8);
    h[30] = (uint8_t)(tlv_len - 3);
    memset(h + 31, 'x', tlv_len - 3);
  }
  return 28 + tlv_len;
}

static void test_whole_v2_leaves_the_rest(void **state) {
  struct fx *f = *state;
  uint8_t buf[512];
  char got[64];
  struct proxy_info pi;
  size_t n = v2_tcp4(buf, "192.0.2.33", 40);
  memcpy(buf + n, "\x16\x03\x01 hello", 10); /* a TLS record follows at once */
  send_all(f->peer, buf, n + 10);
  assert_int_equal(proxy_conn_read(f->pc, f->fd, &pi), 0);
  assert_int_equal(pi.family, AF_INET);
  assert_int_equal(pi.header_len, n);
  char ip[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &((struct sockaddr_in *)&pi.src)->sin_addr, ip, sizeof(ip));
  assert_string_equal(ip, "192.0.2.33");
  assert_int_equal(rest(f->fd, got, sizeof(got)), 10);
  assert_memory_equal(got, "\x16\x03\x01 hello", 10);
}

static void test_v1_in_pieces(void **state) {
  struct fx *f = *state;
  struct proxy_info pi;
  char got[64];
  assert_int_equal(proxy_conn_read(f->pc, f->fd, &pi), -EAGAIN); /* nothing yet */
  assert_true(proxy_conn_empty(f->pc));
  send_all(f->peer, "PROXY TCP6 2001:db8", 19);
  assert_int_equal(proxy_conn_read(f->pc, f->fd, &pi), -EAGAIN);
  assert_false(proxy_conn_empty(f->pc));
  /* the partial bytes were taken: the socket is not readable for them any more */
  assert_int_equal(recv(f->fd, got, sizeof(got), MSG_PEEK | MSG_DONTWAIT), -1);
  assert_int_equal(errno, EAGAIN);
  send_all(f->peer, "::5 2001:db8::1 ", 16);
  assert_int_equal(proxy_conn_read(f->pc, f->fd, &pi), -EAGAIN);
  send_all(f->peer, "1000 443\r\nGET / HTTP/1.1\r\n", 26);
  assert_int_equal(proxy_conn_read(f->pc, f->fd, &pi), 0);
  assert_int_equal(pi.family, AF_INET6);
  char ip[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&pi.src)->sin6_addr, ip, sizeof(ip));
  assert_string_equal(ip, "2001:db8::5");
  assert_int_equal(rest(f->fd, got, sizeof(got)), 16);
  assert_memory_equal(got, "GET / HTTP/1.1\r\n", 16);
}

static void test_v2_split_in_its_signature(void **state) {
  struct fx *f = *state;
  uint8_t buf[512];
  char got[8];
  struct proxy_info pi;
  size_t n = v2_tcp4(buf, "198.51.100.1", 300);
  size_t cuts[] = {5, 13, 16, 40, n};
  size_t at = 0;
  for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
    send_all(f->peer, buf + at, cuts[i] - at);
    at = cuts[i];
    assert_int_equal(proxy_conn_read(f->pc, f->fd, &pi), at == n ? 0 : -EAGAIN);
  }
  assert_int_equal(pi.header_len, n);
  assert_int_equal(rest(f->fd, got, sizeof(got)), 0);
}

static void test_closed_before(void **state) {
  struct fx *f = *state;
  struct proxy_info pi;
  close(f->peer);
  f->peer = -1;
  assert_int_equal(proxy_conn_read(f->pc, f->fd, &pi), -ECONNRESET);
  assert_true(proxy_conn_empty(f->pc)); /* a TCP check or a scan: nothing to log */
}

static void test_closed_inside(void **state) {
  struct fx *f = *state;
  struct proxy_info pi;
  send_all(f->peer, "PROXY TCP4 ", 11);
  close(f->peer);
  f->peer = -1;
  assert_int_equal(proxy_conn_read(f->pc, f->fd, &pi), -EAGAIN);
  assert_int_equal(proxy_conn_read(f->pc, f->fd, &pi), -ECONNRESET);
  assert_false(proxy_conn_empty(f->pc));
  assert_string_equal(proxy_conn_strerror(-ECONNRESET),
                      "closed in the middle of its PROXY protocol header");
}

static void test_garbage_and_too_long(void **state) {
  struct fx *f = *state;
  struct proxy_info pi;
  send_all(f->peer, "GET / HTTP/1.1\r\n\r\n", 18);
  assert_int_equal(proxy_conn_read(f->pc, f->fd, &pi), -EPROTO);
  assert_string_equal(proxy_conn_strerror(-EPROTO), "invalid PROXY protocol header");
  /* a v1 line that never ends within its 107 bytes */
  proxy_conn_free(f->pc);
  f->pc = proxy_conn_new();
  char junk[120];
  memset(junk, 'A', sizeof(junk));
  memcpy(junk, "PROXY TCP4 ", 11);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  send_all(sv[0], junk, 60);
  assert_int_equal(proxy_conn_read(f->pc, sv[1], &pi), -EAGAIN);
  send_all(sv[0], junk + 60, 60);
  assert_int_equal(proxy_conn_read(f->pc, sv[1], &pi), -EPROTO);
  /* a v2 header announcing 60000 bytes (on a fresh pair: the refused line is still there) */
  close(sv[0]);
  close(sv[1]);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  proxy_conn_free(f->pc);
  f->pc = proxy_conn_new();
  uint8_t big[16];
  memcpy(big, V2_SIG, 12);
  big[12] = 0x21, big[13] = 0x11, big[14] = 0xea, big[15] = 0x60;
  send_all(sv[0], big, 16);
  assert_int_equal(proxy_conn_read(f->pc, sv[1], &pi), -EMSGSIZE);
  assert_string_equal(proxy_conn_strerror(-EMSGSIZE), "PROXY protocol header too long");
  close(sv[0]);
  close(sv[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_whole_v2_leaves_the_rest, setup, teardown),
      cmocka_unit_test_setup_teardown(test_v1_in_pieces, setup, teardown),
      cmocka_unit_test_setup_teardown(test_v2_split_in_its_signature, setup, teardown),
      cmocka_unit_test_setup_teardown(test_closed_before, setup, teardown),
      cmocka_unit_test_setup_teardown(test_closed_inside, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage_and_too_long, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
