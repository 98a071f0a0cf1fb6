/* Unit tests for http_log: the combined-format line, the escaping of client bytes (no raw
 * control, quote, backslash or high byte ever reaches the log), truncation that never
 * splits an escape, and -ENOBUFS at every too-small capacity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http_log.h"

static struct http_log_entry entry(void) {
  struct http_log_entry e;

  memset(&e, 0, sizeof e);
  e.remote_addr = "127.0.0.1";
  e.time = 971186136; /* 10/Oct/2000:13:55:36 UTC */
  e.request_line = "GET / HTTP/1.1";
  e.request_line_len = strlen(e.request_line);
  e.status = 200;
  e.body_bytes = 2326;
  e.user_agent = "curl/7.88";
  e.user_agent_len = strlen(e.user_agent);
  return e;
}

static void test_format_example(void **state) {
  struct http_log_entry e = entry();
  char buf[512];
  const char *want = "127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET / HTTP/1.1\" 200 2326 \"-\" "
                     "\"curl/7.88\"\n";
  int n;

  (void)state;
  n = http_log_format(buf, sizeof buf, &e);
  assert_int_equal(n, strlen(want));
  assert_string_equal(buf, want);
}

/* A server with TLS listeners adds the protocol and the resumed flag, quoted, at the end. */
static void test_format_tls(void **state) {
  struct http_log_entry e = entry();
  char buf[512];
  (void)state;
  e.tls = "TLSv1.3 r";
  assert_true(http_log_format(buf, sizeof buf, &e) > 0);
  assert_string_equal(buf, "127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET / HTTP/1.1\" 200 2326 "
                           "\"-\" \"curl/7.88\" \"TLSv1.3 r\"\n");
  e.tls = "-";
  assert_true(http_log_format(buf, sizeof buf, &e) > 0);
  assert_non_null(strstr(buf, "\"curl/7.88\" \"-\"\n"));
}

static void test_format_fields(void **state) {
  struct http_log_entry e = entry();
  char buf[512];
  int n;

  (void)state;
  e.remote_addr = "::1";
  e.time = 0;
  e.status = 404;
  e.body_bytes = 0;
  e.referer = "http://example.com/";
  e.referer_len = strlen(e.referer);
  e.user_agent = NULL;
  n = http_log_format(buf, sizeof buf, &e);
  assert_true(n > 0);
  assert_string_equal(buf, "::1 - - [01/Jan/1970:00:00:00 +0000] \"GET / HTTP/1.1\" 404 0 "
                           "\"http://example.com/\" \"-\"\n");
  e.remote_addr = NULL;
  e.request_line = NULL;
  e.referer = NULL;
  e.body_bytes = UINT64_MAX;
  e.status = 0;
  e.time = 1709208000 + 3600 * 11 + 59 * 60 + 59; /* 29/Feb/2024:23:59:59 */
  n = http_log_format(buf, sizeof buf, &e);
  assert_true(n > 0);
  assert_string_equal(buf, "- - - [29/Feb/2024:23:59:59 +0000] \"-\" 0 18446744073709551615 "
                           "\"-\" \"-\"\n");
  /* empty (not absent) client fields are written empty */
  e.request_line = "";
  e.request_line_len = 0;
  e.referer = "";
  e.referer_len = 0;
  n = http_log_format(buf, sizeof buf, &e);
  assert_int_equal(n, strlen(buf));
  assert_string_equal(buf, "- - - [29/Feb/2024:23:59:59 +0000] \"\" 0 18446744073709551615 "
                           "\"\" \"-\"\n");
}

/* Only len bytes of the client fields are used. */
static void test_format_lengths(void **state) {
  struct http_log_entry e = entry();
  char buf[512];

  (void)state;
  e.request_line = "GET /abc HTTP/1.1\r\nHost: x";
  e.request_line_len = 17;
  e.user_agent = "curl/7.88.1";
  e.user_agent_len = 4;
  assert_true(http_log_format(buf, sizeof buf, &e) > 0);
  assert_non_null(strstr(buf, "\"GET /abc HTTP/1.1\" 200"));
  assert_non_null(strstr(buf, "\"curl\"\n"));
}

static void esc_is(const char *in, size_t len, const char *want) {
  char out[256];
  size_t n = http_log_escape(in, len, out, sizeof out);

  out[n] = '\0';
  assert_string_equal(out, want);
  assert_int_equal(n, strlen(want));
}

