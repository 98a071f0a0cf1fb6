/* Unit tests for the worker's open-file cache (worker/fcache.c): freshness, replacement,
 * the bounds (entries, bytes, descriptors) and references that outlive eviction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fcache.h"

static fcache_t *make(uint64_t valid, size_t entries, size_t bytes, size_t fds) {
  struct fcache_limits lim = {valid, entries, bytes, fds};
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hit_then_stale),
      cmocka_unit_test(replace_keeps_old_alive_while_referenced),
      cmocka_unit_test(bounds_evict_lru),
      cmocka_unit_test(bytes_and_fds_bounded),
      cmocka_unit_test(disabled),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
