/* Fuzz harness: the request path of a worker from raw bytes to response bytes, without
 * sockets. The input is a 16-byte prefix (the file's size and mtime, the split seed, the
 * header limit) and then the bytes a client sends. They are fed to the parser the way
 * conn.c feeds them (a buffer of max_header_bytes, reads at split points derived from the
 * seed, pipelined requests answered in order), each request is normalised, answered against
 * a synthetic file, its head written and its log line formatted, and every step is checked.
 * The same bytes are then parsed in one read: the requests seen must not depend on where the
 * reads split. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "fuzz.h"
#include "http_answer.h"
#include "http_log.h"
#include "http_path.h"
#include "http_request.h"
#include "http_response.h"

#define PREFIX 16
#define HEAD_CAP 1024 /* http_response.h: 1 KiB always fits */
#define MAX_REQUESTS 4096

struct params {
  uint64_t size;
  time_t mtime;
  uint32_t seed;
  uint32_t cap; /* max_header_bytes: the input buffer's size */
};

static const conf_mime_t mime_overrides[] = {
    {(char *)"md", (char *)"text/markdown; charset=utf-8"},
    {(char *)"x", (char *)"application/x-fuzz"},
};

static uint64_t le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static void params_read(const uint8_t *p, struct params *o) {
  o->size = le(p, 8);
  uint64_t m = le(p + 8, 5); /* 40 bits, signed: years far outside 0000..9999 too */
  o->mtime = (time_t)(int64_t)(m & 0x8000000000ull ? m | ~0xffffffffffull : m);
  o->seed = (uint32_t)le(p + 13, 2);
  o->cap = p[15] == 0 ? 8192 : 1024 + 28u * p[15];
}

/* A transcript of what the parser reported, hashed (FNV-1a), to compare two runs. */
struct transcript {
  uint64_t h;
  unsigned requests;
};

static void tr_add(struct transcript *t, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) {
    t->h ^= b[i];
    t->h *= 0x100000001b3ull;
  }
}

static void tr_int(struct transcript *t, int v) {
  tr_add(t, &v, sizeof(v));
}

static void tr_span(struct transcript *t, const char *buf, struct http_span s) {
  tr_int(t, (int)s.len);
  tr_add(t, buf + s.off, s.len);
}

static void check_span(struct http_span s, uint32_t len) {
  FUZZ_CHECK(s.off <= len && s.len <= len - s.off);
}

/* The normalised path: starts with '/', NUL only at its end, no empty, "." or ".."
 * segment, no '\'. */
static void check_path(const char *path, size_t plen) {
  FUZZ_CHECK(plen >= 1 && path[0] == '/');
  FUZZ_CHECK(path[plen] == '\0' && strlen(path) == plen);
  FUZZ_CHECK(strchr(path, '\\') == NULL);
  FUZZ_CHECK(strstr(path, "//") == NULL);
  FUZZ_CHECK(strstr(path, "/../") == NULL && strstr(path, "/./") == NULL);
  FUZZ_CHECK(!(plen >= 3 && memcmp(path + plen - 3, "/..", 3) == 0));
  FUZZ_CHECK(!(plen >= 2 && memcmp(path + plen - 2, "/.", 2) == 0));
}

/* A head is a status line and fields, each ended by CRLF, then one empty line: no bare CR or
 * LF (response splitting), no control byte, nothing above 0x7e. */
static void check_head(const char *h, int n) {
  FUZZ_CHECK(n > 0 && n <= HEAD_CAP);
  FUZZ_CHECK(n >= 13 && memcmp(h, "HTTP/1.1 ", 9) == 0);
  FUZZ_CHECK(memcmp(h + n - 4, "\r\n\r\n", 4) == 0);
  for (int i = 0; i < n; i++) {
    unsigned char c = (unsigned char)h[i];
    if (c == '\r')
      FUZZ_CHECK(i + 1 < n && h[i + 1] == '\n');
    else if (c == '\n')
      FUZZ_CHECK(i > 0 && h[i - 1] == '\r');
    else
      FUZZ_CHECK(c >= 0x20 && c < 0x7f);
    /* the empty line ends the head: nothing after it */
    if (i >= 3 && memcmp(h + i - 3, "\r\n\r\n", 4) == 0)
      FUZZ_CHECK(i == n - 1);
  }
}

