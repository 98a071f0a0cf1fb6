/* The plain transport (see transport.h): the socket calls conn.c made itself before TLS, with
 * the same flags, so a plain connection pays one indirect call and nothing else. */
#define _GNU_SOURCE
#include "transport.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"

static int plain_handshake(struct transport *t, int *want) {
  (void)t;
  (void)want;
  return 0;
}

static ssize_t plain_recv(struct transport *t, void *buf, size_t len, int *want) {
  ssize_t n;
  do {
    n = recv(t->fd, buf, len, 0);
  } while (n < 0 && errno == EINTR);
  if (n >= 0)
    return n;
  *want = LOOP_READ;
  return -errno;
}

static ssize_t plain_sendv(struct transport *t, const struct iovec *iov, int n, int more,
                           int *want) {
  ssize_t sent;
  do {
    /* MSG_MORE when the file follows or a close does: headers and the first file bytes, or
     * the last answer and the FIN, share a segment. Otherwise a plain writev (SIGPIPE is
     * ignored in workers): no msghdr to copy in. */
    if (more) {
      struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
      sent = sendmsg(t->fd, &mh, MSG_NOSIGNAL | MSG_MORE);
    } else {
      sent = writev(t->fd, iov, n);
    }
  } while (sent < 0 && errno == EINTR);
  if (sent >= 0)
    return sent;
  *want = LOOP_WRITE;
  return -errno;
}

static int plain_pending(const struct transport *t) {
  (void)t;
  return 0;
}

static void plain_shutdown(struct transport *t) {
  shutdown(t->fd, SHUT_WR);
}

static int plain_zero_copy(const struct transport *t) {
  (void)t;
  return 1;
}

static const char *plain_servername(const struct transport *t) {
  (void)t;
  return NULL;
}

static const char *plain_alpn(const struct transport *t, unsigned *len) {
  (void)t;
  *len = 0;
  return NULL;
}

static const char *plain_describe(const struct transport *t, char *buf, size_t len) {
  (void)t;
  (void)buf;
  (void)len;
  return "-";
}

static void plain_release(struct transport *t) {
  (void)t;
}

const struct transport_ops transport_plain = {
    .name = "plain",
    .handshake = plain_handshake,
    .recv = plain_recv,
    .sendv = plain_sendv,
    .pending = plain_pending,
    .shutdown = plain_shutdown,
    .zero_copy = plain_zero_copy,
    .alpn = plain_alpn,
    .servername = plain_servername,
    .describe = plain_describe,
    .release = plain_release,
};
