/* Unit tests for worker/http_hpack.c: every block is decoded by nghttp2's own HPACK decoder
 * (the one curl and nghttp use), which must read back the fields we gave, in order; a table
 * that drifted from the decoder's shows as a wrong field or a decoding error. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "http_hpack.h"

#define F(IDX, NAME, VALUE) {NAME, VALUE, sizeof(NAME) - 1, sizeof(VALUE) - 1, IDX}

static uint8_t block[16384];

/* Each test's pair: our encoder and nghttp2's decoder, both fresh. */
struct pair {
  http_hpack_t *e;
  nghttp2_hd_inflater *in;
};

static int pair_new(void **state) {
  static struct pair p;
  p.e = http_hpack_new();
  if (!p.e || nghttp2_hd_inflate_new(&p.in) != 0)
    return -1;
  *state = &p;
  return 0;
}

static int pair_del(void **state) {
  struct pair *p = *state;
  nghttp2_hd_inflate_del(p->in);
  http_hpack_free(p->e);
  return 0;
}

/* Decodes one block and checks it against f; returns the block's length. */
static size_t roundtrip(http_hpack_t *e, nghttp2_hd_inflater *in,
                        const struct http_hpack_field *f, size_t n) {
  ssize_t len = http_hpack_encode(e, f, n, block, sizeof(block));
  assert_true(len > 0);
  size_t i = 0, off = 0;
  for (;;) {
    nghttp2_nv nv;
    int flags = 0;
    ssize_t r = nghttp2_hd_inflate_hd2(in, &nv, &flags, block + off, (size_t)len - off, 1);
    assert_true(r >= 0);
    off += (size_t)r;
    if (flags & NGHTTP2_HD_INFLATE_EMIT) {
      assert_true(i < n);
      assert_int_equal(nv.namelen, f[i].name_len);
      assert_memory_equal(nv.name, f[i].name, nv.namelen);
      assert_int_equal(nv.valuelen, f[i].value_len);
      assert_memory_equal(nv.value, f[i].value, nv.valuelen);
      i++;
    }
    if (flags & NGHTTP2_HD_INFLATE_FINAL)
      break;
  }
  nghttp2_hd_inflate_end_headers(in);
  assert_int_equal(i, n);
  assert_int_equal(off, (size_t)len);
  return (size_t)len;
}

static const struct http_hpack_field resp[] = {
    F(8, ":status", "200"),
    F(54, "server", "evcluster"),
    F(33, "date", "Thu, 03 Dec 2026 15:18:48 GMT"),
    F(31, "content-type", "application/octet-stream"),
    F(28, "content-length", "1024"),
    F(44, "last-modified", "Thu, 03 Dec 2026 14:35:49 GMT"),
    F(34, "etag", "\"6b117e45.332aeb24-400\""),
    F(18, "accept-ranges", "bytes"),
};
#define NRESP (sizeof(resp) / sizeof(resp[0]))

/* The same response again is one byte a field: every field indexed. */
static void test_repeat_is_indexed(void **state) {
  struct pair *p = *state;
  http_hpack_t *e = p->e;
  nghttp2_hd_inflater *in = p->in;
  size_t first = roundtrip(e, in, resp, NRESP);
  assert_true(first > 100);
  for (int k = 0; k < 5; k++)
    assert_int_equal(roundtrip(e, in, resp, NRESP), NRESP);
}

/* Statuses of the static table are one byte; others are indexed like any field; a site's
 * own header (no static name) goes as a literal and is decoded the same. */
static void test_status_and_literal_names(void **state) {
  struct pair *p = *state;
  http_hpack_t *e = p->e;
  nghttp2_hd_inflater *in = p->in;
  const struct http_hpack_field a[] = {F(8, ":status", "304")};
  assert_int_equal(roundtrip(e, in, a, 1), 1);
  const struct http_hpack_field b[] = {F(8, ":status", "301"), F(46, "location", "/dir/"),
                                       F(0, "x-frame-options", "DENY")};
  size_t l1 = roundtrip(e, in, b, 3);
  size_t l2 = roundtrip(e, in, b, 3);
  assert_true(l2 < l1);
  assert_int_equal(l2, 1 + 1 + 1 + 1 + 15 + 1 + 4); /* two indexed, the literal again */
}

/* A value larger than the whole table is sent without indexing, and the table keeps what it
 * has (indexing it would have emptied it). */
