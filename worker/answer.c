/* The answer layer (see answer.h): one function from a request to a response for every
 * session, so no rule of HTTP is written twice. Runs on the worker's loop thread; lookups go
 * to the pool (sfile) and come back to on_file. */
#define _GNU_SOURCE /* memmem */
#include "answer.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "http_answer.h"
#include "http_log.h"
#include "http_mime.h"
#include "http_multipart.h"
#include "http_path.h"
#include "http_redirect.h"
#include "wctx.h"

/* A client's path for the error log, escaped as the access log escapes it: decoded, a %0A in
 * it would write lines of its own. Returns buf (cap > 0), NUL-terminated. */
static const char *log_safe(const char *s, size_t len, char *buf, size_t cap) {
  buf[http_log_escape(s, len, buf, cap - 1)] = '\0';
  return buf;
}

void answer_reset(struct answer *a) {
  memset(&a->head, 0, sizeof(a->head));
  a->body = NULL;
  a->body_len = 0;
  a->file_fd = -1;
  a->body_fd = -1;
  a->file_off = a->file_len = 0;
  a->body_bytes = 0;
  a->close_after = 0;
  a->key = "";
  a->key_len = 0;
  a->site = NULL;
  a->ckey = "";
  a->ckey_len = 0;
  a->coding = 0;
  a->no_siblings = 0;
  a->in_fallback = 0;
  a->in_errpage = 0;
  a->err_status = 0;
  a->ctype = NULL;
  a->vary = 0;
  a->xhdr_len = 0;
  a->entry = NULL;
  a->ai = NULL;
  a->zentry = NULL;
  a->zwaiter.next = NULL;
  a->zwaiter.pprev = NULL;
  a->mp_buf = NULL;
  a->mp = NULL;
  a->job = NULL;
  a->lookup_owner = 0;
  a->abandoned = 0;
  a->waiter.next = NULL;
  a->waiter.pprev = NULL;
  a->op.fd = -1;
  a->op.body = NULL;
}

static void listing_free(struct answer *a) {
  if (a->ai) {
    aindex_release(a->ai);
    free(a->ai);
    a->ai = NULL;
  }
}

static void zentry_drop(struct answer *a) {
  fcache_unwait(&a->zwaiter);
  if (a->zentry) {
    zcache_release(a->w->zc, a->zentry);
    a->zentry = NULL;
  }
}

void answer_end(struct answer *a) {
  sfile_op_release(&a->op);
  listing_free(a);
  zentry_drop(a);
  free(a->mp_buf);
  a->mp_buf = NULL;
  if (a->entry) {
    fcache_release(a->w->cache, a->entry);
    a->entry = NULL;
  }
}

void answer_abandon(struct answer *a) {
  a->abandoned = 1;
  fcache_unwait(&a->waiter);
  if (a->zwaiter.pprev) /* waiting for a compression, which goes on for the others */
    zentry_drop(a);
  if (a->job)
    pool_cancel(a->job); /* a job no thread has taken need not run */
}

static const char *date_now(struct wctx *w) {
  return http_date_cache_get(&w->date, time(NULL));
}

/* The answer's head is complete: the site's headers (on the statuses nginx's add_header
 * takes: a year of Cache-Control must not stick to a 404) and Vary go in, then the session
 * has it. */
static void deliver(struct answer *a) {
  int st = a->head.status;
  /* a long Location (up to ANSWER_LOCATION_MAX) leaves no room for them in the head */
  if (a->xhdr_len && (st == 200 || st == 206 || st == 301 || st == 304) &&
      a->head.location_len + a->xhdr_len <= ANSWER_HEAD_MAX - 512) {
    a->head.extra = a->xhdr;
    a->head.extra_len = a->xhdr_len;
  }
  if (a->vary)
    a->head.vary_encoding = 1;
  a->ready(a);
}

/* Sets the key (a path below the root) and the cache key (the site's prefix, then the key)
 * in a->path; k may point into a->path. -1 when it does not fit a lookup's path. */
static int set_key(struct answer *a, const char *k, size_t len) {
  size_t pl = a->site->prefix_len;
  if (len + 1 > sizeof(a->op.path))
    return -1;
  memmove(a->path + pl, k, len);
  memcpy(a->path, a->site->prefix, pl);
  a->path[pl + len] = '\0';
  a->key = a->path + pl;
  a->key_len = len;
  a->ckey = a->path;
  a->ckey_len = pl + len;
  return 0;
}

