/* The h2 session (see h2.h): nghttp2 parses and frames; this file maps streams to the answer
 * layer and bodies to nghttp2's data provider, moves bytes through the transport, and adds
 * the limits nghttp2 leaves to its user. Loop thread only; pool reads come back to on_read.
 *
 * Bytes: nghttp2_session_mem_recv takes what the transport read; nghttp2_session_mem_send's
 * frames are copied into one output buffer per connection, and an output queue of segments
 * (runs of that buffer; on plain connections, runs of a cached file's body) is filled to
 * OUT_FILL bytes (one frame beyond at most) and sent with the transport's sendv, up to
 * OUT_IOV segments a call; a TLS write that returned EAGAIN is offered the same bytes again,
 * as transport.h asks.
 *
 * Bodies: DATA frames go out with NGHTTP2_DATA_FLAG_NO_COPY: send_data queues a cached
 * file's body where it lies (the entry held until its bytes are written) when the transport
 * sends from iovecs as they are, and a large file's pages that cachestat shows resident from
 * the cache entry's mapping of the file (fcache_map: the kernel copies them from the page
 * cache as it writes, as sendfile would); otherwise it copies the bytes once into the output
 * buffer, from memory (a cached small file, an error page), from the page cache (resident
 * pages, from the file's mapping with mapread_copy, or pread when there is none: the loop
 * cannot wait for a disk there), or from a per-stream
 * buffer of FILE_BUF bytes that the pool reads the other pages into (at most MAX_FBUFS per
 * connection). While a read is on the pool the stream's data provider answers
 * NGHTTP2_ERR_DEFERRED and on_read resumes it, so nghttp2's scheduler shares the connection
 * among the streams that have bytes: a large download never starves small files. At most
 * FLUSH_MAX bytes go out per turn of the loop. */
#define _GNU_SOURCE
#include "h2.h"

#include <arpa/inet.h>
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "conn.h"
#include "http_h2req.h"
#include "http_hpack.h"
#include "mapread.h"
#include "transport.h"
#include "wctx.h"

#define FILE_BUF (64 * 1024)   /* per stream with a file body in flight */
#define MAX_FBUFS 16           /* file buffers per connection at once; others wait their turn */
/* Frames gathered per transport write. 64 KiB halved the writes of 32 KiB; 256 KiB was slower
 * at 1 MiB (the file's pages read into a buffer that large are out of the cache again by the
 * time they are written). Between those, a write just past a multiple of the TCP segment
 * (65,483 bytes on loopback: 64 KiB less the headers) costs a segment of a few bytes, one
 * more packet and wake-up of the client: four full DATA frames are 65,572 bytes, a write of
 * 64 KiB and one frame beyond was 46 segments per MiB answer against 30 for 96 KiB, and 128
 * KiB (eight frames, 131,144 bytes: 178 past two segments) was as bad. 96 KiB sits halfway
 * between multiples, of loopback's segment and of a NIC's 64 KiB GSO one. h2load -c10 -m32,
 * 4-5 interleaved rounds on the 2-core EPYC host, 96 KiB against 64 KiB: 1 MiB h2c 2,086
 * against 1,775 req/s (h2o 2,003), 64 KiB h2c 28.9k against 21.5k; 48 KiB (one segment a
 * write) was as fast as 96 KiB, and 60 KiB (still four frames) as slow as 64. */
#define OUT_FILL (96 * 1024)
/* An output buffer: OUT_FILL and the frame beyond it (16 KiB of DATA, its header and
 * padding, or a HEADERS frame of HBLK_MAX). A connection holds one only while it has bytes
 * to send: when all are out the buffer goes back to the worker (wctx h2_outs) for the next
 * connection that writes. An idle connection then holds none (one that kept its own held
 * 45 KiB of it after a 1 MiB download, 143 KiB after 2 MiB: it had grown), and the few
 * buffers in use stay in the CPU's cache. */
#define OUT_BUF (OUT_FILL + 32 * 1024)
#define OUT_IOV 64             /* segments per transport write */
/* A cached body's DATA frame at least this long is sent from the cache entry, not copied:
 * 1 KiB answers cost 0.5% more instructions referenced than copied (callgrind). */
#define REF_MIN 4096
#define IN_CHUNK (16 * 1024)   /* bytes read per recv */
#define FLUSH_MAX (512 * 1024) /* bytes written per turn of the loop, as h1's sendfile chunk */
#define DIRECT_WINDOW (256 * 1024) /* page-cache residency checked this far ahead */
#define MAP_DROP (256 * 1024) /* a stream's pages of a mapped file are let go this often */
#define DRAIN_GRACE_MS 500     /* an idle connection of a draining worker gets this long */
#define GOAWAY_RTT_MS 200      /* between the shutdown notice and the final GOAWAY */
/* Rapid reset (CVE-2023-44487): streams the client resets before their answer is out, beyond
 * the ones it let finish, that close the connection. A browser cancels a few (navigation,
 * prefetch); an attacker cancels every stream it opens. */
#define RESET_ALLOWANCE 100
/* CONTINUATION flood (CVE-2024-27316/28182): a header block whose encoded bytes pass
 * max_header_bytes by this much, or that spans more frames, ends the connection: its decoded
 * list could not fit anyway, and HPACK forces us to decode what we are sent. */
#define BLOCK_SLACK 1024
#define BLOCK_FRAMES 16
/* Streams kept for reuse per connection: a stream costs ~27 KiB (its answer and its header
 * buffer), and zeroing that for each of h2load's 300,000 streams a second showed in the
 * profile; a browser's page opens a few dozen. */
#define MAX_SPARE_STREAMS 32
/* A site's header lines a response carries at most over HTTP/2 (conf_sites allows fewer). */
#define MAX_EXTRA_FIELDS 32
/* Our header block of one response: its values (ANSWER_HEAD_MAX at most), names and HPACK's
 * few bytes per field (http_hpack_bound). */
#define HBLK_MAX (2 * ANSWER_HEAD_MAX + 1024)

/* nghttp2's small allocations (a stream, a frame queued, a header list, a decoded field),
 * a handful per request, each freed a few turns later, are kept per connection for reuse:
 * 32 streams in flight outrun glibc's per-thread cache (7 chunks a size), and malloc and
 * free took 5% of the worker at 1 KiB h2c. Chunks of up to MEM_CLASSES * MEM_GRAIN bytes,
 * at most MEM_KEEP bytes of them per connection; larger ones go straight to malloc. Under
 * ASan a kept chunk is poisoned until it is handed out again: a use after free still shows. */
#define MEM_GRAIN 64
#define MEM_CLASSES 16
#define MEM_KEEP (32 * 1024)
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

struct mem_hdr {
  struct mem_hdr *next; /* in a free list */
  size_t size;          /* usable bytes: a class's size, or what was asked for */
};

/* A run of the output queue: bytes of h->out at off (ent NULL; an offset, since the buffer
 * may move), or of a cached file's body at ptr, the entry held until they are written. */
struct oseg {
  struct fcache_entry *ent;
  const char *ptr;
  size_t off, len;
};