static void test_escape(void **state) {
  (void)state;
  esc_is("plain text /?&=", 15, "plain text /?&=");
  esc_is("", 0, "");
  esc_is("a\"b", 3, "a\\x22b");
  esc_is("a\\b", 3, "a\\x5cb");
  esc_is("\r\n", 2, "\\x0d\\x0a");
  esc_is("\t", 1, "\\x09");
  esc_is("\x1b[31m", 5, "\\x1b[31m");
  esc_is("\x7f", 1, "\\x7f");
  esc_is("\x80\xff", 2, "\\x80\\xff");
  esc_is("caf\xc3\xa9", 5, "caf\\xc3\\xa9");
  esc_is("a\0b", 3, "a\\x00b");
  esc_is(" ~", 2, " ~");
}

/* Every byte value: printable ASCII but '"' and '\' raw, everything else \xHH. */
static void test_escape_all_bytes(void **state) {
  char in[1], out[8], want[8];
  size_t n;
  int c;

  (void)state;
  for (c = 0; c < 256; c++) {
    in[0] = (char)c;
    n = http_log_escape(in, 1, out, sizeof out);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      assert_int_equal(n, 1);
      assert_int_equal(out[0], c);
    } else {
      assert_int_equal(n, 4);
      snprintf(want, sizeof want, "\\x%02x", c);
      assert_memory_equal(out, want, 4);
    }
  }
}

/* Truncation stops before an escape that does not fit whole, and never writes past cap. */
static void test_escape_truncation(void **state) {
  char out[16];
  size_t n, cap;

  (void)state;
  for (cap = 0; cap <= 9; cap++) {
    memset(out, '#', sizeof out);
    n = http_log_escape("ab\"cd", 5, out, cap);
    assert_true(n <= cap);
    assert_int_equal(out[cap], '#');
    switch (cap) {
    case 0:
    case 1:
    case 2:
      assert_int_equal(n, cap);
      break;
    case 3:
    case 4:
    case 5:
      assert_int_equal(n, 2); /* "\x22" needs 4 */
      break;
    default:
      assert_int_equal(n, cap < 8 ? cap : 8);
      break;
    }
    if (n >= 6)
      assert_memory_equal(out, "ab\\x22", 6);
  }
}

/* Every capacity below the line's length (and its NUL) is refused; never a byte past cap. */
static void test_nobufs(void **state) {
  struct http_log_entry e = entry();
  char full[512], buf[512];
  int len, n;
  size_t cap;

  (void)state;
  e.request_line = "GET /\"\x01\xff HTTP/1.1";
  e.request_line_len = strlen(e.request_line);
  e.referer = "r\\";
  e.referer_len = 2;
  len = http_log_format(full, sizeof full, &e);
  assert_true(len > 0);
  for (cap = 0; cap <= (size_t)len; cap++) {
    memset(buf, '#', sizeof buf);
    n = http_log_format(buf, cap, &e);
    assert_int_equal(n, -ENOBUFS);
    assert_int_equal(buf[cap], '#');
    if (cap > 0)
      assert_int_equal(buf[0], '\0');
  }
  n = http_log_format(buf, (size_t)len + 1, &e);
  assert_int_equal(n, len);
  assert_string_equal(buf, full);
}

/* A hostile request line cannot forge a second line or a field. */
static void test_injection(void **state) {
  struct http_log_entry e = entry();
  char buf[1024];
  const char *p;
  int n, quotes = 0;

  (void)state;
  e.request_line = "GET /\" 200 0 \"-\" \"x\"\n127.0.0.1 - - [fake] \"GET / HTTP/1.1";
  e.request_line_len = strlen(e.request_line);
  e.user_agent = "\x1b]0;pwned\x07\r\n";
  e.user_agent_len = strlen(e.user_agent);
  e.referer = "\"\\\"";
  e.referer_len = 3;
  n = http_log_format(buf, sizeof buf, &e);
  assert_true(n > 0);
  assert_int_equal(strchr(buf, '\n'), buf + n - 1);
  for (p = buf; *p; p++) {
    assert_true((unsigned char)*p >= 0x20 || *p == '\n');
    assert_true((unsigned char)*p < 0x7f);
    if (*p == '"')
      quotes++;
  }
  assert_int_equal(quotes, 6);      /* exactly the three fields' own quotes */
  assert_null(strstr(buf, "\\\"")); /* no raw backslash to escape a quote */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_format_example),   cmocka_unit_test(test_format_fields),
      cmocka_unit_test(test_format_tls),
      cmocka_unit_test(test_format_lengths),   cmocka_unit_test(test_escape),
      cmocka_unit_test(test_escape_all_bytes), cmocka_unit_test(test_escape_truncation),
      cmocka_unit_test(test_nobufs),           cmocka_unit_test(test_injection),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