static void lookup_key(struct answer *a);

static const char *error_page_of(const struct wsite *site, int status) {
  for (size_t i = 0; i < site->conf->n_error_pages; i++)
    if (site->conf->error_pages[i].code == status)
      return site->conf->error_pages[i].page;
  return NULL;
}

void answer_status(struct answer *a, int status, const struct http_head *extra) {
  int is_head = a->q->method == HTTP_HEAD;
  if (status == 400 || status >= 500 || status == 414 || status == 431)
    a->close_after = 1; /* after a broken request the stream may be out of sync */
  /* The site's page for this status, looked up as any file is (cache, pool); once only: an
   * error while it is served gives the built-in body below, never another page. */
  const char *page = status >= 400 && a->site && !a->in_errpage ? error_page_of(a->site, status)
                                                                  : NULL;
  if (page) {
    if (a->entry) { /* a 412 or 416 of a file: its head holds no pointer into the entry */
      fcache_release(a->w->cache, a->entry);
      a->entry = NULL;
    }
    a->in_errpage = 1;
    a->err_status = status;
    a->err_extra = extra ? *extra : (struct http_head){0};
    a->err_extra.etag = NULL;
    a->err_extra.last_modified = NULL;
    a->coding = 0;
    if (set_key(a, page, strlen(page)) == 0) {
      lookup_key(a);
      return;
    }
  }
  struct http_head h = {0};
  if (extra)
    h = *extra;
  h.status = status;
  h.date = date_now(a->w);
  size_t blen = 0;
  if (status != 204 && status != 304) {
    blen = http_error_body(status, a->page, sizeof(a->page));
    h.content_type = "text/html; charset=utf-8";
    h.has_length = 1;
    h.content_length = blen;
  }
  a->head = h;
  a->body = NULL;
  a->body_len = 0;
  a->file_fd = -1;
  a->body_fd = -1;
  a->file_len = 0;
  a->body_bytes = 0;
  if (!is_head && blen) {
    a->body = a->page;
    a->body_len = blen;
    a->body_bytes = blen;
  }
  deliver(a);
}

/* An error page's file, with the original status and its fields (Allow, Content-Range);
 * no conditionals, no range: they were about the file asked for. Takes the reference. */
static void serve_errpage(struct answer *a, struct fcache_entry *e) {
  struct http_head h = a->err_extra;
  h.status = a->err_status;
  h.date = date_now(a->w);
  h.content_type = e->info.content_type ? e->info.content_type : "text/html; charset=utf-8";
  h.has_length = 1;
  h.content_length = e->size;
  a->entry = e;
  a->head = h;
  a->body = NULL;
  a->body_len = 0;
  a->file_fd = -1;
  a->body_fd = -1;
  a->file_len = 0;
  a->body_bytes = 0;
  if (a->q->method != HTTP_HEAD && e->size) {
    a->body_bytes = e->size;
    if (e->body) {
      a->body = e->body;
      a->body_len = e->size;
    } else {
      a->file_fd = e->fd;
      a->file_off = 0;
      a->file_len = e->size;
    }
  }
  deliver(a);
}

/* The ETag of a coding: the file's with "-br" inside the quotes, so that a cache never
 * takes one coding's bytes for another's, and conditionals and If-Range compare codings. */
static void etag_for_coding(struct http_file_info *f, int coding) {
  const char *sfx = http_coding_suffix((enum http_coding)coding); /* ".br" */
  size_t sl = strlen(sfx);
  if (f->etag_len < 2 || f->etag[f->etag_len - 1] != '"' || f->etag_len + sl > sizeof(f->etag))
    return;
  f->etag[f->etag_len - 1] = '-';
  memcpy(f->etag + f->etag_len, sfx + 1, sl - 1);
  f->etag_len += sl - 1;
  f->etag[f->etag_len++] = '"';
}

/* Does the site compress this file on the fly? A text type, big enough to gain, small
 * enough for the cache. */
