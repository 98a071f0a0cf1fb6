/* Client connections of a worker (see conn.h): the h1 session. Runs on the worker's loop
 * thread only; the file lookups, sendfile calls and file reads it submits run on the pool and
 * come back to on_file, on_sent and on_read. Every byte goes through the connection's
 * transport (transport.h), plain or TLS: nothing here knows which, but for the transport's
 * one capability that matters to a body, zero_copy (sendfile, or pool-read buffers).
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

#include "fcache.h"
#include "http_answer.h"
#include "http_log.h"
#include "http_mime.h"
#include "http_path.h"
#include "http_redirect.h"
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
#define HEAD_MAX 2048
/* A redirect's Location leaves room in HEAD_MAX for the other headers of a 301 (~200 bytes);
 * longer ones (long queries) are answered 414. */
#define LOCATION_MAX (HEAD_MAX - 256)

enum conn_state { ST_READING, ST_FILE, ST_WRITING, ST_LINGER };

/* What is being answered; allocated when a request needs the pool, kept for reuse. */
struct resp {
  struct conn *conn;
  struct sfile_op op;
  char key[PATH_MAX]; /* the request path below the root: the cache's key */
  size_t key_len;
  struct sfile_send snd;
  char head[HEAD_MAX];
  uint32_t head_len, head_sent;
  const char *body; /* in memory: a small file (op.body) or an error page (page) */
  size_t body_len, body_sent;
  struct fcache_entry *entry; /* the file being answered (a reference), or NULL */
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
  pool_job_t *job;        /* the lookup or sendfile on the pool, or NULL */
  struct fcache_waiter waiter; /* linked while waiting for another request's lookup */
  int lookup_owner;            /* this answer's lookup is the one others may wait for */
  char *out; /* answers to pipelined requests gathered for one write, or NULL; kept across
              * the requests of a batch (resp_get leaves it) */
  uint32_t out_len, out_sent;
  char page[512];
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

/* ---- small helpers ----------------------------------------------------------------------- */

/* For request durations: a vDSO call, tens of nanoseconds, twice per request. The loop's
 * millisecond clock cannot time answers that take a few dozen microseconds. */
static uint64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

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
  free(w->spare_out);
  w->spare_out = NULL;
  while (w->n_free_fbufs > 0)
    free(w->free_fbufs[--w->n_free_fbufs]);
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
  if (c->p)
    buf_put(c);
  if (c->r) {
    sfile_op_release(&c->r->op);
    fbuf_put(c);
    if (c->r->entry)
      fcache_release(w->cache, c->r->entry);
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
  if (c->r && c->r->unlogged && c->p)
    log_access(c);
  if (c->r)
    fcache_unwait(&c->r->waiter);
  if (c->r && c->r->job) {
    /* A job no thread has taken yet need not run; one that has keeps the memory alive
     * (holds) until its done callback. */
    pool_cancel(c->r->job);
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
  r->op.fd = -1;
  r->op.body = NULL;
  r->entry = NULL;
  r->head_len = r->head_sent = 0;
  r->body = NULL;
  r->body_len = r->body_sent = 0;
  r->file_fd = -1;
  r->file_off = 0;
  r->file_left = 0;
  r->status = 0;
  r->started_us = mono_us();
  r->body_bytes = 0;
  r->unlogged = 0;
  r->waiter.next = NULL;
  r->waiter.pprev = NULL;
  r->lookup_owner = 0;
  return r;
}

static enum http_conn_header conn_header(struct conn *c) {
  if (!c->keep_alive)
    return HTTP_CONN_CLOSE;
  return c->p->req.http_minor == 0 ? HTTP_CONN_KEEP_ALIVE : HTTP_CONN_NONE;
}

static const char *date_now(struct wctx *w) {
  return http_date_cache_get(&w->date, time(NULL));
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

/* Where an answer leaves the answer code for the session: the status, the header fields and
 * the body source (r->body, or r->file_*) are decided; h1 adds Date and Connection, writes the
 * head and sends. HTTP/2 would put the same struct http_head into HPACK here instead. The
 * fields' pointers (ETag, a Location on the caller's stack) are used before this returns. */
static void deliver(struct conn *c, struct http_head *h) {
  struct resp *r = c->r;
  h->date = date_now(c->w);
  h->connection = conn_header(c);
  int n = http_head_write(r->head, sizeof(r->head), h);
  if (n < 0) { /* only a pathological Location gets here */
    conn_close(c);
    return;
  }
  r->head_len = (uint32_t)n;
  r->status = h->status;
  start_send(c);
}

/* An answer with a small HTML body (errors) or none (204, 304). `extra` may carry Allow,
 * Location or an unsatisfied range's size; NULL for none. */
static void answer_simple(struct conn *c, int status, const struct http_head *extra) {
  struct resp *r = c->r;
  int is_head = c->p->req.method == HTTP_HEAD;
  if (status == 400 || status >= 500 || status == 414 || status == 431)
    c->keep_alive = 0; /* after a broken request the stream may be out of sync */
  struct http_head h = {0};
  if (extra)
    h = *extra;
  h.status = status;
  size_t blen = 0;
  if (status != 204 && status != 304) {
    blen = http_error_body(status, r->page, sizeof(r->page));
    h.content_type = "text/html; charset=utf-8";
    h.has_length = 1;
    h.content_length = blen;
  }
  if (!is_head && blen) {
    r->body = r->page;
    r->body_len = blen;
    r->body_bytes = blen;
  }
  deliver(c, &h);
}

/* Answers from a file entry (fresh from the cache or just looked up): conditionals, range,
 * headers, then the bytes, from memory or with sendfile on the pool. Takes the reference. */
static void serve_entry(struct conn *c, struct fcache_entry *e) {
  struct wctx *w = c->w;
  struct resp *r = c->r;
  const http_request_t *q = &c->p->req;
  struct http_answer a;
  r->entry = e;
  http_answer_file(q, IN(c), &e->info, w->conf->mime, w->conf->n_mime, &a);
  if (a.error_page) {
    answer_simple(c, a.head.status, &a.head);
    return;
  }
  r->body_bytes = a.body_len;
  if (a.body_len == 0) {
    /* HEAD, 304, or an empty file: headers only */
  } else if (e->body) {
    r->body = e->body + a.body_off;
    r->body_len = a.body_len;
  } else {
    r->file_fd = e->fd;
    r->file_off = (off_t)a.body_off;
    r->file_left = a.body_len;
  }
  deliver(c, &a.head);
}

static void on_file(pool_job_t *job, int status);

/* Looks c->r->key up: waits for the lookup another request has under way for the same key,
 * or submits one. */
static void start_lookup(struct conn *c) {
  struct wctx *w = c->w;
  struct resp *r = c->r;
  if (r->out) /* before the wait; the rest leads the answer, whose send also meets any error */
    (void)push_gathered(c);
  c->state = ST_FILE;
  int rc = fcache_lookup_begin(w->cache, r->key, r->key_len, &r->waiter);
  if (rc == 1)
    return; /* the owner's on_file resumes us */
  r->lookup_owner = rc == 0;
  r->op.ctx = w->files;
  r->op.trailing_slash = r->key_len == 0 || r->key[r->key_len - 1] == '/';
  memcpy(r->op.path, r->key, r->key_len + 1);
  if (sfile_submit(w->pool, &r->op, on_file) < 0) {
    if (r->lookup_owner) {
      /* Waiters that came in between cannot exist (we are still on the stack), but the
       * record must go. */
      struct fcache_waiter *none;
      fcache_lookup_done(w->cache, r->key, r->key_len, &none);
      r->lookup_owner = 0;
    }
    answer_simple(c, 503, NULL);
    return;
  }
  c->r->job = &r->op.job;
  c->holds++;
}

/* The answer to a finished lookup; e (a reference the answer takes) is set when result is
 * SFILE_OK. Also for the requests that waited for another's lookup. */
static void answer_lookup(struct conn *c, enum sfile_result result, struct fcache_entry *e) {
  switch (result) {
  case SFILE_OK:
    if (e)
      serve_entry(c, e);
    else
      answer_simple(c, 500, NULL); /* out of memory for the entry */
    break;
  case SFILE_NOT_FOUND:
    answer_simple(c, 404, NULL);
    break;
  case SFILE_FORBIDDEN:
    answer_simple(c, 403, NULL);
    break;
  case SFILE_BUSY:
    answer_simple(c, 503, NULL);
    break;
  case SFILE_REDIRECT: {
    /* Location: the path as resolved, encoded again, its slash, and the query as sent.
     * Never the target as written: "//host/.." would send the client to another host. */
    struct resp *r = c->r;
    const http_request_t *q = &c->p->req;
    const char *t = IN(c) + q->target.off, *tend = t + q->target.len;
    const char *qs = memchr(t, '?', q->target.len);
    const char *qend = qs ? memchr(qs, '#', (size_t)(tend - qs)) : NULL;
    size_t qlen = qs ? (size_t)((qend ? qend : tend) - qs) : 0;
    char loc[LOCATION_MAX];
    size_t plen;
    loc[0] = '/';
    if (qlen + 2 > sizeof(loc) ||
        http_path_encode(r->key, r->key_len, loc + 1, sizeof(loc) - 2 - qlen, &plen) < 0) {
      answer_simple(c, 414, NULL);
      break;
    }
    loc[1 + plen] = '/';
    if (qlen)
      memcpy(loc + 2 + plen, qs, qlen);
    struct http_head extra = {.location = loc, .location_len = 2 + plen + qlen};
    answer_simple(c, 301, &extra);
    break;
  }
  case SFILE_ERROR:
    answer_simple(c, 500, NULL);
    break;
  }
}

static void on_file(pool_job_t *job, int status) {
  struct resp *r = (struct resp *)((char *)job - offsetof(struct resp, op.job));
  struct conn *c = r->conn;
  struct wctx *w = c->w;
  c->r->job = NULL;
  enum sfile_result result = status == 0 ? r->op.result : SFILE_ERROR; /* unset if cancelled */
  struct fcache_entry *e = NULL;
  if (status == 0 && result == SFILE_OK) {
    /* Into the cache even when our client has gone: others may be waiting for it. */
    const char *type = http_mime_type(w->conf->mime, w->conf->n_mime, r->op.path,
                                      strlen(r->op.path));
    e = fcache_put(w->cache, r->key, r->key_len, &r->op, type, loop_now(w->loop));
    if (!e)
      sfile_op_release(&r->op);
  } else if (status == 0 && (result == SFILE_BUSY || result == SFILE_ERROR)) {
    char shown[1024];
    log_msg(w->log, result == SFILE_BUSY ? LOG_WARN : LOG_ERROR, "lookup of \"%s\" failed: %s%s",
            log_safe(r->op.path, strlen(r->op.path), shown, sizeof(shown)),
            strerror(-r->op.err), result == SFILE_BUSY ? "; answering 503" : "");
  }
  /* Taken before our own answer, which may reuse r for a pipelined request. */
  struct fcache_waiter *waiters = NULL;
  if (r->lookup_owner) {
    r->lookup_owner = 0;
    fcache_lookup_done(w->cache, r->key, r->key_len, &waiters);
  }
  /* The waiters' reference, taken now: our answer may release the last one otherwise. */
  int had_waiters = waiters != NULL;
  if (e && had_waiters)
    fcache_ref(e);

  if (c->closing) {
    if (e)
      fcache_release(w->cache, e);
    sfile_op_release(&r->op);
    release(c);
  } else {
    c->holds--;
    if (status < 0) /* cancelled: only a closing connection cancels */
      conn_close(c);
    else
      answer_lookup(c, result, e);
  }

  /* Everyone who asked for the same key meanwhile gets the same answer; when there is none
   * to share (our lookup was cancelled, or no memory for the entry), they look it up again
   * (the first of them for all the others). */
  int shared = status == 0 && (result != SFILE_OK || e);
  while (waiters) {
    struct fcache_waiter *wt = waiters;
    fcache_unwait(wt);
    struct resp *wr = (struct resp *)((char *)wt - offsetof(struct resp, waiter));
    if (!shared) {
      start_lookup(wr->conn);
      continue;
    }
    if (e)
      fcache_ref(e);
    answer_lookup(wr->conn, result, e);
  }
  if (e && had_waiters)
    fcache_release(w->cache, e);
}

/* The answer promised a length the file no longer has: the client gets a short body and a
 * close, the operator a line (the access log shows the bytes that went). */
static void log_shrank(struct conn *c) {
  char shown[1024];
  log_msg(c->w->log, LOG_WARN, "\"/%s\" shrank while it was sent: closing after %llu of "
          "%llu bytes", log_safe(c->r->key, c->r->key_len, shown, sizeof(shown)),
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

/* The request's figures for /metrics (through the supervisor's pings): counted where its
 * access log line is written, so both tell the same story. */
static void count_request(struct wctx *w, const struct resp *r, int status, uint64_t body) {
  struct ipc_counters *k = &w->counters;
  uint64_t now = mono_us();
  uint64_t us = now > r->started_us ? now - r->started_us : 0;
  k->status[ipc_status_slot(status)]++;
  k->bytes_out += body + (status == 499 ? 0 : r->head_len);
  k->duration[ipc_duration_slot(us)]++;
  k->duration_us_sum += us;
}

static void log_access(struct conn *c) {
  struct wctx *w = c->w;
  c->r->unlogged = 0;
  int status = c->r->status;
  uint64_t body = c->r->body_bytes;
  if (c->closing)
    body_sent_so_far(c->r, &status, &body);
  count_request(w, c->r, status, body);
  if (!alog_enabled(w->alog))
    return;
  const http_request_t *q = &c->p->req;
  char addr[INET6_ADDRSTRLEN];
  struct http_log_entry e = {
      .remote_addr = peer_text(c, addr, sizeof(addr)),
      .time = time(NULL),
      .request_line = q->line.len ? IN(c) + q->line.off : "-",
      .request_line_len = q->line.len ? q->line.len : 1,
      .status = status,
      .body_bytes = body,
  };
  char tls[32];
  if (w->tls) /* a server with TLS listeners logs each line's protocol; plain-only ones not */
    e.tls = c->tx.ops->describe(&c->tx, tls, sizeof(tls));
  if (q->hdr_present & (1u << HTTP_H_REFERER)) {
    e.referer = IN(c) + q->hdr[HTTP_H_REFERER].off;
    e.referer_len = q->hdr[HTTP_H_REFERER].len;
  }
  if (q->hdr_present & (1u << HTTP_H_USER_AGENT)) {
    e.user_agent = IN(c) + q->hdr[HTTP_H_USER_AGENT].off;
    e.user_agent_len = q->hdr[HTTP_H_USER_AGENT].len;
  }
  alog_write(w->alog, &e);
}

/* The answer is out: log it, then the next request, idle, or close. */
static void response_done(struct conn *c) {
  log_access(c);
  sfile_op_release(&c->r->op);
  fbuf_put(c);
  if (c->r->entry) {
    fcache_release(c->w->cache, c->r->entry);
    c->r->entry = NULL;
  }
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

/* redirect_https: every request gets a 301 to the same host and target on the first TLS
 * listener's port; a Host that is not a plain name or address gets a 400, so nothing a
 * client sends can inject a header or point the redirect elsewhere. */
static void answer_https_redirect(struct conn *c) {
  const http_request_t *q = &c->p->req;
  char loc[LOCATION_MAX];
  const struct http_span *h = &q->hdr[HTTP_H_HOST];
  int n = http_https_location((q->hdr_present & (1u << HTTP_H_HOST)) ? IN(c) + h->off : NULL,
                              h->len, IN(c) + q->target.off, q->target.len, c->w->https_port,
                              loc, sizeof(loc));
  if (n < 0) {
    answer_simple(c, n == -ENAMETOOLONG ? 414 : 400, NULL);
    return;
  }
  struct http_head extra = {.location = loc, .location_len = (size_t)n};
  answer_simple(c, 301, &extra);
}

static void handle_request(struct conn *c) {
  struct wctx *w = c->w;
  const http_request_t *q = &c->p->req;
  c->requests++;
  w->requests++;
  c->keep_alive = q->keep_alive && !w->draining && c->requests < w->keepalive_requests;
  struct resp *r = resp_get(c);
  r->unlogged = 1;
  if (c->redirect_https) {
    answer_https_redirect(c);
    return;
  }
  if (q->method != HTTP_GET && q->method != HTTP_HEAD) {
    /* A static server supports retrieval only; OPTIONS too gets the list of what it does. */
    struct http_head extra = {.allow = "GET, HEAD"};
    answer_simple(c, 405, &extra);
    return;
  }
  char path[PATH_MAX];
  size_t plen;
  if (http_path_normalize(IN(c) + q->target.off, q->target.len, path, sizeof(path), &plen) < 0) {
    answer_simple(c, 400, NULL);
    return;
  }
  /* below the root: drop the leading '/' (the NUL comes along) */
  memcpy(r->key, path + 1, plen);
  r->key_len = plen - 1;
  struct fcache_entry *e = fcache_get(w->cache, r->key, r->key_len, loop_now(w->loop));
  if (e) { /* fresh in the cache: answered here, no pool round trip, no file system */
    serve_entry(c, e);
    return;
  }
  start_lookup(c);
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
      resp_get(c);
      answer_simple(c, c->p->error_status, NULL);
      break;
    }
    handle_request(c);
  }
  c->in_process = 0;
}

/* Reads what the transport has and processes it; TLS may hold decrypted bytes the socket
 * will not announce again, so reading goes on while it has some and there is room. */
static void conn_read(struct conn *c) {
  struct wctx *w = c->w;
  for (;;) {
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
  /* A busy connection finds w->draining when it finishes its answer. */
  if (c->state == ST_READING && !c->p)
    arm(c, DRAIN_GRACE_MS);
  else if (c->state == ST_WRITING || c->state == ST_FILE)
    c->keep_alive = 0;
}
