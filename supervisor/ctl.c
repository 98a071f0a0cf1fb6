/* The control socket (see ctl.h): server on the supervisor's loop, client for the CLI.
 * Every client is bounded (request size, count, an idle deadline), so a stuck or hostile
 * local peer costs one descriptor for a few seconds and never blocks the supervisor. */
#define _GNU_SOURCE /* Linux interfaces: accept4, close_range, SO_PEERCRED, strsignal */
#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define CTL_MAX_CLIENTS 64
#define CTL_IDLE_MS 5000

struct sup_ctl_req {
  sup_ctl_t *ctl; /* NULL once the server closed */
  int fd;
  loop_io_t io;
  loop_timer_t timer; /* idle deadline while reading and while writing, not while handled */
  char in[SUP_CTL_MAX_LINE + 2];
  size_t in_len;
  struct sup_buf out;
  size_t out_off;
  int handled; /* the handler has the request: stop reading, wait for the reply */
  int replied;
  int closing;
  int open_handles; /* io and timer: memory goes when both close callbacks ran */
  struct sup_ctl_req *next, *prev;
};

struct sup_ctl {
  loop_t *loop;
  log_t *log;
  char *path;
  int fd;
  loop_io_t io;
  sup_ctl_handler handler;
  void *data;
  unsigned n_clients;
  sup_ctl_req_t *clients;
};

static int make_addr(const char *path, struct sockaddr_un *sa) {
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof(sa->sun_path))
    return -ENAMETOOLONG;
  memcpy(sa->sun_path, path, strlen(path) + 1);
  return 0;
}

/* Connects non-blocking. A Unix stream listener whose backlog is full (a supervisor that is
 * stopped, or swamped) makes connect() fail with EAGAIN at once, where a blocking one would
 * wait until it accepts, that is forever for a hung supervisor. 0, -EAGAIN or -errno. */
