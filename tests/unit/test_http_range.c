/* Unit tests for http_range_parse: RFC 9110 14.1.2 examples, clamping, suffix and open
 * ranges, the 416 cases, coalescing of several ranges, and malformed headers (200). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http_range.h"

static enum http_range_result parse(const char *v, uint64_t size, struct http_range *r) {
  r->start = 0xdead;
  r->end = 0xbeef;
  return http_range_parse(v, strlen(v), size, r);
}

static void ok(const char *v, uint64_t size, uint64_t start, uint64_t end) {
  struct http_range r;
  enum http_range_result res = parse(v, size, &r);

  if (res != HTTP_RANGE_OK)
    fail_msg("\"%s\" size %llu: result %d, want OK %llu-%llu", v, (unsigned long long)size, res,
             (unsigned long long)start, (unsigned long long)end);
  if (r.start != start || r.end != end)
    fail_msg("\"%s\" size %llu: %llu-%llu, want %llu-%llu", v, (unsigned long long)size,
             (unsigned long long)r.start, (unsigned long long)r.end, (unsigned long long)start,
             (unsigned long long)end);
  assert_true(r.start <= r.end && r.end < size);
}

static void is(const char *v, uint64_t size, enum http_range_result want) {
  struct http_range r;
  enum http_range_result res = parse(v, size, &r);

  if (res != want)
    fail_msg("\"%s\" size %llu: result %d, want %d", v, (unsigned long long)size, res, want);
}

#define NONE HTTP_RANGE_NONE
#define UNSAT HTTP_RANGE_UNSATISFIABLE

/* RFC 9110 14.1.2, representation of 10000 bytes */
static void test_rfc_examples(void **state) {
  (void)state;
  ok("bytes=0-499", 10000, 0, 499);
  ok("bytes=500-999", 10000, 500, 999);
  ok("bytes=-500", 10000, 9500, 9999);
  ok("bytes=9500-", 10000, 9500, 9999);
  is("bytes=0-0,-1", 10000, NONE); /* first and last byte: two parts, we send 200 */
  ok("bytes=500-600,601-999", 10000, 500, 999);
  ok("bytes=500-700,601-999", 10000, 500, 999);
}

static void test_single(void **state) {
  (void)state;
  ok("bytes=0-0", 1, 0, 0);
  ok("bytes=0-", 1, 0, 0);
  ok("bytes=0-", 100, 0, 99);
  ok("bytes=99-99", 100, 99, 99);
  ok("bytes=99-", 100, 99, 99);
  ok("bytes=10-20", 100, 10, 20);
  ok("bytes=0-99", 100, 0, 99);
}

static void test_clamp(void **state) {
  (void)state;
  ok("bytes=0-100", 100, 0, 99);
  ok("bytes=50-1000000", 100, 50, 99);
  ok("bytes=0-18446744073709551615", 100, 0, 99); /* UINT64_MAX itself is a number */
  ok("bytes=-100", 100, 0, 99);
  ok("bytes=-101", 100, 0, 99);
  ok("bytes=-18446744073709551615", 100, 0, 99);
  ok("bytes=-1", 100, 99, 99);
  ok("bytes=-1", 1, 0, 0);
}

static void test_unsatisfiable(void **state) {
  (void)state;
  is("bytes=100-", 100, UNSAT);
  is("bytes=100-200", 100, UNSAT);
  is("bytes=1000-2000", 100, UNSAT);
  is("bytes=-0", 100, UNSAT);
  is("bytes=-0,-0", 100, UNSAT);
  is("bytes=100-,200-300", 100, UNSAT);
  is("bytes=18446744073709551615-", 100, UNSAT);
}

/* Our choice: a 0-byte representation gets the full (empty) 200 for any range. */
static void test_empty_file(void **state) {
  (void)state;
  is("bytes=0-", 0, NONE);
  is("bytes=0-0", 0, NONE);
  is("bytes=-1", 0, NONE);
  is("bytes=-0", 0, NONE);
  is("bytes=5-10", 0, NONE);
  is("bytes=garbage", 0, NONE);
}

