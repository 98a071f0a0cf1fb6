/* The answer layer of a worker: a request (method, target, the headers the rules read)
 * becomes a response (status, headers, body source), whatever the session that carries it
 * (h1 in conn.c, h2 in h2.c). It owns the lookup through the file cache and the pool, the
 * path rules, redirects, conditionals, ranges, MIME and error bodies, and writes the access
 * log line. Loop thread only; the lookups run on the pool and come back here. */
#ifndef EVC_ANSWER_H
#define EVC_ANSWER_H

#include <limits.h>
#include <stdint.h>

#include "autoindex.h"
#include "fcache.h"
#include "http_accept.h"
#include "http_request.h"
#include "http_response.h"
#include "sfile.h"
#include "site.h"
#include "zcache.h"

struct wctx;

/* A written head holds at most this much (h1 writes it as is, h2 splits it into fields). */
#define ANSWER_HEAD_MAX 2048
/* A redirect's Location leaves room in ANSWER_HEAD_MAX for the other headers of a 301
 * (~200 bytes); longer ones (long queries) are answered 414. */
#define ANSWER_LOCATION_MAX (ANSWER_HEAD_MAX - 256)

struct answer;
struct mp_read;
typedef void (*answer_fn)(struct answer *a);

/* Embedded in the session's per-request state. Fields: public (the session sets them before
 * answer_start), read-only (valid from ready until answer_end), private. */
struct answer {
  /* public */
  struct wctx *w;
  answer_fn ready;       /* the answer is decided; may run inside answer_start */
  /* A pool job starts (+1) or came back (-1): the session keeps its memory alive meanwhile.
   * After answer_abandon, the -1 is the last the session hears of this answer. */
  void (*hold)(struct answer *a, int delta);
  const http_request_t *q; /* the request; its spans point into buf */
  const char *buf;
  int redirect_https;      /* answer every request with a 301 to https (w->https_port) */
  const char *sni;         /* the TLS server name, for a request without Host; or NULL */
  /* read-only */
  struct http_head head; /* status and fields, Date set; connection left to the session */
  const char *body;      /* the body in memory (a small file, an error page), or NULL */
  size_t body_len;
  int file_fd;           /* or a range of a file: the cache entry's descriptor, or -1 */
  /* With body: the file it was read from and the body's offset in it, when the session may
   * send it with sendfile instead (see SFILE_SENDFILE_MIN); -1 otherwise */
  int body_fd;
  uint64_t body_off;
  uint64_t file_off, file_len;
  uint64_t body_bytes;   /* the body's planned length, for the access log */
  int close_after;       /* a broken request (400, 414, 431, 5xx): h1 ends the connection */
  const char *key;       /* the path below the root ("" before the path rules ran) */
  size_t key_len;
  /* private: first what answer_reset sets for every request, together (a few cache lines,
   * not one per field across the ~10 KiB below: h2 keeps dozens of answers per connection,
   * and a reset of scattered fields missed the cache at every stream), then the buffers */
  const struct wsite *site; /* chosen by Host / :authority / SNI; NULL before answer_start */
  const char *ckey;         /* the file cache's key: the site's prefix, then key */
  size_t ckey_len;
  int coding;               /* the sibling being looked up or served (enum http_coding) */
  int no_siblings;          /* a sibling vanished: serve the file itself */
  int in_fallback;          /* the lookup is the site's fallback (SPA) */
  int in_errpage;           /* the lookup is an error page, for err_status */
  int err_status;
  int vary;                 /* the file has siblings: Vary: Accept-Encoding */
  const char *ctype;        /* the file's Content-Type, while a sibling is looked up */
  size_t xhdr_len;
  struct fcache_entry *entry;
  struct aindex *ai;        /* a directory listing under way or being sent (heap: rare) */
  struct zc_entry *zentry;  /* the compressed bytes, being made or sent */
  struct fcache_waiter zwaiter; /* linked while zentry is being compressed */
  char *mp_buf;             /* a multipart/byteranges body (heap) */
  struct mp_read *mp;       /* its parts being read on the pool (a large file) */
  pool_job_t *job;
  int lookup_owner;
  int abandoned;
  struct fcache_waiter waiter;
  int aq[HTTP_CODING_COUNT]; /* Accept-Encoding weights (a site with compression) */
  struct sfile_op op;       /* its path buffer last */
  struct http_head err_extra;
  struct http_file_info finfo; /* a sibling's metadata, its ETag marked with the coding */
  char xhdr[1100];          /* the site's header lines for this path */
  char mp_type[64];         /* "multipart/byteranges; boundary=..." */
  char path[SITE_PREFIX_MAX + PATH_MAX];
  char loc[ANSWER_LOCATION_MAX];
  char page[512];
};

/* Resets the answer for a new request (public fields are kept). */
void answer_reset(struct answer *a);
/* Answers a->q: ready runs now (from memory, an error) or after a lookup on the pool. */
void answer_start(struct answer *a);
/* Answers with an error page (a request the session could not parse); ready runs now.
 * extra: Allow, Location or a range's size; NULL for none. */
void answer_status(struct answer *a, int status, const struct http_head *extra);
/* The session goes away while the answer may still be under way: it stops waiting; a lookup
 * on the pool comes back to hold(-1) and nothing else. */
void answer_abandon(struct answer *a);
/* The answer is out (or abandoned after ready): its file reference and buffers go. */
void answer_end(struct answer *a);

/* The compression cache's callback (zcache_new): a compression this answer waited for is
 * done. */
void answer_zready(struct fcache_waiter *w, struct zc_entry *e);

/* One access log line. proto_line: the request line ("GET /x HTTP/1.1" as received, or the
 * one an h2 session makes); NULL: "-". tls: the transport's field, or NULL. */
struct answer_log {
  const char *peer;
  const char *line;
  size_t line_len;
  const char *tls;
  int status;
  uint64_t body_bytes;
  uint64_t head_bytes; /* of the head that went out (0 for h2, whose HPACK size is unknown) */
  uint64_t started_us; /* answer_now_us() when the request was complete */
};
/* Counts the request for /metrics (status, bytes, duration: the worker's counters, which the
 * supervisor's pings carry) and writes its access log line, whatever the protocol: counted
 * where it is logged, so both tell the same story. */
void answer_log(struct wctx *w, const http_request_t *q, const char *buf,
                const struct answer_log *l);
/* The loop's cached CLOCK_MONOTONIC reading in microseconds, for request durations: taken
 * at the loop's turns, as nginx and h2o time theirs, not read per request (two vDSO clock
 * reads per request were 3% of a 1 KiB h2c answer's CPU in a KVM guest). An answer made
 * within one turn counts 0 us: the histogram's first bucket, 100 us, holds it either way. */
uint64_t answer_now_us(const struct wctx *w);

#endif