static int connect_now(int fd, const struct sockaddr_un *sa) {
  int rc;
  do {
    rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
  } while (rc < 0 && errno == EINTR);
  if (rc == 0 || errno == EISCONN)
    return 0;
  return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

int sup_ctl_probe(const char *path) {
  struct sockaddr_un sa;
  if (make_addr(path, &sa) < 0)
    return 0;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  int rc = connect_now(fd, &sa);
  close(fd);
  /* a full backlog is a live listener that is slow to accept: a supervisor all the same */
  return rc == 0 || rc == -EAGAIN || rc == -EINPROGRESS;
}

/* ---- one client ---------------------------------------------------------------------- */

static void req_handle_closed(loop_handle_t *h) {
  sup_ctl_req_t *r = h->data;
  if (--r->open_handles > 0)
    return;
  close(r->fd);
  sup_buf_free(&r->out);
  free(r);
}

static void req_close(sup_ctl_req_t *r) {
  if (r->closing)
    return;
  r->closing = 1;
  sup_ctl_t *ctl = r->ctl;
  if (ctl) {
    if (r->prev)
      r->prev->next = r->next;
    else
      ctl->clients = r->next;
    if (r->next)
      r->next->prev = r->prev;
    ctl->n_clients--;
  }
  r->ctl = NULL;
  loop_close(&r->io.h, req_handle_closed);
  loop_close(&r->timer.h, req_handle_closed);
}

static void req_on_timeout(loop_timer_t *t) {
  req_close(t->h.data);
}

static void req_flush(sup_ctl_req_t *r);

static void req_on_writable(loop_io_t *io, int events) {
  (void)events;
  req_flush(io->h.data);
}

/* Writes what it can now; the rest when the socket is writable. Closes when all is out. */
static void req_flush(sup_ctl_req_t *r) {
  while (r->out_off < r->out.len) {
    ssize_t n = send(r->fd, r->out.p + r->out_off, r->out.len - r->out_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (loop_io_start(&r->io, LOOP_WRITE, req_on_writable) < 0)
        break;
      loop_timer_start(&r->timer, req_on_timeout, CTL_IDLE_MS, 0);
      return;
    }
    if (n <= 0)
      break; /* the client went away: nothing to report it to */
    r->out_off += (size_t)n;
  }
  req_close(r);
}

void sup_ctl_reply(sup_ctl_req_t *r, int ok, const char *body) {
  if (r->replied)
    return;
  r->replied = 1;
  if (r->closing)
    return;
  sup_buf_printf(&r->out, "%s\n%s", ok ? "ok" : "error", body ? body : "");
  req_flush(r);
}

static int line_ok(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
      return 0;
  return 1;
}

static void req_on_readable(loop_io_t *io, int events) {
  (void)events;
  sup_ctl_req_t *r = io->h.data;
  for (;;) {
    ssize_t n = recv(r->fd, r->in + r->in_len, sizeof(r->in) - r->in_len, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (n < 0) {
      req_close(r);
      return;
    }
    if (n == 0) { /* EOF before a whole line */
      loop_io_stop(&r->io);
      sup_ctl_reply(r, 0, r->in_len ? "incomplete request (no newline)\n" : "empty request\n");
      return;
    }
    r->in_len += (size_t)n;
    char *nl = memchr(r->in, '\n', r->in_len);
    if (!nl) {
      if (r->in_len >= sizeof(r->in)) {
        loop_io_stop(&r->io);
        sup_ctl_reply(r, 0, "request too long\n");
      }
      continue;
    }
    size_t len = (size_t)(nl - r->in);
    if (len > 0 && r->in[len - 1] == '\r')
      len--;
    loop_io_stop(&r->io);
    loop_timer_stop(&r->timer);
    if (len > SUP_CTL_MAX_LINE || !line_ok(r->in, len)) {
      sup_ctl_reply(r, 0, len > SUP_CTL_MAX_LINE ? "request too long\n" : "malformed request\n");
      return;
    }
    r->in[len] = '\0';
    r->handled = 1;
    r->ctl->handler(r, r->in, r->ctl->data);
    return;
  }
}

static int peer_allowed(sup_ctl_t *ctl, int fd) {
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
    log_msg(ctl->log, LOG_WARN, "control socket: getsockopt(SO_PEERCRED) failed: %s",
            strerror(errno));
    return 0;
  }
  if (cred.uid == 0 || cred.uid == geteuid())
    return 1;
  log_msg(ctl->log, LOG_WARN, "control socket: refused pid %ld uid %ld (not root, not uid %ld)",
          (long)cred.pid, (long)cred.uid, (long)geteuid());
  return 0;
}

/* Answers a client we do not serve and closes it at once (it gets no state: refusals must
 * stay free). What it already sent is read first: closing a Unix socket with unread data
 * resets the peer, which then sees ECONNRESET instead of the reason. The reads are bounded,
 * so a client that keeps writing cannot hold the loop; one whose request arrives after them
 * still gets the reason in its receive queue, and the CLI reads it there. */
static void refuse(int fd, const char *msg) {
  char drop[SUP_CTL_MAX_LINE + 2];
  for (int i = 0; i < 4; i++) {
    ssize_t n = recv(fd, drop, sizeof(drop), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
  }
  (void)!send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
  close(fd);
}

static sup_ctl_req_t *req_new(sup_ctl_t *ctl, int fd) {
  sup_ctl_req_t *r = sup_xcalloc(1, sizeof(*r));
  r->ctl = ctl;
  r->fd = fd;
  loop_io_init(ctl->loop, &r->io, fd, LOOP_REF_OTHER);
  loop_timer_init(ctl->loop, &r->timer);
  r->io.h.data = r;
  r->timer.h.data = r;
  r->open_handles = 2;
  r->next = ctl->clients;
  if (ctl->clients)
    ctl->clients->prev = r;
  ctl->clients = r;
  ctl->n_clients++;
  return r;
}

static void ctl_on_accept(loop_io_t *io, int events) {
  (void)events;
  sup_ctl_t *ctl = io->h.data;
  for (int i = 0; i < 16; i++) {
    int fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        log_msg(ctl->log, LOG_ERROR, "control socket: accept4() failed: %s", strerror(errno));
      return;
    }
    if (!peer_allowed(ctl, fd)) {
      refuse(fd, "error\npermission denied\n");
      continue;
    }
    if (ctl->n_clients >= CTL_MAX_CLIENTS) {
      refuse(fd, "error\ntoo many control clients\n");
      continue;
    }
    sup_ctl_req_t *r = req_new(ctl, fd);
    loop_io_start(&r->io, LOOP_READ, req_on_readable);
    loop_timer_start(&r->timer, req_on_timeout, CTL_IDLE_MS, 0);
  }
}

/* ---- the server ---------------------------------------------------------------------- */

/* The caller checked that no live supervisor answers on path, so a socket left there is a
 * stale one of ours. Anything else is not ours to delete: a control_socket that names a file
 * by mistake must cost a refusal to start, not the file. 0 or -errno (logged). */
static int remove_stale(log_t *log, const char *path) {
  struct stat st;
  const char *call = "lstat";
  int rc = 0;
  if (lstat(path, &st) < 0) {
    if (errno == ENOENT)
      return 0;
    goto fail;
  }
  if (!S_ISSOCK(st.st_mode)) {
    log_msg(log, LOG_ERROR, "control socket %s: exists and is not a socket", path);
    return -EEXIST;
  }
  call = "unlink";
  if (unlink(path) == 0 || errno == ENOENT)
    return 0;

fail:
  rc = -errno;
  log_msg(log, LOG_ERROR, "control socket %s: %s() failed: %s", path, call, strerror(-rc));
  return rc;
}

int sup_ctl_new(loop_t *loop, log_t *log, const char *path, sup_ctl_handler handler, void *data,
                sup_ctl_t **out) {
  struct sockaddr_un sa;
  int rc = make_addr(path, &sa);
  int fd = -1;
  const char *call = "socket";
  if (rc < 0) {
    log_msg(log, LOG_ERROR, "control socket %s: path too long", path);
    return rc;
  }
  rc = remove_stale(log, path);
  if (rc < 0)
    return rc;
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    goto fail;
  /* 0600 from the start: no window in which another user could connect */
  mode_t old = umask(0177);
  call = "bind";
  rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
  umask(old);
  if (rc < 0)
    goto fail;
  call = "chmod";
  if (chmod(path, 0600) < 0)
    goto fail;
  call = "listen";
  if (listen(fd, 16) < 0)
    goto fail;
  return sup_ctl_adopt(loop, log, path, fd, handler, data, out);

fail:
  rc = -errno;
  log_msg(log, LOG_ERROR, "control socket %s: %s() failed: %s", path, call, strerror(errno));
  if (fd >= 0)
    close(fd);
  return rc;
}

int sup_ctl_adopt(loop_t *loop, log_t *log, const char *path, int fd, sup_ctl_handler handler,
                  void *data, sup_ctl_t **out) {
  int rc;
  sup_ctl_t *ctl = sup_xcalloc(1, sizeof(*ctl));
  ctl->loop = loop;
  ctl->log = log;
  ctl->path = sup_xstrdup(path);
  ctl->fd = fd;
  ctl->handler = handler;
  ctl->data = data;
  loop_io_init(loop, &ctl->io, fd, LOOP_REF_OTHER);
  ctl->io.h.data = ctl;
  rc = loop_io_start(&ctl->io, LOOP_READ, ctl_on_accept);
  if (rc < 0) {
    log_msg(log, LOG_ERROR, "control socket: loop_io_start() failed: %s", strerror(-rc));
    unlink(path);
    free(ctl->path);
    free(ctl);
    close(fd);
    return rc;
  }
  *out = ctl;
  return 0;
}

int sup_ctl_fd(const sup_ctl_t *ctl) {
  return ctl->fd;
}

int sup_ctl_req_fd(const sup_ctl_req_t *req) {
  return req->fd;
}

sup_ctl_req_t *sup_ctl_adopt_req(sup_ctl_t *ctl, int fd) {
  sup_ctl_req_t *r = req_new(ctl, fd);
  r->handled = 1; /* its line was read by the image before: it waits for the reply */
  return r;
}

static void ctl_closed(loop_handle_t *h) {
  sup_ctl_t *ctl = h->data;
  close(ctl->fd);
  free(ctl->path);
  free(ctl);
}

void sup_ctl_close(sup_ctl_t *ctl) {
  if (!ctl)
    return;
  while (ctl->clients)
    req_close(ctl->clients);
  unlink(ctl->path);
  loop_close(&ctl->io.h, ctl_closed);
}

/* ---- the client (CLI) ---------------------------------------------------------------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits for fd to become ready for events before the deadline: 0, or -ETIMEDOUT/-errno. */
static int wait_fd(int fd, short events, double deadline) {
  for (;;) {
    double left = deadline - now_s();
    if (left <= 0)
      return -ETIMEDOUT;
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, (int)(left * 1000) + 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n > 0)
      return 0;
  }
}