static void test_malformed(void **state) {
  (void)state;
  is("", 100, NONE);
  is("bytes", 100, NONE);
  is("bytes=", 100, NONE);
  is("bytes= ", 100, NONE);
  is("bytes=,", 100, NONE);
  is("bytes=, ,", 100, NONE);
  is("bytes=-", 100, NONE);
  is("bytes=5", 100, NONE);
  is("bytes=5-2", 100, NONE);
  is("bytes=a-b", 100, NONE);
  is("bytes=1-a", 100, NONE);
  is("bytes=1-2a", 100, NONE);
  is("bytes=--1", 100, NONE);
  is("bytes=-1-2", 100, NONE);
  is("bytes=1--2", 100, NONE);
  is("bytes=+1-2", 100, NONE);
  is("bytes=0x10-20", 100, NONE);
  is("bytes=1 -2", 100, NONE);
  is("bytes=1- 2", 100, NONE);
  is("bytes=0-1;2-3", 100, NONE);
  is("bytes=0-1 2-3", 100, NONE);
  is("items=0-1", 100, NONE);
  is("bytes:0-1", 100, NONE);
  is("bytes 0-1", 100, NONE);
  is("bytes =0-1", 100, NONE);
  is("byte=0-1", 100, NONE);
  is("bytesx=0-1", 100, NONE);
  is("=0-1", 100, NONE);
  is("0-1", 100, NONE);
  /* a good first range does not rescue a malformed second */
  is("bytes=0-1,x", 100, NONE);
  is("bytes=0-1,5-2", 100, NONE);
  is("bytes=0-1,", 100, HTTP_RANGE_OK);
}

/* A number past 2^64 - 1 is past every file's end, as nginx reads it: a first byte there is
 * unsatisfiable (416), a last byte there is the end, a suffix that long is the whole file.
 * Ignoring the header instead would send a 5 GiB file for a request of its last 4 bytes. */
static void test_overflow(void **state) {
  (void)state;
  is("bytes=18446744073709551616-", 100, UNSAT); /* UINT64_MAX + 1 */
  ok("bytes=0-18446744073709551616", 100, 0, 99);
  ok("bytes=-18446744073709551616", 100, 0, 99);
  is("bytes=99999999999999999999999999-", 100, UNSAT);
  ok("bytes=0-99999999999999999999999999999999999999", 100, 0, 99);
  ok("bytes=5368709116-99999999999999999999", 5368709120ull, 5368709116ull, 5368709119ull);
  ok("bytes=18446744073709551615-18446744073709551616, 0-0", 100, 0, 0);
  ok("bytes=00000000000000000000000000000000000000001-2", 100, 1, 2); /* zeros do not overflow */
}

static void test_case_and_whitespace(void **state) {
  (void)state;
  ok("BYTES=0-1", 100, 0, 1);
  ok("Bytes=0-1", 100, 0, 1);
  ok(" bytes=0-1 ", 100, 0, 1);
  ok("\tbytes=0-1\t", 100, 0, 1);
  ok("bytes= 0-1", 100, 0, 1);
  ok("bytes=0-1 , 2-3", 100, 0, 3);
  ok("bytes=0-1,\t2-3", 100, 0, 3);
  ok("bytes=0-1 ,2-3", 100, 0, 3);
  ok("bytes=0-1,,2-3", 100, 0, 3); /* empty list elements are allowed */
  ok("bytes=,0-1", 100, 0, 1);
}

static void test_coalesce(void **state) {
  (void)state;
  ok("bytes=0-1,2-3", 100, 0, 3);    /* adjacent */
  ok("bytes=2-3,0-1", 100, 0, 3);    /* any order */
  ok("bytes=0-10,5-20", 100, 0, 20); /* overlapping */
  ok("bytes=5-20,0-10", 100, 0, 20);
  ok("bytes=0-50,10-20", 100, 0, 50); /* contained */
  ok("bytes=0-0,0-0", 100, 0, 0);     /* duplicate */
  ok("bytes=0-9,10-19,20-29,30-", 100, 0, 99);
  ok("bytes=30-,20-29,0-9,10-19", 100, 0, 99);
  ok("bytes=0-49,-50", 100, 0, 99); /* suffix joins */
  ok("bytes=-10,90-", 100, 90, 99);
  ok("bytes=0-99,200-300", 100, 0, 99); /* the unsatisfiable one is dropped */
  ok("bytes=-0,5-6", 100, 5, 6);
  ok("bytes=0-0,-1", 1, 0, 0);
  ok("bytes=0-200,50-", 100, 0, 99);
}

