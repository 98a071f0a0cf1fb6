/* Unit tests of the IPC framing (shared/ipc.c): encode/decode round trips for every type, and
 * every malformed packet (short, long, unknown type, wrong version, truncated, a length field
 * that disagrees with the packet) rejected without a crash; send/recv over a real socketpair,
 * including an oversized packet and EOF. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipc.h"

static void test_roundtrip_all_types(void **state) {
  (void)state;
  struct ipc_ready ready = {.pid = 4242, .generation = 7};
  struct ipc_ping ping = {.seq = 0x1122334455667788ULL};
  struct ipc_drain drain = {.deadline_ms = 30000};
  struct ipc_stats st;
  memset(&st, 0, sizeof(st));
  st.seq = 99;
  st.connections = 10;
  st.requests = 12345;
  st.refs_total = 12;
  st.refs[0] = 1;
  st.refs[1] = 10;
  st.refs[7] = 1;
  st.pool_threads = 4;
  st.pool_running = 1;
  st.state = 2;
  st.lag_p50_ms = 0.1;
  st.lag_p99_ms = 0.9;
  st.lag_max_ms = 3.2;
  st.counters.accepted = 7;
  st.counters.status[IPC_N_STATUS - 1] = 3;
  st.counters.duration[IPC_N_DURATION - 1] = 1;
  struct ipc_ticket_keys keys;
  memset(&keys, 0xa5, sizeof(keys));
  keys.n_keys = 2;
  struct {
    uint8_t type;
    const void *p;
    size_t len;
  } cases[] = {
      {IPC_READY, &ready, sizeof(ready)}, {IPC_PONG, &st, sizeof(st)},
      {IPC_DRAINING, NULL, 0},            {IPC_EXITING, NULL, 0},
      {IPC_PING, &ping, sizeof(ping)},    {IPC_DRAIN, &drain, sizeof(drain)},
      {IPC_STOP, NULL, 0},                {IPC_REOPEN, NULL, 0},
      {IPC_FINAL, &st, sizeof(st)},
      {IPC_TICKET_KEYS, &keys, sizeof(keys)},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint8_t buf[IPC_MAX_MSG];
    int n = ipc_encode(cases[i].type, cases[i].p, cases[i].len, buf, sizeof(buf));
    assert_int_equal(n, 4 + (int)cases[i].len);
    struct ipc_msg m;
    assert_int_equal(ipc_decode(buf, (size_t)n, &m), 0);
    assert_int_equal(m.type, cases[i].type);
    assert_int_equal(m.length, cases[i].len);
    if (cases[i].len)
      assert_memory_equal(m.u.raw, cases[i].p, cases[i].len);
    assert_string_not_equal(ipc_type_name(cases[i].type), "unknown");
  }
  assert_string_equal(ipc_type_name(200), "unknown");
}

/* The status codes counted one by one, "other" for the rest; duration buckets by bound. */
static void test_counter_slots(void **state) {
  (void)state;
  for (unsigned i = 0; i < IPC_N_STATUS - 1; i++)
    assert_int_equal(ipc_status_slot(ipc_status_codes[i]), i);
  assert_int_equal(ipc_status_slot(299), IPC_N_STATUS - 1);
  assert_int_equal(ipc_status_slot(0), IPC_N_STATUS - 1);
  assert_int_equal(ipc_status_slot(200), 0);
  assert_int_equal(ipc_duration_slot(0), 0);
  assert_int_equal(ipc_duration_slot(100), 0); /* "le": the bound itself is in */
  assert_int_equal(ipc_duration_slot(101), 1);
  assert_int_equal(ipc_duration_slot(10000000), IPC_N_DURATION - 2);
  assert_int_equal(ipc_duration_slot(10000001), IPC_N_DURATION - 1);
  assert_int_equal(ipc_duration_slot(UINT64_MAX), IPC_N_DURATION - 1);
  for (unsigned i = 1; i < IPC_N_DURATION - 1; i++)
    assert_true(ipc_duration_bounds_us[i] > ipc_duration_bounds_us[i - 1]);
}

static void test_encode_rejects(void **state) {
  (void)state;
  uint8_t buf[IPC_MAX_MSG];
  struct ipc_ping ping = {.seq = 1};
  assert_int_equal(ipc_encode(99, NULL, 0, buf, sizeof(buf)), -EINVAL);           /* type */
  assert_int_equal(ipc_encode(IPC_PING, &ping, 4, buf, sizeof(buf)), -EINVAL);   /* size */
  assert_int_equal(ipc_encode(IPC_STOP, &ping, 8, buf, sizeof(buf)), -EINVAL);   /* extra */
  assert_int_equal(ipc_encode(IPC_PING, NULL, 8, buf, sizeof(buf)), -EINVAL);    /* NULL */
  assert_int_equal(ipc_encode(IPC_PING, &ping, 8, buf, 11), -ENOBUFS);           /* cap */
  assert_int_equal(ipc_encode(IPC_PING, &ping, 8, buf, 12), 12);
}

static int encode_ping(uint8_t *buf) {
  struct ipc_ping ping = {.seq = 5};
  return ipc_encode(IPC_PING, &ping, sizeof(ping), buf, IPC_MAX_MSG);
}

