/* The worker's open-file cache: what a lookup on the pool found (the descriptor, the
 * metadata, the bytes of a small file, the precomputed ETag and Last-Modified), kept for a
 * short validity so that the loop answers repeated requests without a pool round trip and
 * without touching the file system. An entry older than its validity is not used: the
 * request looks the file up again on the pool, and the new result replaces the entry, so a
 * changed or deleted file is served fresh within the validity. Bounded in entries, bytes and
 * descriptors (LRU). Loop thread only. */
#ifndef EVC_FCACHE_H
#define EVC_FCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "http_answer.h"
#include "sfile.h"

typedef struct fcache fcache_t;

/* Fields are read-only for users; an entry stays valid while they hold a reference, even
 * after the cache dropped it. */
struct fcache_entry {
  int fd;     /* open: a large file (sent with sendfile); or a small file of at least
               * SFILE_SENDFILE_MIN bytes while half the descriptor budget allows (plain
               * connections sendfile it); else -1 */
  char *body; /* the whole file when small, else NULL */
  uint64_t size;
  struct http_file_info info; /* etag, Last-Modified and the served name, precomputed */
  unsigned siblings; /* precompressed siblings found beside it (sfile_op.siblings) */
  const char *map;   /* fd's file mapped whole (fcache_map), or NULL */
  int map_kept;      /* its pages stay in our page tables between answers (within max_map);
                      * else the sender lets go of those behind it */
  /* private */
  int map_failed;
  struct fcache_entry *map_prev, *map_next; /* the kept mappings, oldest first */
  struct fcache_entry *hnext;          /* hash chain */
  struct fcache_entry *lru_prev, *lru_next;
  uint64_t hash;
  uint64_t validated_ms;
  unsigned refs;
  int cached; /* still in the table */
  size_t key_len;
  char key[]; /* the request path below the root, as normalised ("dir/" or "a.txt") */
};

struct fcache_limits {
  uint64_t valid_ms;  /* 0: no caching at all */
  size_t max_entries;
  size_t max_bytes;   /* of small files' bytes */
  size_t max_fds;     /* descriptors of large files kept open */
  size_t max_map;     /* bytes of files mapped by fcache_map whose pages stay in our page
                       * tables (counted by file size; 0: none stay) */
};

/* A mapped file up to this size keeps its pages in the worker's page tables between answers,
 * within max_map in all; a larger one never does (nor one that finds no room): its sender
 * lets the pages behind it go (MADV_DONTNEED), so that a multi-GiB download does not show
 * as resident memory of the worker. Room is made only from mappings of entries past their
 * validity: taking it from files being sent would have them take it back a frame later. */
#define FCACHE_MAP_KEEP ((uint64_t)8 << 20)

int fcache_new(const struct fcache_limits *lim, fcache_t **out);
/* The fresh entry for key, with a reference the caller releases; NULL on a miss or when the
 * entry is past its validity. */
struct fcache_entry *fcache_get(fcache_t *c, const char *key, size_t key_len, uint64_t now_ms);
/* Makes an entry of a successful lookup, taking op's descriptor and body (op is left with
 * neither). key is the request path the lookup was for (op->path may have the index name
 * appended); content_type is the served file's (a static string or one of the conf's).
 * Returns it with a reference; NULL only when out of memory (op keeps its fd and body then).
 * The entry replaces an older one for the same key. */
struct fcache_entry *fcache_put(fcache_t *c, const char *key, size_t key_len,
                                struct sfile_op *op, const char *content_type,
                                uint64_t now_ms);
void fcache_release(fcache_t *c, struct fcache_entry *e);
/* The entry's file (fd, its first size bytes) mapped read-only, made on first use and
 * unmapped with the entry; NULL when it has no descriptor or mmap failed (then never tried
 * again for this entry). Mapping reads nothing from the disk. Only the kernel (a write(2)
 * from it: a socket's) or mapread_copy may read the mapping: the file truncated meanwhile
 * then costs that call EFAULT, where any other read of ours would be killed by SIGBUS.
 * The pages read through it count as the worker's resident memory (statm, as ps shows it)
 * while they are in its page tables: see FCACHE_MAP_KEEP and max_map. */
const char *fcache_map(fcache_t *c, struct fcache_entry *e, uint64_t now_ms);
/* Another reference to an entry the caller holds one of. */
void fcache_ref(struct fcache_entry *e);

/* Lookups in flight ("cache lock"): requests for the same key that miss share one lookup. A
 * popular file going stale, or any file on a slow disk, would otherwise put one lookup per
 * request on the pool, and every later request would queue behind them. The waiter is the
 * caller's memory; the cache only links it. */
struct fcache_waiter {
  struct fcache_waiter *next, **pprev; /* pprev NULL: not waiting */
};

/* Returns 1 and links w when a lookup for key is under way (its owner hands w back through
 * fcache_lookup_done); 0 when none is: the caller looks the key up and must call
 * fcache_lookup_done when that is over. With caching off, always 0 and nothing is recorded
 * (every request sees the file system itself). -ENOMEM: look it up without sharing. */
int fcache_lookup_begin(fcache_t *c, const char *key, size_t key_len, struct fcache_waiter *w);
/* The lookup for key is over (done, failed or cancelled): its waiters move to *list, the
 * caller's list head (NULL when none), still linked so that fcache_unwait works on them. */
void fcache_lookup_done(fcache_t *c, const char *key, size_t key_len,
                        struct fcache_waiter **list);
/* Unlinks w from whatever list holds it (a waiter whose connection closes); no-op when w is
 * not waiting. */
void fcache_unwait(struct fcache_waiter *w);
void fcache_stats(const fcache_t *c, size_t *entries, size_t *bytes, size_t *fds);
/* Drops every entry; those still referenced go when released. NULL: no-op. */
void fcache_free(fcache_t *c);

#endif
