/* The admin listener (see admin.h). Runs in the supervisor process, on its loop. Each client
 * gets one request: the head is read (at most ADMIN_MAX_HEAD bytes, within ADMIN_READ_MS of
 * the accept, so a slowloris client is cut whatever it trickles), answered with
 * Connection: close, and the socket is shut down once the answer is out (within
 * ADMIN_WRITE_MS). The answer is built in memory: /metrics and /status are a few KiB. */
#define _GNU_SOURCE /* accept4 */
#include "admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"

#define ADMIN_MAX_CLIENTS 16
#define ADMIN_MAX_HEAD 4096
#define ADMIN_READ_MS 5000   /* the whole head, from the accept */
#define ADMIN_WRITE_MS 10000 /* the whole answer */
#define ADMIN_LINGER_MS 1000 /* after our FIN, for the client's: then close regardless */
#define ADMIN_PAUSE_MS 100   /* out of descriptors: accepting pauses this long */

enum client_state { CL_READING, CL_WRITING, CL_LINGER };

struct client {
  sup_admin_t *admin; /* NULL once the server closed */
  int fd;
  loop_io_t io;
  loop_timer_t timer;
  enum client_state state;
  char in[ADMIN_MAX_HEAD];
  size_t in_len;
  struct sup_buf out;
  size_t out_off;
  int closing;
  int open_handles; /* io and timer */
  struct client *next, *prev;
};

struct sup_admin {
  loop_t *loop;
  log_t *log;
  int fd;
  char name[80];
  loop_io_t io;
  loop_timer_t pause;
  int open_handles; /* io and pause */
  int keep_fd;
  const struct sup_admin_ops *ops;
  void *data;
  unsigned n_clients;
  struct client *clients;
};

/* ---- one client ---------------------------------------------------------------------- */

static void client_handle_closed(loop_handle_t *h) {
  struct client *c = h->data;
  if (--c->open_handles > 0)
    return;
  close(c->fd);
  sup_buf_free(&c->out);
  free(c);
}

static void client_close(struct client *c) {
  if (c->closing)
    return;
  c->closing = 1;
  sup_admin_t *a = c->admin;
  if (a) {
    if (c->prev)
      c->prev->next = c->next;
    else
      a->clients = c->next;
    if (c->next)
      c->next->prev = c->prev;
    a->n_clients--;
  }
  c->admin = NULL;
  loop_close(&c->io.h, client_handle_closed);
  loop_close(&c->timer.h, client_handle_closed);
}

static void on_client_timer(loop_timer_t *t) {
  client_close(t->h.data);
}

static void on_client_io(loop_io_t *io, int events);

/* Our answer is out: FIN, then wait a little for the client's, reading what it still sends,
 * so that a close with unread bytes does not reset the answer away. */
static void client_linger(struct client *c) {
  shutdown(c->fd, SHUT_WR);
  c->state = CL_LINGER;
  loop_io_start(&c->io, LOOP_READ, on_client_io);
  loop_timer_start(&c->timer, on_client_timer, ADMIN_LINGER_MS, 0);
}

static void client_flush(struct client *c) {
  while (c->out_off < c->out.len) {
    ssize_t n =
        send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      loop_io_start(&c->io, LOOP_WRITE, on_client_io);
      return;
    }
    if (n <= 0) {
      client_close(c);
      return;
    }
    c->out_off += (size_t)n;
  }
  client_linger(c);
}

static const char *reason_of(int code) {
  switch (code) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 431:
    return "Request Header Fields Too Large";
  case 503:
    return "Service Unavailable";
  default:
    return "Unknown";
  }
}

static void client_answer(struct client *c, int code, const char *type, const char *body,
                          size_t len, int head_only) {
  sup_buf_printf(&c->out,
                 "HTTP/1.1 %d %s\r\nServer: evcluster-admin\r\nContent-Type: %s\r\n"
                 "Content-Length: %zu\r\nCache-Control: no-store\r\n%sConnection: close\r\n\r\n",
                 code, reason_of(code), type, len, code == 405 ? "Allow: GET, HEAD\r\n" : "");
  if (!head_only && len)
    sup_buf_printf(&c->out, "%.*s", (int)len, body);
  c->state = CL_WRITING;
  loop_io_stop(&c->io);
  loop_timer_start(&c->timer, on_client_timer, ADMIN_WRITE_MS, 0);
  client_flush(c);
}

