/* Fuzz harness: the h2 session (worker/h2.c, compiled in) on nghttp2's server session, as a
 * worker configures it (its callbacks, options, SETTINGS and limits), fed the connection
 * preface and then the input. The connection, the answer layer, the pool and the loop are
 * stubs: each request is answered at once from memory (a status and a body chosen from its
 * path), so the frames, header handling, data provider, resets and the flood and size checks
 * all run; what the session writes goes to a transport that takes every byte. Checks: no
 * crash or sanitizer report, every stream the session opened is freed, and no hold on the
 * connection is left. The first input byte splits the rest into two reads. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "answer.h"
#include "conn.h"
#include "fuzz.h"
#include "h2.h"
#include "transport.h"
#include "wctx.h"

/* ---- the connection (conn.c) ---- */
static int holds, aborted;
void conn_want(struct conn *c, int events) {
  (void)c;
  (void)events;
}
void conn_arm(struct conn *c, uint64_t ms) {
  (void)c;
  (void)ms;
}
void conn_read_later(struct conn *c) {
  (void)c;
}
void conn_hold(struct conn *c) {
  (void)c;
  holds++;
}
void conn_release(struct conn *c) {
  (void)c;
  holds--;
}
const char *conn_peer(const struct conn *c, char *buf, size_t len) {
  (void)c;
  snprintf(buf, len, "fuzz");
  return buf;
}
int conn_redirects_https(const struct conn *c) {
  (void)c;
  return 0;
}
const char *conn_servername(const struct conn *c) {
  (void)c;
  return NULL;
}
void conn_abort(struct conn *c) {
  (void)c;
  aborted = 1;
}

/* ---- the answer layer (answer.c): memory bodies only ---- */
static const char page[] = "<p>fuzz</p>\n";
void answer_reset(struct answer *a) {
  memset(&a->head, 0, sizeof(a->head));
  a->body = NULL;
  a->body_len = 0;
  a->file_fd = -1;
  a->file_len = 0;
  a->entry = NULL;
}
void answer_status(struct answer *a, int status, const struct http_head *extra) {
  answer_reset(a);
  if (extra)
    a->head = *extra;
  a->head.status = status;
  a->head.date = "Thu, 01 Jan 2026 00:00:00 GMT";
  a->head.has_length = 1;
  a->head.content_length = sizeof(page) - 1;
  a->head.content_type = "text/html";
  if (a->q->method != HTTP_HEAD) {
    a->body = page;
    a->body_len = sizeof(page) - 1;
  }
  a->ready(a);
}
void answer_start(struct answer *a) {
  const http_request_t *q = a->q;
  unsigned h = q->target.len ? (unsigned char)a->buf[q->target.off + q->target.len - 1] : 0;
  static const int statuses[] = {200, 404, 301, 206, 304, 416, 405, 501};
  struct http_head extra = {.location = "/x/", .location_len = 3};
  answer_status(a, q->method < 0 ? 501 : statuses[h % 8], h % 8 == 2 ? &extra : NULL);
}
void answer_abandon(struct answer *a) {
  a->abandoned = 1;
}
void answer_end(struct answer *a) {
  (void)a;
}
/* the file cache (fcache.c): no entry is made here */
void fcache_ref(struct fcache_entry *e) {
  (void)e;
}
void fcache_release(fcache_t *c, struct fcache_entry *e) {
  (void)c;
  (void)e;
}
const char *fcache_map(fcache_t *c, struct fcache_entry *e, uint64_t now_ms) {
  (void)c;
  (void)e;
  (void)now_ms;
  return NULL;
}
uint64_t answer_now_us(const struct wctx *w) {
  (void)w;
  return 0;
}
void answer_log(struct wctx *w, const http_request_t *q, const char *buf,
                const struct answer_log *l) {
  (void)w;
  FUZZ_CHECK(!l->line || l->line_len > 0);
  if (q->hdr_present & (1u << HTTP_H_USER_AGENT))
    FUZZ_CHECK(buf != NULL);
}