struct stream {
  h2_t *h;
  struct stream *prev, *next; /* h->streams: every stream that has memory */
  int32_t id;
  http_request_t q;
  uint32_t buf_len;
  uint32_t hdr_bytes; /* decoded header list size (RFC 9113 6.5.2 counting) */
  struct http_span method;
  int too_big;   /* the header list passed max_header_bytes: answered 431 */
  struct http_h2req req; /* RFC 9113's rules for the request (nghttp2's own are off) */
  int malformed; /* broke them: reset with PROTOCOL_ERROR, never answered */
  int started;   /* the request went to the answer layer */
  int answered;  /* the answer's head was submitted */
  int closed;    /* nghttp2 closed the stream: freed when no job holds it */
  int jobs;      /* pool jobs in flight (the lookup, a read) */
  int status;
  /* the body */
  const char *body;
  size_t body_len, body_off;
  int file_fd;
  uint64_t file_off, file_left;
  char *fbuf;
  size_t fb_len, fb_off;
  int reading;      /* a read is on the pool */
  int failed;       /* the next bytes could not be read: the stream is reset */
  uint64_t resident_end; /* the file's pages are in the page cache up to here (cachestat) */
  size_t direct_len; /* the next DATA frame is read from the page cache into the output */
  int mapped;       /* DATA went out from the file's mapping (mapped_entry) */
  uint64_t map_from; /* the stream's pages of it from here on may be in our page tables */
  int buf_waiting;  /* waits for one of the connection's MAX_FBUFS */
  struct sfile_read rd;
  uint64_t sent;    /* body bytes handed to nghttp2, for the log */
  uint64_t started_us; /* answer_now_us() when the request was complete: its duration */
  int done;         /* every byte of the answer went to nghttp2 */
  uint8_t n_fields; /* in fields: the response's, once answered */
  /* Kept when the stream goes to the connection's spare list; what is above is zeroed for
   * each new stream. */
  char *buf; /* header values, then the request line for the log */
  uint32_t buf_cap;
  struct answer a; /* ~10 KiB (paths, a Location, an error page): never zeroed whole */
  /* The values of the response's fields (and a site's header lines, their names
   * lowercased): the fields given to nghttp2 point into it (NGHTTP2_NV_FLAG_NO_COPY_*), so
   * it lives until nghttp2 has packed the HEADERS frame, or dropped it with the stream. */
  char head[ANSWER_HEAD_MAX];
  /* The response's fields, for our HPACK encoder (before_send): nghttp2 is given :status
   * only, and its HEADERS frame's block is replaced by ours on the way out (flush). */
  struct http_hpack_field fields[1 + HTTP_FIELDS_MAX + MAX_EXTRA_FIELDS];
};

struct h2 {
  struct wctx *w;
  struct conn *c;
  struct transport *tx;
  nghttp2_session *s;
  struct mem_hdr *mem_free[MEM_CLASSES]; /* nghttp2's chunks kept for reuse, per size */
  size_t mem_kept;                       /* bytes in them */
  struct stream *streams;
  struct stream *spare; /* freed streams kept for reuse (next-linked) */
  struct stream *hdr_st; /* the stream whose header block is being received, or NULL */
  unsigned n_spare;
  unsigned n_open;     /* streams nghttp2 has open with us */
  unsigned n_sending;  /* answered streams whose body is not all out */
  unsigned n_fbufs;
  int in_block;          /* a header block has begun and not ended (header timeout) */
  uint64_t resets, completed;
  char *out;            /* frames of nghttp2, DATA headers, bodies copied */
  size_t out_len, out_cap;
  struct oseg *seg;     /* the output queue, in order */
  unsigned n_seg, seg_cap;
  unsigned seg_i;       /* the first segment not all sent */
  size_t seg_done;      /* bytes of seg[seg_i] sent */
  size_t q_len;         /* bytes queued in all */
  int events;
  int in_recv;   /* inside nghttp2_session_mem_recv: no mem_send now */
  int closing;   /* the connection is closing */
  int dying;     /* a fatal GOAWAY is queued: send it, then close */
  int draining;  /* 1: shutdown notice sent; 2: final GOAWAY sent */
  int ref_bodies; /* the transport sends from iovecs as they lie (plain, kernel TLS): cached
                   * bodies are not copied into the output buffer */
  int read_wants_write; /* the transport's recv waits for the socket to drain */
  uint64_t last_send;    /* loop ms of the last DATA progress, for the send timeout */
  uint64_t idle_since;   /* loop ms the last stream closed (keep-alive timeout) */
  uint64_t headers_since; /* loop ms a header block began (header timeout) */
  uint64_t drain_at;     /* loop ms of the shutdown notice */
  /* the header block being received (CONTINUATION flood) */
  int32_t block_stream;
  uint32_t block_bytes, block_frames;
  /* Header blocks are ours (http_hpack.h): before_send encodes the block of the response
   * HEADERS frame nghttp2 is about to send, and flush puts it in place of nghttp2's. */
  http_hpack_t *hp;
  int32_t hblk_sid; /* the stream of the block waiting in hblk; 0: none */
  size_t hblk_len;
  uint8_t hblk[HBLK_MAX];
};

static void flush(h2_t *h);
static void arm_next(h2_t *h);

/* ---- nghttp2's memory -------------------------------------------------------------------- */

static void *mem_malloc(size_t size, void *user) {
  h2_t *h = user;
  struct mem_hdr *m;
  if (size <= MEM_GRAIN * MEM_CLASSES) {
    unsigned c = size ? (unsigned)((size - 1) / MEM_GRAIN) : 0;
    size = (size_t)(c + 1) * MEM_GRAIN;
    if ((m = h->mem_free[c])) {
      h->mem_free[c] = m->next;
      h->mem_kept -= size;
      ASAN_UNPOISON_MEMORY_REGION(m + 1, size);
      return m + 1;
    }
  }
  if (!(m = malloc(sizeof(*m) + size)))
    return NULL; /* nghttp2 answers NGHTTP2_ERR_NOMEM */
  m->size = size;
  return m + 1;
}

static void mem_free(void *p, void *user) {
  h2_t *h = user;
  if (!p)
    return;
  struct mem_hdr *m = (struct mem_hdr *)p - 1;
  if (m->size <= MEM_GRAIN * MEM_CLASSES && h->mem_kept + m->size <= MEM_KEEP) {
    unsigned c = (unsigned)(m->size / MEM_GRAIN - 1);
    m->next = h->mem_free[c];
    h->mem_free[c] = m;
    h->mem_kept += m->size;
    ASAN_POISON_MEMORY_REGION(m + 1, m->size);
    return;
  }
  free(m);
}

static void *mem_calloc(size_t n, size_t size, void *user) {
  if (size && n > SIZE_MAX / size)
    return NULL;
  void *p = mem_malloc(n * size, user);
  if (p)
    memset(p, 0, n * size);
  return p;
}

static void *mem_realloc(void *p, size_t size, void *user) {
  if (!p)
    return mem_malloc(size, user);
  struct mem_hdr *m = (struct mem_hdr *)p - 1;
  if (size <= m->size)
    return p;
  void *q = mem_malloc(size, user);
  if (!q)
    return NULL;
  memcpy(q, p, m->size);
  mem_free(p, user);
  return q;
}

/* The chunks kept, back to malloc: the session is gone. */
static void mem_drop(h2_t *h) {
  for (unsigned c = 0; c < MEM_CLASSES; c++)
    while (h->mem_free[c]) {
      struct mem_hdr *m = h->mem_free[c];
      h->mem_free[c] = m->next;
      free(m);
    }
  h->mem_kept = 0;
}

int h2_preface_match(const char *buf, size_t len) {
  size_t n = len < H2_PREFACE_LEN ? len : H2_PREFACE_LEN;
  if (memcmp(buf, H2_PREFACE, n) != 0)
    return -1;
  return len >= H2_PREFACE_LEN ? 1 : 0;
}

unsigned h2_streams(const h2_t *h) {
  return h ? h->n_open : 0;
}

static void set_events(h2_t *h, int events) {
  if (events == h->events)
    return;
  h->events = events;
  conn_want(h->c, events);
}

/* A GOAWAY that ends the connection for a misbehaving client: sent, then the close. */
static void fatal(h2_t *h, uint32_t code, const char *why) {
  if (h->dying)
    return;
  h->dying = 1;
  char addr[64];
  log_msg(h->w->log, LOG_INFO, "client %s: h2: %s, closing", conn_peer(h->c, addr, sizeof(addr)),
          why);
  nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->s),
                        code, (const uint8_t *)why, strlen(why));
}

/* ---- streams ----------------------------------------------------------------------------- */

/* The stream's pages of its file's mapping below `to` leave the worker's page tables
 * (MADV_DONTNEED; the page cache keeps them): the worker's resident size, which recycling
 * and status read, then grows by at most MAP_DROP and an output buffer per stream sending a
 * large file, not by every large file it served. A page dropped while a write still has it
 * queued, or that another stream of the file uses, is faulted in again by that write. */
