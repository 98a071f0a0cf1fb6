/* The open-file cache (see fcache.h): a chained hash table of entries on an LRU list. Loop
 * thread only; the bytes and descriptors it holds are read by pool threads (sendfile) only
 * while the connection that submitted the job holds a reference. */
#include "fcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BUCKETS 4096 /* a power of two */

#define LOOKUP_BUCKETS 256 /* a power of two; lookups in flight are few */

/* A lookup under way and the requests waiting for it. */
struct lookup {
  struct lookup *hnext;
  struct fcache_waiter *waiters;
  uint64_t hash;
  size_t key_len;
  char key[];
};

struct fcache {
  struct fcache_limits lim;
  struct lookup *lookups[LOOKUP_BUCKETS];
  struct fcache_entry *buckets[BUCKETS];
  struct fcache_entry *lru_head, *lru_tail; /* head: most recently used */
  size_t entries, bytes, fds;
  size_t mapped;                             /* sizes of the kept mappings */
  struct fcache_entry *map_head, *map_tail;  /* the kept mappings, oldest first */
};

static uint64_t hash_key(const char *k, size_t n) {
  uint64_t h = 14695981039346656037ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)k[i];
    h *= 1099511628211ull;
  }
  return h;
}

int fcache_new(const struct fcache_limits *lim, fcache_t **out) {
  fcache_t *c = calloc(1, sizeof(*c));
  if (!c)
    return -ENOMEM;
  c->lim = *lim;
  *out = c;
  return 0;
}

/* The kept mapping's pages leave our page tables (the page cache keeps them); a later
 * fcache_map counts it again. */
static void map_let_go(fcache_t *c, struct fcache_entry *e, int advise) {
  if (!e->map_kept)
    return;
  if (e->map_prev)
    e->map_prev->map_next = e->map_next;
  else
    c->map_head = e->map_next;
  if (e->map_next)
    e->map_next->map_prev = e->map_prev;
  else
    c->map_tail = e->map_prev;
  e->map_prev = e->map_next = NULL;
  e->map_kept = 0;
  c->mapped -= (size_t)e->size;
  if (advise)
    madvise((void *)e->map, (size_t)e->size, MADV_DONTNEED);
}

static void entry_free(fcache_t *c, struct fcache_entry *e) {
  map_let_go(c, e, 0);
  if (e->map)
    munmap((void *)e->map, (size_t)e->size);
  if (e->fd >= 0)
    close(e->fd);
  free(e->body);
  free(e);
}

static void lru_unlink(fcache_t *c, struct fcache_entry *e) {
  if (e->lru_prev)
    e->lru_prev->lru_next = e->lru_next;
  else
    c->lru_head = e->lru_next;
  if (e->lru_next)
    e->lru_next->lru_prev = e->lru_prev;
  else
    c->lru_tail = e->lru_prev;
  e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(fcache_t *c, struct fcache_entry *e) {
  e->lru_prev = NULL;
  e->lru_next = c->lru_head;
  if (c->lru_head)
    c->lru_head->lru_prev = e;
  c->lru_head = e;
  if (!c->lru_tail)
    c->lru_tail = e;
}

/* Takes e out of the table; its memory goes with its last reference. */
static void drop(fcache_t *c, struct fcache_entry *e) {
  struct fcache_entry **pp = &c->buckets[e->hash & (BUCKETS - 1)];
  while (*pp != e)
    pp = &(*pp)->hnext;
  *pp = e->hnext;
  lru_unlink(c, e);
  e->cached = 0;
  c->entries--;
  if (e->body)
    c->bytes -= e->size;
  if (e->fd >= 0)
    c->fds--;
  if (e->refs == 0)
    entry_free(c, e);
}

static struct fcache_entry *find(fcache_t *c, const char *key, size_t len, uint64_t h) {
  for (struct fcache_entry *e = c->buckets[h & (BUCKETS - 1)]; e; e = e->hnext)
    if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0)
      return e;
  return NULL;
}

struct fcache_entry *fcache_get(fcache_t *c, const char *key, size_t key_len, uint64_t now_ms) {
  if (c->lim.valid_ms == 0)
    return NULL;
  uint64_t h = hash_key(key, key_len);
  struct fcache_entry *e = find(c, key, key_len, h);
  if (!e)
    return NULL;
  if (now_ms - e->validated_ms >= c->lim.valid_ms) {
    drop(c, e); /* stale: the caller looks the file up again */
    return NULL;
  }
  if (c->lru_head != e) {
    lru_unlink(c, e);
    lru_push_front(c, e);
  }
  e->refs++;
  return e;
}

