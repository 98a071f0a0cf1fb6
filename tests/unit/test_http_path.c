/* Unit tests for http_path_normalize: RFC 3986 5.2.4 examples, the forms a request target
 * takes, and the paths an attacker tries to climb out of the root with. Every accepted
 * output is also checked against the invariants the file handler relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http_path.h"

/* The invariants every successful output must hold, whatever the input. */
static void check_invariants(const char *out, size_t len) {
  assert_int_equal(strlen(out), len);
  assert_true(len >= 1);
  assert_int_equal(out[0], '/');
  assert_null(strstr(out, "//"));
  assert_null(strstr(out, "/../"));
  assert_null(strstr(out, "/./"));
  assert_null(strchr(out, '\\'));
  assert_false(len >= 3 && strcmp(out + len - 3, "/..") == 0);
  assert_false(len >= 2 && strcmp(out + len - 2, "/.") == 0);
}

static void ok(const char *in, const char *want) {
  char out[256];
  size_t len = 12345;
  int rc = http_path_normalize(in, strlen(in), out, sizeof out, &len);

  if (rc != 0)
    fail_msg("\"%s\": rc %d, want \"%s\"", in, rc, want);
  if (strcmp(out, want) != 0)
    fail_msg("\"%s\": got \"%s\", want \"%s\"", in, out, want);
  check_invariants(out, len);
}

static void bad(const char *in, int want) {
  char out[256];
  size_t len = 0;
  int rc = http_path_normalize(in, strlen(in), out, sizeof out, &len);

  if (rc != want)
    fail_msg("\"%s\": rc %d (out \"%s\"), want %d", in, rc, rc == 0 ? out : "", want);
}

static void enc(const char *in, const char *want) {
  char out[64];
  size_t len = 0;
  assert_int_equal(http_path_encode(in, strlen(in), out, sizeof out, &len), 0);
  if (len != strlen(want) || memcmp(out, want, len) != 0)
    fail_msg("encode \"%s\": got \"%.*s\", want \"%s\"", in, (int)len, out, want);
}

/* What a Location built from a resolved path must look like: the same path, no authority,
 * no query or fragment; and decoding it (normalize) gives the input back. */
static void test_encode(void **state) {
  (void)state;
  enc("/sub", "/sub");
  enc("/a-b_c~d.e/x:y@z!$&'()*+,;=", "/a-b_c~d.e/x:y@z!$&'()*+,;=");
  enc("/a b/100%/q?x#f", "/a%20b/100%25/q%3Fx%23f");
  enc("/caf\xc3\xa9", "/caf%C3%A9");
  enc("/\"<>`{}|^[]", "/%22%3C%3E%60%7B%7D%7C%5E%5B%5D");
  enc("/\x01\x7f\xff", "/%01%7F%FF");
  char out[8];
  size_t len;
  assert_int_equal(http_path_encode("/abcdefg", 8, out, 8, &len), 0);
  assert_int_equal(http_path_encode("/abcdefgh", 9, out, 8, &len), -ENAMETOOLONG);
  assert_int_equal(http_path_encode("/abcde f", 8, out, 8, &len), -ENAMETOOLONG);
  /* Round trip over every byte a resolved path may hold. */
  char path[300], uri[900], back[300];
  size_t n = 0;
  path[n++] = '/';
  for (int c = 1; c < 256; c++)
    if (c != '/' && c != '\\' && c != '.')
      path[n++] = (char)c;
  size_t ulen, blen;
  assert_int_equal(http_path_encode(path, n, uri, sizeof uri, &ulen), 0);
  assert_null(memchr(uri, '?', ulen));
  assert_null(memchr(uri, '#', ulen));
  assert_int_equal(http_path_normalize(uri, ulen, back, sizeof back, &blen), 0);
  assert_int_equal(blen, n);
  assert_memory_equal(back, path, n);
}

static void test_plain(void **state) {
  (void)state;
  ok("/", "/");
  ok("/index.html", "/index.html");
  ok("/a/b/c.txt", "/a/b/c.txt");
  ok("/a-b_c~d.e", "/a-b_c~d.e");
  ok("/...", "/..."); /* three dots is a name, not a dot-segment */
  ok("/..a/b..", "/..a/b..");
  ok("/.hidden", "/.hidden");
}

static void test_trailing_slash(void **state) {
  (void)state;
  ok("/dir/", "/dir/");
  ok("/dir/.", "/dir/");
  ok("/dir/./", "/dir/");
  ok("/dir/sub/..", "/dir/");
  ok("/dir/sub/../", "/dir/");
  ok("/dir//", "/dir/");
  ok("/.", "/");
  ok("/./", "/");
}