static int on_the_fly_ok(const struct answer *a, const struct fcache_entry *e) {
  static const char *const text[] = {"text/html", "text/css", "text/plain", "text/javascript",
                                     "application/javascript", "application/json",
                                     "image/svg+xml", "application/xml", "text/xml",
                                     "text/markdown", "text/csv", "application/manifest+json"};
  const conf_site_t *cs = a->site->conf;
  if (!cs->zip.on_the_fly || !a->w->zc || e->size < (uint64_t)cs->zip.min_size ||
      e->size > ZCACHE_FILE_MAX || e->size > a->w->zc_max / 4 || !e->info.content_type)
    return 0;
  const char *t = e->info.content_type;
  size_t tl = strcspn(t, "; ");
  size_t n = cs->zip.n_types ? cs->zip.n_types : sizeof(text) / sizeof(text[0]);
  for (size_t i = 0; i < n; i++) {
    const char *x = cs->zip.n_types ? cs->zip.types[i] : text[i];
    if (strlen(x) == tl && strncasecmp(x, t, tl) == 0)
      return 1;
  }
  return 0;
}

static void serve_file(struct answer *a, struct fcache_entry *e, struct http_file_info *f,
                       const char *body);

/* A multipart/byteranges body larger than this is not made: the whole file goes (200). The
 * parts are put together in memory, so this bounds a request's memory. */
#define MULTIPART_MAX (16u << 20)

/* The parts of a large file, read into the framed body on the pool. */
struct mp_read {
  pool_job_t job;
  struct answer *a;
  int fd;
  size_t n;
  struct {
    uint64_t off, len;
    size_t at; /* where in a->mp_buf */
  } p[HTTP_RANGE_MAX];
  char *buf;
  int err;
};

static void mp_work(pool_job_t *job) {
  struct mp_read *m = job->data;
  for (size_t i = 0; i < m->n && !m->err; i++) {
    uint64_t got = 0;
    while (got < m->p[i].len) {
      ssize_t r = pread(m->fd, m->buf + m->p[i].at + got, m->p[i].len - got,
                        (off_t)(m->p[i].off + got));
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0) {
        m->err = r < 0 ? -errno : -EIO; /* shrank under us: no short part */
        break;
      }
      got += (uint64_t)r;
    }
  }
}

static void mp_done(pool_job_t *job, int status) {
  struct mp_read *m = job->data;
  struct answer *a = m->a;
  int err = status < 0 ? status : m->err;
  a->job = NULL;
  a->mp = NULL;
  free(m);
  if (a->abandoned) {
    free(a->mp_buf);
    a->mp_buf = NULL;
    a->hold(a, -1);
    return;
  }
  a->hold(a, -1);
  if (err < 0) {
    free(a->mp_buf);
    a->mp_buf = NULL;
    answer_status(a, 500, NULL);
    return;
  }
  deliver(a);
}

/* Several ranges: one multipart/byteranges body, framed here and filled from memory (a
 * small file, coded bytes) or by a read on the pool. -1: too large; the caller sends the
 * whole file instead. */
