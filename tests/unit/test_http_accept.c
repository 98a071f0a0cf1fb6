/* Accept-Encoding: weights per coding (q-values, '*', identity's default and its exclusion)
 * and the choice among the codings a file has: the client's preference, ties to the smaller
 * coding, nothing of weight 0, -1 (406) when nothing is acceptable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "http_accept.h"

#define ID (1u << HTTP_CODING_IDENTITY)
#define BR (1u << HTTP_CODING_BR)
#define ZS (1u << HTTP_CODING_ZSTD)
#define GZ (1u << HTTP_CODING_GZIP)

static int pick(const char *ae, unsigned avail) {
  int q[HTTP_CODING_COUNT];
  http_accept_encoding(ae, ae ? strlen(ae) : 0, q);
  return http_accept_pick(q, avail);
}

static void test_weights(void **state) {
  (void)state;
  int q[HTTP_CODING_COUNT];
  const char *v = "gzip;q=0.5, br;q=1.0, zstd;q=0";
  http_accept_encoding(v, strlen(v), q);
  assert_int_equal(q[HTTP_CODING_GZIP], 500);
  assert_int_equal(q[HTTP_CODING_BR], 1000);
  assert_int_equal(q[HTTP_CODING_ZSTD], 0);
  assert_true(q[HTTP_CODING_IDENTITY] > 0);
  v = "GZIP ; Q=0.123 ,*;q=0.2";
  http_accept_encoding(v, strlen(v), q);
  assert_int_equal(q[HTTP_CODING_GZIP], 123);
  assert_int_equal(q[HTTP_CODING_BR], 200);
  assert_int_equal(q[HTTP_CODING_IDENTITY], 200);
  /* bad qvalues drop their element */
  v = "br;q=2, gzip;q=0.5555, zstd;q=abc, x-gzip";
  http_accept_encoding(v, strlen(v), q);
  assert_int_equal(q[HTTP_CODING_BR], 0);
  assert_int_equal(q[HTTP_CODING_ZSTD], 0);
  assert_int_equal(q[HTTP_CODING_GZIP], 1000); /* x-gzip is gzip */
}

static void test_pick(void **state) {
  (void)state;
  assert_int_equal(pick(NULL, ID | BR | GZ), HTTP_CODING_IDENTITY); /* no header */
  assert_int_equal(pick("", ID | BR | GZ), HTTP_CODING_IDENTITY);
  assert_int_equal(pick("gzip, deflate, br", ID | BR | GZ), HTTP_CODING_BR); /* tie: smaller */
  assert_int_equal(pick("gzip, deflate, br", ID | GZ), HTTP_CODING_GZIP);
  assert_int_equal(pick("br;q=0.5, gzip", ID | BR | GZ), HTTP_CODING_GZIP); /* client's order */
  assert_int_equal(pick("br;q=0.5, gzip;q=0.8, zstd", ID | BR | GZ | ZS), HTTP_CODING_ZSTD);
  assert_int_equal(pick("gzip;q=0", ID | GZ), HTTP_CODING_IDENTITY);
  assert_int_equal(pick("*", ID | BR), HTTP_CODING_BR);
  assert_int_equal(pick("deflate", ID | BR | GZ), HTTP_CODING_IDENTITY);
}

static void test_identity_excluded(void **state) {
  (void)state;
  assert_int_equal(pick("identity;q=0", ID), -1);
  assert_int_equal(pick("identity;q=0, gzip", ID | GZ), HTTP_CODING_GZIP);
  assert_int_equal(pick("*;q=0", ID | GZ), -1);
  assert_int_equal(pick("*;q=0, identity", ID | GZ), HTTP_CODING_IDENTITY);
  assert_int_equal(pick("identity;q=1, *;q=0", ID | BR | GZ), HTTP_CODING_IDENTITY);
  assert_int_equal(pick("br, *;q=0", ID | GZ), -1);
  assert_int_equal(pick("identity;q=0.5, br", ID | BR), HTTP_CODING_BR);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_weights),
      cmocka_unit_test(test_pick),
      cmocka_unit_test(test_identity_excluded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