static void map_drop(struct stream *st, uint64_t to) {
  const struct fcache_entry *e = st->a.entry;
  uint64_t pg = (uint64_t)getpagesize();
  uint64_t from = st->map_from / pg * pg;
  to = to >= e->size ? (e->size + pg - 1) / pg * pg : to / pg * pg;
  if (to > from)
    madvise((void *)(e->map + from), (size_t)(to - from), MADV_DONTNEED);
  st->map_from = to;
}

static void stream_free(struct stream *st) {
  h2_t *h = st->h;
  if (h->hdr_st == st)
    h->hdr_st = NULL;
  if (st->prev)
    st->prev->next = st->next;
  else
    h->streams = st->next;
  if (st->next)
    st->next->prev = st->prev;
  if (st->mapped && st->a.entry && !st->a.entry->map_kept)
    map_drop(st, st->file_off);
  answer_end(&st->a);
  if (st->fbuf)
    h->n_fbufs--;
  free(st->fbuf);
  if (!h->closing && h->n_spare < MAX_SPARE_STREAMS) {
    st->next = h->spare;
    h->spare = st;
    h->n_spare++;
    return;
  }
  free(st->buf);
  free(st);
}

/* Another stream may take the file buffer just given back. */
static void wake_buf_waiter(h2_t *h) {
  for (struct stream *st = h->streams; st; st = st->next)
    if (st->buf_waiting && !st->closed) {
      st->buf_waiting = 0;
      nghttp2_session_resume_data(h->s, st->id);
      return;
    }
}

static void fbuf_put(struct stream *st) {
  if (!st->fbuf)
    return;
  free(st->fbuf);
  st->fbuf = NULL;
  st->h->n_fbufs--;
  if (!st->h->closing)
    wake_buf_waiter(st->h);
}

static void log_stream(struct stream *st) {
  h2_t *h = st->h;
  struct wctx *w = h->w;
  char addr[64], tls[32];
  struct answer_log l = {
      .peer = alog_enabled(w->alog) ? conn_peer(h->c, addr, sizeof(addr)) : "-",
      .line = st->q.line.len ? st->buf + st->q.line.off : NULL,
      .line_len = st->q.line.len,
      .status = st->answered ? st->status : 499,
      .body_bytes = st->sent,
      .started_us = st->started_us,
  };
  if (w->tls && alog_enabled(w->alog)) /* as h1: only for a line that is written */
    l.tls = h->tx->ops->describe(h->tx, tls, sizeof(tls));
  answer_log(w, &st->q, st->buf, &l);
}

static void on_hold(struct answer *a, int delta) {
  struct stream *st = (struct stream *)((char *)a - offsetof(struct stream, a));
  struct conn *c = st->h->c;
  if (delta > 0) {
    st->jobs++;
    conn_hold(c);
    return;
  }
  st->jobs--;
  if (st->closed && st->jobs == 0 && !st->h->closing)
    stream_free(st);
  conn_release(c); /* may free h (and every stream) when the connection is gone */
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *user);

/* The answer layer decided: the head's fields (http_head_fields, the list h1's head is
 * written from, so the two sessions cannot disagree on a header) and the body source go to
 * nghttp2. The values are copied into the stream's head buffer: the fields point there until
 * the HEADERS frame is out (before_send encodes them, flush sends the block), when the
 * strings they came from (a cache entry's) may be gone. nghttp2 gets :status alone, its
 * NGHTTP2_NV_FLAG_NO_COPY_* pointing there too: its block is thrown away. */
static void on_answer(struct answer *a) {
  struct stream *st = (struct stream *)((char *)a - offsetof(struct stream, a));
  h2_t *h = st->h;
  struct http_field f[HTTP_FIELDS_MAX];
  char num[HTTP_FIELD_NUM];
  size_t nf = http_head_fields(&a->head, f, num);
  struct http_hpack_field *fl = st->fields;
  size_t nn = 0, max = sizeof(st->fields) / sizeof(st->fields[0]);
  char *p = st->head, *end = st->head + sizeof(st->head);
  unsigned code = (unsigned)a->head.status % 1000;
  p[0] = (char)('0' + code / 100);
  p[1] = (char)('0' + code / 10 % 10);
  p[2] = (char)('0' + code % 10);
  fl[nn++] = (struct http_hpack_field){":status", p, 7, 3, 8};
  p += 3;
  for (size_t i = 0; i < nf; i++) {
    if (f[i].value_len > (size_t)(end - p))
      goto too_big;
    memcpy(p, f[i].value, f[i].value_len);
    fl[nn++] = (struct http_hpack_field){f[i].name, p, f[i].name_len, f[i].value_len, f[i].hpack};
    p += f[i].value_len;
  }
  if (a->head.extra) { /* a site's headers: "Name: value\r\n" lines, checked at load */
    if (a->head.extra_len > (size_t)(end - p))
      goto too_big;
    memcpy(p, a->head.extra, a->head.extra_len);
    char *x = p, *xend = p + a->head.extra_len;
    while (x < xend && nn < max) {
      char *eol = memchr(x, '\r', (size_t)(xend - x));
      char *colon = eol ? memchr(x, ':', (size_t)(eol - x)) : NULL;
      if (!colon)
        break;
      char *line = x;
      x = eol + 2;
      for (char *q = line; q < colon; q++)
        if (*q >= 'A' && *q <= 'Z')
          *q = (char)(*q | 0x20); /* ASCII: field names are tokens */
      size_t nlen = (size_t)(colon - line);
      if ((nlen == 10 && memcmp(line, "connection", 10) == 0) ||
          (nlen == 10 && memcmp(line, "keep-alive", 10) == 0))
        continue; /* connection-specific: not in HTTP/2 (RFC 9113 8.2.2) */
      char *v = colon + 1;
      while (v < eol && *v == ' ')
        v++;
      fl[nn++] = (struct http_hpack_field){line, v, (uint32_t)nlen, (uint32_t)(eol - v), 0};
    }
  }
  st->n_fields = (uint8_t)nn;
  const uint8_t nocopy = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
  nghttp2_nv nv[1] = {{(uint8_t *)":status", (uint8_t *)st->head, 7, 3, nocopy}};
  st->status = a->head.status;
  st->answered = 1;
  st->body = a->body;
  st->body_len = a->body_len;
  st->file_fd = a->file_fd;
  st->file_off = a->file_off;
  st->file_left = a->file_len;
  nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_body};
  int has_body = st->body_len > 0 || st->file_left > 0;
  if (has_body) {
    h->n_sending++;
    if (h->n_sending == 1)
      h->last_send = loop_now(h->w->loop);
  } else {
    st->done = 1;
  }
  int rc = nghttp2_submit_response(h->s, st->id, nv, 1, has_body ? &dp : NULL);
  if (rc != 0) {
    if (has_body) {
      h->n_sending--;
      st->done = 1;
    }
    nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
  }
  if (!h->in_recv)
    flush(h);
  return;
too_big: /* only a pathological Location gets here, as in h1 */
  nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
}

static void on_read(pool_job_t *job, int status);

/* The next bytes of the file into the stream's buffer: from the page cache on the loop
 * (as h1's TLS path does: resident pages cannot wait for a disk), else on the pool.
 * 1: the bytes are there; 0: deferred (a read on the pool, or no buffer free); -1: failed. */