static void test_merge_slashes(void **state) {
  (void)state;
  ok("//", "/");
  ok("///a", "/a");
  ok("/a//b///c", "/a/b/c");
  ok("/a/%2f/b", "/a/b"); /* a decoded slash is a separator like any other */
}

/* RFC 3986 5.2.4's worked examples, and the dot-segment cases of 5.4 that stay in root. */
static void test_rfc3986(void **state) {
  (void)state;
  ok("/a/b/c/./../../g", "/a/g");
  ok("/b/c/./g", "/b/c/g");
  ok("/b/c/g/.", "/b/c/g/");
  ok("/b/c/g/./", "/b/c/g/");
  ok("/b/c/..", "/b/");
  ok("/b/c/../", "/b/");
  ok("/b/c/../g", "/b/g");
  ok("/b/c/../..", "/");
  ok("/b/c/../../g", "/g");
  ok("/b/c/g.", "/b/c/g.");
  ok("/b/c/.g", "/b/c/.g");
  ok("/b/c/g..", "/b/c/g..");
  ok("/b/c/..g", "/b/c/..g");
  ok("/b/c/./../g", "/b/g");
  ok("/b/c/./g/.", "/b/c/g/");
  ok("/b/c/g/./h", "/b/c/g/h");
  ok("/b/c/g/../h", "/b/c/h");
}

static void test_query_fragment(void **state) {
  (void)state;
  ok("/a?b=c", "/a");
  ok("/a?../../etc/passwd", "/a");
  ok("/a#frag", "/a");
  ok("/a/?x#y", "/a/");
  ok("/?", "/");
  ok("/a%3fb", "/a?b"); /* an escaped '?' is part of the name */
  ok("/a%23b", "/a#b");
  ok("/a?%zz", "/a"); /* the query is not decoded */
}

static void test_percent(void **state) {
  (void)state;
  ok("/a%20b", "/a b");
  ok("/%41%42%43", "/ABC");
  ok("/%e2%82%ac", "/\xe2\x82\xac");
  ok("/%E2%82%AC", "/\xe2\x82\xac");
  ok("/a+b", "/a+b"); /* '+' is not a space in a path */
  ok("/%25", "/%");
  ok("/%2541", "/%41"); /* decoded once, never twice */
  ok("/%2e", "/");
  ok("/a/%2E%2E/b", "/b");
}

static void test_bad_escapes(void **state) {
  (void)state;
  bad("/%", -EINVAL);
  bad("/%4", -EINVAL);
  bad("/a%", -EINVAL);
  bad("/%zz", -EINVAL);
  bad("/%4g", -EINVAL);
  bad("/%g4", -EINVAL);
  bad("/% 1", -EINVAL);
  bad("/%%41", -EINVAL);
  bad("/%-1", -EINVAL);
}

static void test_nul_backslash(void **state) {
  char out[64];
  size_t len;
  const char raw_nul[] = "/a\0b";

  (void)state;
  bad("/%00", -EINVAL);
  bad("/a%00.html", -EINVAL);
  bad("/a%5cb", -EINVAL);
  bad("/a%5Cb", -EINVAL);
  bad("/a\\b", -EINVAL);
  bad("/..%5c..%5cetc", -EINVAL);
  bad("/%5c", -EINVAL);
  assert_int_equal(http_path_normalize(raw_nul, sizeof raw_nul - 1, out, sizeof out, &len),
                   -EINVAL);
}

static void test_not_a_path(void **state) {
  char out[8];
  size_t len;

  (void)state;
  assert_int_equal(http_path_normalize("", 0, out, sizeof out, &len), -EINVAL);
  bad("*", -EINVAL);
  bad("a/b", -EINVAL);
  bad("index.html", -EINVAL);
  bad("../etc/passwd", -EINVAL);
  bad("%2fetc/passwd", -EINVAL);
  bad("example.com:80", -EINVAL);
  bad("ftp://host/a", -EINVAL);
  bad("file:///etc/passwd", -EINVAL);
  bad("http:/a", -EINVAL);
  bad("http//host/a", -EINVAL);
  bad("?x", -EINVAL);
  bad("#x", -EINVAL);
}

static void test_absolute_form(void **state) {
  (void)state;
  ok("http://example.com/a/b", "/a/b");
  ok("http://example.com:8080/a/b?x", "/a/b");
  ok("HTTP://EXAMPLE.COM/A", "/A");
  ok("https://h/x/", "/x/");
  ok("http://h", "/");
  ok("http://h?q", "/");
  ok("http://h#f", "/");
  ok("http://user@h:1/p", "/p");
  ok("http://[::1]:8080/p", "/p");
  ok("http://h//a", "/a");
  bad("http://h/../etc/passwd", -EINVAL);
  bad("http://h/%2e%2e/x", -EINVAL);
  bad("http://h/a%00", -EINVAL);
}