static void test_disjoint(void **state) {
  (void)state;
  is("bytes=0-1,3-4", 100, NONE);
  is("bytes=0-0,-1", 100, NONE);
  is("bytes=0-9,20-29", 100, NONE);
  is("bytes=0-9,10-19,21-29", 100, NONE);
  is("bytes=50-,0-10", 100, NONE);
}

static void test_many(void **state) {
  char v[4096];
  size_t n;
  int i;

  (void)state;
  /* 16 adjacent ranges: served as one */
  n = (size_t)snprintf(v, sizeof v, "bytes=");
  for (i = 0; i < 16; i++)
    n += (size_t)snprintf(v + n, sizeof v - n, "%s%d-%d", i ? "," : "", i, i);
  ok(v, 100, 0, 15);
  /* 17 and more: refused outright, whatever they are */
  n += (size_t)snprintf(v + n, sizeof v - n, ",16-16");
  is(v, 100, NONE);
  n = (size_t)snprintf(v, sizeof v, "bytes=");
  for (i = 0; i < 500; i++)
    n += (size_t)snprintf(v + n, sizeof v - n, "%s0-", i ? "," : "");
  is(v, 100, NONE);
}

/* Only len bytes are read; value need not be NUL-terminated. */
static void test_length_bound(void **state) {
  struct http_range r;

  (void)state;
  assert_int_equal(http_range_parse("bytes=0-12345", 10, 100, &r), HTTP_RANGE_OK);
  assert_int_equal(r.start, 0);
  assert_int_equal(r.end, 12);
  assert_int_equal(http_range_parse("bytes=0-1", 5, 100, &r), HTTP_RANGE_NONE);
  assert_int_equal(http_range_parse(NULL, 0, 100, &r), HTTP_RANGE_NONE);
}

static void test_huge_file(void **state) {
  (void)state;
  ok("bytes=0-", UINT64_MAX, 0, UINT64_MAX - 1);
  ok("bytes=-1", UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 1);
  ok("bytes=18446744073709551614-", UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 1);
  is("bytes=18446744073709551615-", UINT64_MAX, UNSAT);
  ok("bytes=0-9,10-18446744073709551615", UINT64_MAX, 0, UINT64_MAX - 1);
}

/* The set parser keeps disjoint ranges, sorted and coalesced, for multipart/byteranges. */
static void test_set(void **state) {
  (void)state;
  struct http_range r[HTTP_RANGE_MAX];
  size_t n = 0;
  const char *v = "bytes=100-109, 0-9, 5-19, -5, 20-29";
  assert_int_equal(http_range_parse_set(v, strlen(v), 1000, r, &n), HTTP_RANGE_OK);
  assert_int_equal(n, 3);
  assert_true(r[0].start == 0 && r[0].end == 29);
  assert_true(r[1].start == 100 && r[1].end == 109);
  assert_true(r[2].start == 995 && r[2].end == 999);
  v = "bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,22-22,24-24,26-26,28-28,"
      "30-30,32-32";
  assert_int_equal(http_range_parse_set(v, strlen(v), 1000, r, &n), HTTP_RANGE_NONE);
  v = "bytes=0-1,5000-6000";
  assert_int_equal(http_range_parse_set(v, strlen(v), 1000, r, &n), HTTP_RANGE_OK);
  assert_int_equal(n, 1);
  /* the single-range parser still answers disjoint ranges with the whole file */
  v = "bytes=0-1,5-6";
  assert_int_equal(http_range_parse(v, strlen(v), 1000, r), HTTP_RANGE_NONE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_set),
      cmocka_unit_test(test_rfc_examples), cmocka_unit_test(test_single),
      cmocka_unit_test(test_clamp),        cmocka_unit_test(test_unsatisfiable),
      cmocka_unit_test(test_empty_file),   cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_overflow),     cmocka_unit_test(test_case_and_whitespace),
      cmocka_unit_test(test_coalesce),     cmocka_unit_test(test_disjoint),
      cmocka_unit_test(test_many),         cmocka_unit_test(test_length_bound),
      cmocka_unit_test(test_huge_file),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