static void check_answer(const struct http_answer *a, const struct params *pp, int method) {
  const struct http_head *h = &a->head;
  uint64_t size = pp->size;
  /* the body lies within the file */
  FUZZ_CHECK(a->body_off <= size && a->body_len <= size - a->body_off);
  switch (h->status) {
  case 200:
    FUZZ_CHECK(!a->error_page && a->body_off == 0);
    FUZZ_CHECK(h->has_length && h->content_length == size && h->content_type);
    FUZZ_CHECK(a->body_len == (method == HTTP_HEAD ? 0 : size));
    break;
  case 206:
    if (a->n_parts > 1) { /* multipart/byteranges: sorted, disjoint, not touching, in the file */
      FUZZ_CHECK(!a->error_page && !h->has_range && size > 0 && a->n_parts <= HTTP_RANGE_MAX);
      for (size_t i = 0; i < a->n_parts; i++) {
        FUZZ_CHECK(a->parts[i].start <= a->parts[i].end && a->parts[i].end < size);
        FUZZ_CHECK(i == 0 || a->parts[i].start > a->parts[i - 1].end + 1);
      }
      break;
    }
    FUZZ_CHECK(!a->error_page && h->has_range && size > 0);
    FUZZ_CHECK(h->range_start <= h->range_end && h->range_end < size && h->range_size == size);
    FUZZ_CHECK(a->body_off == h->range_start);
    FUZZ_CHECK(h->has_length && h->content_length == h->range_end - h->range_start + 1);
    FUZZ_CHECK(a->body_len == (method == HTTP_HEAD ? 0 : h->content_length));
    break;
  case 304:
    FUZZ_CHECK(!a->error_page && a->body_len == 0 && !h->has_length);
    break;
  case 412:
    FUZZ_CHECK(a->error_page && a->body_len == 0);
    break;
  case 416:
    FUZZ_CHECK(a->error_page && a->body_len == 0 && size > 0);
    FUZZ_CHECK(h->unsatisfied && h->range_size == size);
    break;
  default:
    FUZZ_CHECK(!"status outside 200 206 304 412 416");
  }
}

static char logbuf[16 * 9000 + 1024];

/* The access log line, as conn.c's log_access builds it. */
static void check_log(const http_request_t *q, const char *buf, uint32_t len, int status,
                      uint64_t body_bytes, time_t t) {
  struct http_log_entry e = {
      .remote_addr = "127.0.0.1",
      .time = t,
      .request_line = q->line.len ? buf + q->line.off : "-",
      .request_line_len = q->line.len ? q->line.len : 1,
      .status = status,
      .body_bytes = body_bytes,
  };
  check_span(q->line, len);
  if (q->hdr_present & (1u << HTTP_H_REFERER)) {
    check_span(q->hdr[HTTP_H_REFERER], len);
    e.referer = buf + q->hdr[HTTP_H_REFERER].off;
    e.referer_len = q->hdr[HTTP_H_REFERER].len;
  }
  if (q->hdr_present & (1u << HTTP_H_USER_AGENT)) {
    check_span(q->hdr[HTTP_H_USER_AGENT], len);
    e.user_agent = buf + q->hdr[HTTP_H_USER_AGENT].off;
    e.user_agent_len = q->hdr[HTTP_H_USER_AGENT].len;
  }
  int n = http_log_format(logbuf, sizeof(logbuf), &e);
  FUZZ_CHECK(n > 0 && (size_t)n < sizeof(logbuf));
  FUZZ_CHECK(logbuf[n] == '\0' && logbuf[n - 1] == '\n');
  for (int i = 0; i < n - 1; i++) {
    unsigned char c = (unsigned char)logbuf[i];
    FUZZ_CHECK(c >= 0x20 && c < 0x7f);
  }
  /* A line that does not fit is refused whole. */
  size_t small = (size_t)n / 2;
  FUZZ_CHECK(http_log_format(logbuf, small, &e) == -ENOBUFS);
  FUZZ_CHECK(small == 0 || logbuf[0] == '\0');
}

/* One request, answered as conn.c's handle_request and serve_entry do (every method is
 * answered from the file here, for coverage; the server sends 405 for all but GET, HEAD). */