/* ---- shared/ and the rest of the worker ---- */
void log_msg(log_t *log, enum log_level level, const char *fmt, ...) {
  (void)log;
  (void)level;
  (void)fmt;
}
uint64_t loop_now(const loop_t *loop) {
  (void)loop;
  return 1000;
}
int pool_cancel(pool_job_t *job) {
  (void)job;
  return -EBUSY;
}
int alog_enabled(const alog_t *a) {
  (void)a;
  return 1;
}
int sfile_resident(int fd, off_t off, size_t len) {
  (void)fd;
  (void)off;
  (void)len;
  return -ENOSYS;
}
int sfile_read_submit(pool_t *pool, struct sfile_read *rd, pool_done_fn done) {
  (void)pool;
  (void)rd;
  (void)done;
  return -ENOSYS; /* no file bodies here */
}

/* ---- a transport that takes every byte and reads the second part of the input ---- */
static const uint8_t *rest;
static size_t rest_len;
static ssize_t t_recv(struct transport *t, void *buf, size_t len, int *want) {
  (void)t;
  if (rest_len == 0) {
    *want = LOOP_READ;
    return -EAGAIN;
  }
  size_t n = rest_len < len ? rest_len : len;
  memcpy(buf, rest, n);
  rest += n;
  rest_len -= n;
  return (ssize_t)n;
}
static ssize_t t_sendv(struct transport *t, const struct iovec *iov, int n, int more, int *want) {
  (void)t;
  (void)more;
  (void)want;
  size_t s = 0;
  for (int i = 0; i < n; i++)
    s += iov[i].iov_len;
  return (ssize_t)s;
}
static int t_pending(const struct transport *t) {
  (void)t;
  return rest_len > 0;
}
static void t_shutdown(struct transport *t) {
  (void)t;
}
static const char *t_describe(const struct transport *t, char *buf, size_t len) {
  (void)t;
  (void)len;
  return buf;
}
static int t_zero_copy(const struct transport *t) {
  (void)t;
  return 1;
}
static const struct transport_ops fuzz_tx = {
    .name = "fuzz", .recv = t_recv, .sendv = t_sendv, .pending = t_pending,
    .shutdown = t_shutdown, .zero_copy = t_zero_copy, .describe = t_describe,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static conf_t conf;
  conf.limits.h2_max_concurrent_streams = 128;
  conf.http2 = 1;
  struct wctx w = {.conf = &conf, .max_header_bytes = 8192, .header_ms = 10000,
                   .keepalive_ms = 5000, .send_ms = 30000};
  struct transport tx = {.ops = &fuzz_tx, .fd = -1};
  if (size < 1)
    return 0;
  size_t split = size > 1 ? (size_t)data[0] * (size - 1) / 255 : 0;
  const uint8_t *in = data + 1;
  size_t len = size - 1;
  uint8_t first[H2_PREFACE_LEN + 65536];
  if (split > sizeof(first) - H2_PREFACE_LEN)
    split = sizeof(first) - H2_PREFACE_LEN;
  memcpy(first, H2_PREFACE, H2_PREFACE_LEN);
  memcpy(first + H2_PREFACE_LEN, in, split);
  rest = in + split;
  rest_len = len - split;
  holds = aborted = 0;
  h2_t *h = NULL;
  int rc = h2_new(&w, (struct conn *)&w, &tx, (const char *)first, H2_PREFACE_LEN + split, &h);
  FUZZ_CHECK(rc == 0 && h);
  if (!aborted)
    h2_on_io(h, LOOP_READ);
  if (!aborted)
    h2_drain(h);
  if (!aborted)
    h2_on_timer(h);
  h2_close(h);
  FUZZ_CHECK(holds == 0);
  h2_free(h);
  h2_free_buffers(&w); /* as the worker's end does (conn_free_buffers) */
  return 0;
}
