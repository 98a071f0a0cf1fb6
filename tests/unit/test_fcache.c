/* Unit tests for the worker's open-file cache (worker/fcache.c): freshness, replacement,
 * the bounds (entries, bytes, descriptors) and references that outlive eviction; mappings
 * whose pages stay in the page tables within max_map, the oldest let go first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "fcache.h"

static fcache_t *make(uint64_t valid, size_t entries, size_t bytes, size_t fds) {
  struct fcache_limits lim = {valid, entries, bytes, fds, 0};
  fcache_t *c = NULL;
  assert_int_equal(fcache_new(&lim, &c), 0);
  return c;
}

/* A lookup result: a small file in memory, or (body NULL) a large one with an open fd. */
static void op_small(struct sfile_op *op, const char *bytes) {
  memset(op, 0, sizeof(*op));
  op->body = strdup(bytes);
  op->fd = dup(0);
  op->st.st_size = (off_t)strlen(bytes);
  op->st.st_mtime = 1000;
  strcpy(op->path, "x.txt");
}

static void op_large(struct sfile_op *op, off_t size) {
  memset(op, 0, sizeof(*op));
  op->fd = dup(0);
  op->st.st_size = size;
  op->st.st_mtime = 2000;
  strcpy(op->path, "big.bin");
}

static struct fcache_entry *put(fcache_t *c, const char *key, struct sfile_op *op, uint64_t now) {
  return fcache_put(c, key, strlen(key), op, "text/plain", now);
}

static void hit_then_stale(void **state) {
  (void)state;
  fcache_t *c = make(1000, 10, 1 << 20, 10);
  struct sfile_op op;
  op_small(&op, "hello");
  struct fcache_entry *e = put(c, "a.txt", &op, 100);
  assert_non_null(e);
  assert_int_equal(op.fd, -1); /* taken */
  assert_null(op.body);
  assert_int_equal(e->fd, -1); /* small: bytes kept, descriptor closed */
  assert_memory_equal(e->body, "hello", 5);
  assert_true(e->info.etag_len > 0);
  assert_string_equal(e->info.content_type, "text/plain");
  fcache_release(c, e);
  struct fcache_entry *h = fcache_get(c, "a.txt", 5, 1099);
  assert_ptr_equal(h, e);
  fcache_release(c, h);
  assert_null(fcache_get(c, "a.txt", 5, 1100)); /* validity over: look it up again */
  assert_null(fcache_get(c, "b.txt", 5, 200));
  fcache_free(c);
}

static void replace_keeps_old_alive_while_referenced(void **state) {
  (void)state;
  fcache_t *c = make(1000, 10, 1 << 20, 10);
  struct sfile_op op;
  op_small(&op, "old");
  struct fcache_entry *old = put(c, "k", &op, 0); /* still referenced by an answer */
  op_small(&op, "new!");
  struct fcache_entry *neu = put(c, "k", &op, 10);
  fcache_release(c, neu);
  struct fcache_entry *h = fcache_get(c, "k", 1, 20);
  assert_ptr_equal(h, neu);
  assert_memory_equal(old->body, "old", 3); /* the old answer's bytes are intact */
  fcache_release(c, old);                   /* and freed now (ASan checks) */
  fcache_release(c, h);
  fcache_free(c);
}

static void bounds_evict_lru(void **state) {
  (void)state;
  fcache_t *c = make(1000, 3, 1 << 20, 10);
  struct sfile_op op;
  char key[8];
  for (int i = 0; i < 3; i++) {
    op_small(&op, "x");
    snprintf(key, sizeof(key), "k%d", i);
    fcache_release(c, put(c, key, &op, 0));
  }
  fcache_release(c, fcache_get(c, "k0", 2, 1)); /* k0 is now the most recent */
  op_small(&op, "y");
  fcache_release(c, put(c, "k3", &op, 2));
  size_t n, bytes, fds;
  fcache_stats(c, &n, &bytes, &fds);
  assert_int_equal(n, 3);
  assert_null(fcache_get(c, "k1", 2, 3)); /* the least recently used went */
  struct fcache_entry *e = fcache_get(c, "k0", 2, 3);
  assert_non_null(e);
  fcache_release(c, e);
  fcache_free(c);
}