static int serve_multipart(struct answer *a, struct fcache_entry *e, struct http_file_info *f,
                           const char *body, struct http_answer *ha) {
  struct wctx *w = a->w;
  char boundary[HTTP_MULTIPART_BOUNDARY_LEN + 1];
  const char *ptype = ha->head.content_type;
  /* a boundary no part can contain by chance: nginx's is a counter too */
  snprintf(boundary, sizeof(boundary), "%020llu",
           (unsigned long long)(w->requests * 2654435761ull + (uint64_t)time(NULL)));
  uint64_t total = http_multipart_length(ha->parts, ha->n_parts, boundary, ptype, f->size);
  if (total > MULTIPART_MAX) {
    struct http_head *h = &ha->head; /* the whole file, as if no Range had come */
    h->status = 200;
    h->content_length = f->size;
    ha->body_off = 0;
    ha->body_len = a->q->method == HTTP_HEAD ? 0 : f->size;
    ha->n_parts = 0;
    return -1;
  }
  snprintf(a->mp_type, sizeof(a->mp_type), "multipart/byteranges; boundary=%s", boundary);
  a->head = ha->head;
  a->head.date = date_now(w);
  a->head.content_type = a->mp_type;
  a->head.has_length = 1;
  a->head.content_length = total;
  if (a->coding)
    a->head.content_encoding = http_coding_name((enum http_coding)a->coding);
  if (a->q->method == HTTP_HEAD) {
    deliver(a);
    return 0;
  }
  if (!(a->mp_buf = malloc(total))) {
    answer_status(a, 503, NULL);
    return 0;
  }
  struct mp_read *m = NULL;
  const char *src = body ? body : e->body;
  if (!src) {
    if (!(m = calloc(1, sizeof(*m)))) {
      answer_status(a, 503, NULL);
      return 0;
    }
    m->a = a;
    m->fd = e->fd;
    m->buf = a->mp_buf;
    m->n = ha->n_parts;
  }
  size_t at = 0;
  for (size_t i = 0; i < ha->n_parts; i++) {
    const struct http_range *r = &ha->parts[i];
    size_t len = (size_t)(r->end - r->start + 1);
    at += http_multipart_part_head(a->mp_buf + at, total - at, boundary, ptype, r, f->size);
    if (src) {
      memcpy(a->mp_buf + at, src + r->start, len);
    } else {
      m->p[i].off = r->start;
      m->p[i].len = len;
      m->p[i].at = at;
    }
    at += len;
  }
  http_multipart_tail(a->mp_buf + at, total - at, boundary);
  a->body = a->mp_buf;
  a->body_len = total;
  a->body_bytes = total;
  if (!m) {
    deliver(a);
    return 0;
  }
  m->job.data = m;
  if (pool_submit(w->pool, &m->job, mp_work, mp_done) < 0) {
    free(m);
    free(a->mp_buf);
    a->mp_buf = NULL;
    a->body = NULL;
    answer_status(a, 503, NULL);
    return 0;
  }
  a->mp = m;
  a->job = &m->job;
  a->hold(a, 1);
  return 0;
}

/* The coded bytes are there (or will not be: NONE): the answer from them, or from the file. */
static void serve_zentry(struct answer *a) {
  struct zc_entry *z = a->zentry;
  struct fcache_entry *e = a->entry;
  if (z->state != ZC_READY) {
    serve_file(a, e, &e->info, NULL);
    return;
  }
  a->finfo = e->info;
  a->finfo.size = z->len;
  etag_for_coding(&a->finfo, a->coding);
  serve_file(a, e, &a->finfo, z->body);
}

void answer_zready(struct fcache_waiter *w, struct zc_entry *z) {
  struct answer *a = (struct answer *)((char *)w - offsetof(struct answer, zwaiter));
  (void)z;
  serve_zentry(a);
}

/* The file in coding c, made on the pool once and kept (zcache), shared with every request
 * that asks meanwhile. Keyed by the cache key, the ETag (a new version is a new key) and
 * the coding. Takes the reference on e. */
static void compress(struct answer *a, struct fcache_entry *e, int c) {
  char key[SITE_PREFIX_MAX + PATH_MAX + 64];
  size_t kl = a->ckey_len;
  a->entry = e;
  a->coding = c;
  if (kl + e->info.etag_len + 2 > sizeof(key)) {
    a->coding = 0;
    serve_file(a, e, &e->info, NULL);
    return;
  }
  memcpy(key, a->ckey, kl);
  key[kl++] = '\0';
  memcpy(key + kl, e->info.etag, e->info.etag_len);
  kl += e->info.etag_len;
  key[kl++] = (char)('0' + c);
  a->zentry = zcache_get(a->w->zc, key, kl, e, c, &a->zwaiter);
  if (!a->zentry) {
    a->coding = 0;
    serve_file(a, e, &e->info, NULL);
    return;
  }
  if (a->zentry->state == ZC_PENDING)
    return; /* answer_zready goes on */
  serve_zentry(a);
}

/* Answers from a file entry (fresh from the cache or just looked up): conditionals, range,
 * headers, then the bytes, from memory or from the file. Takes the reference. */
