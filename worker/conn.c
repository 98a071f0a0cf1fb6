/* Client connections of a worker (see conn.h): the socket, its loop handles and lifetime,
 * and the h1 session. Runs on the worker's loop thread only. What to answer is the answer
 * layer's (answer.c: lookups on the pool come back there); this file frames it as HTTP/1.1,
 * and sendfile calls and file reads it submits come back to on_sent and on_read. Every byte
 * goes through the connection's transport (transport.h), plain or TLS: nothing here knows
 * which, but for the transport's one capability that matters to a body, zero_copy (sendfile,
 * or pool-read buffers). A connection that opens with HTTP/2 (ALPN h2, or h2c's preface on
 * its first bytes) hands its events to the h2 session (h2.c) from then on.
 *
 * A connection is in one of four states: READING (waiting for or parsing a request), FILE
 * (a lookup or a sendfile is on the pool), WRITING (sending an answer), LINGER (our side has
 * shut down; reading what the client still sends so it gets our last answer, not a reset).
 * One request is answered at a time; bytes of pipelined requests wait in the input buffer. */
#define _GNU_SOURCE
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "fcache.h"
#include "h2.h"
#include "http_request.h"
#include "http_response.h"
#include "proxy_conn.h"
#include "transport.h"

#define LOOP_SEND_CHUNK (512 * 1024) /* per sendfile call on the loop */
/* A body that cannot go with sendfile (TLS without the kernel's record layer) goes through a
 * buffer of this size: read on the pool (or on the loop from the page cache, as sendfile
 * does), then sent as 16 KiB records. Allocated per download, freed when it is done. */
#define FILE_BUF (128 * 1024)
#define OUT_CAP (32 * 1024)       /* pipelined answers gathered per write */
#define DRAIN_GRACE_MS 500      /* an idle connection of a draining worker gets this long */
#define LINGER_MS 2000
#define MAX_FREE_BUFS 64

enum conn_state { ST_READING, ST_FILE, ST_WRITING, ST_LINGER };

/* What is being answered; allocated when a request needs the pool, kept for reuse. */
struct resp {
  struct conn *conn;
  struct answer a; /* the request's answer (the answer layer decides it) */
  struct sfile_send snd;
  char head[ANSWER_HEAD_MAX];
  uint32_t head_len, head_sent;
  const char *body; /* in memory: a small file or an error page (the answer's) */
  size_t body_len, body_sent;
  int file_fd;      /* large file: sendfile or read from here (the entry's) */
  char *fbuf;       /* no zero copy: the file's bytes being sent (r->body points in it) */
  struct sfile_read rd;
  off_t file_off;
  uint64_t file_left;
  int status;
  uint64_t started_us; /* CLOCK_MONOTONIC when the request was complete: its duration */
  uint64_t body_bytes; /* for the access log: the body's length, as planned */
  int unlogged;        /* a request is being answered and its access log line is not out */
  uint64_t last_progress; /* loop ms of the last byte sent */
  pool_job_t *job;        /* the sendfile or read on the pool, or NULL */
  int answered;           /* the answer layer has decided (its ready ran) */
  char *out; /* answers to pipelined requests gathered for one write, or NULL; kept across
              * the requests of a batch (resp_get leaves it) */
  uint32_t out_len, out_sent;
};

/* A connection with a request under way holds one block: its parser, then its input
 * buffer. Idle connections give theirs back; a few are kept for reuse. */
#define PARSER_SPACE ((sizeof(http_parser_t) + 63) & ~(size_t)63)
#define IN(c) ((char *)(c)->p + PARSER_SPACE)

struct conn {
  loop_io_t io;
  loop_timer_t timer;
  struct wctx *w;
  struct conn *prev, *next;
  http_parser_t *p; /* and after it the input buffer (IN(c)): NULL while idle, so an idle
                     * keep-alive connection holds no parser and no buffer */
  uint32_t in_len;
  unsigned requests;
  struct resp *r; /* answer state; NULL while idle */
  h2_t *h2;       /* the h2 session, once the connection speaks HTTP/2; h1 is this file */
  proxy_conn_t *proxy; /* proxy_protocol listener: its header has yet to come; else NULL */
  uint64_t deadline; /* loop ms: the current state's timeout; the timer may fire before */
  /* Small fields last and packed: 10,000 idle connections must cost no more than nginx's. */
  uint8_t state;           /* enum conn_state */
  uint8_t events;          /* the io interest set */
  uint8_t holds;           /* the io handle, plus a pool job in flight */
  uint8_t family;          /* the peer's address, formatted only when logged */
  uint8_t peer_ip[16];
  struct transport tx;
  unsigned keep_alive : 1; /* for the answer being sent */
  unsigned peer_eof : 1;
  unsigned closing : 1;
  unsigned in_process : 1;      /* conn_process is on the stack: do not re-enter it */
  unsigned request_started : 1; /* bytes of a request have arrived: the header timeout runs */
  unsigned nodelay : 1;         /* TCP_NODELAY is set */
  unsigned fd_closed : 1;       /* the socket was closed before the handles */
  unsigned handshaking : 1;     /* the transport is not ready for data yet */
  unsigned read_wants_write : 1; /* the transport's recv waits for the socket to drain */
  unsigned redirect_https : 1;  /* every request is answered with a redirect to https */
  unsigned h2_maybe : 1;        /* plain, http2 on, no byte yet: may open with h2's preface */
  unsigned more_queued : 1;     /* more is in the loop's pending queue (holds one) */
  loop_pending_t more;          /* conn_read goes on in the next pending phase */
};

/* The peer's address as text, for the logs: the client's from a PROXY header, if one came. */
static const char *peer_text(const struct conn *c, char *buf, size_t len) {
  if (c->family == AF_INET || c->family == AF_INET6)
    return inet_ntop(c->family, c->peer_ip, buf, (socklen_t)len) ? buf : "-";
  return "-";
}