static int stream_fill(struct stream *st) {
  h2_t *h = st->h;
  struct wctx *w = h->w;
  if (!st->fbuf) {
    if (h->n_fbufs >= MAX_FBUFS) {
      st->buf_waiting = 1;
      return 0;
    }
    if (!(st->fbuf = malloc(FILE_BUF)))
      abort(); /* out of memory: nothing sensible left to do for a server */
    h->n_fbufs++;
  }
  size_t want = st->file_left < FILE_BUF ? (size_t)st->file_left : FILE_BUF;
  int resident = w->no_cachestat ? -ENOSYS : sfile_resident(st->file_fd, (off_t)st->file_off, want);
  if (resident == -ENOSYS)
    w->no_cachestat = 1;
  if (resident == 1) {
    ssize_t n;
    do {
      n = pread(st->file_fd, st->fbuf, want, (off_t)st->file_off);
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
      return -1;
    st->fb_len = (size_t)n;
    st->fb_off = 0;
    st->file_off += (uint64_t)n;
    st->file_left -= (uint64_t)n;
    return 1;
  }
  st->rd.fd = st->file_fd;
  st->rd.off = (off_t)st->file_off;
  st->rd.buf = st->fbuf;
  st->rd.len = want;
  if (sfile_read_submit(w->pool, &st->rd, on_read) < 0)
    return -1;
  st->reading = 1;
  st->jobs++;
  conn_hold(h->c);
  return 0;
}

/* then: what follows, "resetting" (the stream) or "closing" (the connection: a frame of the
 * file was half made) */
static void log_shrank(struct stream *st, const char *then) {
  log_msg(st->h->w->log, LOG_WARN, "h2 stream %d: the file shrank while it was sent: %s",
          (int)st->id, then);
}

static void on_read(pool_job_t *job, int status) {
  struct stream *st = (struct stream *)((char *)job - offsetof(struct stream, rd.job));
  h2_t *h = st->h;
  struct conn *c = h->c;
  st->reading = 0;
  st->jobs--;
  if (h->closing || st->closed) {
    if (st->closed && st->jobs == 0 && !h->closing)
      stream_free(st);
    conn_release(c);
    return;
  }
  if (status < 0 || st->rd.err < 0 || st->rd.got == 0) {
    if (status == 0)
      log_shrank(st, "resetting");
    nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
  } else {
    st->fb_len = st->rd.got;
    st->fb_off = 0;
    st->file_off += st->rd.got;
    st->file_left -= st->rd.got;
    nghttp2_session_resume_data(h->s, st->id);
  }
  flush(h);
  conn_release(c);
}

/* 1 when the file's next bytes are in the page cache: the DATA frame is then read from there
 * straight into the output buffer (one copy, as the plain path's sendfile of resident pages
 * reads on the loop), not through the stream's buffer (two). Checked for 256 KiB at a time. */
static int direct_ok(struct stream *st) {
  if (st->file_off < st->resident_end)
    return 1;
  struct wctx *w = st->h->w;
  if (w->no_cachestat)
    return 0;
  size_t want = st->file_left < DIRECT_WINDOW ? (size_t)st->file_left : DIRECT_WINDOW;
  int r = sfile_resident(st->file_fd, (off_t)st->file_off, want);
  if (r == -ENOSYS)
    w->no_cachestat = 1;
  if (r != 1)
    return 0;
  st->resident_end = st->file_off + want;
  return 1;
}

/* nghttp2's data provider: how many of the stream's next bytes (up to length) the next DATA
 * frame carries. NGHTTP2_DATA_FLAG_NO_COPY: send_data then copies them straight into the
 * output buffer with the frame's header, one copy instead of two (into nghttp2's frame,
 * then out of it). */
static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *user) {
  (void)s;
  (void)id;
  (void)buf;
  (void)user;
  struct stream *st = src->ptr;
  size_t n;
  int last;
  if (st->body) {
    n = st->body_len - st->body_off;
    if (n > length)
      n = length;
    last = st->body_off + n == st->body_len;
  } else {
    if (st->failed)
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset */
    if (st->fb_off == st->fb_len) {
      if (st->reading || st->buf_waiting)
        return NGHTTP2_ERR_DEFERRED;
      if (st->file_left > 0 && direct_ok(st)) {
        n = st->resident_end - st->file_off;
        if (n > length)
          n = length;
        st->direct_len = n;
        last = st->file_left == n;
        goto counted;
      }
      int rc = stream_fill(st);
      if (rc < 0) {
        log_shrank(st, "resetting");
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      }
      if (rc == 0)
        return NGHTTP2_ERR_DEFERRED;
    }
    n = st->fb_len - st->fb_off;
    if (n > length)
      n = length;
    last = st->file_left == 0 && st->fb_off + n == st->fb_len;
  }
counted:
  *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  st->sent += n;
  st->h->last_send = loop_now(st->h->w->loop);
  if (last) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    st->done = 1;
    st->h->n_sending--;
  }
  return (ssize_t)n;
}

/* Room for n more bytes in the output buffer (one taken from the worker's if there is none). */
static char *out_room(h2_t *h, size_t n) {
  if (!h->out) {
    struct wctx *w = h->w;
    h->out = w->n_h2_outs ? w->h2_outs[--w->n_h2_outs] : malloc(OUT_BUF);
    if (!h->out)
      abort(); /* out of memory: nothing sensible left to do for a server */
    h->out_cap = OUT_BUF;
  }
  if (h->out_len + n > h->out_cap) {
    size_t cap = h->out_len + n + OUT_FILL;
    char *b = realloc(h->out, cap);
    if (!b)
      abort(); /* out of memory: nothing sensible left to do for a server */
    h->out = b;
    h->out_cap = cap;
  }
  return h->out + h->out_len;
}

/* Queues len bytes: of the cache entry e's body at p (a reference taken), or (e NULL) the
 * next len bytes of the output buffer, which the caller has just written at out + out_len. */
static void out_queue(h2_t *h, struct fcache_entry *e, const char *p, size_t len) {
  if (len == 0)
    return;
  h->q_len += len;
  size_t off = 0;
  if (!e) {
    off = h->out_len;
    h->out_len += len;
    struct oseg *l = h->n_seg ? &h->seg[h->n_seg - 1] : NULL;
    if (l && !l->ent && l->off + l->len == off) {
      l->len += len; /* frames one after another: one segment */
      return;
    }
  }
  if (h->n_seg == h->seg_cap) {
    unsigned cap = h->seg_cap ? 2 * h->seg_cap : 32;
    struct oseg *g = realloc(h->seg, cap * sizeof(*g));
    if (!g)
      abort(); /* out of memory: nothing sensible left to do for a server */
    h->seg = g;
    h->seg_cap = cap;
  }
  if (e)
    fcache_ref(e);
  h->seg[h->n_seg++] = (struct oseg){e, p, off, len};
}

/* n bytes of the queue were written: the segments all sent let their entries go. */
static void out_advance(h2_t *h, size_t n) {
  while (n > 0 && h->seg_i < h->n_seg) {
    struct oseg *g = &h->seg[h->seg_i];
    size_t left = g->len - h->seg_done;
    if (n < left) {
      h->seg_done += n;
      return;
    }
    n -= left;
    if (g->ent)
      fcache_release(h->w->cache, g->ent);
    g->ent = NULL;
    h->seg_i++;
    h->seg_done = 0;
  }
}

static int out_pending(const h2_t *h) {
  return h->seg_i < h->n_seg;
}

void h2_free_buffers(struct wctx *w) {
  while (w->n_h2_outs > 0)
    free(w->h2_outs[--w->n_h2_outs]);
}

/* The output buffer goes back to the worker (its bytes are all sent, or the connection is
 * going); one that grew past OUT_BUF is freed. */
static void out_release(h2_t *h) {
  struct wctx *w = h->w;
  if (!h->out)
    return;
  if (h->out_cap == OUT_BUF && w->n_h2_outs < sizeof(w->h2_outs) / sizeof(w->h2_outs[0]))
    w->h2_outs[w->n_h2_outs++] = h->out;
  else
    free(h->out);
  h->out = NULL;
  h->out_cap = h->out_len = 0;
}

/* The cache entry whose body holds the stream's body, or NULL (an error page, a multipart
 * or compressed body: those are copied). */
static struct fcache_entry *body_entry(const struct stream *st) {
  struct fcache_entry *e = st->a.entry;
  if (e && e->body && st->body >= e->body && st->body + st->body_len <= e->body + e->size)
    return e;
  return NULL;
}

