/* Unit tests for the pure part of worker/h2.c: telling h2c's connection preface from an
 * HTTP/1.1 request on the first bytes of a plain connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "h2.h"

static int match(const char *s, size_t len) {
  return h2_preface_match(s, len);
}

static void test_whole_preface(void **state) {
  (void)state;
  assert_int_equal(match(H2_PREFACE, H2_PREFACE_LEN), 1);
  /* with the client's SETTINGS right behind it */
  assert_int_equal(match(H2_PREFACE "\x00\x00\x00\x04\x00\x00\x00\x00\x00", H2_PREFACE_LEN + 9), 1);
}

/* Every prefix waits for more: the preface may come a byte at a time. */
static void test_prefixes_wait(void **state) {
  (void)state;
  for (size_t n = 1; n < H2_PREFACE_LEN; n++)
    assert_int_equal(match(H2_PREFACE, n), 0);
}

/* HTTP/1.1 requests, including those that start like the preface, are not HTTP/2. */
static void test_h1_is_not_h2(void **state) {
  (void)state;
  assert_int_equal(match("GET / HTTP/1.1\r\n", 16), -1);
  assert_int_equal(match("POST / HTTP/1.1\r\n", 17), -1);
  assert_int_equal(match("PUT / HTTP/1.1\r\n", 16), -1);
  assert_int_equal(match("PRI / HTTP/1.1\r\n", 16), -1);
  assert_int_equal(match("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", H2_PREFACE_LEN), -1);
  assert_int_equal(match("PRI * HTTP/1.1\r\n", 16), -1);
  assert_int_equal(match("\x16\x03\x01", 3), -1); /* a TLS ClientHello on the plain port */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_whole_preface),
      cmocka_unit_test(test_prefixes_wait),
      cmocka_unit_test(test_h1_is_not_h2),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