/* Connects before the deadline: a supervisor that does not accept (stopped, or its backlog
 * full) gets retried with short pauses until it does or the deadline passes. */
static int connect_by(int fd, const struct sockaddr_un *sa, double deadline) {
  int pause_ms = 1;
  for (;;) {
    int rc = connect_now(fd, sa);
    if (rc == -EINPROGRESS) { /* Unix sockets do not do this today; finish it if one does */
      int err = 0;
      socklen_t len = sizeof(err);
      rc = wait_fd(fd, POLLOUT, deadline);
      if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
      return rc < 0 ? rc : -err;
    }
    if (rc != -EAGAIN)
      return rc;
    double left = deadline - now_s();
    if (left <= 0)
      return -ETIMEDOUT;
    struct timespec ts = {0, (long)pause_ms * 1000000};
    if (left * 1000 < pause_ms)
      ts.tv_nsec = (long)(left * 1e9);
    nanosleep(&ts, NULL);
    pause_ms = pause_ms < 50 ? pause_ms * 2 : 50;
  }
}

static int send_line(int fd, const char *line, double deadline) {
  struct sup_buf req = {0};
  size_t off = 0;
  int rc = 0;
  sup_buf_printf(&req, "%s\n", line);
  while (off < req.len) {
    rc = wait_fd(fd, POLLOUT, deadline);
    if (rc < 0)
      break;
    ssize_t n = send(fd, req.p + off, req.len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EINTR && errno != EAGAIN) {
      rc = -errno;
      break;
    }
    if (n > 0)
      off += (size_t)n;
  }
  sup_buf_free(&req);
  return rc;
}