/* The cache entry whose file is mapped (fcache_map) over the stream's next length bytes, or
 * NULL. Resident pages (direct_ok) then go out from the mapping:
 * - when the transport hands iovecs to the kernel as they lie (ref_bodies), writev itself
 *   copies them from the page cache: one copy, as sendfile makes, where a pread into the
 *   output buffer made two and a system call per frame (a fifth of the worker's time at
 *   1 MiB h2c: copy_to_iter and filemap_read, perf). 1 MiB h2c, h2load -c10 -m32, 4
 *   interleaved rounds on the 2-core EPYC host: 3,486 req/s against 2,201 with pread
 *   (lighttpd 2,435), server CPU 283 us an answer against 460. A file truncated meanwhile
 *   fails that writev with EFAULT: the connection closes, as a short pread closes it;
 * - over TLS in user space, mapread_copy copies them into the output buffer, where the
 *   cipher reads them: the same one copy as pread's, without its system call and page-cache
 *   lookup per frame. 1 MiB over TLS, 3 interleaved rounds on the same host: server CPU
 *   971 us an answer against 1,116 with pread (h2o 1,034; user time +7 us, kernel -152),
 *   1,005 req/s against 883 (h2o 956). A truncated file's SIGBUS ends that copy instead
 *   of the worker. */
static struct fcache_entry *mapped_entry(const struct stream *st, size_t length) {
  struct fcache_entry *e = st->a.entry;
  struct wctx *w = st->h->w;
  if ((!st->h->ref_bodies && !w->mapread_ok) || !e || e->fd < 0 || e->fd != st->file_fd ||
      st->file_off + length > e->size || !fcache_map(w->cache, e, loop_now(w->loop)))
    return NULL;
  return e;
}

/* A DATA frame whose bytes read_body counted: its header, padding, and the bytes themselves,
 * into the output queue, in the order nghttp2 sends frames (it calls this from within
 * nghttp2_session_mem_send): a cached file's body where it lies (copying 64 KiB answers into
 * the output buffer was most of the worker's instructions at 64 KiB h2c), other bytes into
 * the output buffer. Then a file's next bytes are fetched into the buffer just emptied,
 * while these go out. */
static int send_data(nghttp2_session *s, nghttp2_frame *frame, const uint8_t *framehd,
                     size_t length, nghttp2_data_source *src, void *user) {
  (void)s;
  h2_t *h = user;
  struct stream *st = src->ptr;
  size_t pad = frame->data.padlen;
  /* nghttp2_session_mem_send goes on from frame to frame while this takes them: the buffer
   * would hold all that the windows allow (13 MiB for 40 streams of 1 MiB, copied at each
   * realloc). Full: mem_send returns, the buffer goes out, and we are called again. */
  if (h->q_len >= OUT_FILL)
    return NGHTTP2_ERR_WOULDBLOCK;
  struct fcache_entry *e = st->body && length >= REF_MIN && h->ref_bodies ? body_entry(st) : NULL;
  char *o = out_room(h, 9 + length + pad);
  char *start = o;
  memcpy(o, framehd, 9);
  o += 9;
  if (pad > 0)
    *o++ = (char)(pad - 1);
  if (e) {
    out_queue(h, NULL, NULL, (size_t)(o - start));
    out_queue(h, e, st->body + st->body_off, length);
    st->body_off += length;
    if (pad > 1) {
      memset(out_room(h, pad - 1), 0, pad - 1);
      out_queue(h, NULL, NULL, pad - 1);
    }
    return 0;
  }
  if (st->body) {
    memcpy(o, st->body + st->body_off, length);
    st->body_off += length;
  } else if (st->direct_len && (e = mapped_entry(st, length))) {
    const char *from = e->map + st->file_off;
    if (!st->mapped) {
      st->mapped = 1;
      st->map_from = st->file_off;
    }
    st->direct_len = 0;
    st->file_off += length;
    st->file_left -= length;
    /* the pages behind, of a mapping not kept (a large file, or no room), up to this
     * frame's: copied ones at once, queued ones (writev reads them) an output buffer back
     * (the queue is sent whole before it is refilled) */
    size_t lag = h->ref_bodies ? OUT_BUF : 0;
    if (!e->map_kept && st->file_off >= st->map_from + MAP_DROP + lag)
      map_drop(st, st->file_off - length - lag);
    if (h->ref_bodies) {
      out_queue(h, NULL, NULL, (size_t)(o - start));
      out_queue(h, e, from, length);
      if (pad > 1) {
        memset(out_room(h, pad - 1), 0, pad - 1);
        out_queue(h, NULL, NULL, pad - 1);
      }
      return 0;
    }
    if (mapread_copy(o, from, length) < 0) { /* SIGBUS: the file shrank */
      log_shrank(st, "closing");
      return NGHTTP2_ERR_CALLBACK_FAILURE; /* half a frame: only closing is left */
    }
  } else if (st->direct_len) {
    ssize_t got;
    do {
      got = pread(st->file_fd, o, length, (off_t)st->file_off);
    } while (got < 0 && errno == EINTR);
    if (got != (ssize_t)length) { /* the file shrank: the promised length cannot be kept */
      log_shrank(st, "closing");
      return NGHTTP2_ERR_CALLBACK_FAILURE; /* half a frame: only closing is left */
    }
    st->direct_len = 0;
    st->file_off += length;
    st->file_left -= length;
  } else {
    memcpy(o, st->fbuf + st->fb_off, length);
    st->fb_off += length;
  }
  o += length;
  if (pad > 1)
    memset(o, 0, pad - 1);
  out_queue(h, NULL, NULL, 9 + length + pad);
  if (!st->body && st->fb_off == st->fb_len && st->fbuf) {
    if (st->file_left == 0 || direct_ok(st)) {
      fbuf_put(st); /* done, or the next bytes come from the page cache directly */
    } else if (stream_fill(st) < 0) {
      log_shrank(st, "resetting");
      st->failed = 1; /* reset at the next read_body */
    }
  }
  return 0;
}

/* ---- requests ---------------------------------------------------------------------------- */

/* The request fields the answer layer reads: their HTTP_H_* id, H2_METHOD or H2_PATH for
 * the pseudo-fields kept apart, or -1. By length first: a request's half-dozen fields cost a
 * compare or two each instead of a walk of the whole list (446 instructions a request
 * before, callgrind). Names are lowercase: http_h2req refuses others (RFC 9113 8.2.1). */
#define H2_METHOD HTTP_H_COUNT
#define H2_PATH (HTTP_H_COUNT + 1)
static int field_id(const uint8_t *n, size_t len) {
#define IS(lit) (memcmp(n, lit, sizeof(lit) - 1) == 0)
  switch (len) {
  case 4:
    return IS("host") ? HTTP_H_HOST : -1;
  case 5:
    return IS(":path") ? H2_PATH : IS("range") ? HTTP_H_RANGE : -1;
  case 6:
    return IS("accept") ? HTTP_H_ACCEPT : -1;
  case 7:
    return IS(":method") ? H2_METHOD : IS("referer") ? HTTP_H_REFERER : -1;
  case 8:
    return IS("if-match") ? HTTP_H_IF_MATCH : IS("if-range") ? HTTP_H_IF_RANGE : -1;
  case 10: /* :authority stands for Host (RFC 9113 8.3.1) */
    return IS(":authority") ? HTTP_H_HOST : IS("user-agent") ? HTTP_H_USER_AGENT : -1;
  case 13:
    return IS("if-none-match") ? HTTP_H_IF_NONE_MATCH : -1;
  case 15:
    return IS("accept-encoding") ? HTTP_H_ACCEPT_ENCODING : -1;
  case 17:
    return IS("if-modified-since") ? HTTP_H_IF_MODIFIED_SINCE : -1;
  case 19:
    return IS("if-unmodified-since") ? HTTP_H_IF_UNMODIFIED_SINCE : -1;
  default:
    return -1;
  }
#undef IS
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user) {
  h2_t *h = user;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  struct stream *st = h->spare;
  if (st) {
    h->spare = st->next;
    h->n_spare--;
  } else {
    if (!(st = malloc(sizeof(*st))))
      abort(); /* out of memory: nothing sensible left to do for a server */
    st->buf_cap = 2 * h->w->max_header_bytes + 64; /* values, then the log's request line */
    if (!(st->buf = malloc(st->buf_cap)))
      abort();
  }
  memset(st, 0, offsetof(struct stream, buf));
  st->h = h;
  st->id = f->hd.stream_id;
  st->file_fd = -1;
  st->a.w = h->w;
  st->a.ready = on_answer;
  st->a.hold = on_hold;
  st->a.q = &st->q;
  st->a.buf = st->buf;
  http_h2req_begin(&st->req);
  answer_reset(&st->a);
  st->next = h->streams;
  if (h->streams)
    h->streams->prev = st;
  h->streams = st;
  h->n_open++;
  h->hdr_st = st;
  nghttp2_session_set_stream_user_data(s, st->id, st);
  return 0;
}

