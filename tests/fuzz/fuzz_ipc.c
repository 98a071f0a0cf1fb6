/* Fuzz harness: the supervisor <-> worker framing. ipc_decode takes any packet without
 * crashing and accepts only a known type with exactly that type's payload; what it accepts
 * encodes back to the same bytes and decodes to the same message. ipc_encode, given any type,
 * payload size and buffer size, either refuses or writes a packet that decodes. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "ipc.h"

#define HDR 4

/* The payload size each type takes, from the header's structs; -1 for no such type. */
static long want_size(uint8_t type) {
  switch (type) {
  case IPC_READY:
    return (long)sizeof(struct ipc_ready);
  case IPC_PONG:
    return (long)sizeof(struct ipc_stats);
  case IPC_PING:
    return (long)sizeof(struct ipc_ping);
  case IPC_DRAIN:
    return (long)sizeof(struct ipc_drain);
  case IPC_DRAINING:
  case IPC_EXITING:
  case IPC_STOP:
  case IPC_REOPEN:
    return 0;
  default:
    return -1;
  }
}

static void check_decoded(const uint8_t *data, size_t size, const struct ipc_msg *m) {
  FUZZ_CHECK(size >= HDR && size <= IPC_MAX_MSG);
  FUZZ_CHECK(data[0] == IPC_VERSION && m->type == data[1]);
  FUZZ_CHECK(want_size(m->type) >= 0 && (long)m->length == want_size(m->type));
  FUZZ_CHECK(size == HDR + (size_t)m->length);
  FUZZ_CHECK(memcmp(m->u.raw, data + HDR, m->length) == 0);
  FUZZ_CHECK(strcmp(ipc_type_name(m->type), "unknown") != 0);

  /* round trip: the same bytes, then the same message */
  uint8_t out[IPC_MAX_MSG];
  int n = ipc_encode(m->type, m->length ? m->u.raw : NULL, m->length, out, sizeof(out));
  FUZZ_CHECK(n == (int)size && memcmp(out, data, size) == 0);
  struct ipc_msg again;
  FUZZ_CHECK(ipc_decode(out, (size_t)n, &again) == 0);
  FUZZ_CHECK(memcmp(&again, m, sizeof(again)) == 0);
  /* one byte short or one too many is a size error */
  if (n > 0)
    FUZZ_CHECK(ipc_decode(out, (size_t)n - 1, &again) == -EBADMSG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct ipc_msg m;
  /* decode a copy of exactly the packet's size: a read past it is caught */
  uint8_t *pkt = malloc(size ? size : 1);
  FUZZ_CHECK(pkt);
  memcpy(pkt, data, size);
  memset(&m, 0xa5, sizeof(m));
  int rc = ipc_decode(pkt, size, &m);
  if (rc == 0)
    check_decoded(pkt, size, &m);
  else
    FUZZ_CHECK(rc == -EBADMSG || rc == -EPROTO || rc == -ENOTSUP);
  free(pkt);

  /* encode: byte 0 the type, byte 1 the buffer's size, the rest the payload */
  if (size >= 2) {
    uint8_t type = data[0];
    size_t cap = data[1] == 0xff ? IPC_MAX_MSG : data[1];
    size_t len = size - 2;
    uint8_t *buf = malloc(cap ? cap : 1);
    FUZZ_CHECK(buf);
    int n = ipc_encode(type, len ? data + 2 : NULL, len, buf, cap);
    long want = want_size(type);
    if (want < 0 || (size_t)want != len) {
      FUZZ_CHECK(n == -EINVAL);
    } else if (cap < HDR + len) {
      FUZZ_CHECK(n == -ENOBUFS);
    } else {
      FUZZ_CHECK(n == (int)(HDR + len));
      struct ipc_msg d;
      FUZZ_CHECK(ipc_decode(buf, (size_t)n, &d) == 0);
      FUZZ_CHECK(d.type == type && d.length == len && memcmp(d.u.raw, data + 2, len) == 0);
    }
    free(buf);
  }
  return 0;
}
