/* Directory listings: order (directories first, then bytes), HTML escaping of names and
 * titles, percent-encoded links, the note on omitted entries, JSON escaping, and the sizing
 * call (cap 0) giving the exact length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_autoindex.h"

static void test_sort(void **state) {
  (void)state;
  struct http_dirent v[] = {{"b", 0, 1, 0}, {"z", 1, 0, 0}, {"a", 0, 2, 0}, {"c", 1, 0, 0}};
  http_autoindex_sort(v, 4);
  assert_string_equal(v[0].name, "c");
  assert_string_equal(v[1].name, "z");
  assert_string_equal(v[2].name, "a");
  assert_string_equal(v[3].name, "b");
}

static void test_html(void **state) {
  (void)state;
  struct http_dirent v[] = {{"d<i>r", 1, 0, 0}, {"a\"b'&.txt", 0, 5, 86400}};
  size_t need = http_autoindex_html("/x<y>/", 6, v, 2, 7, NULL, 0);
  char *out = malloc(need + 1);
  assert_int_equal(http_autoindex_html("/x<y>/", 6, v, 2, 7, out, need), need);
  out[need] = '\0';
  assert_non_null(strstr(out, "Index of /x&lt;y&gt;/"));
  assert_non_null(strstr(out, "<a href=\"d%3Ci%3Er/\">d&lt;i&gt;r/</a>"));
  assert_non_null(strstr(out, "<a href=\"a%22b&#39;&amp;.txt\">a&quot;b&#39;&amp;.txt</a>"));
  assert_non_null(strstr(out, "Fri, 02 Jan 1970 00:00:00 GMT"));
  assert_non_null(strstr(out, "7 more entries"));
  assert_null(strstr(out, "<i>"));
  /* a short buffer is never overrun, and the length is still the whole */
  char small[16];
  assert_int_equal(http_autoindex_html("/x<y>/", 6, v, 2, 7, small, sizeof(small)), need);
  free(out);
}

static void test_json(void **state) {
  (void)state;
  struct http_dirent v[] = {{"s", 1, 0, 0}, {"q\"\\\n.txt", 0, 42, 0}};
  char out[512];
  size_t n = http_autoindex_json(v, 2, out, sizeof(out));
  assert_true(n < sizeof(out));
  out[n] = '\0';
  assert_non_null(strstr(out, "{ \"name\":\"s\", \"type\":\"directory\""));
  assert_non_null(strstr(out, "\"name\":\"q\\\"\\\\\\u000a.txt\", \"type\":\"file\""));
  assert_non_null(strstr(out, "\"size\":42 }\n]"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sort),
      cmocka_unit_test(test_html),
      cmocka_unit_test(test_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
