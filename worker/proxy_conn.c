/* The PROXY header of one connection, read with MSG_PEEK (see proxy_conn.h). Worker's loop
 * thread. */
#include "proxy_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

struct proxy_conn {
  size_t len; /* header bytes already taken off the socket */
  uint8_t buf[PROXY_V2_MAX];
};

proxy_conn_t *proxy_conn_new(void) {
  proxy_conn_t *pc = malloc(sizeof(*pc));
  if (!pc) {
    fprintf(stderr, "out of memory\n");
    abort();
  }
  pc->len = 0;
  return pc;
}

void proxy_conn_free(proxy_conn_t *pc) {
  free(pc);
}

int proxy_conn_empty(const proxy_conn_t *pc) {
  return pc->len == 0;
}

static ssize_t recv_retry(int fd, void *buf, size_t len, int flags) {
  ssize_t n;
  do
    n = recv(fd, buf, len, flags);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

/* Takes len bytes off the socket that a peek has shown are there. */
static int consume(proxy_conn_t *pc, int fd, size_t len) {
  ssize_t n = recv_retry(fd, pc->buf + pc->len, len, 0);
  if (n < 0)
    return (int)n;
  if ((size_t)n != len) /* bytes a peek saw cannot vanish; a kernel that did would mislead */
    return -EIO;
  pc->len += len;
  return 0;
}

int proxy_conn_read(proxy_conn_t *pc, int fd, struct proxy_info *info) {
  int rc;
  size_t room = sizeof(pc->buf) - pc->len;
  ssize_t n = room ? recv_retry(fd, pc->buf + pc->len, room, MSG_PEEK) : 0;
  if (n == -EAGAIN || n == -EWOULDBLOCK) {
    rc = -EAGAIN;
    goto out;
  }
  if (n < 0) {
    rc = (int)n;
    goto out;
  }
  if (n == 0 && room) {
    rc = -ECONNRESET;
    goto out;
  }
  rc = proxy_parse(pc->buf, pc->len + (size_t)n, info);
  if (rc == 0) {
    /* what the peek saw past the header stays in the socket for the transport */
    rc = consume(pc, fd, info->header_len - pc->len);
  } else if (rc == -EAGAIN) {
    /* the header ends beyond these bytes: all of them are its own */
    if (pc->len + (size_t)n >= sizeof(pc->buf))
      rc = -EMSGSIZE; /* the parser's bounds make this unreachable; a full buffer must end */
    else if ((rc = consume(pc, fd, (size_t)n)) == 0)
      rc = -EAGAIN;
  }
out:
  return rc;
}

const char *proxy_conn_strerror(int rc) {
  switch (rc) {
  case -EPROTO:
    return "invalid PROXY protocol header";
  case -EMSGSIZE:
    return "PROXY protocol header too long";
  case -ECONNRESET:
    return "closed in the middle of its PROXY protocol header";
  default:
    return "reading the PROXY protocol header failed";
  }
}
