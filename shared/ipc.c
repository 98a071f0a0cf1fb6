/* IPC framing between the supervisor and its workers (see ipc.h): one message per
 * SOCK_SEQPACKET packet, a 4-byte header (version, type, length in host order: both ends are
 * the same binary on the same host) and a payload whose exact size the type fixes. Used by
 * both processes; it never logs: callers log and drop what fails the checks. */
#include "ipc.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#define IPC_HDR_SIZE 4

const uint16_t ipc_status_codes[IPC_N_STATUS - 1] = {200, 206, 301, 304, 400, 403, 404, 405, 408,
                                                     412, 414, 416, 431, 499, 500, 501, 503, 505};

unsigned ipc_status_slot(int code) {
  for (unsigned i = 0; i < IPC_N_STATUS - 1; i++)
    if (ipc_status_codes[i] == code)
      return i;
  return IPC_N_STATUS - 1;
}

/* 100 us to 10 s: a cached file on loopback takes tens of microseconds, a cold 1 MiB file
 * to a slow client seconds. */
const uint32_t ipc_duration_bounds_us[IPC_N_DURATION - 1] = {
    100,   250,   500,    1000,   2500,   5000,    10000,
    25000, 50000, 100000, 250000, 500000, 1000000, 10000000};

unsigned ipc_duration_slot(uint64_t us) {
  unsigned i = 0;
  while (i < IPC_N_DURATION - 1 && us > ipc_duration_bounds_us[i])
    i++;
  return i;
}

/* The payload size each type takes; -1 for a type that does not exist. */
static long payload_size(uint8_t type) {
  switch (type) {
  case IPC_READY:
    return (long)sizeof(struct ipc_ready);
  case IPC_PONG:
  case IPC_FINAL:
    return (long)sizeof(struct ipc_stats);
  case IPC_PING:
    return (long)sizeof(struct ipc_ping);
  case IPC_DRAIN:
    return (long)sizeof(struct ipc_drain);
  case IPC_TICKET_KEYS:
    return (long)sizeof(struct ipc_ticket_keys);
  case IPC_DRAINING:
  case IPC_EXITING:
  case IPC_STOP:
  case IPC_REOPEN:
    return 0;
  default:
    return -1;
  }
}

_Static_assert(IPC_HDR_SIZE + sizeof(struct ipc_ticket_keys) < IPC_MAX_MSG,
               "the largest message must fit below IPC_MAX_MSG");
_Static_assert(IPC_HDR_SIZE + sizeof(struct ipc_stats) < IPC_MAX_MSG,
               "the largest message must fit below IPC_MAX_MSG");

int ipc_encode(uint8_t type, const void *payload, size_t len, uint8_t *buf, size_t cap) {
  long want = payload_size(type);
  if (want < 0 || (size_t)want != len || (len > 0 && !payload))
    return -EINVAL;
  if (cap < IPC_HDR_SIZE + len)
    return -ENOBUFS;
  uint16_t length = (uint16_t)len;
  buf[0] = IPC_VERSION;
  buf[1] = type;
  memcpy(buf + 2, &length, sizeof(length));
  if (len > 0)
    memcpy(buf + IPC_HDR_SIZE, payload, len);
  return (int)(IPC_HDR_SIZE + len);
}

int ipc_decode(const uint8_t *buf, size_t n, struct ipc_msg *out) {
  if (n < IPC_HDR_SIZE || n > IPC_MAX_MSG)
    return -EBADMSG;
  if (buf[0] != IPC_VERSION)
    return -EPROTO;
  uint16_t length;
  memcpy(&length, buf + 2, sizeof(length));
  if ((size_t)length != n - IPC_HDR_SIZE)
    return -EBADMSG; /* truncated, or trailing bytes the header does not account for */
  long want = payload_size(buf[1]);
  if (want < 0)
    return -ENOTSUP;
  if ((long)length != want)
    return -EBADMSG;
  memset(out, 0, sizeof(*out));
  out->type = buf[1];
  out->length = length;
  if (length > 0)
    memcpy(out->u.raw, buf + IPC_HDR_SIZE, length);
  /* Figures the supervisor prints as JSON numbers: NaN and infinities have no such form. */
  if ((out->type == IPC_PONG || out->type == IPC_FINAL) &&
      !(isfinite(out->u.stats.lag_p50_ms) && isfinite(out->u.stats.lag_p99_ms) &&
        isfinite(out->u.stats.lag_max_ms)))
    return -EBADMSG;
  if (out->type == IPC_TICKET_KEYS && out->u.keys.n_keys != 1 && out->u.keys.n_keys != 2)
    return -EBADMSG;
  return 0;
}

/* MSG_DONTWAIT on both calls: whatever mode the descriptor is in, the loop thread never
 * blocks on its channel. */
int ipc_send(int fd, uint8_t type, const void *payload, size_t len) {
  uint8_t buf[IPC_MAX_MSG];
  int n = ipc_encode(type, payload, len, buf, sizeof(buf));
  if (n < 0)
    return n;
  ssize_t w;
  do {
    w = send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (w < 0 && errno == EINTR);
  if (w < 0)
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  return w == n ? 0 : -EMSGSIZE; /* SEQPACKET sends whole packets; a short one is a bug */
}

int ipc_recv(int fd, struct ipc_msg *out) {
  uint8_t buf[IPC_MAX_MSG + 1];
  ssize_t n;
  /* MSG_TRUNC: the packet's real size, so an oversized one is detected, not cut to fit */
  do {
    n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EWOULDBLOCK || errno == EAGAIN)
      return -EAGAIN;
    return errno == ECONNRESET ? -EPIPE : -errno;
  }
  if (n == 0) {
    /* The peer's close, or an empty packet (SEQPACKET carries them; no valid message is
     * empty): only a close leaves the socket hung up. */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) == 1 && (p.revents & POLLHUP))
      return -EPIPE;
    return -EBADMSG;
  }
  if ((size_t)n > sizeof(buf))
    return -EBADMSG;
  return ipc_decode(buf, (size_t)n, out);
}

const char *ipc_type_name(uint8_t type) {
  switch (type) {
  case IPC_READY:
    return "ready";
  case IPC_PONG:
    return "pong";
  case IPC_DRAINING:
    return "draining";
  case IPC_EXITING:
    return "exiting";
  case IPC_FINAL:
    return "final";
  case IPC_PING:
    return "ping";
  case IPC_DRAIN:
    return "drain";
  case IPC_STOP:
    return "stop";
  case IPC_REOPEN:
    return "reopen";
  case IPC_TICKET_KEYS:
    return "ticket keys";
  default:
    return "unknown";
  }
}
