/* The compression cache (see zcache.h): a chained hash table on an LRU list, as the file
 * cache is. compress_work runs on a pool thread and reads only its entry and the source
 * entry's bytes or descriptor, both kept alive by references until compress_done. */
#include "zcache.h"

#include <brotli/encode.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "http_accept.h"

#define BUCKETS 1024 /* a power of two */

/* brotli 9 and gzip 9: the work is done once per file version, so the smallest output is
 * worth a slower level than nginx's per-request gzip (level 1 by default). */
#define BROTLI_QUALITY 9
#define GZIP_LEVEL 9

struct zcache {
  pool_t *pool;
  fcache_t *files;
  zcache_ready_fn ready;
  struct zc_entry *buckets[BUCKETS];
  struct zc_entry *lru_head, *lru_tail;
  size_t bytes, max_bytes, entries;
  uint64_t hits, compressions, bytes_in, bytes_out;
};

static uint64_t hash_key(const char *k, size_t n) {
  uint64_t h = 14695981039346656037ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)k[i];
    h *= 1099511628211ull;
  }
  return h;
}

int zcache_new(pool_t *pool, fcache_t *files, size_t max_bytes, zcache_ready_fn ready,
               zcache_t **out) {
  zcache_t *z = calloc(1, sizeof(*z));
  if (!z)
    return -ENOMEM;
  z->pool = pool;
  z->files = files;
  z->max_bytes = max_bytes;
  z->ready = ready;
  *out = z;
  return 0;
}

static size_t cost(const struct zc_entry *e) {
  return sizeof(*e) + e->key_len + e->len;
}