static void test_decode_rejects(void **state) {
  (void)state;
  uint8_t buf[IPC_MAX_MSG + 64];
  struct ipc_msg m;
  int n = encode_ping(buf);
  assert_int_equal(n, 12);

  /* short: fewer bytes than a header, and nothing at all */
  assert_int_equal(ipc_decode(buf, 3, &m), -EBADMSG);
  assert_int_equal(ipc_decode(buf, 0, &m), -EBADMSG);
  /* truncated: a header announcing 8 bytes, fewer present */
  assert_int_equal(ipc_decode(buf, 11, &m), -EBADMSG);
  assert_int_equal(ipc_decode(buf, 4, &m), -EBADMSG);
  /* trailing bytes the length field does not account for */
  memset(buf + n, 0xab, 8);
  assert_int_equal(ipc_decode(buf, (size_t)n + 1, &m), -EBADMSG);
  /* long: more than the largest packet, even with a consistent length field */
  memset(buf, 0, sizeof(buf));
  buf[0] = IPC_VERSION;
  buf[1] = IPC_PONG;
  uint16_t big = IPC_MAX_MSG + 10 - 4;
  memcpy(buf + 2, &big, 2);
  assert_int_equal(ipc_decode(buf, IPC_MAX_MSG + 10, &m), -EBADMSG);

  /* wrong version */
  n = encode_ping(buf);
  buf[0] = IPC_VERSION + 1;
  assert_int_equal(ipc_decode(buf, (size_t)n, &m), -EPROTO);
  buf[0] = 0;
  assert_int_equal(ipc_decode(buf, (size_t)n, &m), -EPROTO);

  /* unknown type (a consistent header otherwise) */
  n = encode_ping(buf);
  buf[1] = 77;
  assert_int_equal(ipc_decode(buf, (size_t)n, &m), -ENOTSUP);
  buf[1] = 0;
  assert_int_equal(ipc_decode(buf, (size_t)n, &m), -ENOTSUP);

  /* length field disagreeing with the packet size, both ways */
  n = encode_ping(buf);
  uint16_t len = 7;
  memcpy(buf + 2, &len, 2);
  assert_int_equal(ipc_decode(buf, (size_t)n, &m), -EBADMSG);
  len = 9;
  memcpy(buf + 2, &len, 2);
  assert_int_equal(ipc_decode(buf, (size_t)n, &m), -EBADMSG);
  len = 0xffff;
  memcpy(buf + 2, &len, 2);
  assert_int_equal(ipc_decode(buf, (size_t)n, &m), -EBADMSG);

  /* consistent header, but a payload size the type does not take */
  buf[1] = IPC_STOP; /* STOP takes none; this one carries 8 */
  len = 8;
  memcpy(buf + 2, &len, 2);
  assert_int_equal(ipc_decode(buf, 12, &m), -EBADMSG);
  buf[1] = IPC_DRAIN; /* DRAIN takes 4 */
  assert_int_equal(ipc_decode(buf, 12, &m), -EBADMSG);
  buf[1] = IPC_PONG; /* PONG takes sizeof(struct ipc_stats) */
  assert_int_equal(ipc_decode(buf, 12, &m), -EBADMSG);
  buf[1] = IPC_TICKET_KEYS; /* takes sizeof(struct ipc_ticket_keys) */
  assert_int_equal(ipc_decode(buf, 12, &m), -EBADMSG);
  /* ticket keys: one or two, never none or more */
  for (uint32_t nk = 0; nk < 4; nk += 3) {
    struct ipc_ticket_keys k = {.n_keys = nk};
    n = ipc_encode(IPC_TICKET_KEYS, &k, sizeof(k), buf, sizeof(buf));
    assert_int_equal(ipc_decode(buf, (size_t)n, &m), -EBADMSG);
  }

  /* stats the supervisor could not print as JSON numbers */
  const double bad[] = {NAN, INFINITY, -INFINITY};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct ipc_stats st = {.seq = 1, .lag_p50_ms = 0.1, .lag_p99_ms = 0.2, .lag_max_ms = 0.3};
    st.lag_p99_ms = bad[i];
    n = ipc_encode(IPC_PONG, &st, sizeof(st), buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(ipc_decode(buf, (size_t)n, &m), -EBADMSG);
  }
}

/* Every byte value in every header position: decode answers 0 or a documented error. */
static void test_decode_header_fuzz(void **state) {
  (void)state;
  uint8_t buf[IPC_MAX_MSG];
  struct ipc_msg m;
  for (int pos = 0; pos < 4; pos++) {
    for (int v = 0; v < 256; v++) {
      int n = encode_ping(buf);
      buf[pos] = (uint8_t)v;
      for (int len = 0; len <= n; len++) {
        int rc = ipc_decode(buf, (size_t)len, &m);
        assert_true(rc == 0 || rc == -EBADMSG || rc == -EPROTO || rc == -ENOTSUP);
      }
    }
  }
}

