/* The compression cache: a text file compressed on the fly (brotli, gzip) once per version
 * and kept, so that a popular file costs one compression, not one per request (nginx's gzip
 * compresses every answer again). Keyed by the file's cache key, its ETag and the coding;
 * the work runs on the pool; requests for the same key while it runs wait for that one
 * compression (as the file cache's shared lookups do); bounded in bytes, least recently used
 * first out. Loop thread only, except the job, which reads its source entry's bytes. */
#ifndef EVC_ZCACHE_H
#define EVC_ZCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "fcache.h"
#include "pool.h"

/* Larger files are sent as they are: a compression of several MiB holds a pool thread for a
 * second (brotli quality 9 compresses ~10 MB/s here) and would crowd the cache. */
#define ZCACHE_FILE_MAX (8u << 20)

typedef struct zcache zcache_t;

enum zc_state {
  ZC_PENDING = 0, /* the pool is compressing it */
  ZC_READY,       /* body holds the coded bytes */
  ZC_NONE,        /* not worth it (no smaller) or failed: send the file as it is */
};

struct zc_entry {
  /* read-only for users */
  enum zc_state state;
  char *body;
  size_t len;
  /* private */
  struct zc_entry *hnext, *lru_prev, *lru_next;
  struct fcache_waiter *waiters;
  zcache_t *z;
  struct fcache_entry *src; /* referenced while the job runs */
  pool_job_t job;
  int coding; /* enum http_coding */
  int err;
  unsigned refs;
  int cached;
  uint64_t hash;
  size_t key_len;
  char key[];
};

/* A waiter's entry is ready (or NONE): the waiter is unlinked, and holds the reference
 * zcache_get gave it. */
typedef void (*zcache_ready_fn)(struct fcache_waiter *w, struct zc_entry *e);

int zcache_new(pool_t *pool, fcache_t *files, size_t max_bytes, zcache_ready_fn ready,
               zcache_t **out);
/* The entry for key (the file's cache key, ETag and coding), with a reference. A new one is
 * compressed from src on the pool. READY or NONE: use it now. PENDING: w is linked, and
 * ready(w, e) runs once it is done (fcache_unwait(w) stops waiting; release the reference
 * then). NULL when out of memory: send the file as it is. */
struct zc_entry *zcache_get(zcache_t *z, const char *key, size_t key_len, struct fcache_entry *src,
                            int coding, struct fcache_waiter *w);
void zcache_release(zcache_t *z, struct zc_entry *e);
struct zcache_stats {
  uint64_t entries, bytes, max_bytes, hits, compressions, bytes_in, bytes_out;
};
void zcache_stats(const zcache_t *z, struct zcache_stats *out);
/* After the pool is gone (every job handed back). NULL: no-op. */
void zcache_free(zcache_t *z);

#endif