static void conn_process(struct conn *c);
static void conn_send(struct conn *c);
static void conn_read(struct conn *c);
static void on_io(loop_io_t *io, int events);
static void response_done(struct conn *c);
static void conn_close(struct conn *c);
static void log_access(struct conn *c);
static void on_answer(struct answer *a);
static void on_hold(struct answer *a, int delta);
static void start_h2(struct conn *c);

/* ---- small helpers ----------------------------------------------------------------------- */

/* A client's path for the error log, escaped as the access log escapes it: decoded, a %0A in
 * it would write lines of its own. Returns buf (cap > 0), NUL-terminated. */
static const char *log_safe(const char *s, size_t len, char *buf, size_t cap) {
  buf[http_log_escape(s, len, buf, cap - 1)] = '\0';
  return buf;
}

static void set_events(struct conn *c, int events) {
  if (events == c->events)
    return; /* no epoll_ctl when nothing changes: this is on every request */
  c->events = events;
  loop_io_start(&c->io, events, on_io);
}

/* Sets the connection's deadline. The timer moves only when it would fire too late: most
 * requests push the deadline later, and then on_timer, firing at the old time, re-arms for
 * what is left; that saves two heap operations on every request. */
static void arm(struct conn *c, uint64_t ms) {
  uint64_t now = loop_now(c->w->loop);
  c->deadline = now + ms;
  if (!loop_is_active(&c->timer.h) || loop_timer_due(&c->timer) > c->deadline)
    loop_timer_start(&c->timer, c->timer.cb, ms, 0);
}

static void buf_get(struct conn *c) {
  struct wctx *w = c->w;
  char *b = w->n_free_bufs > 0 ? w->free_bufs[--w->n_free_bufs]
                               : malloc(PARSER_SPACE + w->max_header_bytes);
  if (!b)
    abort(); /* out of memory: nothing sensible left to do for a server */
  c->p = (http_parser_t *)b;
  c->in_len = 0;
  http_parser_init(c->p, w->max_header_bytes);
}

static void buf_put(struct conn *c) {
  struct wctx *w = c->w;
  char *b = (char *)c->p;
  if (w->n_free_bufs < MAX_FREE_BUFS)
    w->free_bufs[w->n_free_bufs++] = b;
  else
    free(b);
  c->p = NULL;
  c->in_len = 0;
}

/* Gathering buffers (pipelined answers) are taken and given back once per batch: one is
 * kept, so a pipelining client costs no malloc per batch. */
static char *out_get(struct wctx *w) {
  char *b = w->spare_out;
  w->spare_out = NULL;
  if (!b && !(b = malloc(OUT_CAP)))
    abort(); /* out of memory: nothing sensible left to do for a server */
  return b;
}

static void out_put(struct wctx *w, char *b) {
  if (!b)
    return;
  if (!w->spare_out)
    w->spare_out = b;
  else
    free(b);
}

/* A download's file buffer goes back to a short free list: a malloc and free of 128 KiB per
 * large answer would go to mmap and back, or grow and trim the heap. */
static void fbuf_put(struct conn *c) {
  struct wctx *w = c->w;
  char *b = c->r->fbuf;
  c->r->fbuf = NULL;
  if (!b)
    return;
  if (w->n_free_fbufs < sizeof(w->free_fbufs) / sizeof(w->free_fbufs[0]))
    w->free_fbufs[w->n_free_fbufs++] = b;
  else
    free(b);
}

/* The gathered answers are all out (or the connection is going). */
static void out_free(struct conn *c) {
  out_put(c->w, c->r->out);
  c->r->out = NULL;
  c->r->out_len = c->r->out_sent = 0;
}

/* Per-answer state goes back to a short free list when the connection idles, so an idle
 * keep-alive connection costs only its struct. */
static void resp_put(struct conn *c) {
  struct wctx *w = c->w;
  out_free(c); /* empty (flush_gathered) but for a connection closed mid-batch */
  if (w->n_free_resps < MAX_FREE_BUFS)
    w->free_resps[w->n_free_resps++] = c->r;
  else
    free(c->r);
  c->r = NULL;
}

void conn_free_buffers(struct wctx *w) {
  while (w->n_free_bufs > 0)
    free(w->free_bufs[--w->n_free_bufs]);
  while (w->n_free_resps > 0)
    free(w->free_resps[--w->n_free_resps]);
  while (w->n_free_fbufs > 0)
    free(w->free_fbufs[--w->n_free_fbufs]);
  h2_free_buffers(w);
  free(w->spare_out);
  w->spare_out = NULL;
}

struct conn *conn_next(struct conn *c) {
  return c->next;
}

static void release(struct conn *c) {
  if (--c->holds > 0)
    return;
  struct wctx *w = c->w;
  /* Only now if not before (conn_close): a sendfile job may have been using the socket until
   * a moment ago, and a closed descriptor number can be reused by the next accept. */
  c->tx.ops->release(&c->tx);
  proxy_conn_free(c->proxy);
  if (!c->fd_closed)
    close(c->io.fd);
  h2_free(c->h2);
  if (c->p)
    buf_put(c);
  if (c->r) {
    answer_end(&c->r->a);
    fbuf_put(c);
    resp_put(c);
  }
  free(c);
  w->conn_gone(w);
}

/* ---- closing ----------------------------------------------------------------------------- */

static void on_io_closed(loop_handle_t *h) {
  release(h->data);
}