static void answer(const http_request_t *q, const char *buf, uint32_t len,
                   const struct params *pp) {
  char head[HEAD_CAP], page[512];
  char path[PATH_MAX];
  size_t plen = 0;
  int status;
  uint64_t body_bytes = 0;

  FUZZ_CHECK(q->line.len > 0);
  check_span(q->line, len);
  check_span(q->target, len);
  FUZZ_CHECK(q->target.off >= q->line.off &&
             q->target.off + q->target.len <= q->line.off + q->line.len);
  FUZZ_CHECK((q->hdr_present >> HTTP_H_COUNT) == 0);
  for (int i = 0; i < HTTP_H_COUNT; i++)
    if (q->hdr_present & (1u << i))
      check_span(q->hdr[i], len);

  int rc = http_path_normalize(buf + q->target.off, q->target.len, path, sizeof(path), &plen);
  if (rc == 0) {
    check_path(path, plen);
    /* normalising a normal path changes nothing (unless decoding made a '%', '?' or '#':
     * a second pass would read those as syntax, which is why there is only one) */
    if (strpbrk(path, "%?#") == NULL) {
      char again[PATH_MAX];
      size_t alen = 0;
      FUZZ_CHECK(http_path_normalize(path, plen, again, sizeof(again), &alen) == 0);
      FUZZ_CHECK(alen == plen && memcmp(again, path, plen) == 0);
    }
  } else {
    FUZZ_CHECK(rc == -EINVAL || rc == -ENAMETOOLONG);
  }

  struct http_head h;
  if (rc < 0 || (q->method != HTTP_GET && q->method != HTTP_HEAD)) {
    status = rc < 0 ? 400 : 405;
    memset(&h, 0, sizeof(h));
    if (status == 405)
      h.allow = "GET, HEAD";
  }
  if (rc == 0) {
    struct http_file_info f;
    struct http_answer a;
    memset(&f, 0, sizeof(f));
    f.size = pp->size;
    f.mtime = pp->mtime;
    f.path = path;
    f.path_len = plen;
    http_answer_file(q, buf, &f, mime_overrides, sizeof(mime_overrides) / sizeof(*mime_overrides),
                     &a);
    check_answer(&a, pp, q->method);
    if (q->method == HTTP_GET || q->method == HTTP_HEAD) {
      h = a.head;
      status = h.status;
      body_bytes = a.body_len;
      if (!a.error_page) {
        h.date = "Sun, 06 Nov 1994 08:49:37 GMT";
        h.connection = q->keep_alive ? HTTP_CONN_NONE : HTTP_CONN_CLOSE;
        int n = http_head_write(head, sizeof(head), &h);
        check_head(head, n);
        goto log;
      }
    }
  }
  /* answer_simple: an error page (or 405) */
  h.status = status;
  h.date = "Sun, 06 Nov 1994 08:49:37 GMT";
  h.connection = HTTP_CONN_CLOSE;
  size_t blen = http_error_body(status, page, sizeof(page));
  FUZZ_CHECK(blen > 0 && blen < sizeof(page));
  h.content_type = "text/html; charset=utf-8";
  h.has_length = 1;
  h.content_length = blen;
  int n = http_head_write(head, sizeof(head), &h);
  check_head(head, n);
  if (q->method != HTTP_HEAD)
    body_bytes = blen;
log:
  check_log(q, buf, len, status, body_bytes, pp->mtime);
}

/* FUZZ_HTTP_TRACE=1 in the environment: each session's events on stderr, to see where two
 * runs part. */
static int tracing = -1;

#define TRACE(...)                                                                             \
  do {                                                                                         \
    if (tracing)                                                                               \
      fprintf(stderr, __VA_ARGS__);                                                            \
  } while (0)