/* Reads until EOF into in. A reset after some bytes is their end: a server that refuses us
 * answers and closes with our request unread, which resets the connection behind its answer. */
static int recv_all(int fd, struct sup_buf *in, double deadline) {
  char chunk[4096];
  for (;;) {
    int rc = wait_fd(fd, POLLIN, deadline);
    if (rc < 0)
      return rc;
    ssize_t n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n < 0 && errno == ECONNRESET && in->len > 0)
      return 0;
    if (n < 0)
      return -errno;
    if (n == 0)
      return 0;
    sup_buf_printf(in, "%.*s", (int)n, chunk);
  }
}

int sup_ctl_call(const char *path, const char *line, double timeout_s, int *ok, char **body) {
  struct sockaddr_un sa;
  struct sup_buf in = {0};
  double deadline = now_s() + timeout_s;
  int rc = make_addr(path, &sa);
  int fd = -1;
  if (rc < 0)
    goto out;
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    rc = -errno;
    goto out;
  }
  rc = connect_by(fd, &sa, deadline);
  if (rc < 0)
    goto out;
  /* a send that fails (the server refused us and closed) may still have an answer waiting */
  int sent = send_line(fd, line, deadline);
  rc = sent == -ETIMEDOUT ? sent : recv_all(fd, &in, deadline);
  if (rc == 0 && in.len == 0 && sent < 0)
    rc = sent;
  if (rc < 0)
    goto out;
  char *nl = in.p ? strchr(in.p, '\n') : NULL;
  if (!nl) {
    rc = -EPROTO;
    goto out;
  }
  *nl = '\0';
  if (strcmp(in.p, "ok") != 0 && strcmp(in.p, "error") != 0) {
    rc = -EPROTO;
    goto out;
  }
  *ok = strcmp(in.p, "ok") == 0;
  *body = sup_xstrdup(nl + 1);
  rc = 0;

out:
  if (fd >= 0)
    close(fd);
  sup_buf_free(&in);
  return rc;
}

void sup_ctl_describe_error(int rc, const char *path, double timeout_s, char *buf, size_t n) {
  if (rc == -ENOENT || rc == -ECONNREFUSED)
    snprintf(buf, n, "not running (no supervisor answers on %s)", path);
  else if (rc == -ETIMEDOUT)
    snprintf(buf, n,
             "control socket %s: no answer within %g s (the supervisor is stopped, or too busy "
             "to accept)",
             path, timeout_s);
  else
    snprintf(buf, n, "control socket %s: %s", path, strerror(-rc));
}
