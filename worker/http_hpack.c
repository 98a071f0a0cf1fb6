/* HPACK encoder (see http_hpack.h).
 *
 * The dynamic table mirrors the peer's decoder entry for entry (RFC 7541 2.3.2, 4): entries
 * are numbered by a sequence that grows with each insertion; the live ones are [first, next),
 * newest at HPACK index 62. Their values sit in an arena in insertion order, compacted when
 * its end is reached (the live values never take more than the table's max). Each entry
 * links to the previous live one of the same name, and a value is looked for along that
 * chain only, at most CHAIN_MAX deep: a static file server repeats a handful of values per
 * name (today's date, a few types, the etags of the files in use). */
#include "http_hpack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY_OVERHEAD 32 /* RFC 7541 4.1 */
/* Live entries at most: each takes 32 bytes and a name of at least one byte. */
#define ENTRIES 128
#define ARENA (2 * HTTP_HPACK_TABLE_MAX)
#define STATIC_LEN 61
#define CHAIN_MAX 8
/* Sequence numbers are forgotten (the table emptied on our side) before they wrap: the peer
 * still holds the forgotten entries, but they are older than every entry added after, so it
 * evicts them first and never one we still refer to. */
#define SEQ_LIMIT (UINT32_MAX - ENTRIES)

struct entry {
  uint32_t off, len; /* the value in the arena */
  uint32_t prev;     /* the previous entry of the same name, 0 if none */
  uint32_t size;     /* 32 + name + value */
};

struct http_hpack {
  uint32_t first, next;          /* live entries: sequences [first, next); 0 means none */
  size_t size, max;              /* bytes the live entries count, and the table's max */
  uint32_t last[STATIC_LEN + 1]; /* per static name index: the newest entry of that name */
  uint32_t limit, low;           /* the peer's newest SETTINGS_HEADER_TABLE_SIZE, and its
                                  * lowest since the last block */
  int pending;                   /* limit and low are news for the next block */
  size_t arena_len;
  struct entry ent[ENTRIES]; /* by sequence % ENTRIES */
  char arena[ARENA];
};

http_hpack_t *http_hpack_new(void) {
  http_hpack_t *e = malloc(sizeof(*e));
  if (!e)
    return NULL;
  memset(e, 0, offsetof(struct http_hpack, ent));
  e->first = e->next = 1;
  e->max = HTTP_HPACK_TABLE_MAX;
  return e;
}

void http_hpack_free(http_hpack_t *e) {
  free(e);
}

void http_hpack_limit(http_hpack_t *e, uint32_t limit) {
  e->low = e->pending && e->low < limit ? e->low : limit;
  e->limit = limit;
  e->pending = 1;
}

static void evict_one(http_hpack_t *e) {
  e->size -= e->ent[e->first % ENTRIES].size;
  e->first++;
}

static void shrink_to(http_hpack_t *e, size_t max) {
  while (e->size > max)
    evict_one(e);
  e->max = max;
}

static void forget(http_hpack_t *e) {
  e->first = e->next = 1;
  e->size = e->arena_len = 0;
  memset(e->last, 0, sizeof(e->last));
}

/* Makes room for len bytes at the arena's end: the live values moved to its start. */
static void arena_room(http_hpack_t *e, size_t len) {
  if (e->arena_len + len <= ARENA)
    return;
  size_t o = 0;
  for (uint32_t s = e->first; s < e->next; s++) {
    struct entry *x = &e->ent[s % ENTRIES];
    memmove(e->arena + o, e->arena + x->off, x->len);
    x->off = (uint32_t)o;
    o += x->len;
  }
  e->arena_len = o;
}

static void add(http_hpack_t *e, uint8_t index, const char *v, uint32_t len, uint32_t size) {
  if (e->next >= SEQ_LIMIT)
    forget(e);
  while (e->size + size > e->max || e->next - e->first >= ENTRIES)
    evict_one(e);
  arena_room(e, len);
  struct entry *x = &e->ent[e->next % ENTRIES];
  x->off = (uint32_t)e->arena_len;
  x->len = len;
  x->size = size;
  x->prev = e->last[index] >= e->first ? e->last[index] : 0;
  memcpy(e->arena + e->arena_len, v, len);
  e->arena_len += len;
  e->size += size;
  e->last[index] = e->next++;
}