static uint32_t xorshift(uint32_t *s) {
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

/* The size of the next read: seed 0 reads as much as fits; otherwise the seed picks a scale
 * (single bytes up to whole segments) and a stream of lengths. */
static size_t next_read(uint32_t seed, uint32_t *rng) {
  static const size_t scale[4] = {1, 8, 64, 1500};
  if (seed == 0)
    return SIZE_MAX;
  return 1 + xorshift(rng) % scale[seed & 3];
}

/* One connection's worth of input through the parser; answers each request when answering
 * is on. */
static void session(const uint8_t *data, size_t size, const struct params *pp, uint32_t seed,
                    int answering, struct transcript *t) {
  uint32_t cap = pp->cap, len = 0, rng = seed * 2654435761u | 1;
  char *buf = malloc(cap); /* exactly max_header_bytes, as conn.c's: overruns show */
  http_parser_t *p = malloc(sizeof(*p));
  size_t pos = 0;
  FUZZ_CHECK(buf && p);
  if (tracing < 0)
    tracing = getenv("FUZZ_HTTP_TRACE") != NULL;
  TRACE("session: seed %u, limit %u, %zu bytes\n", seed, cap, size);
  http_parser_init(p, cap);
  t->h = 0xcbf29ce484222325ull;
  t->requests = 0;
  for (;;) {
    enum http_parse_result r = http_parser_execute(p, buf, &len);
    FUZZ_CHECK(len <= cap);
    if (r == HTTP_PARSE_DONE) {
      const http_request_t *q = &p->req;
      TRACE("  DONE at %u of %u: %.*s\n", p->parsed, len, (int)q->line.len, buf + q->line.off);
      t->requests++;
      tr_int(t, 1);
      tr_int(t, q->method);
      tr_int(t, q->http_major);
      tr_int(t, q->http_minor);
      tr_int(t, q->keep_alive);
      tr_int(t, q->upgrade);
      tr_int(t, (int)q->hdr_present);
      tr_span(t, buf, q->line);
      tr_span(t, buf, q->target);
      for (int i = 0; i < HTTP_H_COUNT; i++)
        if (q->hdr_present & (1u << i))
          tr_span(t, buf, q->hdr[i]);
      if (answering)
        answer(q, buf, len, pp);
      if (!q->keep_alive || t->requests >= MAX_REQUESTS)
        break;
      http_parser_next(p, buf, &len);
      FUZZ_CHECK(len <= cap);
      continue;
    }
    if (r == HTTP_PARSE_ERROR) {
      int st = p->error_status;
      TRACE("  ERROR %d (%s) with %u bytes\n", st, p->error_why, len);
      FUZZ_CHECK(st == 400 || st == 414 || st == 431 || st == 501 || st == 505);
      FUZZ_CHECK(p->error_why != NULL);
      tr_int(t, 2);
      tr_int(t, st);
      if (answering) {
        /* conn.c answers the status with an error page and logs the request line if any */
        char head[HEAD_CAP], page[512];
        struct http_head h = {.status = st, .connection = HTTP_CONN_CLOSE};
        h.content_type = "text/html; charset=utf-8";
        h.has_length = 1;
        h.content_length = http_error_body(st, page, sizeof(page));
        check_head(head, http_head_write(head, sizeof(head), &h));
        check_log(&p->req, buf, len, st, h.content_length, pp->mtime);
      }
      break;
    }
    /* AGAIN: every byte given was taken; the buffer has room, else the connection stalls
     * (conn.c stops reading when it is full) */
    FUZZ_CHECK(len < cap);
    TRACE("  AGAIN with %u bytes, %zu read\n", len, pos);
    if (pos == size)
      break;
    size_t take = next_read(seed, &rng);
    if (take > cap - len)
      take = cap - len;
    if (take > size - pos)
      take = size - pos;
    memcpy(buf + len, data + pos, take);
    len += (uint32_t)take;
    pos += take;
  }
  tr_int(t, 3);
  free(p);
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct params pp;
  struct transcript split, whole;
  if (size < PREFIX)
    return 0;
  params_read(data, &pp);
  data += PREFIX;
  size -= PREFIX;
  session(data, size, &pp, pp.seed, 1, &split);
  if (pp.seed != 0) {
    session(data, size, &pp, 0, 0, &whole);
    if (split.h != whole.h || split.requests != whole.requests) {
      fprintf(stderr, "fuzz_http: split reads (seed %u) saw %u requests, one read %u, or they "
              "differ\n", pp.seed, split.requests, whole.requests);
      FUZZ_CHECK(!"the parse depends on where the reads split");
    }
  }
  return 0;
}