/* The classic traversal attempts: each must be refused, never clamped into something served. */
static void test_attacks(void **state) {
  (void)state;
  bad("/..", -EINVAL);
  bad("/../", -EINVAL);
  bad("/../etc/passwd", -EINVAL);
  bad("/../../../../etc/passwd", -EINVAL);
  bad("/a/../../etc/passwd", -EINVAL);
  bad("/a/b/../../../etc/passwd", -EINVAL);
  bad("/%2e%2e/%2e%2e/etc/passwd", -EINVAL);
  bad("/%2E%2E/etc/passwd", -EINVAL);
  bad("/%2e./etc", -EINVAL);
  bad("/.%2e/", -EINVAL);
  bad("/.%2E", -EINVAL);
  bad("/a/%2e%2e%2f..%2f", -EINVAL);
  bad("/%2e%2e%2fetc%2fpasswd", -EINVAL);
  bad("/..%2fetc/passwd", -EINVAL);
  bad("//..", -EINVAL);
  bad("//../etc", -EINVAL);
  bad("/./..", -EINVAL);
  bad("/./../etc", -EINVAL);
  bad("/a/./../..", -EINVAL);
  bad("/a//../..", -EINVAL);
  bad("/a/b/c/../../../..", -EINVAL);
  bad("/%2E%2E/", -EINVAL);
}

/* "%25" decodes once to '%': "%252e%252e" is the literal name "%2e%2e", a harmless file name
 * that a second decoding (which must never happen) would turn into "..". */
static void test_double_encoding(void **state) {
  (void)state;
  ok("/%252e%252e/etc", "/%2e%2e/etc");
  ok("/%252f", "/%2f");
}

static void test_deep_then_up(void **state) {
  (void)state;
  ok("/a/b/c/d/../../../../x", "/x");
  ok("/a/b/../c/../d/./e/../f", "/a/d/f");
  ok("/a/../b/../c/..", "/");
  ok("/a/.././b/./../", "/");
}

static void test_capacity(void **state) {
  char out[8];
  size_t len = 0;

  (void)state;
  /* "/abcdef" needs 7 bytes and the NUL: fits exactly */
  assert_int_equal(http_path_normalize("/abcdef", 7, out, sizeof out, &len), 0);
  assert_string_equal(out, "/abcdef");
  assert_int_equal(len, 7);
  assert_int_equal(http_path_normalize("/abcdefg", 8, out, sizeof out, &len), -ENAMETOOLONG);
  assert_int_equal(http_path_normalize("/abcdef/", 8, out, sizeof out, &len), -ENAMETOOLONG);
  assert_int_equal(http_path_normalize("/abc/def", 8, out, sizeof out, &len), -ENAMETOOLONG);
  /* escapes count decoded: "%41" is one byte */
  assert_int_equal(http_path_normalize("/%41%42%43%44%45%46", 19, out, sizeof out, &len), 0);
  assert_string_equal(out, "/ABCDEF");
  /* a long intermediate that ".." brings back under cap is fine */
  assert_int_equal(http_path_normalize("/aaaaaaaaaaaaaaaaaaaa/../b", 26, out, sizeof out, &len), 0);
  assert_string_equal(out, "/b");
  assert_int_equal(
      http_path_normalize("/x/aaaaaaaaaa/bbbbbbbbbb/cc/../../../y", 38, out, sizeof out, &len), 0);
  assert_string_equal(out, "/x/y");
  assert_int_equal(http_path_normalize("/x/aaaaaaaaaa/../../..", 22, out, sizeof out, &len),
                   -EINVAL);
  assert_int_equal(http_path_normalize("/x/aaaaaaaaaa/..", 16, out, sizeof out, &len), 0);
  assert_string_equal(out, "/x/");
  /* tiny buffers */
  assert_int_equal(http_path_normalize("/", 1, out, 1, &len), -ENAMETOOLONG);
  assert_int_equal(http_path_normalize("/", 1, out, 0, &len), -ENAMETOOLONG);
  assert_int_equal(http_path_normalize("/", 1, out, 2, &len), 0);
  assert_string_equal(out, "/");
  assert_int_equal(http_path_normalize("/a", 2, out, 2, &len), -ENAMETOOLONG);
  assert_int_equal(http_path_normalize("/a/..", 5, out, 2, &len), 0);
  assert_string_equal(out, "/");
}

