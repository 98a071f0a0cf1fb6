/* Unit tests for worker/http_response.c: h1's head is written from the same field list h2
 * sends (http_head_fields), in the same order, and the numbers' text fits its buffer at
 * their largest (the ASan build catches a write past it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http_response.h"

static const char *DATE = "Thu, 03 Dec 2026 15:18:48 GMT";

/* The head's lines after the status line, and the fields as "Name: value", must match. */
static void same_as_fields(const struct http_head *h) {
  char head[4096];
  int n = http_head_write(head, sizeof(head), h);
  assert_true(n > 0);
  head[n] = '\0';
  struct http_field f[HTTP_FIELDS_MAX];
  char num[HTTP_FIELD_NUM];
  size_t nf = http_head_fields(h, f, num);
  const char *p = strstr(head, "\r\n") + 2;
  for (size_t i = 0; i < nf; i++) {
    char line[512];
    snprintf(line, sizeof(line), "%.*s%.*s\r\n", (int)f[i].h1_len, f[i].h1,
             (int)f[i].value_len, f[i].value);
    assert_memory_equal(p, line, strlen(line));
    p += strlen(line);
    /* the h2 name is the h1 name lowercased */
    assert_int_equal(f[i].name_len + 2, f[i].h1_len);
    for (size_t k = 0; k < f[i].name_len; k++)
      assert_int_equal(f[i].name[k], f[i].h1[k] | 0x20);
    assert_true(f[i].hpack >= 1 && f[i].hpack <= 61);
  }
  assert_string_equal(p, "\r\n");
}

static void test_file_head(void **state) {
  (void)state;
  struct http_head h = {.status = 200, .date = DATE, .content_type = "text/html",
                        .has_length = 1, .content_length = 1024, .last_modified = DATE,
                        .etag = "\"abc-400\"", .etag_len = 9, .accept_ranges = 1};
  same_as_fields(&h);
  char head[1024];
  int n = http_head_write(head, sizeof(head), &h);
  head[n] = '\0';
  assert_string_equal(head, "HTTP/1.1 200 OK\r\nServer: evcluster\r\nDate: Thu, 03 Dec 2026 "
                            "15:18:48 GMT\r\nContent-Type: text/html\r\nContent-Length: 1024\r\n"
                            "Last-Modified: Thu, 03 Dec 2026 15:18:48 GMT\r\nETag: \"abc-400\"\r\n"
                            "Accept-Ranges: bytes\r\n\r\n");
}

/* Every field at once, the numbers at their largest: a 206 of a file of 2^64 - 1 bytes. */
static void test_largest_numbers(void **state) {
  (void)state;
  struct http_head h = {.status = 206, .date = DATE, .content_type = "a/b", .has_length = 1,
                        .content_length = UINT64_MAX, .last_modified = DATE, .etag = "\"x\"",
                        .etag_len = 3, .accept_ranges = 1, .has_range = 1,
                        .range_start = UINT64_MAX, .range_end = UINT64_MAX,
                        .range_size = UINT64_MAX, .location = "/x", .location_len = 2,
                        .allow = "GET, HEAD", .content_encoding = "br", .vary_encoding = 1};
  same_as_fields(&h);
  struct http_field f[HTTP_FIELDS_MAX];
  char num[HTTP_FIELD_NUM];
  size_t nf = http_head_fields(&h, f, num);
  assert_int_equal(nf, HTTP_FIELDS_MAX);
  int seen = 0;
  for (size_t i = 0; i < nf; i++)
    if (strcmp(f[i].name, "content-range") == 0) {
      const char *want = "bytes 18446744073709551615-18446744073709551615/18446744073709551615";
      assert_int_equal(f[i].value_len, strlen(want));
      assert_memory_equal(f[i].value, want, strlen(want));
      seen = 1;
    }
  assert_true(seen);
}

/* Connection and a site's lines are h1's head only: not fields. */
static void test_connection_and_extra(void **state) {
  (void)state;
  struct http_head h = {.status = 404, .connection = HTTP_CONN_CLOSE,
                        .extra = "X-Frame-Options: DENY\r\n", .extra_len = 23};
  char head[512];
  int n = http_head_write(head, sizeof(head), &h);
  head[n] = '\0';
  assert_string_equal(head, "HTTP/1.1 404 Not Found\r\nServer: evcluster\r\n"
                            "X-Frame-Options: DENY\r\nConnection: close\r\n\r\n");
  struct http_field f[HTTP_FIELDS_MAX];
  char num[HTTP_FIELD_NUM];
  assert_int_equal(http_head_fields(&h, f, num), 1); /* server */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_file_head),
      cmocka_unit_test(test_largest_numbers),
      cmocka_unit_test(test_connection_and_extra),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
