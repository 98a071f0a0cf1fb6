/* Unit tests for http_cond: the RFC 9110 13.2.2 precedence of the four preconditions,
 * strong and weak entity-tag comparison over lists, If-Range, and the ETag format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "http_cond.h"

#define MTIME 784111777 /* Sun, 06 Nov 1994 08:49:37 GMT */
#define AT_MTIME "Sun, 06 Nov 1994 08:49:37 GMT"
#define BEFORE "Sun, 06 Nov 1994 08:49:36 GMT"
#define AFTER "Sun, 06 Nov 1994 08:49:38 GMT"
#define ETAG "\"2ebc98a1-1c\""

static const struct http_validators file = {MTIME, ETAG, sizeof ETAG - 1};

struct hdrs {
  const char *im, *inm, *ims, *ius, *ir;
};

static struct http_cond_headers mk(const struct hdrs *x) {
  struct http_cond_headers h;

  memset(&h, 0, sizeof h);
#define SET(field, v)                                                                              \
  do {                                                                                             \
    h.field = (v);                                                                                 \
    h.field##_len = (v) ? strlen(v) : 0;                                                           \
  } while (0)
  SET(if_match, x->im);
  SET(if_none_match, x->inm);
  SET(if_modified_since, x->ims);
  SET(if_unmodified_since, x->ius);
  SET(if_range, x->ir);
#undef SET
  return h;
}

static enum http_cond_result eval(const char *im, const char *inm, const char *ims,
                                  const char *ius) {
  struct hdrs x = {im, inm, ims, ius, NULL};
  struct http_cond_headers h = mk(&x);

  return http_cond_eval(&h, &file);
}

#define PROCEED HTTP_COND_PROCEED
#define NOT_MOD HTTP_COND_NOT_MODIFIED
#define FAILED HTTP_COND_PRECONDITION_FAILED

static void test_none(void **state) {
  (void)state;
  assert_int_equal(eval(NULL, NULL, NULL, NULL), PROCEED);
}

static void test_if_match(void **state) {
  (void)state;
  assert_int_equal(eval(ETAG, NULL, NULL, NULL), PROCEED);
  assert_int_equal(eval("*", NULL, NULL, NULL), PROCEED);
  assert_int_equal(eval(" * ", NULL, NULL, NULL), PROCEED);
  assert_int_equal(eval("\"other\"", NULL, NULL, NULL), FAILED);
  assert_int_equal(eval("\"a\", " ETAG, NULL, NULL, NULL), PROCEED);
  assert_int_equal(eval(ETAG ",\"b\"", NULL, NULL, NULL), PROCEED);
  assert_int_equal(eval("\"a\" ,\t\"b\"", NULL, NULL, NULL), FAILED);
  /* strong comparison: a weak tag never matches, even with the same opaque-tag */
  assert_int_equal(eval("W/" ETAG, NULL, NULL, NULL), FAILED);
  assert_int_equal(eval("W/\"a\", W/" ETAG, NULL, NULL, NULL), FAILED);
  /* the quotes are part of the tag */
  assert_int_equal(eval("2ebc98a1-1c", NULL, NULL, NULL), FAILED);
  assert_int_equal(eval("\"2EBC98A1-1C\"", NULL, NULL, NULL), FAILED);
  /* malformed lists never match: 412 */
  assert_int_equal(eval("", NULL, NULL, NULL), FAILED);
  assert_int_equal(eval(ETAG " junk", NULL, NULL, NULL), FAILED);
  assert_int_equal(eval(ETAG ", junk", NULL, NULL, NULL), FAILED);
  assert_int_equal(eval("\"unterminated", NULL, NULL, NULL), FAILED);
  assert_int_equal(eval("*, " ETAG, NULL, NULL, NULL), FAILED);
}

static void test_if_unmodified_since(void **state) {
  (void)state;
  assert_int_equal(eval(NULL, NULL, NULL, AT_MTIME), PROCEED);
  assert_int_equal(eval(NULL, NULL, NULL, AFTER), PROCEED);
  assert_int_equal(eval(NULL, NULL, NULL, BEFORE), FAILED);
  assert_int_equal(eval(NULL, NULL, NULL, "Sunday, 06-Nov-94 08:49:36 GMT"), FAILED);
  assert_int_equal(eval(NULL, NULL, NULL, "Sun Nov  6 08:49:36 1994"), FAILED);
  /* an invalid date is ignored */
  assert_int_equal(eval(NULL, NULL, NULL, "yesterday"), PROCEED);
  assert_int_equal(eval(NULL, NULL, NULL, ""), PROCEED);
  /* If-Match present: If-Unmodified-Since is not evaluated */
  assert_int_equal(eval(ETAG, NULL, NULL, BEFORE), PROCEED);
  assert_int_equal(eval("\"x\"", NULL, NULL, AFTER), FAILED);
}