static void serve_entry(struct answer *a, struct fcache_entry *e) {
  struct wctx *w = a->w;
  if (a->in_errpage) {
    serve_errpage(a, e);
    return;
  }
  const conf_site_t *cs = a->site->conf;
  if ((cs->precompressed || cs->zip.on_the_fly) && a->coding == 0) {
    /* Accept-Encoding against the siblings found beside the file (its bit 0: itself) and
     * the codings made on the fly */
    unsigned sib = cs->precompressed && !a->no_siblings ? e->siblings : 0;
    unsigned fly = on_the_fly_ok(a, e) ? (1u << HTTP_CODING_BR) | (1u << HTTP_CODING_GZIP) : 0;
    unsigned avail = sib | fly | (1u << HTTP_CODING_IDENTITY);
    a->vary = avail != 1u;
    int c = http_accept_pick(a->aq, avail);
    if (c < 0) {
      fcache_release(w->cache, e);
      answer_status(a, 406, NULL);
      return;
    }
    if (c != HTTP_CODING_IDENTITY && !(sib & (1u << c))) {
      compress(a, e, c);
      return;
    }
    if (c != HTTP_CODING_IDENTITY) {
      const char *sfx = http_coding_suffix((enum http_coding)c);
      a->ctype = e->info.content_type;
      fcache_release(w->cache, e);
      char k[PATH_MAX];
      size_t kl = a->key_len, sl = strlen(sfx);
      if (kl + sl < sizeof(k)) {
        memcpy(k, a->key, kl);
        memcpy(k + kl, sfx, sl);
        if (set_key(a, k, kl + sl) == 0) {
          a->coding = c;
          lookup_key(a);
          return;
        }
      }
      answer_status(a, 500, NULL);
      return;
    }
  }
  a->entry = e;
  struct http_file_info *f = &e->info;
  if (a->coding) { /* a precompressed sibling */
    a->finfo = e->info;
    a->finfo.content_type = a->ctype;
    etag_for_coding(&a->finfo, a->coding);
    f = &a->finfo;
  }
  serve_file(a, e, f, NULL);
}

/* Conditionals, range, headers, then the bytes of f: body (the coded bytes in memory), or
 * the entry's. a->entry is e. */
static void serve_file(struct answer *a, struct fcache_entry *e, struct http_file_info *f,
                       const char *body) {
  struct wctx *w = a->w;
  struct http_answer ha;
  if (!body && a->zentry) /* not worth compressing: the file as it is */
    a->coding = 0;
  http_answer_file(a->q, a->buf, f, w->conf->mime, w->conf->n_mime, &ha);
  if (ha.error_page) {
    answer_status(a, ha.head.status, &ha.head);
    return;
  }
  if (ha.n_parts > 1 && serve_multipart(a, e, f, body, &ha) == 0)
    return;
  a->head = ha.head;
  a->head.date = date_now(w);
  if (a->coding && ha.head.status != 304)
    a->head.content_encoding = http_coding_name((enum http_coding)a->coding);
  a->body_bytes = ha.body_len;
  if (ha.body_len == 0) {
    /* HEAD, 304, or an empty file: headers only */
  } else if (body || e->body) {
    a->body = (body ? body : e->body) + ha.body_off;
    a->body_len = ha.body_len;
    if (!body && e->fd >= 0) { /* the same bytes, in the file the entry keeps open */
      a->body_fd = e->fd;
      a->body_off = ha.body_off;
    }
  } else {
    a->file_fd = e->fd;
    a->file_off = ha.body_off;
    a->file_len = ha.body_len;
  }
  deliver(a);
}

static void on_file(pool_job_t *job, int status);

/* Looks a->key up: waits for the lookup another request has under way for the same key,
 * or submits one. */
static void start_lookup(struct answer *a) {
  struct wctx *w = a->w;
  int rc = fcache_lookup_begin(w->cache, a->ckey, a->ckey_len, &a->waiter);
  if (rc == 1)
    return; /* the owner's on_file resumes us */
  a->lookup_owner = rc == 0;
  a->op.ctx = a->site->files;
  a->op.want_siblings = a->site->conf->precompressed && a->coding == 0;
  a->op.trailing_slash = a->key_len == 0 || a->key[a->key_len - 1] == '/';
  memcpy(a->op.path, a->key, a->key_len + 1);
  if (sfile_submit(w->pool, &a->op, on_file) < 0) {
    if (a->lookup_owner) {
      /* Waiters that came in between cannot exist (we are still on the stack), but the
       * record must go. */
      struct fcache_waiter *none;
      fcache_lookup_done(w->cache, a->ckey, a->ckey_len, &none);
      a->lookup_owner = 0;
    }
    answer_status(a, 503, NULL);
    return;
  }
  a->job = &a->op.job;
  a->hold(a, 1);
}

/* redirect_https: every request gets a 301 to the same host and target on the first TLS
 * listener's port; a Host that is not a plain name or address gets a 400, so nothing a
 * client sends can inject a header or point the redirect elsewhere. */