static void client_text(struct client *c, int code, const char *text, int head_only) {
  client_answer(c, code, "text/plain; charset=utf-8", text, strlen(text), head_only);
}

static int is_tchar(unsigned char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
         (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* The request line of a complete head: "METHOD SP TARGET SP HTTP/1.x". Headers are not
 * needed (no body is accepted, nothing depends on them) but must be printable. */
static void client_request(struct client *c, size_t head_len) {
  sup_admin_t *a = c->admin;
  char *line = c->in, *end = memchr(c->in, '\n', head_len);
  size_t n = (size_t)(end - line);
  if (n > 0 && line[n - 1] == '\r')
    n--;
  for (size_t i = 0; i < head_len; i++) {
    unsigned char ch = (unsigned char)c->in[i];
    if ((ch < 0x20 && ch != '\r' && ch != '\n' && ch != '\t') || ch == 0x7f) {
      client_text(c, 400, "bad request\n", 0);
      return;
    }
  }
  line[n] = '\0';
  char *sp1 = strchr(line, ' ');
  char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
  if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || strchr(sp2 + 1, ' ') ||
      strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || strlen(sp2 + 1) != 8 ||
      (sp2[8] != '0' && sp2[8] != '1') || sp1[1] != '/') {
    client_text(c, 400, "bad request\n", 0);
    return;
  }
  *sp1 = '\0';
  *sp2 = '\0';
  for (const char *p = line; *p; p++)
    if (!is_tchar((unsigned char)*p)) {
      client_text(c, 400, "bad request\n", 0);
      return;
    }
  int head = strcmp(line, "HEAD") == 0;
  if (!head && strcmp(line, "GET") != 0) {
    client_text(c, 405, "method not allowed: GET and HEAD only\n", 0);
    return;
  }
  char *path = sp1 + 1;
  path[strcspn(path, "?#")] = '\0';
  struct sup_buf b = {0};
  if (strcmp(path, "/healthz") == 0) {
    const char *why = "ok";
    int code = a->ops->health(a->data, &why);
    sup_buf_printf(&b, "%s\n", why);
    client_answer(c, code, "text/plain; charset=utf-8", b.p, b.len, head);
  } else if (strcmp(path, "/metrics") == 0) {
    a->ops->metrics(a->data, &b);
    client_answer(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.p ? b.p : "", b.len, head);
  } else if (strcmp(path, "/status") == 0) {
    a->ops->status_json(a->data, &b);
    client_answer(c, 200, "application/json", b.p ? b.p : "", b.len, head);
  } else {
    client_text(c, 404, "not found: /healthz, /metrics, /status\n", head);
  }
  sup_buf_free(&b);
}

/* The end of the head: the first empty line ("\r\n\r\n" or a bare "\n\n"). 0 if not yet. */
static size_t head_end(const char *p, size_t n) {
  for (size_t i = 0; i + 1 < n; i++) {
    if (p[i] != '\n')
      continue;
    if (p[i + 1] == '\n')
      return i + 2;
    if (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n')
      return i + 3;
  }
  return 0;
}

static void client_read(struct client *c) {
  /* Lingering, at most this many reads per call: a client streaming bytes after its answer
   * would otherwise keep the supervisor's loop here (the linger timer cannot fire meanwhile),
   * and with it health pings, reaping and signals. Level-triggered: the rest comes next turn. */
  unsigned drops = 16;
  for (;;) {
    if (c->state == CL_LINGER) { /* drop what comes until the client's FIN */
      char drop[4096];
      if (drops-- == 0)
        return;
      ssize_t n = recv(c->fd, drop, sizeof(drop), MSG_DONTWAIT);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
      if (n <= 0) {
        client_close(c);
        return;
      }
      continue;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (n <= 0) {
      client_close(c); /* gone before a whole request: nobody to answer */
      return;
    }
    size_t from = c->in_len > 3 ? c->in_len - 3 : 0; /* a "\r\n\r\n" across reads */
    c->in_len += (size_t)n;
    size_t end = head_end(c->in + from, c->in_len - from);
    if (end) {
      client_request(c, from + end);
      return;
    }
    if (c->in_len == sizeof(c->in)) {
      client_text(c, 431, "request head too large\n", 0);
      return;
    }
  }
}

static void on_client_io(loop_io_t *io, int events) {
  struct client *c = io->h.data;
  if (c->state == CL_WRITING && (events & LOOP_WRITE))
    client_flush(c);
  else if (c->state != CL_WRITING)
    client_read(c);
}

/* ---- the listener -------------------------------------------------------------------- */

static void on_accept(loop_io_t *io, int events);

static void on_pause_end(loop_timer_t *t) {
  sup_admin_t *a = t->h.data;
  loop_io_start(&a->io, LOOP_READ, on_accept);
}

/* Refused without state: a fixed answer into the socket buffer (never blocks), then close.
 * What the client already sent is read first (a few bounded reads): a close with unread
 * bytes resets the connection, and the reset may overtake the answer. */
static void refuse(int fd) {
  static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n"
                             "Connection: close\r\n\r\nbusy\n";
  char drop[ADMIN_MAX_HEAD];
  for (int i = 0; i < 4; i++) {
    ssize_t n = recv(fd, drop, sizeof(drop), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
  }
  (void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  close(fd);
}

static void on_accept(loop_io_t *io, int events) {
  (void)events;
  sup_admin_t *a = io->h.data;
  for (int i = 0; i < 16; i++) {
    int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      /* out of descriptors or memory: a level-triggered listener would spin */
      log_msg(a->log, LOG_WARN, "admin listener: accept4() failed: %s; pausing %d ms",
              strerror(errno), ADMIN_PAUSE_MS);
      loop_io_stop(&a->io);
      loop_timer_start(&a->pause, on_pause_end, ADMIN_PAUSE_MS, 0);
      return;
    }
    if (a->n_clients >= ADMIN_MAX_CLIENTS) {
      refuse(fd);
      continue;
    }
    struct client *c = sup_xcalloc(1, sizeof(*c));
    c->admin = a;
    c->fd = fd;
    loop_io_init(a->loop, &c->io, fd, LOOP_REF_OTHER);
    loop_timer_init(a->loop, &c->timer);
    c->io.h.data = c;
    c->timer.h.data = c;
    c->open_handles = 2;
    c->next = a->clients;
    if (a->clients)
      a->clients->prev = c;
    a->clients = c;
    a->n_clients++;
    loop_io_start(&c->io, LOOP_READ, on_client_io);
    loop_timer_start(&c->timer, on_client_timer, ADMIN_READ_MS, 0);
  }
}

int sup_admin_new(loop_t *loop, log_t *log, const conf_listen_t *addr, int fd,
                  const struct sup_admin_ops *ops, void *data, sup_admin_t **out) {
  int handed = fd >= 0;
  if (!handed) {
    fd = sup_listen_open(addr, log);
    if (fd < 0)
      return fd;
  }
  sup_admin_t *a = sup_xcalloc(1, sizeof(*a));
  a->loop = loop;
  a->log = log;
  a->fd = fd;
  a->ops = ops;
  a->data = data;
  if (sup_listen_name(fd, a->name, sizeof(a->name)) < 0)
    snprintf(a->name, sizeof(a->name), "%s", addr->text);
  loop_io_init(loop, &a->io, fd, LOOP_REF_OTHER);
  loop_timer_init(loop, &a->pause);
  a->io.h.data = a;
  a->pause.h.data = a;
  a->open_handles = 2;
  int rc = loop_io_start(&a->io, LOOP_READ, on_accept);
  if (rc < 0) {
    log_msg(log, LOG_ERROR, "admin listener: loop_io_start() failed: %s", strerror(-rc));
    sup_admin_close(a, 0);
    return rc;
  }
  log_msg(log, LOG_INFO, "admin listener on %s (fd %d%s)", a->name, fd,
          handed ? ", handed over: not re-bound" : "");
  *out = a;
  return 0;
}

int sup_admin_fd(const sup_admin_t *a) {
  return a->fd;
}

const char *sup_admin_name(const sup_admin_t *a) {
  return a->name;
}

static void admin_handle_closed(loop_handle_t *h) {
  sup_admin_t *a = h->data;
  if (--a->open_handles > 0)
    return;
  if (!a->keep_fd)
    close(a->fd);
  free(a);
}

void sup_admin_close(sup_admin_t *a, int keep_fd) {
  if (!a)
    return;
  while (a->clients)
    client_close(a->clients);
  a->keep_fd = keep_fd;
  loop_close(&a->io.h, admin_handle_closed);
  loop_close(&a->pause.h, admin_handle_closed);
}