static void test_if_none_match(void **state) {
  (void)state;
  assert_int_equal(eval(NULL, ETAG, NULL, NULL), NOT_MOD);
  assert_int_equal(eval(NULL, "W/" ETAG, NULL, NULL), NOT_MOD); /* weak comparison */
  assert_int_equal(eval(NULL, "*", NULL, NULL), NOT_MOD);
  assert_int_equal(eval(NULL, "\"a\", W/\"b\", " ETAG, NULL, NULL), NOT_MOD);
  assert_int_equal(eval(NULL, "\"a\",,W/" ETAG ",", NULL, NULL), NOT_MOD);
  assert_int_equal(eval(NULL, "\"a\", W/\"b\"", NULL, NULL), PROCEED);
  assert_int_equal(eval(NULL, "\"other\"", NULL, NULL), PROCEED);
  assert_int_equal(eval(NULL, "w/" ETAG, NULL, NULL), PROCEED); /* "W/" is case-sensitive */
  /* malformed: proceed (the full response is always safe) */
  assert_int_equal(eval(NULL, "", NULL, NULL), PROCEED);
  assert_int_equal(eval(NULL, ETAG " x", NULL, NULL), PROCEED);
  assert_int_equal(eval(NULL, ETAG ETAG, NULL, NULL), PROCEED);
  assert_int_equal(eval(NULL, "\"a b\", " ETAG, NULL, NULL), PROCEED); /* SP not etagc */
}

static void test_if_modified_since(void **state) {
  (void)state;
  assert_int_equal(eval(NULL, NULL, AT_MTIME, NULL), NOT_MOD);
  assert_int_equal(eval(NULL, NULL, AFTER, NULL), NOT_MOD);
  assert_int_equal(eval(NULL, NULL, BEFORE, NULL), PROCEED);
  assert_int_equal(eval(NULL, NULL, "Sun Nov  6 08:49:37 1994", NULL), NOT_MOD);
  assert_int_equal(eval(NULL, NULL, "garbage", NULL), PROCEED);
  assert_int_equal(eval(NULL, NULL, AT_MTIME ", " AT_MTIME, NULL), PROCEED); /* two members */
  /* If-None-Match present: If-Modified-Since is not evaluated */
  assert_int_equal(eval(NULL, "\"other\"", AFTER, NULL), PROCEED);
  assert_int_equal(eval(NULL, ETAG, BEFORE, NULL), NOT_MOD);
}

/* 13.2.2: the 412 checks come before the 304 checks. */
static void test_precedence(void **state) {
  (void)state;
  assert_int_equal(eval("\"x\"", ETAG, NULL, NULL), FAILED);
  assert_int_equal(eval("\"x\"", NULL, AT_MTIME, NULL), FAILED);
  assert_int_equal(eval(NULL, ETAG, NULL, BEFORE), FAILED);
  assert_int_equal(eval(NULL, NULL, AT_MTIME, BEFORE), FAILED);
  assert_int_equal(eval(ETAG, ETAG, NULL, NULL), NOT_MOD);
  assert_int_equal(eval("*", "*", NULL, NULL), NOT_MOD);
  assert_int_equal(eval(NULL, NULL, AT_MTIME, AT_MTIME), NOT_MOD);
  assert_int_equal(eval(ETAG, "\"x\"", AT_MTIME, BEFORE), PROCEED);
}

static int if_range(const char *v, const struct http_validators *val) {
  struct hdrs x = {NULL, NULL, NULL, NULL, v};
  struct http_cond_headers h = mk(&x);

  return http_cond_if_range(&h, val);
}