static void conn_close(struct conn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  struct wctx *w = c->w;
  if (c->prev)
    c->prev->next = c->next;
  else
    w->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  w->n_conns--;
  if (c->h2)
    h2_close(c->h2); /* its streams' pool jobs come back to conn_release */
  if (c->r && c->r->unlogged && c->p)
    log_access(c);
  int job = c->r && (c->r->job || c->r->a.job);
  if (c->r)
    answer_abandon(&c->r->a); /* its lookup, if any, comes back to on_hold */
  if (c->r && c->r->job)
    pool_cancel(c->r->job);
  if (job) {
    /* A job no thread has taken yet need not run; one that has keeps the memory alive
     * (holds) until its done callback. */
  } else {
    /* Nothing else uses the socket: close it now, so the FIN follows the last answer at
     * once. Were it to wait for the close phase, a client that has its answer would often
     * close first and pay for the TIME_WAIT and the port search itself. Stopping the
     * watcher first keeps epoll consistent (no syscall if it was never registered). */
    loop_io_stop(&c->io);
    c->events = 0;
    close(c->io.fd);
    c->fd_closed = 1;
  }
  /* Both in this close phase; callbacks run LIFO, so the io's, which may free the
   * connection, comes after the timer has been dealt with. */
  loop_close(&c->io.h, on_io_closed);
  loop_close(&c->timer.h, NULL);
}

void conn_abort(struct conn *c) {
  conn_close(c);
}

/* Closes after the last answer; when the client may still be sending (unread pipelined
 * bytes), shut our side down first and read until it stops, so that closing with unread
 * data does not reset the connection under the answer it has not read yet. */
static void conn_finish(struct conn *c) {
  if (c->peer_eof) {
    conn_close(c);
    return;
  }
  if (c->p->parsed >= c->in_len && !c->p->body_pending) {
    /* The last answer went with MSG_MORE and is held: shutdown sends it and the FIN in one
     * segment. close alone would too, unless the client has sent more than we read: then
     * close resets the connection and the held answer is dropped with it. */
    c->tx.ops->shutdown(&c->tx);
    conn_close(c);
    return;
  }
  c->tx.ops->shutdown(&c->tx);
  c->state = ST_LINGER;
  set_events(c, LOOP_READ);
  arm(c, LINGER_MS);
}

/* ---- timers ------------------------------------------------------------------------------ */

static void on_timer(loop_timer_t *t) {
  struct conn *c = t->h.data;
  struct wctx *w = c->w;
  uint64_t now = loop_now(w->loop);
  if (now < c->deadline) { /* the deadline moved on since the timer was set */
    loop_timer_start(&c->timer, c->timer.cb, c->deadline - now, 0);
    return;
  }
  if (c->h2) {
    h2_on_timer(c->h2);
    return;
  }
  if (c->state == ST_WRITING) {
    /* The send timeout counts from the last progress, not from the answer's start. */
    uint64_t idle = loop_now(w->loop) - c->r->last_progress;
    if (idle < w->send_ms) {
      arm(c, w->send_ms - idle);
      return;
    }
    char addr[INET6_ADDRSTRLEN];
    log_msg(w->log, LOG_INFO, "client %s: send timeout, closing",
            peer_text(c, addr, sizeof(addr)));
  }
  if (c->state == ST_FILE) {
    arm(c, w->send_ms); /* a slow disk is not the client's fault: look again later */
    return;
  }
  if (c->proxy && !w->draining) {
    char addr[INET6_ADDRSTRLEN];
    log_msg(w->log, LOG_INFO, "client %s: no PROXY protocol header in time, closing",
            peer_text(c, addr, sizeof(addr)));
  }
  conn_close(c);
}

/* ---- answers ----------------------------------------------------------------------------- */

static struct resp *resp_get(struct conn *c) {
  if (!c->r) {
    struct wctx *w = c->w;
    c->r = w->n_free_resps > 0 ? w->free_resps[--w->n_free_resps] : malloc(sizeof(*c->r));
    if (!c->r)
      abort();
    c->r->conn = c;
    c->r->job = NULL;
    c->r->out = NULL;
    c->r->fbuf = NULL;
    c->r->out_len = c->r->out_sent = 0;
  }
  struct resp *r = c->r;
  r->a.w = c->w;
  r->a.ready = on_answer;
  r->a.hold = on_hold;
  r->a.redirect_https = c->redirect_https;
  r->a.sni = c->tx.ops->servername(&c->tx);
  r->a.q = c->p ? &c->p->req : NULL;
  r->a.buf = c->p ? IN(c) : NULL;
  answer_reset(&r->a);
  r->answered = 0;
  r->head_len = r->head_sent = 0;
  r->body = NULL;
  r->body_len = r->body_sent = 0;
  r->file_fd = -1;
  r->file_off = 0;
  r->file_left = 0;
  r->status = 0;
  r->started_us = answer_now_us(c->w);
  r->body_bytes = 0;
  r->unlogged = 0;
  return r;
}

static enum http_conn_header conn_header(struct conn *c) {
  if (!c->keep_alive)
    return HTTP_CONN_CLOSE;
  return c->p->req.http_minor == 0 ? HTTP_CONN_KEEP_ALIVE : HTTP_CONN_NONE;
}

/* Pipelining: when the next request looks complete in the input buffer, an answer held in
 * memory is gathered with the ones that follow and they go out in one write. Whenever
 * processing stops short of another answer, what was gathered goes out (flush_gathered): an
 * answer never waits for a request the client has not finished sending. The check here only
 * keeps from copying an answer that would go out alone anyway; the bytes after a request
 * with a body are that body, not a next request. */