static void bytes_and_fds_bounded(void **state) {
  (void)state;
  fcache_t *c = make(1000, 100, 10, 2);
  struct sfile_op op;
  op_small(&op, "123456");
  fcache_release(c, put(c, "s1", &op, 0));
  op_small(&op, "789012");
  fcache_release(c, put(c, "s2", &op, 0)); /* 12 bytes > 10: s1 goes */
  size_t n, bytes, fds;
  fcache_stats(c, &n, &bytes, &fds);
  assert_true(bytes <= 10);
  for (int i = 0; i < 4; i++) {
    char key[8];
    snprintf(key, sizeof(key), "L%d", i);
    op_large(&op, 1 << 20);
    fcache_release(c, put(c, key, &op, 0));
  }
  fcache_stats(c, &n, &bytes, &fds);
  assert_true(fds <= 2);
  fcache_free(c);
}

static void disabled(void **state) {
  (void)state;
  fcache_t *c = make(0, 10, 1 << 20, 10);
  struct sfile_op op;
  op_large(&op, 5000);
  struct fcache_entry *e = put(c, "a", &op, 0);
  assert_non_null(e); /* a private entry for this one answer */
  assert_true(e->fd >= 0);
  assert_null(fcache_get(c, "a", 1, 0));
  fcache_release(c, e); /* frees it and closes its descriptor */
  fcache_free(c);
}

/* The first miss owns the lookup; later ones for the same key wait and come back, in any
 * order, from lookup_done; another key is independent; a waiter that leaves is not returned. */
static void lookups_shared(void **state) {
  (void)state;
  fcache_t *c = make(1000, 8, 1 << 20, 8);
  struct fcache_waiter owner = {0}, w1 = {0}, w2 = {0}, w3 = {0}, other = {0};
  assert_int_equal(fcache_lookup_begin(c, "a", 1, &owner), 0);
  assert_int_equal(fcache_lookup_begin(c, "a", 1, &w1), 1);
  assert_int_equal(fcache_lookup_begin(c, "a", 1, &w2), 1);
  assert_int_equal(fcache_lookup_begin(c, "a", 1, &w3), 1);
  assert_int_equal(fcache_lookup_begin(c, "ab", 2, &other), 0);
  fcache_unwait(&w2);
  fcache_unwait(&w2); /* twice is harmless */
  assert_null(w2.pprev);

  struct fcache_waiter *list;
  fcache_lookup_done(c, "a", 1, &list);
  int seen1 = 0, seen3 = 0, n = 0;
  while (list) {
    struct fcache_waiter *w = list;
    fcache_unwait(w); /* pops the head: the caller's list stays consistent */
    assert_null(w->pprev);
    seen1 += w == &w1;
    seen3 += w == &w3;
    n++;
  }
  assert_int_equal(n, 2);
  assert_int_equal(seen1 + seen3, 2);

  /* over: the next miss owns a new lookup */
  assert_int_equal(fcache_lookup_begin(c, "a", 1, &owner), 0);
  fcache_lookup_done(c, "a", 1, &list);
  assert_null(list);
  fcache_lookup_done(c, "ab", 2, &list);
  assert_null(list);
  /* a lookup nobody began: nothing, no crash */
  fcache_lookup_done(c, "zz", 2, &list);
  assert_null(list);
  fcache_free(c);
}

/* A waiter in the middle of a returned list can leave (its connection closes while an
 * earlier one is being answered). */
static void waiter_leaves_returned_list(void **state) {
  (void)state;
  fcache_t *c = make(1000, 8, 1 << 20, 8);
  struct fcache_waiter owner = {0}, w[3] = {{0}};
  assert_int_equal(fcache_lookup_begin(c, "k", 1, &owner), 0);
  for (int i = 0; i < 3; i++)
    assert_int_equal(fcache_lookup_begin(c, "k", 1, &w[i]), 1);
  struct fcache_waiter *list;
  fcache_lookup_done(c, "k", 1, &list);
  struct fcache_waiter *first = list;
  fcache_unwait(first);
  struct fcache_waiter *middle = list->next;
  fcache_unwait(middle);
  assert_non_null(list);
  assert_null(list->next);
  fcache_unwait(list);
  assert_null(list);
  fcache_free(c);
}

/* Caching off: nothing is shared, every request sees the file system itself. A lookup left
 * in flight when the cache goes is freed with it (ASan would see a leak). */
