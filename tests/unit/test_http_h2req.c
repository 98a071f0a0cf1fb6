/* Unit tests for RFC 9113's request checks (worker/http_h2req.c): field values and paths of
 * every length up to 40 made of bytes drawn around the edges of the rules, each judged
 * against a byte-by-byte reading of RFC 9113 8.2.1 (the checks read eight bytes a step, and
 * only a byte a step where a word looks suspicious); names known and unknown; the request's
 * shape. The same rules end to end, against nghttp2's, are 89_h2_malformed's table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_h2req.h"

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* A request with its pseudo-fields given, then the field under test. */
static int field(const char *name, const uint8_t *v, size_t n) {
  struct http_h2req r;
  http_h2req_begin(&r);
  assert_int_equal(http_h2req_field(&r, S(":method"), S("GET"), 0), 0);
  return http_h2req_field(&r, (const uint8_t *)name, strlen(name), v, n, 0);
}

/* RFC 9113 8.2.1 for a regular field's value, byte by byte. */
static int value_ok(const uint8_t *v, size_t n) {
  if (n > 0 && (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t'))
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
      return 0;
  return 1;
}

/* A :path's bytes: VCHAR and obs-text, no space nor control (nghttp2_check_path). */
static int path_ok(const uint8_t *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (v[i] <= 0x20 || v[i] == 0x7f)
      return 0;
  return n > 0;
}

static void values_against_the_rule(void **state) {
  (void)state;
  /* mostly fine bytes, now and then one from the edges: word steps and the tail both see them */
  static const uint8_t edge[] = {0x00, 0x08, 0x09, 0x0a, 0x0d, 0x1f, 0x20, 0x21,
                                 0x7e, 0x7f, 0x80, 0xc3, 0xff, 'a', '/', 'Z'};
  srand(7);
  uint8_t v[40];
  for (int round = 0; round < 20000; round++) {
    size_t n = (size_t)(rand() % 41);
    for (size_t i = 0; i < n; i++)
      v[i] = rand() % 4 ? (uint8_t)('a' + rand() % 26) : edge[rand() % sizeof(edge)];
    int want = value_ok(v, n) ? 0 : -EPROTO;
    assert_int_equal(field("x-a", v, n), want);
    assert_int_equal(field("user-agent", v, n), want); /* a known name: its value checked */
    struct http_h2req r;
    http_h2req_begin(&r);
    int p = http_h2req_field(&r, S(":path"), v, n, 0);
    assert_int_equal(p, path_ok(v, n) ? 0 : -EPROTO);
  }
}

static void names(void **state) {
  (void)state;
  assert_int_equal(field("x-custom_1", S("v")), 0);
  assert_int_equal(field("accept-encoding", S("gzip")), 0);
  assert_int_equal(field("X-Custom", S("v")), -EPROTO);      /* uppercase */
  assert_int_equal(field("x custom", S("v")), -EPROTO);      /* space */
  assert_int_equal(field("x:y", S("v")), -EPROTO);           /* a colon inside */
  assert_int_equal(field("", S("v")), -EPROTO);              /* empty */
  assert_int_equal(field("x\x80", S("v")), -EPROTO);         /* obs-text: not a token */
  assert_int_equal(field(":", S("v")), -EPROTO);             /* a colon alone */
  assert_int_equal(field(":status", S("200")), -EPROTO);     /* a response's pseudo-field */
  assert_int_equal(field("connection", S("close")), -EPROTO);
  assert_int_equal(field("te", S("trailers")), 0);
  assert_int_equal(field("te", S("gzip")), -EPROTO);
}

/* The fields of a whole request, then the end of its block. */
static int request(const char *const *f, size_t n, int end_stream) {
  struct http_h2req r;
  http_h2req_begin(&r);
  for (size_t i = 0; i + 1 < n; i += 2)
    if (http_h2req_field(&r, (const uint8_t *)f[i], strlen(f[i]), (const uint8_t *)f[i + 1],
                         strlen(f[i + 1]), 0) < 0)
      return -EPROTO;
  return http_h2req_headers_end(&r, end_stream);
}

static void shapes(void **state) {
  (void)state;
  const char *good[] = {":method", "GET", ":scheme", "https", ":path", "/a", ":authority", "x"};
  assert_int_equal(request(good, 8, 1), 0);
  const char *host[] = {":method", "GET", ":scheme", "HTTP", ":path", "/a", "host", "x"};
  assert_int_equal(request(host, 8, 1), 0);
  const char *no_path[] = {":method", "GET", ":scheme", "https", ":authority", "x"};
  assert_int_equal(request(no_path, 6, 1), -EPROTO);
  const char *star[] = {":method", "OPTIONS", ":scheme", "https", ":path", "*", ":authority", "x"};
  assert_int_equal(request(star, 8, 1), 0);
  star[1] = "GET";
  assert_int_equal(request(star, 8, 1), -EPROTO);
  const char *other_scheme[] = {":method", "GET", ":scheme", "foo", ":path", "*", ":authority",
                                "x"}; /* not http(s): the path's form is not ours to judge */
  assert_int_equal(request(other_scheme, 8, 1), 0);
  const char *connect[] = {":method", "CONNECT", ":authority", "x:443"};
  assert_int_equal(request(connect, 4, 0), 0);
  const char *late[] = {":method", "GET", "accept", "*/*", ":path", "/a"};
  assert_int_equal(request(late, 6, 1), -EPROTO);
}

static void bodies(void **state) {
  (void)state;
  struct http_h2req r;
  http_h2req_begin(&r);
  const char *f[] = {":method", "POST", ":scheme", "http", ":path", "/a", ":authority", "x",
                     "content-length", "5"};
  for (size_t i = 0; i < 10; i += 2)
    assert_int_equal(http_h2req_field(&r, (const uint8_t *)f[i], strlen(f[i]),
                                      (const uint8_t *)f[i + 1], strlen(f[i + 1]), 0), 0);
  assert_int_equal(http_h2req_headers_end(&r, 0), 0);
  assert_int_equal(http_h2req_data(&r, 3), 0);
  assert_int_equal(http_h2req_end(&r), -EPROTO); /* 3 of 5 */
  assert_int_equal(http_h2req_field(&r, S("x-t"), S("1"), 1), 0);
  assert_int_equal(http_h2req_field(&r, S(":path"), S("/b"), 1), -EPROTO); /* in trailers */
  assert_int_equal(http_h2req_trailers_end(&r, 0), -EPROTO);  /* without END_STREAM */
  assert_int_equal(http_h2req_data(&r, 2), 0);
  assert_int_equal(http_h2req_trailers_end(&r, 1), 0);
  assert_int_equal(http_h2req_data(&r, 1), -EPROTO); /* past content-length */
  http_h2req_begin(&r);
  assert_int_equal(http_h2req_field(&r, S("content-length"), S("99999999999999999999"), 0),
                   -EPROTO);
  http_h2req_begin(&r);
  assert_int_equal(http_h2req_field(&r, S("content-length"), S("+5"), 0), -EPROTO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(values_against_the_rule),
      cmocka_unit_test(names),
      cmocka_unit_test(shapes),
      cmocka_unit_test(bodies),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