static int try_gather(struct conn *c) {
  struct resp *r = c->r;
  if (!c->in_process || r->file_left > 0 || !c->keep_alive || c->p->body_pending)
    return 0;
  uint32_t rest = c->in_len - c->p->parsed;
  if (rest < 4 || !memmem(IN(c) + c->p->parsed, rest, "\r\n\r\n", 4))
    return 0;
  size_t need = r->head_len + r->body_len;
  if (need > OUT_CAP - c->r->out_len)
    return 0;
  if (!c->r->out)
    c->r->out = out_get(c->w);
  memcpy(c->r->out + c->r->out_len, r->head, r->head_len);
  if (r->body_len) /* HEAD, 304: no body, and r->body may be NULL */
    memcpy(c->r->out + c->r->out_len + r->head_len, r->body, r->body_len);
  c->r->out_len += (uint32_t)need;
  return 1;
}

/* What was gathered goes out as far as the socket takes it. 0, or -errno when the client is
 * gone. */
static int push_gathered(struct conn *c) {
  struct iovec iov = {c->r->out + c->r->out_sent, c->r->out_len - c->r->out_sent};
  int want;
  ssize_t n = c->tx.ops->sendv(&c->tx, &iov, 1, 0, &want);
  int rc = n < 0 && n != -EAGAIN ? (int)n : 0;
  if (n > 0)
    c->r->out_sent += (uint32_t)n;
  if (c->r->out_sent == c->r->out_len)
    out_free(c);
  return rc;
}

/* Processing stopped short of another answer (the next request is incomplete, or was no
 * request: a body, blank lines) with answers gathered: they go out now, the rest when the
 * socket drains (on_io). 1 while some are still held, 0 when all are out, -1 when the
 * client is gone (the connection is closing). */
static int flush_gathered(struct conn *c) {
  if (push_gathered(c) < 0) {
    conn_close(c);
    return -1;
  }
  int held = c->r->out != NULL;
  if (held != ((c->events & LOOP_WRITE) != 0))
    set_events(c, held ? c->events | LOOP_WRITE : c->events & ~LOOP_WRITE);
  return held;
}

/* Starts sending r->head (and r->body or the file range) in WRITING state, unless the
 * answer waits to go out with the next one. */