static uint32_t keep(struct stream *st, const uint8_t *v, size_t len) {
  uint32_t off = st->buf_len;
  memcpy(st->buf + off, v, len);
  st->buf_len += (uint32_t)len;
  return off;
}

/* The stream of a request's header block: the one on_begin_headers began (blocks are never
 * interleaved, RFC 9113 4.3), without a look-up in nghttp2's stream map per field. */
static struct stream *stream_of(nghttp2_session *s, h2_t *h, int32_t id) {
  if (h->hdr_st && h->hdr_st->id == id)
    return h->hdr_st;
  return nghttp2_session_get_stream_user_data(s, id);
}

/* A malformed request (RFC 9113 8.1.1): its stream is reset with PROTOCOL_ERROR and never
 * answered, as nghttp2's own checks did; the connection and its other streams go on. */
static void malformed(nghttp2_session *s, struct stream *st) {
  st->malformed = 1;
  nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_PROTOCOL_ERROR);
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user) {
  (void)flags;
  if (f->hd.type != NGHTTP2_HEADERS)
    return 0;
  int trailer = f->headers.cat != NGHTTP2_HCAT_REQUEST;
  struct stream *st = stream_of(s, user, f->hd.stream_id);
  if (!st || st->malformed)
    return 0;
  if (http_h2req_field(&st->req, name, namelen, value, valuelen, trailer) < 0) {
    malformed(s, st);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* no more of this block, as nghttp2 did */
  }
  if (trailer || st->too_big)
    return 0;
  /* HPACK bomb: the decoded list is bounded as h1 bounds its header block; past it the
   * stream is answered 431 and nothing more of it is kept. */
  st->hdr_bytes += (uint32_t)(namelen + valuelen + 32);
  if (st->hdr_bytes > st->h->w->max_header_bytes) {
    st->too_big = 1;
    return 0;
  }
  struct http_span sp = {0, (uint32_t)valuelen};
  int id = field_id(name, namelen);
  if (id == H2_METHOD) {
    sp.off = keep(st, value, valuelen);
    st->method = sp;
  } else if (id == H2_PATH) {
    sp.off = keep(st, value, valuelen);
    st->q.target = sp;
  } else if (id >= 0 && (name[0] == ':' || !(st->q.hdr_present & (1u << id)))) {
    sp.off = keep(st, value, valuelen); /* :authority wins over host; else the first, as h1 */
    st->q.hdr[id] = sp;
    st->q.hdr_present |= 1u << id;
  }
  return 0;
}

/* :method as h1's parser numbers it; -1 for a method it does not know (501). */
static int method_of(const char *m, size_t len) {
  static const char *const names[] = {
#define M(NUM, NAME, STRING) [NUM] = #STRING,
      HTTP_METHOD_MAP(M)
#undef M
  };
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (names[i] && strlen(names[i]) == len && memcmp(names[i], m, len) == 0)
      return (int)i;
  return -1;
}

static void start_request(h2_t *h, struct stream *st) {
  struct wctx *w = h->w;
  st->started = 1;
  w->requests++;
  /* The request line the access log shows: "GET /x HTTP/2.0". */
  uint32_t off = st->buf_len;
  size_t need = st->method.len + 1 + st->q.target.len + 9;
  if (st->buf_len + need <= st->buf_cap) {
    keep(st, (const uint8_t *)st->buf + st->method.off, st->method.len);
    keep(st, (const uint8_t *)" ", 1);
    keep(st, (const uint8_t *)st->buf + st->q.target.off, st->q.target.len);
    keep(st, (const uint8_t *)" HTTP/2.0", 9);
    st->q.line = (struct http_span){off, (uint32_t)need};
  }
  st->q.method = method_of(st->buf + st->method.off, st->method.len);
  st->q.http_major = 2;
  st->a.redirect_https = conn_redirects_https(h->c);
  st->started_us = answer_now_us(h->w);
  st->a.sni = conn_servername(h->c);
  if (st->too_big) {
    if (st->q.method < 0)
      st->q.method = HTTP_GET;
    answer_status(&st->a, 431, NULL);
    return;
  }
  answer_start(&st->a);
}

/* The header block of a frame begins: the CONTINUATION flood check. */
static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *user) {
  (void)s;
  h2_t *h = user;
  if (hd->type == NGHTTP2_HEADERS) {
    h->block_stream = hd->stream_id;
    h->block_bytes = (uint32_t)hd->length;
    h->block_frames = 1;
    h->in_block = !(hd->flags & NGHTTP2_FLAG_END_HEADERS);
    if (h->in_block)
      h->headers_since = loop_now(h->w->loop);
  } else if (hd->type == NGHTTP2_CONTINUATION) {
    h->block_bytes += (uint32_t)hd->length;
    h->block_frames++;
    h->in_block = !(hd->flags & NGHTTP2_FLAG_END_HEADERS);
  } else {
    h->in_block = 0;
    return 0;
  }
  if (h->block_bytes > h->w->max_header_bytes + BLOCK_SLACK || h->block_frames > BLOCK_FRAMES) {
    fatal(h, NGHTTP2_ENHANCE_YOUR_CALM, "header block too large");
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user) {
  h2_t *h = user;
  if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK)) {
    for (size_t i = 0; i < f->settings.niv; i++) /* our encoder's table follows the client's */
      if (f->settings.iv[i].settings_id == NGHTTP2_SETTINGS_HEADER_TABLE_SIZE)
        http_hpack_limit(h->hp, f->settings.iv[i].value);
    return 0;
  }
  if (f->hd.type == NGHTTP2_RST_STREAM) {
    /* Rapid reset: resets of streams not yet answered in full, against completed ones. */
    struct stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (st && !st->done && ++h->resets > h->completed + RESET_ALLOWANCE) {
      fatal(h, NGHTTP2_ENHANCE_YOUR_CALM, "too many streams reset");
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }
  int end_stream = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (f->hd.type == NGHTTP2_DATA && end_stream) {
    struct stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (st && !st->malformed && http_h2req_end(&st->req) < 0)
      malformed(s, st); /* a body shorter than its content-length */
    return 0;
  }
  if (f->hd.type != NGHTTP2_HEADERS)
    return 0;
  struct stream *st = stream_of(s, h, f->hd.stream_id);
  if (f->headers.cat != NGHTTP2_HCAT_REQUEST) { /* trailers */
    if (st && !st->malformed && http_h2req_trailers_end(&st->req, end_stream) < 0)
      malformed(s, st);
    return 0;
  }
  h->hdr_st = NULL; /* the block is over */
  if (!st || st->malformed)
    return 0;
  if (http_h2req_headers_end(&st->req, end_stream) < 0) {
    malformed(s, st);
    return 0;
  }
  if (!st->started && !h->closing && !h->dying)
    start_request(h, st);
  return 0;
}

/* Request body bytes (a static server reads none): counted against content-length. */
static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user) {
  (void)flags;
  (void)data;
  (void)user;
  struct stream *st = nghttp2_session_get_stream_user_data(s, id);
  if (st && !st->malformed && http_h2req_data(&st->req, len) < 0)
    malformed(s, st);
  return 0;
}

/* Over TLS a DATA frame, its header included, fills one record (16 KiB, tls.c's RECORD_MAX)
 * instead of spilling 9 bytes into the next: the client decrypts whole frames, and six
 * frames make tls.c's 96 KiB batch exactly, where 16 KiB frames left a small extra record
 * per batch (h2o sizes its frames the same way). */