static void answer_https_redirect(struct answer *a) {
  const http_request_t *q = a->q;
  const struct http_span *h = &q->hdr[HTTP_H_HOST];
  int n = http_https_location((q->hdr_present & (1u << HTTP_H_HOST)) ? a->buf + h->off : NULL,
                              h->len, a->buf + q->target.off, q->target.len, a->w->https_port,
                              a->loc, sizeof(a->loc));
  if (n < 0) {
    answer_status(a, n == -ENAMETOOLONG ? 414 : 400, NULL);
    return;
  }
  struct http_head extra = {.location = a->loc, .location_len = (size_t)n};
  answer_status(a, 301, &extra);
}

void answer_start(struct answer *a) {
  struct wctx *w = a->w;
  const http_request_t *q = a->q;
  answer_reset(a);
  if (a->redirect_https) {
    answer_https_redirect(a);
    return;
  }
  /* the site: by Host (h2's :authority), else the TLS server name, else the first */
  int has_host = (q->hdr_present & (1u << HTTP_H_HOST)) != 0;
  a->site = wsites_pick(w->sites, has_host ? a->buf + q->hdr[HTTP_H_HOST].off : NULL,
                        has_host ? q->hdr[HTTP_H_HOST].len : 0, a->sni);
  if (q->method < 0) { /* a method this server does not know (h1's parser answers it) */
    answer_status(a, 501, NULL);
    return;
  }
  if (q->method != HTTP_GET && q->method != HTTP_HEAD) {
    /* A static server supports retrieval only; OPTIONS too gets the list of what it does. */
    struct http_head extra = {.allow = "GET, HEAD"};
    answer_status(a, 405, &extra);
    return;
  }
  size_t plen;
  if (http_path_normalize(a->buf + q->target.off, q->target.len, a->op.path,
                          sizeof(a->op.path), &plen) < 0) {
    answer_status(a, 400, NULL);
    return;
  }
  /* below the root: drop the leading '/' */
  set_key(a, a->op.path + 1, plen - 1);
  if (a->site->conf->n_headers)
    a->xhdr_len = wsite_headers(a->site, a->key, a->key_len, a->xhdr, sizeof(a->xhdr));
  if (a->site->conf->precompressed || a->site->conf->zip.on_the_fly) {
    int has = (q->hdr_present & (1u << HTTP_H_ACCEPT_ENCODING)) != 0;
    http_accept_encoding(has ? a->buf + q->hdr[HTTP_H_ACCEPT_ENCODING].off : NULL,
                         has ? q->hdr[HTTP_H_ACCEPT_ENCODING].len : 0, a->aq);
  }
  lookup_key(a);
}

/* The file at a->key: fresh in the cache, answered here (no pool round trip, no file
 * system); else looked up on the pool. */
static void lookup_key(struct answer *a) {
  struct wctx *w = a->w;
  struct fcache_entry *e = fcache_get(w->cache, a->ckey, a->ckey_len, loop_now(w->loop));
  if (e) {
    serve_entry(a, e);
    return;
  }
  start_lookup(a);
}

/* The answer to a finished lookup; e (a reference the answer takes) is set when result is
 * SFILE_OK. Also for the requests that waited for another's lookup. */
static void on_listing(pool_job_t *job, int status) {
  struct aindex *ai = (struct aindex *)((char *)job - offsetof(struct aindex, job));
  struct answer *a = ai->owner;
  a->job = NULL;
  if (a->abandoned) {
    listing_free(a);
    a->hold(a, -1); /* the session may free a now */
    return;
  }
  a->hold(a, -1);
  if (status < 0 || ai->err) {
    int err = status < 0 ? status : ai->err;
    answer_status(a, err == -ENOENT || err == -ENOTDIR ? 404
                     : err == -EACCES || err == -EXDEV || err == -ELOOP ? 403
                     : err == -ENOMEM || err == -EMFILE || err == -ENFILE ? 503 : 500,
                  NULL);
    return;
  }
  struct http_head h = {.status = 200, .date = date_now(a->w), .has_length = 1,
                        .content_length = ai->len};
  h.content_type = ai->json ? "application/json" : "text/html; charset=utf-8";
  a->head = h;
  a->body_bytes = a->q->method == HTTP_HEAD ? 0 : ai->len;
  if (a->body_bytes) {
    a->body = ai->body;
    a->body_len = ai->len;
  }
  deliver(a);
}