/* The live entry of this name and value, or 0. */
static uint32_t find(const http_hpack_t *e, uint8_t index, const char *v, uint32_t len) {
  uint32_t s = e->last[index];
  for (int k = 0; k < CHAIN_MAX && s >= e->first && s != 0; k++) {
    const struct entry *x = &e->ent[s % ENTRIES];
    if (x->len == len && memcmp(e->arena + x->off, v, len) == 0)
      return s;
    s = x->prev;
  }
  return 0;
}

/* An integer with an N-bit prefix after the first byte's flags (RFC 7541 5.1). */
static uint8_t *put_int(uint8_t *p, uint8_t flags, int bits, uint32_t v) {
  uint32_t full = (1u << bits) - 1;
  if (v < full) {
    *p++ = (uint8_t)(flags | v);
    return p;
  }
  *p++ = (uint8_t)(flags | full);
  v -= full;
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

/* A string literal, not Huffman-coded (RFC 7541 5.2): the peer copies it as it is. */
static uint8_t *put_str(uint8_t *p, const char *s, uint32_t len) {
  p = put_int(p, 0x00, 7, len);
  memcpy(p, s, len);
  return p + len;
}

/* :status values of the static table (entries 8 to 14). */
static uint8_t static_status(const char *v, uint32_t len) {
  static const char codes[] = "200204206304400404500";
  if (len != 3)
    return 0;
  for (uint8_t i = 0; i < 7; i++)
    if (memcmp(codes + 3 * i, v, 3) == 0)
      return (uint8_t)(8 + i);
  return 0;
}

size_t http_hpack_bound(const struct http_hpack_field *f, size_t n) {
  size_t b = 12; /* two size updates */
  for (size_t i = 0; i < n; i++)
    b += 16 + f[i].value_len + (f[i].index ? 0 : f[i].name_len);
  return b;
}

ssize_t http_hpack_encode(http_hpack_t *e, const struct http_hpack_field *f, size_t n,
                          uint8_t *out, size_t cap) {
  if (cap < http_hpack_bound(f, n))
    return -ENOBUFS;
  uint8_t *p = out;
  if (e->pending) { /* RFC 7541 4.2: the lowest size since the last block, then the last */
    size_t low = e->low < HTTP_HPACK_TABLE_MAX ? e->low : HTTP_HPACK_TABLE_MAX;
    size_t now = e->limit < HTTP_HPACK_TABLE_MAX ? e->limit : HTTP_HPACK_TABLE_MAX;
    if (low < e->max) {
      shrink_to(e, low);
      p = put_int(p, 0x20, 5, (uint32_t)low);
    }
    if (now != e->max) {
      shrink_to(e, now);
      p = put_int(p, 0x20, 5, (uint32_t)now);
    }
    e->pending = 0;
  }
  for (size_t i = 0; i < n; i++) {
    const struct http_hpack_field *x = &f[i];
    if (x->index == 0 || x->index > STATIC_LEN) { /* literal name, not indexed */
      *p++ = 0x00;
      p = put_str(p, x->name, x->name_len);
      p = put_str(p, x->value, x->value_len);
      continue;
    }
    uint8_t st = x->index == 8 ? static_status(x->value, x->value_len) : 0;
    if (st) {
      *p++ = (uint8_t)(0x80 | st);
      continue;
    }
    uint32_t s = find(e, x->index, x->value, x->value_len);
    if (s) { /* indexed: the newest entry is 62 */
      p = put_int(p, 0x80, 7, STATIC_LEN + 1 + (e->next - 1 - s));
      continue;
    }
    uint32_t size = ENTRY_OVERHEAD + x->name_len + x->value_len;
    if (size <= e->max) { /* literal with incremental indexing, the name from the static table */
      p = put_int(p, 0x40, 6, x->index);
      p = put_str(p, x->value, x->value_len);
      add(e, x->index, x->value, x->value_len, size);
    } else { /* it would empty the table (4.4): not indexed */
      p = put_int(p, 0x00, 4, x->index);
      p = put_str(p, x->value, x->value_len);
    }
  }
  return (ssize_t)(p - out);
}