static void lookups_not_shared_when_disabled(void **state) {
  (void)state;
  fcache_t *c = make(0, 8, 1 << 20, 8);
  struct fcache_waiter a = {0}, b = {0};
  assert_int_equal(fcache_lookup_begin(c, "a", 1, &a), 0);
  assert_int_equal(fcache_lookup_begin(c, "a", 1, &b), 0);
  fcache_free(c);
  c = make(1000, 8, 1 << 20, 8);
  assert_int_equal(fcache_lookup_begin(c, "left", 4, &a), 0);
  assert_int_equal(fcache_lookup_begin(c, "left", 4, &b), 1);
  fcache_free(c);
}

/* KiB of the mapping at p in our page tables (the Rss line of its /proc/self/smaps entry). */
static long mapped_kib(const void *p) {
  char want[32], line[256];
  snprintf(want, sizeof(want), "%lx-", (unsigned long)(uintptr_t)p);
  FILE *f = fopen("/proc/self/smaps", "r");
  assert_non_null(f);
  long kib = -1;
  int in = 0;
  while (fgets(line, sizeof(line), f)) {
    if (strncmp(line, want, strlen(want)) == 0)
      in = 1;
    else if (in && sscanf(line, "Rss: %ld kB", &kib) == 1)
      break;
  }
  fclose(f);
  return kib;
}

/* Three 1 MiB files within a max_map of 2.5 MiB: each mapping reads the file's bytes. The
 * third finds no room while the others are fresh (not kept: its sender lets its pages go);
 * once the oldest is past its validity, the third takes its room and the oldest's pages go
 * (the page cache keeps them: read again, they are back). A mapping stays valid while its
 * entry is referenced after the cache dropped it. */
static void mappings_kept_within_budget(void **state) {
  (void)state;
  struct fcache_limits lim = {1000, 8, 1 << 20, 8, (5u << 20) / 2};
  fcache_t *c = NULL;
  assert_int_equal(fcache_new(&lim, &c), 0);
  enum { SZ = 1 << 20 };
  char *bytes = malloc(SZ);
  struct fcache_entry *e[3];
  const char *m[3];
  for (int i = 0; i < 3; i++) {
    char path[] = "/tmp/evc-fcache-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    memset(bytes, 'a' + i, SZ);
    assert_int_equal(write(fd, bytes, SZ), SZ);
    struct sfile_op op;
    op_large(&op, SZ);
    close(op.fd);
    op.fd = fd;
    char key[2] = {(char)('a' + i), 0};
    e[i] = put(c, key, &op, i);
    m[i] = fcache_map(c, e[i], i);
    assert_non_null(m[i]);
    assert_ptr_equal(fcache_map(c, e[i], i), m[i]); /* made once */
    assert_memory_equal(m[i], bytes, SZ);            /* every page now in our tables */
    assert_int_equal(mapped_kib(m[i]), SZ / 1024);
  }
  assert_true(e[0]->map_kept && e[1]->map_kept);
  assert_false(e[2]->map_kept); /* over 2.5 MiB with the others fresh */
  assert_ptr_equal(fcache_map(c, e[2], 1000), m[2]); /* "a" is stale now */
  assert_true(e[2]->map_kept);
  assert_false(e[0]->map_kept);
  assert_int_equal(mapped_kib(m[0]), 0); /* let go */
  assert_int_equal(mapped_kib(m[1]), SZ / 1024);
  memset(bytes, 'a', SZ);
  assert_memory_equal(m[0], bytes, SZ); /* still mapped: faulted in again */
  struct sfile_op op;
  op_large(&op, 10); /* e[2]'s key replaced: its entry and mapping live on while held */
  fcache_release(c, put(c, "c", &op, 1001));
  memset(bytes, 'c', SZ);
  assert_memory_equal(m[2], bytes, SZ);
  for (int i = 0; i < 3; i++)
    fcache_release(c, e[i]);
  fcache_free(c);
  free(bytes);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hit_then_stale),
      cmocka_unit_test(replace_keeps_old_alive_while_referenced),
      cmocka_unit_test(bounds_evict_lru),
      cmocka_unit_test(bytes_and_fds_bounded),
      cmocka_unit_test(disabled),
      cmocka_unit_test(lookups_shared),
      cmocka_unit_test(waiter_leaves_returned_list),
      cmocka_unit_test(lookups_not_shared_when_disabled),
      cmocka_unit_test(mappings_kept_within_budget),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