struct fcache_entry *fcache_put(fcache_t *c, const char *key, size_t key_len,
                                struct sfile_op *op, const char *content_type,
                                uint64_t now_ms) {
  struct fcache_entry *e = calloc(1, sizeof(*e) + key_len + 1);
  if (!e)
    return NULL;
  memcpy(e->key, key, key_len);
  e->key_len = key_len;
  e->hash = hash_key(key, key_len);
  e->size = (uint64_t)op->st.st_size;
  e->validated_ms = now_ms;
  e->refs = 1;
  e->siblings = op->siblings;
  if (op->body) {
    /* the bytes are in memory; the descriptor is kept only for sendfile's sake, and only
     * within half the budget: large files, which need theirs, keep the other half */
    e->body = op->body;
    e->fd = -1;
    if (e->size >= SFILE_SENDFILE_MIN && c->lim.valid_ms && c->fds < c->lim.max_fds / 2)
      e->fd = op->fd;
    else
      close(op->fd);
  } else {
    e->fd = op->fd;
  }
  op->body = NULL;
  op->fd = -1;
  struct http_file_info *f = &e->info;
  f->size = e->size;
  f->mtime = op->st.st_mtime;
  f->mtime_nsec = op->st.st_mtim.tv_nsec;
  f->content_type = content_type;
  http_answer_prepare(f);

  if (c->lim.valid_ms == 0)
    return e; /* uncached: a private entry for this one answer */
  struct fcache_entry *old = find(c, key, key_len, e->hash);
  if (old)
    drop(c, old);
  e->cached = 1;
  e->hnext = c->buckets[e->hash & (BUCKETS - 1)];
  c->buckets[e->hash & (BUCKETS - 1)] = e;
  lru_push_front(c, e);
  c->entries++;
  if (e->body)
    c->bytes += e->size;
  if (e->fd >= 0)
    c->fds++;
  /* Evict from the cold end until within every bound (never the entry just made). */
  while (c->lru_tail && c->lru_tail != e &&
         (c->entries > c->lim.max_entries || c->bytes > c->lim.max_bytes ||
          c->fds > c->lim.max_fds))
    drop(c, c->lru_tail);
  return e;
}

void fcache_release(fcache_t *c, struct fcache_entry *e) {
  if (--e->refs == 0 && !e->cached)
    entry_free(c, e);
}

void fcache_ref(struct fcache_entry *e) {
  e->refs++;
}

static struct lookup **lookup_find(fcache_t *c, const char *key, size_t len, uint64_t h) {
  struct lookup **pp = &c->lookups[h & (LOOKUP_BUCKETS - 1)];
  for (; *pp; pp = &(*pp)->hnext)
    if ((*pp)->hash == h && (*pp)->key_len == len && memcmp((*pp)->key, key, len) == 0)
      break;
  return pp;
}

int fcache_lookup_begin(fcache_t *c, const char *key, size_t key_len, struct fcache_waiter *w) {
  if (c->lim.valid_ms == 0)
    return 0;
  uint64_t h = hash_key(key, key_len);
  struct lookup **pp = lookup_find(c, key, key_len, h);
  if (*pp) {
    w->next = (*pp)->waiters;
    if (w->next)
      w->next->pprev = &w->next;
    w->pprev = &(*pp)->waiters;
    (*pp)->waiters = w;
    return 1;
  }
  struct lookup *l = malloc(sizeof(*l) + key_len);
  if (!l)
    return -ENOMEM;
  l->hnext = NULL;
  l->waiters = NULL;
  l->hash = h;
  l->key_len = key_len;
  memcpy(l->key, key, key_len);
  *pp = l;
  return 0;
}

void fcache_lookup_done(fcache_t *c, const char *key, size_t key_len,
                        struct fcache_waiter **list) {
  *list = NULL;
  struct lookup **pp = lookup_find(c, key, key_len, hash_key(key, key_len));
  struct lookup *l = *pp;
  if (!l)
    return; /* caching off, or begin ran out of memory */
  *pp = l->hnext;
  *list = l->waiters;
  if (*list)
    (*list)->pprev = list;
  free(l);
}

void fcache_unwait(struct fcache_waiter *w) {
  if (!w->pprev)
    return;
  *w->pprev = w->next;
  if (w->next)
    w->next->pprev = w->pprev;
  w->next = NULL;
  w->pprev = NULL;
}

const char *fcache_map(fcache_t *c, struct fcache_entry *e, uint64_t now_ms) {
  if (e->map_kept || e->map_failed)
    return e->map;
  if (!e->map) {
    void *m = e->fd >= 0 && e->size > 0 && e->size <= SIZE_MAX
                  ? mmap(NULL, (size_t)e->size, PROT_READ, MAP_SHARED, e->fd, 0)
                  : MAP_FAILED;
    if (m == MAP_FAILED) {
      e->map_failed = 1;
      return NULL;
    }
    e->map = m;
  }
  if (e->size > FCACHE_MAP_KEEP || e->size > c->lim.max_map)
    return e->map; /* its sender lets its pages go */
  while (c->mapped + e->size > c->lim.max_map) { /* e fits alone: the list is not empty */
    struct fcache_entry *old = c->map_head;
    if (now_ms - old->validated_ms < c->lim.valid_ms)
      return e->map; /* the oldest is still fresh: this one is not kept */
    map_let_go(c, old, 1);
  }
  e->map_kept = 1;
  e->map_prev = c->map_tail;
  if (c->map_tail)
    c->map_tail->map_next = e;
  else
    c->map_head = e;
  c->map_tail = e;
  c->mapped += (size_t)e->size;
  return e->map;
}

void fcache_stats(const fcache_t *c, size_t *entries, size_t *bytes, size_t *fds) {
  *entries = c->entries;
  *bytes = c->bytes;
  *fds = c->fds;
}

void fcache_free(fcache_t *c) {
  if (!c)
    return;
  while (c->lru_head)
    drop(c, c->lru_head);
  for (size_t i = 0; i < LOOKUP_BUCKETS; i++) /* their owners are gone with the worker */
    while (c->lookups[i]) {
      struct lookup *l = c->lookups[i];
      c->lookups[i] = l->hnext;
      free(l);
    }
  free(c);
}