/* A listing of the folder at a->key, read and formatted on the pool. JSON when the client
 * asks for application/json (nginx's autoindex_format json), else HTML. */
static void start_listing(struct answer *a) {
  const http_request_t *q = a->q;
  struct aindex *ai = calloc(1, sizeof(*ai));
  if (!ai) {
    answer_status(a, 503, NULL);
    return;
  }
  a->ai = ai;
  ai->ctx = a->site->files;
  ai->owner = a;
  memcpy(ai->path, a->key, a->key_len + 1);
  if (q->hdr_present & (1u << HTTP_H_ACCEPT)) {
    const char *v = a->buf + q->hdr[HTTP_H_ACCEPT].off;
    size_t vl = q->hdr[HTTP_H_ACCEPT].len;
    ai->json = memmem(v, vl, "application/json", 16) != NULL;
  }
  if (aindex_submit(a->w->pool, ai, on_listing) < 0) {
    listing_free(a);
    answer_status(a, 503, NULL);
    return;
  }
  a->job = &ai->job;
  a->hold(a, 1);
}

/* 1 if the last segment of a path has an extension ("app.js", not "about" nor ".env"). */
static int has_extension(const char *p, size_t len) {
  size_t i = len;
  while (i > 0 && p[i - 1] != '/')
    i--;
  const char *dot = memchr(p + i, '.', len - i);
  return dot && dot > p + i && dot + 1 < p + len;
}

static void answer_lookup(struct answer *a, enum sfile_result result, struct fcache_entry *e) {
  if (a->in_errpage && (result != SFILE_OK || !e)) {
    answer_status(a, a->err_status, &a->err_extra); /* the built-in body: never a loop */
    return;
  }
  if (a->coding && (result != SFILE_OK || !e)) {
    /* the sibling went away since the file's lookup: the file itself, without siblings */
    set_key(a, a->key, a->key_len - strlen(http_coding_suffix((enum http_coding)a->coding)));
    a->coding = 0;
    a->no_siblings = 1;
    lookup_key(a);
    return;
  }
  const conf_site_t *cs = a->site->conf;
  if (result == SFILE_NOT_FOUND && cs->fallback && !a->in_fallback &&
      (cs->fallback_extensions || !has_extension(a->key, a->key_len))) {
    /* SPA: a path that names nothing is the application's, which routes it itself */
    a->in_fallback = 1;
    set_key(a, cs->fallback, strlen(cs->fallback));
    lookup_key(a);
    return;
  }
  switch (result) {
  case SFILE_OK:
    if (e)
      serve_entry(a, e);
    else
      answer_status(a, 500, NULL); /* out of memory for the entry */
    break;
  case SFILE_NOT_FOUND:
    answer_status(a, 404, NULL);
    break;
  case SFILE_FORBIDDEN:
    answer_status(a, 403, NULL);
    break;
  case SFILE_NO_INDEX:
    if (cs->autoindex)
      start_listing(a);
    else
      answer_status(a, 403, NULL);
    break;
  case SFILE_BUSY:
    answer_status(a, 503, NULL);
    break;
  case SFILE_REDIRECT: {
    /* Location: the path as resolved, encoded again, its slash, and the query as sent.
     * Never the target as written: "//host/.." would send the client to another host. */
    const http_request_t *q = a->q;
    const char *t = a->buf + q->target.off, *tend = t + q->target.len;
    const char *qs = memchr(t, '?', q->target.len);
    const char *qend = qs ? memchr(qs, '#', (size_t)(tend - qs)) : NULL;
    size_t qlen = qs ? (size_t)((qend ? qend : tend) - qs) : 0;
    char *loc = a->loc;
    size_t plen;
    loc[0] = '/';
    if (qlen + 2 > sizeof(a->loc) ||
        http_path_encode(a->key, a->key_len, loc + 1, sizeof(a->loc) - 2 - qlen, &plen) < 0) {
      answer_status(a, 414, NULL);
      break;
    }
    loc[1 + plen] = '/';
    if (qlen)
      memcpy(loc + 2 + plen, qs, qlen);
    struct http_head extra = {.location = loc, .location_len = 2 + plen + qlen};
    answer_status(a, 301, &extra);
    break;
  }
  case SFILE_ERROR:
    answer_status(a, 500, NULL);
    break;
  }
}