static void test_overlong(void **state) {
  static char in[70000], out[4096];
  size_t len, i, n = 0;

  (void)state;
  in[n++] = '/';
  while (n < 65000)
    in[n++] = 'a';
  assert_int_equal(http_path_normalize(in, n, out, sizeof out, &len), -ENAMETOOLONG);
  /* many "../" after many names: balanced, so fine */
  n = 0;
  for (i = 0; i < 5000; i++) {
    memcpy(in + n, "/abc", 4);
    n += 4;
  }
  for (i = 0; i < 5000; i++) {
    memcpy(in + n, "/..", 3);
    n += 3;
  }
  assert_int_equal(http_path_normalize(in, n, out, sizeof out, &len), 0);
  assert_string_equal(out, "/");
  memcpy(in + n, "/..", 3);
  assert_int_equal(http_path_normalize(in, n + 3, out, sizeof out, &len), -EINVAL);
}

/* Not NUL-terminated input: only len bytes are read. */
static void test_length_bound(void **state) {
  char out[32];
  size_t len;
  const char buf[] = "/abc/../../etc";

  (void)state;
  assert_int_equal(http_path_normalize(buf, 4, out, sizeof out, &len), 0);
  assert_string_equal(out, "/abc");
  assert_int_equal(http_path_normalize(buf, 8, out, sizeof out, &len), 0);
  assert_string_equal(out, "/");
  assert_int_equal(http_path_normalize("/a%41", 3, out, sizeof out, &len), -EINVAL);
}

/* Every byte value, raw and escaped, in one segment: only NUL and '\' are refused, and '/'
 * splits; nothing else changes the structure. */
static void test_all_bytes(void **state) {
  char in[16], out[32];
  size_t len;
  int c, rc;

  (void)state;
  for (c = 1; c < 256; c++) {
    snprintf(in, sizeof in, "/x%%%02Xy", c);
    rc = http_path_normalize(in, strlen(in), out, sizeof out, &len);
    if (c == '\\') {
      assert_int_equal(rc, -EINVAL);
    } else if (c == '/') {
      assert_int_equal(rc, 0);
      assert_string_equal(out, "/x/y");
    } else {
      assert_int_equal(rc, 0);
      assert_int_equal(len, 4);
      assert_int_equal((unsigned char)out[2], c);
    }
  }
}

/* Random targets over the alphabet that matters: every accepted output keeps the invariants,
 * and normalising it again (when it has nothing left to decode) changes nothing. */
static void test_random(void **state) {
  static const char *const tok[] = {"/",   "/",   "/", ".",  ".", "..", "%2e", "%2E", "%2f",
                                    "%5c", "%00", "a", "bc", "?", "#",  "%",   "%25", "%2"};
  const size_t ntok = sizeof tok / sizeof tok[0];
  char in[96], out[64], again[64];
  size_t len, len2, n, k, i, t;
  uint32_t x = 12345;
  int rc, iter, accepted = 0;

  (void)state;
  for (iter = 0; iter < 200000; iter++) {
    x = x * 1103515245u + 12345u;
    k = 1 + (x >> 16) % 24;
    n = 0;
    in[n++] = '/';
    for (i = 0; i < k; i++) {
      x = x * 1103515245u + 12345u;
      t = (x >> 16) % ntok;
      memcpy(in + n, tok[t], strlen(tok[t]));
      n += strlen(tok[t]);
    }
    rc = http_path_normalize(in, n, out, sizeof out, &len);
    assert_true(rc == 0 || rc == -EINVAL || rc == -ENAMETOOLONG);
    if (rc != 0)
      continue;
    accepted++;
    check_invariants(out, len);
    if (strpbrk(out, "%?#") == NULL) {
      assert_int_equal(http_path_normalize(out, len, again, sizeof again, &len2), 0);
      assert_string_equal(again, out);
    }
  }
  assert_true(accepted > 1000); /* the generator does reach the interesting cases */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain),          cmocka_unit_test(test_trailing_slash),
      cmocka_unit_test(test_merge_slashes),  cmocka_unit_test(test_rfc3986),
      cmocka_unit_test(test_query_fragment), cmocka_unit_test(test_percent),
      cmocka_unit_test(test_bad_escapes),    cmocka_unit_test(test_nul_backslash),
      cmocka_unit_test(test_not_a_path),     cmocka_unit_test(test_absolute_form),
      cmocka_unit_test(test_attacks),        cmocka_unit_test(test_double_encoding),
      cmocka_unit_test(test_deep_then_up),   cmocka_unit_test(test_capacity),
      cmocka_unit_test(test_overlong),       cmocka_unit_test(test_length_bound),
      cmocka_unit_test(test_all_bytes),      cmocka_unit_test(test_random),
      cmocka_unit_test(test_encode),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
