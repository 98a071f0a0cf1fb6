/* http_https_location: the Location of redirect_https; a Host that could inject a header or
 * move the path is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "http_redirect.h"

static int loc(const char *host, const char *target, unsigned port, char *out, size_t cap) {
  return http_https_location(host, host ? strlen(host) : 0, target, strlen(target), port, out,
                             cap);
}

static void test_good(void **state) {
  (void)state;
  char out[256];
  assert_true(loc("example.com", "/a?b=c", 443, out, sizeof(out)) > 0);
  assert_string_equal(out, "https://example.com/a?b=c");
  assert_true(loc("example.com:8080", "/", 8443, out, sizeof(out)) > 0);
  assert_string_equal(out, "https://example.com:8443/");
  assert_true(loc("[::1]:80", "/x", 443, out, sizeof(out)) > 0);
  assert_string_equal(out, "https://[::1]/x");
  assert_true(loc("127.0.0.1", "/x", 4443, out, sizeof(out)) > 0);
  assert_string_equal(out, "https://127.0.0.1:4443/x");
}

static void test_bad_host(void **state) {
  (void)state;
  char out[256];
  static const char *const bad[] = {"",          "a\r\nSet-Cookie: x=1", "a\nb",  "evil.com/x",
                                    "a@b",       "a\\b",                 "a b",   "a:80x",
                                    "[::1",      "[]",                   "[g::]", "a:b:c",
                                    ":80",       "a\"b",                 "a%0d"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(loc(bad[i], "/", 443, out, sizeof(out)), -EINVAL);
  assert_int_equal(loc(NULL, "/", 443, out, sizeof(out)), -EINVAL);
  char longhost[300];
  memset(longhost, 'a', sizeof(longhost) - 1);
  longhost[sizeof(longhost) - 1] = '\0';
  assert_int_equal(loc(longhost, "/", 443, out, sizeof(out)), -EINVAL);
}

static void test_target(void **state) {
  (void)state;
  char out[32];
  assert_int_equal(loc("a", "*", 443, out, sizeof(out)), -EINVAL);
  assert_int_equal(loc("a", "http://b/", 443, out, sizeof(out)), -EINVAL);
  assert_int_equal(loc("a", "/0123456789012345678901234567890", 443, out, sizeof(out)),
                   -ENAMETOOLONG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good),
      cmocka_unit_test(test_bad_host),
      cmocka_unit_test(test_target),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