static void start_send(struct conn *c) {
  if (try_gather(c)) {
    response_done(c);
    return;
  }
  /* Nagle only matters once answers can follow each other before the client acknowledges
   * (keep-alive, pipelining) or a file is streamed: a one-answer connection skips the
   * syscall. */
  if (!c->nodelay && (c->requests > 1 || c->r->file_left > 0)) {
    int one = 1;
    setsockopt(c->io.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->nodelay = 1;
  }
  c->state = ST_WRITING;
  c->r->last_progress = loop_now(c->w->loop);
  arm(c, c->w->send_ms);
  conn_send(c);
}

/* The answer layer has decided (now, or when its lookup came back): the head in h1's
 * words, then the body from memory or the file. */
static void on_answer(struct answer *a) {
  struct resp *r = (struct resp *)((char *)a - offsetof(struct resp, a));
  struct conn *c = r->conn;
  r->answered = 1;
  if (a->close_after)
    c->keep_alive = 0;
  a->head.connection = conn_header(c);
  int n = http_head_write(r->head, sizeof(r->head), &a->head);
  if (n < 0) { /* only a pathological Location gets here */
    conn_close(c);
    return;
  }
  r->head_len = (uint32_t)n;
  r->status = a->head.status;
  r->body_bytes = a->body_bytes;
  r->body = a->body;
  r->body_len = a->body_len;
  r->file_fd = a->file_fd;
  r->file_off = (off_t)a->file_off;
  r->file_left = a->file_len;
  if (a->body_fd >= 0 && a->body_len >= SFILE_SENDFILE_MIN && c->tx.ops->zero_copy(&c->tx)) {
    /* the same bytes by sendfile from the file the cache keeps open: no copy (sfile.h) */
    r->file_fd = a->body_fd;
    r->file_off = (off_t)a->body_off;
    r->file_left = a->body_len;
    r->body = NULL;
    r->body_len = 0;
  }
  start_send(c);
}

/* A lookup went to the pool (+1) or came back (-1): the connection's memory stays. */
static void on_hold(struct answer *a, int delta) {
  struct conn *c = ((struct resp *)((char *)a - offsetof(struct resp, a)))->conn;
  if (delta > 0)
    c->holds++;
  else
    release(c);
}

/* The answer promised a length the file no longer has: the client gets a short body and a
 * close, the operator a line (the access log shows the bytes that went). */
static void log_shrank(struct conn *c) {
  char shown[1024];
  log_msg(c->w->log, LOG_WARN, "\"/%s\" shrank while it was sent: closing after %llu of "
          "%llu bytes", log_safe(c->r->a.key, c->r->a.key_len, shown, sizeof(shown)),
          (unsigned long long)(c->r->body_bytes - c->r->file_left),
          (unsigned long long)c->r->body_bytes);
}

static void on_sent(pool_job_t *job, int status) {
  struct resp *r = (struct resp *)((char *)job - offsetof(struct resp, snd.job));
  struct conn *c = r->conn;
  c->r->job = NULL;
  if (c->closing) {
    release(c);
    return;
  }
  c->holds--;
  if (status == 0) {
    r->file_off = r->snd.off;
    r->file_left -= r->snd.sent;
  }
  if (status < 0 || (r->snd.err < 0 && r->snd.err != -EAGAIN)) {
    if (status == 0 && r->snd.err == -EIO)
      log_shrank(c);
    conn_close(c); /* the client is gone (EPIPE, ECONNRESET), or the file shrank */
    return;
  }
  c->state = ST_WRITING;
  if (r->snd.sent > 0)
    c->r->last_progress = loop_now(c->w->loop);
  if (r->file_left == 0) {
    response_done(c);
    return;
  }
  /* Socket full: wait until it drains, then hand the next chunk to the pool. */
  set_events(c, c->events | LOOP_WRITE);
}

/* ---- sending ----------------------------------------------------------------------------- */

/* An answer cut short (the client left, a timeout, the file shrank) is logged too, as nginx
 * does, with the body bytes that went out; a request closed before its answer was chosen
 * (the drain deadline during its lookup) gets 499, nginx's code for a request that ended
 * without one. */
static void body_sent_so_far(const struct resp *r, int *status, uint64_t *bytes) {
  if (r->status == 0)
    *status = 499;
  if (r->head_len == 0 || r->head_sent < r->head_len)
    *bytes = 0;
  else if (r->fbuf) /* streamed through the buffer: what was read, less what is still in it */
    *bytes = r->body_bytes - r->file_left - (r->body_len - r->body_sent);
  else if (r->body)
    *bytes = r->body_sent;
  else
    *bytes = r->body_bytes > r->file_left ? r->body_bytes - r->file_left : 0;
}

static void log_access(struct conn *c) {
  struct wctx *w = c->w;
  c->r->unlogged = 0;
  const http_request_t *q = &c->p->req;
  char addr[INET6_ADDRSTRLEN], tls[32];
  struct answer_log l = {
      .peer = alog_enabled(w->alog) ? peer_text(c, addr, sizeof(addr)) : "-",
      .line = q->line.len ? IN(c) + q->line.off : NULL,
      .line_len = q->line.len,
      .status = c->r->status,
      .body_bytes = c->r->body_bytes,
      .started_us = c->r->started_us,
  };
  /* a server with TLS listeners logs each line's protocol; plain-only ones not. Only
   * when it logs: describing costs a formatted print per request (3.5% of 1 KiB h2 over
   * TLS, callgrind) */
  if (w->tls && alog_enabled(w->alog))
    l.tls = c->tx.ops->describe(&c->tx, tls, sizeof(tls));
  if (c->closing)
    body_sent_so_far(c->r, &l.status, &l.body_bytes);
  l.head_bytes = l.status == 499 ? 0 : c->r->head_len;
  answer_log(w, q, IN(c), &l);
}

/* The answer is out: log it, then the next request, idle, or close. */
static void response_done(struct conn *c) {
  log_access(c);
  answer_end(&c->r->a);
  fbuf_put(c);
  if (!c->keep_alive || c->p->error_status) {
    conn_finish(c);
    return;
  }
  http_parser_next(c->p, IN(c), &c->in_len);
  c->state = ST_READING;
  c->request_started = 0;
  set_events(c, c->peer_eof ? 0 : LOOP_READ);
  if (c->in_process) /* the conn_process below us goes on with the next request */
    return;
  conn_process(c);
  /* Bytes the transport decrypted while the answer went out: the socket will not say so. */
  if (c->state == ST_READING && !c->closing && !c->peer_eof && c->tx.ops->pending(&c->tx))
    conn_read(c);
}

/* Nothing of a next request has arrived: give the buffer back (an idle keep-alive
 * connection costs only its struct) and wait, or go. */
static void go_idle(struct conn *c) {
  struct wctx *w = c->w;
  if (c->peer_eof) {
    conn_close(c);
    return;
  }
  if (c->p)
    buf_put(c);
  if (c->r)
    resp_put(c);
  arm(c, w->draining ? DRAIN_GRACE_MS : w->keepalive_ms);
}

static void on_read(pool_job_t *job, int status);

/* The next bytes of the file into r->fbuf, for a transport that cannot sendfile. Returns 1
 * when they are there (r->body), 0 when a pool read was submitted (on_read goes on), -1 when
 * the connection closed. Pages in the page cache are copied here, on the loop: that cannot
 * wait for the disk, as the plain path's sendfile of resident pages cannot; the others are
 * read on the pool. */
static int file_fill(struct conn *c) {
  struct resp *r = c->r;
  struct wctx *w = c->w;
  if (!r->fbuf)
    r->fbuf = w->n_free_fbufs > 0 ? w->free_fbufs[--w->n_free_fbufs] : malloc(FILE_BUF);
  if (!r->fbuf)
    abort(); /* out of memory: nothing sensible left to do for a server */
  size_t want = r->file_left < FILE_BUF ? (size_t)r->file_left : FILE_BUF;
  int resident = w->no_cachestat ? -ENOSYS : sfile_resident(r->file_fd, r->file_off, want);
  if (resident == -ENOSYS)
    w->no_cachestat = 1;
  if (resident == 1) {
    ssize_t n;
    do {
      n = pread(r->file_fd, r->fbuf, want, r->file_off);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      if (n == 0)
        log_shrank(c);
      conn_close(c);
      return -1;
    }
    r->body = r->fbuf;
    r->body_len = (size_t)n;
    r->body_sent = 0;
    r->file_off += n;
    r->file_left -= (uint64_t)n;
    return 1;
  }
  r->rd.fd = r->file_fd;
  r->rd.off = r->file_off;
  r->rd.buf = r->fbuf;
  r->rd.len = want;
  if (sfile_read_submit(w->pool, &r->rd, on_read) < 0) {
    conn_close(c);
    return -1;
  }
  c->r->job = &r->rd.job;
  c->holds++;
  c->state = ST_FILE;
  if (c->events & LOOP_WRITE)
    set_events(c, c->events & ~LOOP_WRITE);
  return 0;
}

static void on_read(pool_job_t *job, int status) {
  struct resp *r = (struct resp *)((char *)job - offsetof(struct resp, rd.job));
  struct conn *c = r->conn;
  r->job = NULL;
  if (c->closing) {
    release(c);
    return;
  }
  c->holds--;
  if (status < 0 || r->rd.err < 0 || r->rd.got == 0) {
    if (status == 0 && r->rd.err == 0)
      log_shrank(c);
    conn_close(c);
    return;
  }
  r->body = r->fbuf;
  r->body_len = r->rd.got;
  r->body_sent = 0;
  r->file_off += (off_t)r->rd.got;
  r->file_left -= r->rd.got;
  c->state = ST_WRITING;
  conn_send(c);
}

static void conn_send(struct conn *c) {
  struct resp *r = c->r;
  struct wctx *w = c->w;
  int progress = 0, fills = 0;
again:
  while (c->r->out || r->head_sent < r->head_len || r->body_sent < r->body_len) {
    struct iovec iov[3];
    int n = 0;
    if (c->r->out) { /* gathered answers to earlier pipelined requests go first */
      iov[n].iov_base = c->r->out + c->r->out_sent;
      iov[n++].iov_len = c->r->out_len - c->r->out_sent;
    }
    if (r->head_sent < r->head_len) {
      iov[n].iov_base = r->head + r->head_sent;
      iov[n++].iov_len = r->head_len - r->head_sent;
    }
    if (r->body_sent < r->body_len) {
      iov[n].iov_base = (char *)r->body + r->body_sent;
      iov[n++].iov_len = r->body_len - r->body_sent;
    }
    /* "more" when the file follows: headers and the first file bytes share a packet.
     * Also when the connection closes after this answer: the close that follows at once
     * puts the FIN on the same segment, so the client gets one packet, ACKs once, and
     * its own close never leaves it a TIME_WAIT. */
    int want;
    ssize_t sent = c->tx.ops->sendv(&c->tx, iov, n, r->file_left || !c->keep_alive, &want);
    if (sent < 0) {
      if (sent == -EAGAIN)
        goto wait_writable;
      conn_close(c); /* EPIPE, ECONNRESET: the client is gone */
      return;
    }
    size_t s = (size_t)sent;
    progress = 1;
    if (c->r->out) {
      size_t o = c->r->out_len - c->r->out_sent;
      if (s < o) {
        c->r->out_sent += (uint32_t)s;
        continue;
      }
      s -= o;
      out_free(c);
    }
    size_t h = r->head_len - r->head_sent;
    if (s <= h) {
      r->head_sent += (uint32_t)s;
    } else {
      r->head_sent = r->head_len;
      r->body_sent += s - h;
    }
  }
  if (r->file_left > 0 && !c->tx.ops->zero_copy(&c->tx)) {
    /* At most LOOP_SEND_CHUNK per turn, as sendfile on the loop: one fast client cannot hold
     * the loop while its file lasts. */
    if (fills++ == LOOP_SEND_CHUNK / FILE_BUF)
      goto wait_writable;
    int rc = file_fill(c);
    if (rc > 0)
      goto again; /* the buffer holds the next bytes: send them */
    return;       /* on the pool, or closed */
  }
  if (r->file_left > 0 && !w->no_cachestat) {
    /* The pages are in memory: sendfile here copies from the page cache and cannot wait for
     * the disk. One bounded chunk per turn, so one fast client cannot hold the loop. */
    size_t want = r->file_left < LOOP_SEND_CHUNK ? (size_t)r->file_left : LOOP_SEND_CHUNK;
    int resident = sfile_resident(r->file_fd, r->file_off, want);
    if (resident == -ENOSYS)
      w->no_cachestat = 1;
    if (resident == 1) {
      ssize_t sent = sendfile(c->io.fd, r->file_fd, &r->file_off, want);
      if (sent < 0 && errno != EAGAIN && errno != EINTR) {
        conn_close(c);
        return;
      }
      if (sent == 0) { /* the file shrank under us: the promised length cannot be kept */
        log_shrank(c);
        conn_close(c);
        return;
      }
      if (sent > 0) {
        r->file_left -= (uint64_t)sent;
        c->r->last_progress = loop_now(w->loop);
      }
      if (r->file_left > 0)
        goto wait_writable;
      response_done(c);
      return;
    }
  }
  if (r->file_left > 0) {
    /* sendfile reads the file: the pool does it, the loop never waits for a disk. */
    r->snd.sock = c->io.fd;
    r->snd.fd = r->file_fd;
    r->snd.off = r->file_off;
    r->snd.len = r->file_left < SFILE_CHUNK ? (size_t)r->file_left : SFILE_CHUNK;
    if (sfile_send_submit(w->pool, &r->snd, on_sent) < 0) {
      conn_close(c);
      return;
    }
    c->r->job = &r->snd.job;
    c->holds++;
    c->state = ST_FILE;
    if (c->events & LOOP_WRITE)
      set_events(c, c->events & ~LOOP_WRITE);
    return;
  }
  response_done(c);
  return;
wait_writable:
  if (progress)
    c->r->last_progress = loop_now(w->loop);
  if (!(c->events & LOOP_WRITE))
    set_events(c, c->events | LOOP_WRITE);
}

/* ---- requests ---------------------------------------------------------------------------- */

static void handle_request(struct conn *c) {
  struct wctx *w = c->w;
  const http_request_t *q = &c->p->req;
  c->requests++;
  w->requests++;
  c->keep_alive = q->keep_alive && !w->draining && c->requests < w->keepalive_requests;
  struct resp *r = resp_get(c);
  r->unlogged = 1;
  answer_start(&r->a);
  if (!r->answered && !c->closing) { /* its lookup is on the pool, or waits for another's */
    c->state = ST_FILE;
    if (r->out) /* gathered answers go now; the rest leads this one's send */
      (void)push_gathered(c);
  }
}

/* Nothing more to answer for now: idle between requests (the buffer goes back), or within
 * one, whose header timeout runs from its first byte (or its body's). */
static void wait_for_request(struct conn *c) {
  if (http_parser_idle(c->p, c->in_len)) {
    go_idle(c);
  } else if (!c->request_started) {
    c->request_started = 1;
    arm(c, c->w->header_ms);
  }
}

/* Parses what the buffer holds and answers complete requests, in order. */
static void conn_process(struct conn *c) {
  c->in_process = 1;
  while (c->state == ST_READING && !c->closing) {
    enum http_parse_result pr = http_parser_execute(c->p, IN(c), &c->in_len);
    if (pr == HTTP_PARSE_AGAIN) {
      int held = c->r && c->r->out ? flush_gathered(c) : 0;
      if (held == 0)
        wait_for_request(c);
      else if (held > 0) /* they go out first (on_io), to a client that reads */
        arm(c, c->w->send_ms);
      break;
    }
    if (pr == HTTP_PARSE_ERROR) {
      c->requests++;
      c->keep_alive = 0;
      answer_status(&resp_get(c)->a, c->p->error_status, NULL);
      break;
    }
    handle_request(c);
  }
  c->in_process = 0;
}

static void conn_read(struct conn *c);

/* The pending phase after conn_read gave up its turn with bytes still in the transport. */
static void conn_read_more(loop_pending_t *p) {
  struct conn *c = (struct conn *)((char *)p - offsetof(struct conn, more));
  c->more_queued = 0;
  if (c->closing) {
    release(c);
    return;
  }
  c->holds--;
  if (c->h2)
    h2_on_io(c->h2, LOOP_READ);
  else
    conn_read(c);
}

void conn_read_later(struct conn *c) {
  if (c->more_queued || c->closing)
    return;
  c->more_queued = 1;
  c->holds++;
  loop_pending_push(c->w->loop, &c->more, conn_read_more);
}

/* At most this many reads per turn of the loop while the transport holds decrypted bytes:
 * a TLS client streaming small records (pipelined requests, or bytes after our FIN) would
 * otherwise keep one call going, and every other connection and timer waiting. */
#define READ_TURNS 16

/* Reads what the transport has and processes it; TLS may hold decrypted bytes the socket
 * will not announce again, so reading goes on while it has some and there is room, for
 * READ_TURNS reads; then the rest waits for the next pending phase (as libuv feeds an I/O
 * callback it defers). */
static void conn_read(struct conn *c) {
  struct wctx *w = c->w;
  for (unsigned turns = 1;; turns++) {
    if (!c->p)
      buf_get(c);
    uint32_t room = w->max_header_bytes - c->in_len;
    if (room == 0) {
      /* Full of pipelined requests while one is being answered: let the kernel (or the
       * transport) hold the rest until we catch up. */
      set_events(c, c->events & ~LOOP_READ);
      return;
    }
    int want = LOOP_READ;
    ssize_t n = c->tx.ops->recv(&c->tx, IN(c) + c->in_len, room, &want);
    if (n > 0) {
      c->in_len += (uint32_t)n;
      if (c->h2_maybe) { /* h2c with prior knowledge: the preface instead of a request */
        int m = h2_preface_match(IN(c), c->in_len);
        if (m > 0) {
          start_h2(c);
          return;
        }
        if (m == 0) {
          set_events(c, c->events | LOOP_READ);
          return;
        }
        c->h2_maybe = 0;
      }
      if (c->state == ST_LINGER) {
        c->in_len = 0; /* discard: we only wait for the client to finish */
      } else if (c->state == ST_READING) {
        conn_process(c);
        /* Still waiting for (more of) a request: now epoll must tell us when it comes. */
        if (c->state == ST_READING && !c->closing && !(c->events & LOOP_READ))
          set_events(c, c->events | LOOP_READ);
      }
      if (c->closing || !c->tx.ops->pending(&c->tx))
        return;
      if (turns >= READ_TURNS) {
        conn_read_later(c);
        return;
      }
      continue;
    }
    if (n == -EAGAIN) {
      if (want == LOOP_WRITE)
        c->read_wants_write = 1;
      if (!(c->events & want))
        set_events(c, c->events | want);
      return;
    }
    /* EOF or error. A request being answered still gets its answer (the client may only
     * have shut down its sending side); otherwise we are done. */
    c->peer_eof = 1;
    if (n < 0 || c->state == ST_READING || c->state == ST_LINGER) {
      conn_close(c);
      return;
    }
    set_events(c, c->events & ~LOOP_READ);
    return;
  }
}

/* The connection speaks HTTP/2 from here on: the bytes read so far (the preface and what
 * followed) go to the h2 session, and so does every event. */
static void start_h2(struct conn *c) {
  c->h2_maybe = 0;
  /* Frames of many streams follow each other before the client acknowledges: Nagle would
   * hold a small answer behind the last one's ACK (40 ms with a delayed ACK). */
  if (!c->nodelay) {
    int one = 1;
    setsockopt(c->io.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->nodelay = 1;
  }
  int rc = h2_new(c->w, c, &c->tx, c->p ? IN(c) : NULL, c->p ? c->in_len : 0, &c->h2);
  if (c->p)
    buf_put(c);
  if (rc < 0)
    conn_close(c);
}

static void set_peer(struct conn *c, const struct sockaddr *peer, socklen_t peer_len) {
  if (peer->sa_family == AF_INET && peer_len >= sizeof(struct sockaddr_in)) {
    c->family = AF_INET;
    memcpy(c->peer_ip, &((const struct sockaddr_in *)peer)->sin_addr, 4);
  } else if (peer->sa_family == AF_INET6 && peer_len >= sizeof(struct sockaddr_in6)) {
    c->family = AF_INET6;
    memcpy(c->peer_ip, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
  }
}

/* proxy_protocol: the header comes before anything else, TLS included (proxy_conn.h). 0 once
 * it is read, the peer then being the client it names (LOCAL, a health check of the proxy,
 * keeps the socket's own); -1 when the connection waits or was closed. */
static int conn_proxy_header(struct conn *c) {
  struct proxy_info pi;
  int rc = proxy_conn_read(c->proxy, c->tx.fd, &pi);
  if (rc == -EAGAIN) {
    set_events(c, LOOP_READ);
    return -1;
  }
  if (rc < 0) {
    char addr[INET6_ADDRSTRLEN];
    if (rc != -ECONNRESET || !proxy_conn_empty(c->proxy))
      log_msg(c->w->log, LOG_WARN, "client %s: %s, closing", peer_text(c, addr, sizeof(addr)),
              proxy_conn_strerror(rc));
    conn_close(c);
    return -1;
  }
  proxy_conn_free(c->proxy);
  c->proxy = NULL;
  if (pi.family != AF_UNSPEC)
    set_peer(c, (const struct sockaddr *)&pi.src, sizeof(pi.src));
  return 0;
}

/* The transport's handshake (none for plain), under the header timeout armed at accept: a
 * client that stalls in it is cut as one that stalls in its headers. */
static void conn_handshake(struct conn *c) {
  int want = LOOP_READ;
  if (c->proxy && conn_proxy_header(c) < 0)
    return;
  int rc = c->tx.ops->handshake(&c->tx, &want);
  if (rc == -EAGAIN) {
    set_events(c, want);
    return;
  }
  if (rc < 0) {
    conn_close(c);
    return;
  }
  c->handshaking = 0;
  unsigned alen = 0;
  const char *proto = c->tx.ops->alpn(&c->tx, &alen);
  if (c->w->conf->http2 && proto && alen == 2 && memcmp(proto, "h2", 2) == 0) {
    start_h2(c);
    return;
  }
  /* The request has usually arrived with the handshake: read before registering with
   * epoll. A connection answered at once and closed never costs an epoll_ctl. */
  conn_read(c);
}

static void on_io(loop_io_t *io, int events) {
  struct conn *c = io->h.data;
  if (c->handshaking) {
    conn_handshake(c);
    return;
  }
  if (c->h2) {
    h2_on_io(c->h2, events);
    return;
  }
  if (c->read_wants_write && (events & LOOP_WRITE)) {
    c->read_wants_write = 0;
    events |= LOOP_READ;
  }
  if ((events & LOOP_WRITE) && c->state == ST_WRITING) {
    conn_send(c);
  } else if ((events & LOOP_WRITE) && c->state == ST_READING && c->r && c->r->out) {
    if (flush_gathered(c) == 0)
      wait_for_request(c);
  } else if (events & LOOP_WRITE) {
    /* A request went to the pool with gathered bytes still held: its answer sends them. */
    set_events(c, c->events & ~LOOP_WRITE);
  }
  if ((events & LOOP_READ) && !c->closing)
    conn_read(c);
}

/* ---- lifecycle --------------------------------------------------------------------------- */

int conn_new(struct wctx *w, int fd, const struct sockaddr *peer, socklen_t peer_len,
             const struct conn_listener *l) {
  struct conn *c = calloc(1, sizeof(*c));
  if (!c) {
    close(fd);
    return -ENOMEM;
  }
  c->tx.fd = fd;
  c->tx.ops = &transport_plain;
  int rc = l->transport_init ? l->transport_init(l->arg, &c->tx) : 0;
  if (rc < 0) {
    close(fd);
    free(c);
    return rc;
  }
  c->redirect_https = l->redirect_https != 0;
  c->nodelay = c->tx.nodelay != 0;
  c->h2_maybe = w->conf->http2 && !l->transport_init && !l->redirect_https;
  c->w = w;
  c->holds = 1;
  c->state = ST_READING;
  set_peer(c, peer, peer_len);
  rc = loop_io_init(w->loop, &c->io, fd, LOOP_REF_CONNECTION);
  if (rc < 0) {
    c->tx.ops->release(&c->tx);
    close(fd);
    free(c);
    return rc;
  }
  c->io.h.data = c;
  loop_timer_init(w->loop, &c->timer);
  c->timer.h.data = c;
  c->timer.cb = on_timer;
  /* The connection's io handle is its ref; its timer must not count as one more. */
  loop_unref(&c->timer.h);
  /* Until the first byte, the client has the header timeout to send its request. */
  arm(c, w->header_ms);
  c->next = w->conns;
  if (w->conns)
    w->conns->prev = c;
  w->conns = c;
  w->n_conns++;
  w->counters.accepted++;
  if (l->proxy_protocol)
    c->proxy = proxy_conn_new();
  c->handshaking = 1;
  conn_handshake(c);
  return 0;
}

void conn_drain(struct conn *c) {
  if (c->h2) {
    h2_drain(c->h2);
    return;
  }
  /* A busy connection finds w->draining when it finishes its answer. */
  if (c->state == ST_READING && !c->p)
    arm(c, DRAIN_GRACE_MS);
  else if (c->state == ST_WRITING || c->state == ST_FILE)
    c->keep_alive = 0;
}

/* ---- for other sessions (h2.c) ----------------------------------------------------------- */

void conn_want(struct conn *c, int events) {
  set_events(c, events);
}

void conn_arm(struct conn *c, uint64_t ms) {
  arm(c, ms);
}

void conn_hold(struct conn *c) {
  c->holds++;
}

void conn_release(struct conn *c) {
  release(c);
}

const char *conn_peer(const struct conn *c, char *buf, size_t len) {
  return peer_text(c, buf, len);
}

int conn_redirects_https(const struct conn *c) {
  return c->redirect_https;
}

const char *conn_servername(const struct conn *c) {
  return c->tx.ops->servername(&c->tx);
}

void conn_h2_counts(struct wctx *w, uint64_t *conns, uint64_t *streams) {
  *conns = *streams = 0;
  for (struct conn *c = w->conns; c; c = c->next)
    if (c->h2) {
      (*conns)++;
      *streams += h2_streams(c->h2);
    }
}