static ssize_t record_sized(nghttp2_session *s, uint8_t type, int32_t id, int32_t conn_window,
                            int32_t stream_window, uint32_t max_frame, void *user) {
  (void)s;
  (void)type;
  (void)id;
  (void)conn_window;
  (void)stream_window;
  (void)user;
  return max_frame < 16384 - 9 ? (ssize_t)max_frame : 16384 - 9;
}

/* A response's HEADERS frame is about to go: its block, encoded now, in the order the
 * client will decode the blocks (nghttp2 may send them in another order than they were
 * submitted, and drops those of streams reset meanwhile), waits in hblk for flush. */
static int before_send(nghttp2_session *s, const nghttp2_frame *f, void *user) {
  h2_t *h = user;
  if (f->hd.type != NGHTTP2_HEADERS)
    return 0;
  struct stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  /* Every response block must be ours, or the client's table would drift from our
   * encoder's: without a stream (cannot happen: nghttp2 sends HEADERS of open streams
   * only, and those have theirs) the :status nghttp2 was given, alone. */
  struct http_hpack_field status = {":status", "500", 7, 3, 8};
  if (f->headers.nvlen > 0) {
    status.value = (const char *)f->headers.nva[0].value;
    status.value_len = (uint32_t)f->headers.nva[0].valuelen;
  }
  ssize_t n = st && st->n_fields
                  ? http_hpack_encode(h->hp, st->fields, st->n_fields, h->hblk, sizeof(h->hblk))
                  : http_hpack_encode(h->hp, &status, 1, h->hblk, sizeof(h->hblk));
  if (n < 0) { /* more than HBLK_MAX: cannot happen with the head's bounds */
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_INTERNAL_ERROR);
    return NGHTTP2_ERR_CANCEL;
  }
  h->hblk_sid = f->hd.stream_id;
  h->hblk_len = (size_t)n;
  return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *user) {
  (void)code;
  h2_t *h = user;
  struct stream *st = nghttp2_session_get_stream_user_data(s, id);
  if (!st)
    return 0;
  nghttp2_session_set_stream_user_data(s, id, NULL);
  if (h->hdr_st == st)
    h->hdr_st = NULL;
  h->n_open--;
  if (h->n_open == 0)
    h->idle_since = loop_now(h->w->loop);
  if (st->answered && !st->done) {
    st->done = 1;
    h->n_sending--;
  } else if (st->answered && code == NGHTTP2_NO_ERROR) {
    h->completed++;
  }
  if (st->started)
    log_stream(st);
  st->closed = 1;
  answer_abandon(&st->a); /* a lookup on the pool comes back to on_hold only */
  if (st->reading)
    pool_cancel(&st->rd.job);
  if (st->jobs == 0)
    stream_free(st);
  else if (!st->reading)
    fbuf_put(st); /* not while a read fills it: on_read frees the stream */
  return 0;
}

/* ---- bytes ------------------------------------------------------------------------------- */

/* The HEADERS frame nghttp2 packed (one frame: its block is a :status alone) goes out with
 * our block (before_send) in place of its own; its flags and stream stay. -EPROTO if it is
 * not the frame the block was made for: never sent, since the client's table would drift. */
static int put_headers(h2_t *h, const uint8_t *fr, size_t n) {
  if (n < 9)
    return -EPROTO;
  uint32_t len = (uint32_t)fr[0] << 16 | (uint32_t)fr[1] << 8 | fr[2];
  int32_t sid = (int32_t)(((uint32_t)fr[5] << 24 | (uint32_t)fr[6] << 16 |
                           (uint32_t)fr[7] << 8 | fr[8]) & 0x7fffffffu);
  if (n != 9 + (size_t)len || sid != h->hblk_sid || !(fr[4] & NGHTTP2_FLAG_END_HEADERS))
    return -EPROTO;
  uint8_t *o = (uint8_t *)out_room(h, 9 + h->hblk_len);
  o[0] = (uint8_t)(h->hblk_len >> 16);
  o[1] = (uint8_t)(h->hblk_len >> 8);
  o[2] = (uint8_t)h->hblk_len;
  o[3] = NGHTTP2_HEADERS;
  o[4] = fr[4] & (NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM); /* no padding */
  memcpy(o + 5, fr + 5, 4);                                           /* the stream */
  memcpy(o + 9, h->hblk, h->hblk_len);
  out_queue(h, NULL, NULL, 9 + h->hblk_len);
  h->hblk_sid = 0;
  return 0;
}

/* Frames out through the transport until it would block or nghttp2 has nothing more. */
static void flush(h2_t *h) {
  if (h->closing)
    return;
  size_t turn = 0;
  for (;;) {
    if (turn >= FLUSH_MAX) {
      /* A client that reads as fast as we write would keep us here for a whole download:
       * the rest goes on the next turn of the loop, after the pool's completions (the
       * lookups of the small files asked beside it) have run. */
      set_events(h, h->events | LOOP_WRITE | (h->dying ? 0 : LOOP_READ));
      arm_next(h);
      return;
    }
    if (!out_pending(h)) {
      h->n_seg = h->seg_i = 0;
      h->seg_done = h->out_len = h->q_len = 0;
      while (h->q_len < OUT_FILL) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h->s, &data);
        if (n < 0) {
          conn_abort(h->c);
          return;
        }
        if (n == 0)
          break;
        if (h->hblk_sid && n >= 9 && data[3] == NGHTTP2_HEADERS) {
          if (put_headers(h, data, (size_t)n) < 0) {
            conn_abort(h->c);
            return;
          }
          continue;
        }
        memcpy(out_room(h, (size_t)n), data, (size_t)n);
        out_queue(h, NULL, NULL, (size_t)n);
      }
      if (h->q_len == 0)
        break;
    }
    struct iovec iov[OUT_IOV];
    int niov = 0;
    for (unsigned i = h->seg_i; i < h->n_seg && niov < OUT_IOV; i++) {
      const struct oseg *g = &h->seg[i];
      const char *p = g->ent ? g->ptr : h->out + g->off;
      size_t skip = i == h->seg_i ? h->seg_done : 0;
      iov[niov++] = (struct iovec){(void *)(p + skip), g->len - skip};
    }
    int want = LOOP_WRITE;
    ssize_t n = h->tx->ops->sendv(h->tx, iov, niov, 0, &want);
    if (n == -EAGAIN) {
      set_events(h, (h->events & ~LOOP_WRITE) | want | (h->dying ? 0 : LOOP_READ));
      arm_next(h); /* the send timeout runs while the client does not read */
      return;
    }
    if (n < 0) {
      if (n == -EFAULT) /* a mapped file (mapped_entry) is shorter than when it was found */
        log_msg(h->w->log, LOG_WARN, "h2: a file shrank while it was sent: closing");
      conn_abort(h->c); /* EPIPE, ECONNRESET: the client is gone */
      return;
    }
    out_advance(h, (size_t)n);
    turn += (size_t)n; /* progress for the send timeout is DATA (read_body): a client that
                        * only pings must not keep a stalled answer alive */
  }
  /* Everything is out. */
  out_release(h);
  if (h->dying || (!nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s))) {
    h->tx->ops->shutdown(h->tx);
    conn_abort(h->c);
    return;
  }
  set_events(h, LOOP_READ | (h->read_wants_write ? LOOP_WRITE : 0));
  arm_next(h);
}