static void lru_unlink(zcache_t *z, struct zc_entry *e) {
  if (e->lru_prev)
    e->lru_prev->lru_next = e->lru_next;
  else if (z->lru_head == e)
    z->lru_head = e->lru_next;
  if (e->lru_next)
    e->lru_next->lru_prev = e->lru_prev;
  else if (z->lru_tail == e)
    z->lru_tail = e->lru_prev;
  e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(zcache_t *z, struct zc_entry *e) {
  e->lru_prev = NULL;
  e->lru_next = z->lru_head;
  if (z->lru_head)
    z->lru_head->lru_prev = e;
  z->lru_head = e;
  if (!z->lru_tail)
    z->lru_tail = e;
}

/* Out of the table; the memory goes with the last reference. */
static void drop(zcache_t *z, struct zc_entry *e) {
  struct zc_entry **pp = &z->buckets[e->hash & (BUCKETS - 1)];
  while (*pp != e)
    pp = &(*pp)->hnext;
  *pp = e->hnext;
  lru_unlink(z, e);
  e->cached = 0;
  z->entries--;
  z->bytes -= cost(e);
  if (e->refs == 0) {
    free(e->body);
    free(e);
  }
}

/* Least recently used first, never one still being compressed. */
static void evict(zcache_t *z) {
  struct zc_entry *e = z->lru_tail;
  while (z->bytes > z->max_bytes && e) {
    struct zc_entry *prev = e->lru_prev;
    if (e->state != ZC_PENDING)
      drop(z, e);
    e = prev;
  }
}

/* The source's bytes: in memory (a small file) or read from its descriptor. */
static int source(struct zc_entry *e, const char **p, char **owned) {
  struct fcache_entry *s = e->src;
  *owned = NULL;
  if (s->body) {
    *p = s->body;
    return 0;
  }
  char *buf = malloc(s->size ? s->size : 1);
  if (!buf)
    return -ENOMEM;
  size_t got = 0;
  while (got < s->size) {
    ssize_t n = pread(s->fd, buf + got, s->size - got, (off_t)got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      free(buf);
      return n < 0 ? -errno : -EIO;
    }
    got += (size_t)n;
  }
  *p = *owned = buf;
  return 0;
}

static int gzip_buf(const char *in, size_t len, char *out, size_t *olen) {
  z_stream s;
  memset(&s, 0, sizeof(s));
  if (deflateInit2(&s, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    return -ENOMEM;
  s.next_in = (Bytef *)in;
  s.avail_in = (uInt)len;
  s.next_out = (Bytef *)out;
  s.avail_out = (uInt)*olen;
  int rc = deflate(&s, Z_FINISH);
  *olen = s.total_out;
  deflateEnd(&s);
  return rc == Z_STREAM_END ? 0 : -ENOSPC;
}

static void compress_work(pool_job_t *job) {
  struct zc_entry *e = job->data;
  const char *in = NULL;
  char *owned;
  size_t len = e->src->size;
  e->err = source(e, &in, &owned);
  if (e->err < 0)
    return;
  /* no room for more than the original: a coding that does not shrink it is not sent */
  size_t cap = len, olen = len;
  char *out = malloc(cap ? cap : 1);
  if (!out) {
    e->err = -ENOMEM;
  } else if (e->coding == HTTP_CODING_BR) {
    if (!BrotliEncoderCompress(BROTLI_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, len,
                               (const uint8_t *)in, &olen, (uint8_t *)out))
      e->err = -ENOSPC;
  } else {
    e->err = gzip_buf(in, len, out, &olen);
  }
  free(owned);
  if (e->err < 0 || olen >= len) {
    free(out);
    e->err = e->err < 0 ? e->err : -ENOSPC;
    return;
  }
  char *fit = realloc(out, olen ? olen : 1);
  e->body = fit ? fit : out;
  e->len = olen;
}

static void compress_done(pool_job_t *job, int status) {
  struct zc_entry *e = job->data;
  zcache_t *z = e->z;
  fcache_release(z->files, e->src);
  e->src = NULL;
  if (status < 0 && e->err == 0)
    e->err = status; /* cancelled: the pool is going away */
  e->state = e->err == 0 ? ZC_READY : ZC_NONE;
  z->compressions++;
  if (e->cached) {
    z->bytes += e->len;
    if (e->state == ZC_READY) {
      z->bytes_out += e->len;
      evict(z);
    }
  }
  while (e->waiters) {
    struct fcache_waiter *w = e->waiters;
    fcache_unwait(w);
    z->ready(w, e);
  }
  zcache_release(z, e); /* the job's */
}

struct zc_entry *zcache_get(zcache_t *z, const char *key, size_t key_len, struct fcache_entry *src,
                            int coding, struct fcache_waiter *w) {
  uint64_t h = hash_key(key, key_len);
  struct zc_entry *e;
  for (e = z->buckets[h & (BUCKETS - 1)]; e; e = e->hnext)
    if (e->hash == h && e->key_len == key_len && memcmp(e->key, key, key_len) == 0)
      break;
  if (e) {
    if (z->lru_head != e) {
      lru_unlink(z, e);
      lru_push_front(z, e);
    }
    e->refs++;
    if (e->state == ZC_PENDING) {
      w->next = e->waiters;
      if (e->waiters)
        e->waiters->pprev = &w->next;
      w->pprev = &e->waiters;
      e->waiters = w;
    } else {
      z->hits++;
    }
    return e;
  }
  if (!(e = calloc(1, sizeof(*e) + key_len + 1)))
    return NULL;
  memcpy(e->key, key, key_len);
  e->key_len = key_len;
  e->hash = h;
  e->z = z;
  e->coding = coding;
  e->state = ZC_PENDING;
  e->src = src;
  fcache_ref(src);
  e->refs = 2; /* the caller's and the job's */
  e->job.data = e;
  if (pool_submit(z->pool, &e->job, compress_work, compress_done) < 0) {
    fcache_release(z->files, src);
    e->state = ZC_NONE; /* the pool is full: this answer goes uncompressed, uncached */
    e->refs = 1;
    return e;
  }
  z->bytes_in += src->size;
  e->cached = 1;
  e->hnext = z->buckets[h & (BUCKETS - 1)];
  z->buckets[h & (BUCKETS - 1)] = e;
  lru_push_front(z, e);
  z->entries++;
  z->bytes += cost(e) - e->len;
  w->next = NULL;
  w->pprev = &e->waiters;
  e->waiters = w;
  return e;
}

void zcache_release(zcache_t *z, struct zc_entry *e) {
  (void)z;
  if (--e->refs == 0 && !e->cached) {
    free(e->body);
    free(e);
  }
}

void zcache_stats(const zcache_t *z, struct zcache_stats *o) {
  memset(o, 0, sizeof(*o));
  if (!z)
    return;
  o->entries = z->entries;
  o->bytes = z->bytes;
  o->max_bytes = z->max_bytes;
  o->hits = z->hits;
  o->compressions = z->compressions;
  o->bytes_in = z->bytes_in;
  o->bytes_out = z->bytes_out;
}

void zcache_free(zcache_t *z) {
  if (!z)
    return;
  for (size_t i = 0; i < BUCKETS; i++)
    while (z->buckets[i])
      drop(z, z->buckets[i]);
  free(z);
}
