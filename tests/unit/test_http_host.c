/* Virtual hosts: the Host value normalized (case, port, trailing dot), names matched exactly
 * or by a wildcard of one leading label, exact names before wildcards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "http_host.h"

static int norm(const char *in, char *out, size_t cap) {
  return http_host_normalize(in, strlen(in), out, cap);
}

static void test_normalize(void **state) {
  (void)state;
  char out[64];
  assert_int_equal(norm("Example.COM", out, sizeof(out)), 11);
  assert_string_equal(out, "example.com");
  assert_int_equal(norm("example.com:8080", out, sizeof(out)), 11);
  assert_string_equal(out, "example.com");
  assert_int_equal(norm("example.com.:80", out, sizeof(out)), 11);
  assert_string_equal(out, "example.com");
  assert_int_equal(norm("[::1]:8080", out, sizeof(out)), 5);
  assert_string_equal(out, "[::1]");
  assert_int_equal(norm("127.0.0.1", out, sizeof(out)), 9);
}

static void test_normalize_bad(void **state) {
  (void)state;
  char out[16];
  assert_int_equal(norm("", out, sizeof(out)), -1);
  assert_int_equal(norm(":80", out, sizeof(out)), -1);
  assert_int_equal(norm("a.com:", out, sizeof(out)), -1);
  assert_int_equal(norm("a.com:8x", out, sizeof(out)), -1);
  assert_int_equal(norm("a.com:123456", out, sizeof(out)), -1);
  assert_int_equal(norm("a/b", out, sizeof(out)), -1);
  assert_int_equal(norm("user@a.com", out, sizeof(out)), -1);
  assert_int_equal(norm("a\r\nb", out, sizeof(out)), -1);
  assert_int_equal(norm("a b", out, sizeof(out)), -1);
  assert_int_equal(norm("[::1", out, sizeof(out)), -1);
  assert_int_equal(norm("a-very-long-name.example.com", out, sizeof(out)), -1); /* > cap */
  assert_int_equal(http_host_normalize("a\0b", 3, out, sizeof(out)), -1);
}

static void test_match(void **state) {
  (void)state;
  assert_true(http_host_match("example.com", "example.com", 11));
  assert_false(http_host_match("example.com", "example.co", 10));
  assert_false(http_host_match("example.com", "www.example.com", 15));
  assert_true(http_host_match("*.example.com", "www.example.com", 15));
  assert_true(http_host_match("*.example.com", "a-b.example.com", 15));
  /* one label only, and never the bare domain or a look-alike */
  assert_false(http_host_match("*.example.com", "a.b.example.com", 15));
  assert_false(http_host_match("*.example.com", "example.com", 11));
  assert_false(http_host_match("*.example.com", ".example.com", 12));
  assert_false(http_host_match("*.example.com", "wwwexample.com", 14));
  assert_false(http_host_match("*.example.com", "www.example.com.evil", 20));
}

static void test_pick(void **state) {
  (void)state;
  const char *names[] = {"*.example.com", "a.com", "www.example.com", "*.a.com"};
  const size_t site[] = {1, 0, 2, 0};
  struct http_host_names t = {names, site, 4};
  assert_int_equal(http_host_pick(&t, "www.example.com", 15), 2); /* exact wins */
  assert_int_equal(http_host_pick(&t, "img.example.com", 15), 1);
  assert_int_equal(http_host_pick(&t, "a.com", 5), 0);
  assert_int_equal(http_host_pick(&t, "x.a.com", 7), 0);
  assert_int_equal(http_host_pick(&t, "other.org", 9), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_normalize),
      cmocka_unit_test(test_normalize_bad),
      cmocka_unit_test(test_match),
      cmocka_unit_test(test_pick),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