static void test_huge_value_not_indexed(void **state) {
  struct pair *p = *state;
  http_hpack_t *e = p->e;
  nghttp2_hd_inflater *in = p->in;
  roundtrip(e, in, resp, NRESP);
  static char big[5000];
  memset(big, 'a', sizeof(big));
  struct http_hpack_field f[] = {{"location", big, 8, sizeof(big), 46}};
  roundtrip(e, in, f, 1);
  assert_int_equal(roundtrip(e, in, resp, NRESP), NRESP);
}

/* The peer's table size: lowered to 0 (nothing indexed, and the decoder demands the update),
 * lowered and raised between two blocks (both updates), raised past our max (no update). */
static void test_peer_limits(void **state) {
  struct pair *p = *state;
  http_hpack_t *e = p->e;
  nghttp2_hd_inflater *in = p->in;
  roundtrip(e, in, resp, NRESP);
  http_hpack_limit(e, 0);
  assert_int_equal(nghttp2_hd_inflate_change_table_size(in, 0), 0);
  size_t l0 = roundtrip(e, in, resp, NRESP);
  assert_true(l0 > 100); /* nothing indexed */
  assert_int_equal(roundtrip(e, in, resp, NRESP), l0 - 1); /* the update was once */
  http_hpack_limit(e, 100);
  assert_int_equal(nghttp2_hd_inflate_change_table_size(in, 100), 0);
  http_hpack_limit(e, 4096);
  assert_int_equal(nghttp2_hd_inflate_change_table_size(in, 4096), 0);
  roundtrip(e, in, resp, NRESP);
  assert_int_equal(roundtrip(e, in, resp, NRESP), NRESP);
  http_hpack_limit(e, 65536);
  assert_int_equal(nghttp2_hd_inflate_change_table_size(in, 65536), 0);
  assert_int_equal(roundtrip(e, in, resp, NRESP), NRESP);
}

/* Many blocks of fields drawn from a pool larger than the table, with limits changing now and
 * then: eviction, the arena's compaction and the chains of same-named entries all stay in
 * step with the decoder. */
static void test_random_blocks(void **state) {
  struct pair *p = *state;
  http_hpack_t *e = p->e;
  nghttp2_hd_inflater *in = p->in;
  srand(7);
  static char vals[200][40];
  for (int i = 0; i < 200; i++)
    snprintf(vals[i], sizeof(vals[i]), "\"%08x-%d\"", (unsigned)rand(), rand() % 100000);
  static const struct {
    uint8_t index;
    const char *name;
  } names[] = {{34, "etag"}, {28, "content-length"}, {31, "content-type"}, {33, "date"},
               {46, "location"}, {0, "x-site"}};
  size_t sent = 0, literal = 0;
  for (int b = 0; b < 20000; b++) {
    struct http_hpack_field f[12];
    size_t n = 1 + (size_t)rand() % 12;
    for (size_t i = 0; i < n; i++) {
      int k = rand() % 6;
      /* a few values often (the hot files), the rest seldom */
      const char *v = vals[rand() % 4 ? rand() % 4 : rand() % 200];
      f[i] = (struct http_hpack_field){names[k].name, v, (uint32_t)strlen(names[k].name),
                                       (uint32_t)strlen(v), names[k].index};
    }
    if (rand() % 500 == 0) {
      uint32_t lim[] = {0, 256, 1024, 4096, 8192};
      int m = 1 + rand() % 2;
      for (int j = 0; j < m; j++) {
        uint32_t l = lim[rand() % 5];
        http_hpack_limit(e, l);
        assert_int_equal(nghttp2_hd_inflate_change_table_size(in, l), 0);
      }
    }
    sent += roundtrip(e, in, f, n);
    for (size_t i = 0; i < n; i++)
      literal += 2 + f[i].value_len + (f[i].index ? 0 : 1 + f[i].name_len);
  }
  print_message("random blocks: %zu bytes sent, %zu as literals\n", sent, literal);
  assert_true(sent < literal - literal / 10); /* the hot values do get indexed */
}

static void test_too_small_buffer(void **state) {
  struct pair *p = *state;
  uint8_t small[16];
  assert_int_equal(http_hpack_encode(p->e, resp, NRESP, small, sizeof(small)), -ENOBUFS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_repeat_is_indexed, pair_new, pair_del),
      cmocka_unit_test_setup_teardown(test_status_and_literal_names, pair_new, pair_del),
      cmocka_unit_test_setup_teardown(test_huge_value_not_indexed, pair_new, pair_del),
      cmocka_unit_test_setup_teardown(test_peer_limits, pair_new, pair_del),
      cmocka_unit_test_setup_teardown(test_random_blocks, pair_new, pair_del),
      cmocka_unit_test_setup_teardown(test_too_small_buffer, pair_new, pair_del),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