static void test_socketpair(void **state) {
  (void)state;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  struct ipc_msg m;

  /* nothing waiting */
  assert_int_equal(ipc_recv(sv[1], &m), -EAGAIN);

  struct ipc_ready ready = {.pid = 1234, .generation = 3};
  assert_int_equal(ipc_send(sv[0], IPC_READY, &ready, sizeof(ready)), 0);
  struct ipc_stats st;
  memset(&st, 0, sizeof(st));
  st.seq = 17;
  st.requests = 1000;
  st.lag_max_ms = 2.5;
  assert_int_equal(ipc_send(sv[0], IPC_PONG, &st, sizeof(st)), 0);
  assert_int_equal(ipc_send(sv[0], IPC_EXITING, NULL, 0), 0);
  /* an invalid message is never sent */
  assert_int_equal(ipc_send(sv[0], 123, NULL, 0), -EINVAL);

  assert_int_equal(ipc_recv(sv[1], &m), 0);
  assert_int_equal(m.type, IPC_READY);
  assert_int_equal(m.u.ready.pid, 1234);
  assert_int_equal(m.u.ready.generation, 3);
  assert_int_equal(ipc_recv(sv[1], &m), 0);
  assert_int_equal(m.type, IPC_PONG);
  assert_int_equal(m.u.stats.seq, 17);
  assert_int_equal(m.u.stats.requests, 1000);
  assert_true(m.u.stats.lag_max_ms == 2.5);
  assert_int_equal(ipc_recv(sv[1], &m), 0);
  assert_int_equal(m.type, IPC_EXITING);
  assert_int_equal(ipc_recv(sv[1], &m), -EAGAIN);

  /* a malformed packet is consumed and reported; the next one still decodes */
  uint8_t junk[3] = {1, 2, 3};
  assert_int_equal(send(sv[0], junk, sizeof(junk), 0), 3);
  uint8_t huge[IPC_MAX_MSG + 100];
  memset(huge, 0, sizeof(huge));
  huge[0] = IPC_VERSION;
  huge[1] = IPC_PONG;
  assert_int_equal(send(sv[0], huge, sizeof(huge), 0), (ssize_t)sizeof(huge));
  uint8_t badver[4] = {9, IPC_STOP, 0, 0};
  assert_int_equal(send(sv[0], badver, sizeof(badver), 0), 4);
  uint8_t unknown[4] = {IPC_VERSION, 250, 0, 0};
  assert_int_equal(send(sv[0], unknown, sizeof(unknown), 0), 4);
  /* an empty packet reads as 0 bytes, like the peer's close: it is not one */
  assert_int_equal(send(sv[0], junk, 0, 0), 0);
  assert_int_equal(ipc_send(sv[0], IPC_STOP, NULL, 0), 0);
  assert_int_equal(ipc_recv(sv[1], &m), -EBADMSG);
  assert_int_equal(ipc_recv(sv[1], &m), -EBADMSG);
  assert_int_equal(ipc_recv(sv[1], &m), -EPROTO);
  assert_int_equal(ipc_recv(sv[1], &m), -ENOTSUP);
  assert_int_equal(ipc_recv(sv[1], &m), -EBADMSG);
  assert_int_equal(ipc_recv(sv[1], &m), 0);
  assert_int_equal(m.type, IPC_STOP);

  /* both directions */
  struct ipc_drain drain = {.deadline_ms = 1500};
  assert_int_equal(ipc_send(sv[1], IPC_DRAIN, &drain, sizeof(drain)), 0);
  assert_int_equal(ipc_recv(sv[0], &m), 0);
  assert_int_equal(m.type, IPC_DRAIN);
  assert_int_equal(m.u.drain.deadline_ms, 1500);

  /* EOF: the peer closed */
  close(sv[0]);
  assert_int_equal(ipc_recv(sv[1], &m), -EPIPE);
  assert_int_equal(ipc_recv(sv[1], &m), -EPIPE);
  /* sending to a closed peer: an error, never SIGPIPE */
  assert_int_equal(ipc_send(sv[1], IPC_STOP, NULL, 0), -EPIPE);
  close(sv[1]);

  /* a closed descriptor */
  assert_int_equal(ipc_recv(sv[1], &m), -EBADF);
}

/* A full socket buffer is flow (-EAGAIN), not a hang. */
static void test_send_full(void **state) {
  (void)state;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  int sndbuf = 4096;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  struct ipc_stats st;
  memset(&st, 0, sizeof(st));
  int rc = 0;
  for (int i = 0; i < 100000 && rc == 0; i++)
    rc = ipc_send(sv[0], IPC_PONG, &st, sizeof(st));
  assert_int_equal(rc, -EAGAIN);
  struct ipc_msg m;
  assert_int_equal(ipc_recv(sv[1], &m), 0);
  assert_int_equal(m.type, IPC_PONG);
  close(sv[0]);
  close(sv[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_all_types), cmocka_unit_test(test_encode_rejects),
      cmocka_unit_test(test_decode_rejects),      cmocka_unit_test(test_decode_header_fuzz),
      cmocka_unit_test(test_socketpair),          cmocka_unit_test(test_send_full),
      cmocka_unit_test(test_counter_slots),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