static void on_file(pool_job_t *job, int status) {
  struct answer *a = (struct answer *)((char *)job - offsetof(struct answer, op.job));
  struct wctx *w = a->w;
  a->job = NULL;
  enum sfile_result result = status == 0 ? a->op.result : SFILE_ERROR; /* unset if cancelled */
  struct fcache_entry *e = NULL;
  if (status == 0 && result == SFILE_OK) {
    /* Into the cache even when our client has gone: others may be waiting for it. */
    const char *type = http_mime_type(w->conf->mime, w->conf->n_mime, a->op.path,
                                      strlen(a->op.path));
    e = fcache_put(w->cache, a->ckey, a->ckey_len, &a->op, type, loop_now(w->loop));
    if (!e)
      sfile_op_release(&a->op);
  } else if (status == 0 && (result == SFILE_BUSY || result == SFILE_ERROR)) {
    char shown[1024];
    log_msg(w->log, result == SFILE_BUSY ? LOG_WARN : LOG_ERROR, "lookup of \"%s\" failed: %s%s",
            log_safe(a->op.path, strlen(a->op.path), shown, sizeof(shown)),
            strerror(-a->op.err), result == SFILE_BUSY ? "; answering 503" : "");
  }
  /* Taken before our own answer, which may reuse a for a pipelined request. */
  struct fcache_waiter *waiters = NULL;
  if (a->lookup_owner) {
    a->lookup_owner = 0;
    fcache_lookup_done(w->cache, a->ckey, a->ckey_len, &waiters);
  }
  /* The waiters' reference, taken now: our answer may release the last one otherwise. */
  int had_waiters = waiters != NULL;
  if (e && had_waiters)
    fcache_ref(e);

  if (a->abandoned) {
    if (e)
      fcache_release(w->cache, e);
    sfile_op_release(&a->op);
    a->hold(a, -1); /* the session may free a now */
  } else {
    a->hold(a, -1);
    if (status < 0) /* cancelled: only an abandoned answer cancels; defensive */
      answer_status(a, 503, NULL);
    else
      answer_lookup(a, result, e);
  }

  /* Everyone who asked for the same key meanwhile gets the same answer; when there is none
   * to share (our lookup was cancelled, or no memory for the entry), they look it up again
   * (the first of them for all the others). */
  int shared = status == 0 && (result != SFILE_OK || e);
  while (waiters) {
    struct fcache_waiter *wt = waiters;
    fcache_unwait(wt);
    struct answer *wa = (struct answer *)((char *)wt - offsetof(struct answer, waiter));
    if (!shared) {
      start_lookup(wa);
      continue;
    }
    if (e)
      fcache_ref(e);
    answer_lookup(wa, result, e);
  }
  if (e && had_waiters)
    fcache_release(w->cache, e);
}

uint64_t answer_now_us(const struct wctx *w) {
  return loop_now_us(w->loop);
}

void answer_log(struct wctx *w, const http_request_t *q, const char *buf,
                const struct answer_log *l) {
  struct ipc_counters *k = &w->counters;
  uint64_t now = answer_now_us(w);
  uint64_t us = now > l->started_us ? now - l->started_us : 0;
  k->status[ipc_status_slot(l->status)]++;
  k->bytes_out += l->body_bytes + l->head_bytes;
  k->duration[ipc_duration_slot(us)]++;
  k->duration_us_sum += us;
  if (!alog_enabled(w->alog))
    return;
  struct http_log_entry e = {
      .remote_addr = l->peer,
      .time = time(NULL),
      .request_line = l->line ? l->line : "-",
      .request_line_len = l->line ? l->line_len : 1,
      .status = l->status,
      .body_bytes = l->body_bytes,
      .tls = l->tls,
  };
  if (q->hdr_present & (1u << HTTP_H_REFERER)) {
    e.referer = buf + q->hdr[HTTP_H_REFERER].off;
    e.referer_len = q->hdr[HTTP_H_REFERER].len;
  }
  if (q->hdr_present & (1u << HTTP_H_USER_AGENT)) {
    e.user_agent = buf + q->hdr[HTTP_H_USER_AGENT].off;
    e.user_agent_len = q->hdr[HTTP_H_USER_AGENT].len;
  }
  alog_write(w->alog, &e);
}