static void test_if_range(void **state) {
  struct http_validators noetag = {MTIME, NULL, 0};

  (void)state;
  assert_int_equal(if_range(NULL, &file), 1);
  assert_int_equal(if_range(ETAG, &file), 1);
  assert_int_equal(if_range(" " ETAG " ", &file), 1);
  assert_int_equal(if_range("\"other\"", &file), 0);
  assert_int_equal(if_range("W/" ETAG, &file), 0);      /* weak never matches */
  assert_int_equal(if_range(ETAG ", \"x\"", &file), 0); /* one tag, not a list */
  assert_int_equal(if_range(AT_MTIME, &file), 1);
  assert_int_equal(if_range("Sunday, 06-Nov-94 08:49:37 GMT", &file), 1);
  assert_int_equal(if_range(BEFORE, &file), 0);
  assert_int_equal(if_range(AFTER, &file), 0);                           /* exact match only */
  assert_int_equal(if_range("Wed, 21 Oct 2015 07:28:00 GMT", &file), 0); /* starts with 'W' */
  assert_int_equal(if_range("garbage", &file), 0);
  assert_int_equal(if_range("", &file), 0);
  assert_int_equal(if_range("\"", &file), 0);
  assert_int_equal(if_range(ETAG, &noetag), 0);
  assert_int_equal(if_range(AT_MTIME, &noetag), 1);
}

static void test_etag(void **state) {
  char buf[40], small[8];
  size_t n;

  (void)state;
  n = http_cond_etag(buf, sizeof buf, MTIME, 0, 28);
  assert_string_equal(buf, ETAG);
  assert_int_equal(n, strlen(ETAG));
  n = http_cond_etag(buf, sizeof buf, 0, 0, 0);
  assert_string_equal(buf, "\"0-0\"");
  assert_int_equal(n, 5);
  n = http_cond_etag(buf, sizeof buf, 0x5f3a, 0, 0x1c);
  assert_string_equal(buf, "\"5f3a-1c\"");
  /* the widest: both fields 16 hex digits, still under 40 */
  n = http_cond_etag(buf, sizeof buf, (time_t)-1, 0, ~0ULL);
  assert_string_equal(buf, "\"ffffffffffffffff-ffffffffffffffff\"");
  assert_int_equal(n, 35);
  /* too small: "" and 0, never a truncated tag */
  n = http_cond_etag(small, sizeof small, MTIME, 0, 28);
  assert_int_equal(n, 0);
  assert_string_equal(small, "");
  n = http_cond_etag(small, 6, 0, 0, 0);
  assert_int_equal(n, 5);
  n = http_cond_etag(small, 5, 0, 0, 0);
  assert_int_equal(n, 0);
  /* nanoseconds: two versions written in one second differ */
  n = http_cond_etag(buf, sizeof buf, 0x5f3a, 0x1234, 0x1c);
  assert_string_equal(buf, "\"5f3a.1234-1c\"");
  char wide[48];
  n = http_cond_etag(wide, sizeof wide, (time_t)-1, 999999999, ~0ULL);
  assert_string_equal(wide, "\"ffffffffffffffff.3b9ac9ff-ffffffffffffffff\"");
  assert_int_equal(n, 44);
}

/* The generated tag round-trips through the comparisons. */
static void test_etag_roundtrip(void **state) {
  char tag[40];
  struct http_validators v;
  struct http_cond_headers h;

  (void)state;
  v.mtime = 1700000000;
  v.etag = tag;
  v.etag_len = http_cond_etag(tag, sizeof tag, v.mtime, 0, 123456789);
  memset(&h, 0, sizeof h);
  h.if_none_match = tag;
  h.if_none_match_len = v.etag_len;
  assert_int_equal(http_cond_eval(&h, &v), NOT_MOD);
  h.if_none_match = NULL;
  h.if_match = tag;
  h.if_match_len = v.etag_len;
  assert_int_equal(http_cond_eval(&h, &v), PROCEED);
  h.if_range = tag;
  h.if_range_len = v.etag_len;
  assert_int_equal(http_cond_if_range(&h, &v), 1);
}

/* Values are not NUL-terminated: only len bytes are read. */
static void test_length_bound(void **state) {
  struct http_cond_headers h;
  const char *v = ETAG "garbage";

  (void)state;
  memset(&h, 0, sizeof h);
  h.if_match = v;
  h.if_match_len = strlen(ETAG);
  h.if_none_match = v;
  h.if_none_match_len = strlen(ETAG) - 1;
  assert_int_equal(http_cond_eval(&h, &file), PROCEED);
  h.if_none_match_len = strlen(ETAG);
  assert_int_equal(http_cond_eval(&h, &file), NOT_MOD);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_none),
      cmocka_unit_test(test_if_match),
      cmocka_unit_test(test_if_unmodified_since),
      cmocka_unit_test(test_if_none_match),
      cmocka_unit_test(test_if_modified_since),
      cmocka_unit_test(test_precedence),
      cmocka_unit_test(test_if_range),
      cmocka_unit_test(test_etag),
      cmocka_unit_test(test_etag_roundtrip),
      cmocka_unit_test(test_length_bound),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