static void do_read(h2_t *h) {
  char buf[IN_CHUNK];
  for (int rounds = 0; rounds < 16 && !h->closing && !h->dying; rounds++) {
    int want = LOOP_READ;
    ssize_t n = h->tx->ops->recv(h->tx, buf, sizeof(buf), &want);
    if (n == -EAGAIN) {
      if (want == LOOP_WRITE) {
        h->read_wants_write = 1;
        set_events(h, h->events | LOOP_WRITE);
      }
      break;
    }
    if (n <= 0) {
      conn_abort(h->c); /* the client closed (or reset): its streams end with it */
      return;
    }
    h->in_recv = 1;
    ssize_t rc = nghttp2_session_mem_recv(h->s, (const uint8_t *)buf, (size_t)n);
    h->in_recv = 0;
    if (rc < 0) {
      if (!h->dying) {
        char addr[64];
        log_msg(h->w->log, LOG_INFO, "client %s: h2: %s, closing",
                conn_peer(h->c, addr, sizeof(addr)), nghttp2_strerror((int)rc));
        h->dying = 1;
        if (rc != NGHTTP2_ERR_FLOODED) /* a flood's queue is what we will not send */
          nghttp2_session_terminate_session(h->s, rc == NGHTTP2_ERR_BAD_CLIENT_MAGIC
                                                      ? NGHTTP2_PROTOCOL_ERROR
                                                      : NGHTTP2_INTERNAL_ERROR);
        else {
          conn_abort(h->c);
          return;
        }
      }
      break;
    }
    if (!h->tx->ops->pending(h->tx) && (size_t)n < sizeof(buf))
      break;
    if (rounds == 15 && h->tx->ops->pending(h->tx))
      conn_read_later(h->c); /* the turn is over, not the bytes TLS holds */
  }
  flush(h);
}

/* ---- timers ------------------------------------------------------------------------------ */

/* The connection's next deadline: the send timeout while answers wait for the client to take
 * them, the header timeout while a header block is incomplete, the keep-alive timeout while
 * no stream is open (the drain grace when draining). */
static uint64_t next_deadline(h2_t *h) {
  struct wctx *w = h->w;
  uint64_t d = UINT64_MAX;
  if (h->n_sending > 0 || out_pending(h))
    d = h->last_send + w->send_ms;
  if (h->in_block && h->headers_since + w->header_ms < d)
    d = h->headers_since + w->header_ms;
  if (h->n_open == 0) {
    uint64_t idle = h->idle_since + (w->draining ? DRAIN_GRACE_MS : w->keepalive_ms);
    if (idle < d)
      d = idle;
  }
  if (h->draining == 1 && h->drain_at + GOAWAY_RTT_MS < d)
    d = h->drain_at + GOAWAY_RTT_MS;
  return d;
}

static void arm_next(h2_t *h) {
  uint64_t now = loop_now(h->w->loop), d = next_deadline(h);
  if (d != UINT64_MAX)
    conn_arm(h->c, d > now ? d - now : 0);
}

void h2_on_timer(h2_t *h) {
  struct wctx *w = h->w;
  uint64_t now = loop_now(w->loop);
  if (h->draining == 1 && now >= h->drain_at + GOAWAY_RTT_MS) {
    /* The client has had a round trip to see the notice: the streams it opened by now are
     * the last ones served. */
    nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->s),
                          NGHTTP2_NO_ERROR, NULL, 0);
    h->draining = 2;
    flush(h);
    return;
  }
  if (now < next_deadline(h)) {
    arm_next(h);
    return;
  }
  char addr[64];
  const char *peer = conn_peer(h->c, addr, sizeof(addr));
  if ((h->n_sending > 0 || out_pending(h)) && now >= h->last_send + w->send_ms) {
    /* A pool read under way is the disk's delay, not the client's: look again later. */
    for (struct stream *st = h->streams; st; st = st->next)
      if (st->reading || (st->started && !st->answered && !st->closed)) {
        h->last_send = now;
        arm_next(h);
        return;
      }
    log_msg(w->log, LOG_INFO, "client %s: h2 send timeout, closing", peer);
    conn_abort(h->c);
    return;
  }
  if (h->in_block)
    log_msg(w->log, LOG_INFO, "client %s: h2 header timeout, closing", peer);
  /* Idle: say goodbye politely; the client knows no stream of its was lost. */
  nghttp2_session_terminate_session(h->s, NGHTTP2_NO_ERROR);
  h->dying = 1;
  flush(h);
}

/* ---- lifecycle --------------------------------------------------------------------------- */

void h2_on_io(h2_t *h, int events) {
  if (h->read_wants_write && (events & LOOP_WRITE)) {
    h->read_wants_write = 0;
    events |= LOOP_READ;
  }
  if (events & LOOP_READ)
    do_read(h);
  else if (events & LOOP_WRITE)
    flush(h);
}

void h2_drain(h2_t *h) {
  if (h->draining || h->dying || h->closing)
    return;
  h->draining = 1;
  h->drain_at = loop_now(h->w->loop);
  nghttp2_submit_shutdown_notice(h->s);
  flush(h);
}

void h2_close(h2_t *h) {
  if (h->closing)
    return;
  h->closing = 1;
  for (struct stream *st = h->streams; st; st = st->next) {
    if (st->started && !st->closed)
      log_stream(st);
    st->closed = 1;
    answer_abandon(&st->a);
    if (st->reading)
      pool_cancel(&st->rd.job);
  }
}

void h2_free(h2_t *h) {
  if (!h)
    return;
  h->closing = 1;
  while (h->streams)
    stream_free(h->streams);
  while (h->spare) {
    struct stream *st = h->spare;
    h->spare = st->next;
    free(st->buf);
    free(st);
  }
  nghttp2_session_del(h->s);
  mem_drop(h);
  for (unsigned i = h->seg_i; i < h->n_seg; i++)
    if (h->seg[i].ent)
      fcache_release(h->w->cache, h->seg[i].ent);
  free(h->seg);
  out_release(h);
  http_hpack_free(h->hp);
  free(h);
}

int h2_new(struct wctx *w, struct conn *c, struct transport *tx, const char *in, size_t len,
           h2_t **out) {
  h2_t *h = calloc(1, sizeof(*h));
  nghttp2_session_callbacks *cbs = NULL;
  nghttp2_option *opt = NULL;
  int rc = -ENOMEM;
  if (!h)
    goto fail;
  h->w = w;
  h->c = c;
  h->tx = tx;
  h->idle_since = loop_now(w->loop);
  h->ref_bodies = tx->ops->zero_copy(tx);
  if (!(h->hp = http_hpack_new()))
    goto fail;
  if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0)
    goto fail;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
  nghttp2_session_callbacks_set_send_data_callback(cbs, send_data);
  nghttp2_session_callbacks_set_before_frame_send_callback(cbs, before_send);
  if (!h->ref_bodies)
    nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, record_sized);
  /* nghttp2's own blocks (:status alone) are thrown away: its table would only cost. */
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, 0);
  /* SETTINGS and PING floods: acknowledgements the client does not read pile up; nghttp2
   * ends the session past this many (its default, written down). */
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_option_set_max_settings(opt, 32);
  /* RFC 9113's request rules are ours (http_h2req.h): in one pass per field they cost a
   * ninth less of a 1 KiB answer than nghttp2's. */
  nghttp2_option_set_no_http_messaging(opt, 1);
  nghttp2_mem mem = {h, mem_malloc, mem_free, mem_calloc, mem_realloc};
  if (nghttp2_session_server_new3(&h->s, cbs, h, opt, &mem) != 0)
    goto fail;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)w->conf->limits.h2_max_concurrent_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, w->max_header_bytes},
  };
  if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, 2) != 0)
    goto fail;
  nghttp2_session_callbacks_del(cbs);
  nghttp2_option_del(opt);
  cbs = NULL;
  opt = NULL;
  *out = h;
  if (len > 0) {
    h->in_recv = 1;
    ssize_t n = nghttp2_session_mem_recv(h->s, (const uint8_t *)in, len);
    h->in_recv = 0;
    if (n < 0) {
      h->dying = 1;
      nghttp2_session_terminate_session(h->s, NGHTTP2_PROTOCOL_ERROR);
    }
  }
  if (w->draining) /* the drain began while this connection was in its handshake */
    h2_drain(h);
  else
    flush(h);
  return 0;
fail:
  nghttp2_session_callbacks_del(cbs);
  nghttp2_option_del(opt);
  if (h && h->s)
    nghttp2_session_del(h->s);
  if (h) {
    mem_drop(h);
    http_hpack_free(h->hp);
  }
  free(h);
  return rc;
}
