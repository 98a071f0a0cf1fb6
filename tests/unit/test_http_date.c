/* Unit tests for http_date: IMF-fixdate formatting (locale-proof), the per-second cache,
 * and parsing of the three HTTP-date forms (RFC 9110 5.6.7), including RFC 850's two-digit
 * year window and the rejection of garbage and out-of-range fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "http_date.h"

#define T1994 784111777  /* Sun, 06 Nov 1994 08:49:37 GMT, the RFC's example */
#define T2024 1704067200 /* Mon, 01 Jan 2024 00:00:00 GMT */

static void fmt_is(time_t t, const char *want) {
  char out[HTTP_DATE_LEN + 1];

  memset(out, 'x', sizeof out);
  http_date_format(t, out);
  assert_string_equal(out, want);
  assert_int_equal(strlen(out), HTTP_DATE_LEN);
}

static void test_format(void **state) {
  (void)state;
  fmt_is(T1994, "Sun, 06 Nov 1994 08:49:37 GMT");
  fmt_is(0, "Thu, 01 Jan 1970 00:00:00 GMT");
  fmt_is(T2024, "Mon, 01 Jan 2024 00:00:00 GMT");
  fmt_is(951782400, "Tue, 29 Feb 2000 00:00:00 GMT");
  fmt_is(2147483647, "Tue, 19 Jan 2038 03:14:07 GMT");
  fmt_is(2147483648LL, "Tue, 19 Jan 2038 03:14:08 GMT");
  fmt_is(-1, "Wed, 31 Dec 1969 23:59:59 GMT");
  fmt_is(253402300799LL, "Fri, 31 Dec 9999 23:59:59 GMT");
  /* past year 9999 the fixed-width form cannot say it: the epoch, never a broken header */
  fmt_is(253402300800LL, "Thu, 01 Jan 1970 00:00:00 GMT");
}

/* Every day and month name, checked against a day-by-day walk over 2023 and 2024. */
static void test_format_names(void **state) {
  static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char out[HTTP_DATE_LEN + 1], want[64];
  struct tm tm;
  time_t t, back;
  int i;

  (void)state;
  for (i = 0; i < 731; i++) {
    t = (time_t)1672531200 + (time_t)i * 86400 + 3661 * (i % 20);
    gmtime_r(&t, &tm);
    snprintf(want, sizeof want, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    http_date_format(t, out);
    assert_string_equal(out, want);
    assert_int_equal(http_date_parse(out, strlen(out), &back), 0);
    assert_int_equal(back, t);
  }
}

/* A locale with other month names must not leak into headers. */
static void test_format_locale(void **state) {
  (void)state;
  if (setlocale(LC_TIME, "de_DE.UTF-8") == NULL && setlocale(LC_TIME, "fr_FR.UTF-8") == NULL)
    setlocale(LC_TIME, "C.UTF-8");
  fmt_is(T1994 + 86400 * 5, "Fri, 11 Nov 1994 08:49:37 GMT");
  fmt_is(T1994 - 86400 * 200, "Wed, 20 Apr 1994 08:49:37 GMT");
  setlocale(LC_TIME, "C");
}

static void test_cache(void **state) {
  http_date_cache_t c;
  const char *a, *b;

  (void)state;
  http_date_cache_init(&c);
  /* valid before any real time: even now == -1 on the first call */
  assert_string_equal(http_date_cache_get(&c, -1), "Wed, 31 Dec 1969 23:59:59 GMT");
  a = http_date_cache_get(&c, T1994);
  assert_string_equal(a, "Sun, 06 Nov 1994 08:49:37 GMT");
  b = http_date_cache_get(&c, T1994);
  assert_ptr_equal(a, b);
  assert_string_equal(b, "Sun, 06 Nov 1994 08:49:37 GMT");
  /* the cache trusts its second: a poisoned buffer stays until the second changes */
  c.buf[0] = 'X';
  assert_int_equal(http_date_cache_get(&c, T1994)[0], 'X');
  assert_string_equal(http_date_cache_get(&c, T1994 + 1), "Sun, 06 Nov 1994 08:49:38 GMT");
  assert_string_equal(http_date_cache_get(&c, T1994), "Sun, 06 Nov 1994 08:49:37 GMT");
  assert_int_equal(strlen(http_date_cache_get(&c, 0)), HTTP_DATE_LEN);
}

static void parse_is(const char *s, time_t want) {
  time_t t = 42;
  int rc = http_date_parse_at(s, strlen(s), T2024, &t);

  if (rc != 0 || t != want)
    fail_msg("\"%s\": rc %d t %lld, want %lld", s, rc, (long long)t, (long long)want);
}

static void parse_bad(const char *s) {
  time_t t = 42;
  int rc = http_date_parse_at(s, strlen(s), T2024, &t);

  if (rc != -EINVAL)
    fail_msg("\"%s\": rc %d t %lld, want -EINVAL", s, rc, (long long)t);
  assert_int_equal(t, 42); /* untouched */
}

/* RFC 9110 5.6.7's three examples of the same instant */
static void test_parse_rfc_examples(void **state) {
  (void)state;
  parse_is("Sun, 06 Nov 1994 08:49:37 GMT", T1994);
  parse_is("Sunday, 06-Nov-94 08:49:37 GMT", T1994);
  parse_is("Sun Nov  6 08:49:37 1994", T1994);
}

static void test_parse_forms(void **state) {
  (void)state;
  parse_is("Thu, 01 Jan 1970 00:00:00 GMT", 0);
  parse_is("Mon, 01 Jan 2024 00:00:00 GMT", T2024);
  parse_is("Tue, 29 Feb 2000 00:00:00 GMT", 951782400);
  parse_is("Tue, 19 Jan 2038 03:14:08 GMT", 2147483648LL);
  parse_is("Wed, 31 Dec 1969 23:59:59 GMT", -1);
  parse_is("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799LL);
  parse_is("Thu Jan  1 00:00:00 1970", 0);
  parse_is("Sun Nov 06 08:49:37 1994", T1994); /* zero-padded asctime day */
  parse_is("Thu Feb 29 12:00:00 2024", 1709208000);
  parse_is("Monday, 01-Jan-24 00:00:00 GMT", T2024);
  parse_is("Wednesday, 31-Dec-69 23:59:59 GMT", 3155759999LL); /* 2069 from 2024 */
  /* surrounding OWS */
  parse_is("  Sun, 06 Nov 1994 08:49:37 GMT\t", T1994);
  /* the day name is not cross-checked with the date (no server does) */
  parse_is("Mon, 06 Nov 1994 08:49:37 GMT", T1994);
  /* a leap second rolls into the next minute */
  parse_is("Sat, 31 Dec 2016 23:59:60 GMT", 1483228800);
}

/* RFC 9110: a two-digit year more than 50 years ahead is the most recent past such year. */
static void rfc850_at(const char *s, time_t now, time_t want) {
  time_t t = 42;

  assert_int_equal(http_date_parse_at(s, strlen(s), now, &t), 0);
  if (t != want)
    fail_msg("\"%s\" at %lld: %lld, want %lld", s, (long long)now, (long long)t, (long long)want);
}

/* RFC 9110 5.6.7: a two-digit year that appears more than 50 years in the future is the most
 * recent past year with those digits; we read it as the year in (now - 50, now + 50]. */
static void test_parse_two_digit_year(void **state) {
  (void)state;
  rfc850_at("Thursday, 01-Jan-70 00:00:00 GMT", T2024, 3155760000LL); /* 2070: 46 ahead */
  rfc850_at("Wednesday, 31-Dec-69 23:59:59 GMT", T2024, 3155759999LL);
  rfc850_at("Friday, 01-Jan-99 00:00:00 GMT", T2024, 915148800);       /* 2099 is 75 ahead */
  rfc850_at("Thursday, 01-Jan-75 00:00:00 GMT", T2024, 157766400);     /* 2075 is 51 ahead */
  rfc850_at("Wednesday, 01-Jan-74 00:00:00 GMT", T2024, 3281990400LL); /* 2074 is 50 ahead */
  rfc850_at("Saturday, 01-Jan-00 00:00:00 GMT", T2024, 946684800);
  rfc850_at("Sunday, 06-Nov-94 08:49:37 GMT", 0, T1994);                      /* now in 1970 */
  rfc850_at("Sunday, 06-Nov-94 08:49:37 GMT", 3471292800LL, 3939871777LL);    /* now 2080: 2094 */
  rfc850_at("Wednesday, 01-Jan-20 00:00:00 GMT", 3471292800LL, 4733510400LL); /* now 2080: 2120 */
}

static void test_parse_garbage(void **state) {
  (void)state;
  parse_bad("");
  parse_bad(" ");
  parse_bad("0");
  parse_bad("784111777");
  parse_bad("yesterday");
  parse_bad("Sun, 06 Nov 1994 08:49:37 GMT garbage");
  parse_bad("Sun, 06 Nov 1994 08:49:37 UTC");
  parse_bad("Sun, 06 Nov 1994 08:49:37 gmt");
  parse_bad("Sun, 06 Nov 1994 08:49:37 +0000");
  parse_bad("Sun, 06 Nov 1994 08:49:37");
  parse_bad("Sun, 6 Nov 1994 08:49:37 GMT");
  parse_bad("Sun, 06 nov 1994 08:49:37 GMT");
  parse_bad("Sun, 06 November 1994 08:49:37 GMT");
  parse_bad("Sun, 06 Nov 94 08:49:37 GMT");
  parse_bad("Sun,06 Nov 1994 08:49:37 GMT ");
  parse_bad("Sun, 06 Nov 1994 08:49 GMT");
  parse_bad("Sun, 06 Nov 1994 8:49:37 GMT");
  parse_bad("Sun, 06 Nov 1994 08.49.37 GMT");
  parse_bad("Xyz, 06 Nov 1994 08:49:37 GMT");
  parse_bad("sun, 06 Nov 1994 08:49:37 GMT");
  parse_bad("Sun, 0a Nov 1994 08:49:37 GMT");
  parse_bad("Sun, 06 Nov 19x4 08:49:37 GMT");
  parse_bad("Sun, -6 Nov 1994 08:49:37 GMT");
  parse_bad("Sun, 06 Nov 1994 08:49:3 GMT");
  parse_bad("Sun, 06 Nov 1994  08:49:37GMT");
  parse_bad("Sunday, 06-Nov-1994 08:49:37 GMT");
  parse_bad("Sunday 06-Nov-94 08:49:37 GMT");
  parse_bad("Sunday, 06 Nov 94 08:49:37 GMT");
  parse_bad("Sunday, 06-Nov-94 08:49:37");
  parse_bad("Sun, 06-Nov-94 08:49:37 GMT");
  parse_bad("Sundae, 06-Nov-94 08:49:37 GMT");
  parse_bad("Sun Nov  6 08:49:37 94");
  parse_bad("Sun Nov 6 08:49:37 1994");
  parse_bad("Sun Nov  6 08:49:37 1994 GMT");
  parse_bad("Sun Nov   8:49:37 1994");
  parse_bad("Sun Nov  6 08:49:37  994");
}

static void test_parse_out_of_range(void **state) {
  (void)state;
  parse_bad("Sun, 00 Nov 1994 08:49:37 GMT");
  parse_bad("Sun, 32 Jan 1994 08:49:37 GMT");
  parse_bad("Sun, 31 Nov 1994 08:49:37 GMT");
  parse_bad("Sun, 31 Apr 1994 08:49:37 GMT");
  parse_bad("Sun, 29 Feb 1900 00:00:00 GMT"); /* 1900 is not a leap year */
  parse_bad("Sun, 29 Feb 2023 00:00:00 GMT");
  parse_is("Sun, 29 Feb 2024 00:00:00 GMT", 1709164800);
  parse_bad("Sun, 30 Feb 2024 00:00:00 GMT");
  parse_bad("Sun, 06 Nov 1994 24:00:00 GMT");
  parse_bad("Sun, 06 Nov 1994 08:60:00 GMT");
  parse_bad("Sun, 06 Nov 1994 08:49:61 GMT");
  parse_bad("Sun, 06 Nov 1994 99:99:99 GMT");
  parse_bad("Sun, 06 Nov 1899 08:49:37 GMT");
  parse_bad("Sun, 06 Nov 0000 08:49:37 GMT");
  parse_bad("Sunday, 00-Nov-94 08:49:37 GMT");
  parse_bad("Sunday, 31-Sep-94 08:49:37 GMT");
  parse_bad("Sunday, 06-Nov-94 25:49:37 GMT");
  parse_bad("Sun Nov  0 08:49:37 1994");
  parse_bad("Sun Nov 31 08:49:37 1994");
  parse_bad("Sun Nov  6 08:49:37 1800");
}

/* Only len bytes are read: a NUL-free header value cut short is not a date. */
static void test_parse_length_bound(void **state) {
  const char *s = "Sun, 06 Nov 1994 08:49:37 GMT";
  time_t t;
  size_t n;

  (void)state;
  for (n = 0; n < strlen(s); n++)
    assert_int_equal(http_date_parse(s, n, &t), -EINVAL);
  assert_int_equal(http_date_parse(s, strlen(s), &t), 0);
  assert_int_equal(t, T1994);
  assert_int_equal(http_date_parse(NULL, 0, &t), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_format),
      cmocka_unit_test(test_format_names),
      cmocka_unit_test(test_format_locale),
      cmocka_unit_test(test_cache),
      cmocka_unit_test(test_parse_rfc_examples),
      cmocka_unit_test(test_parse_forms),
      cmocka_unit_test(test_parse_two_digit_year),
      cmocka_unit_test(test_parse_garbage),
      cmocka_unit_test(test_parse_out_of_range),
      cmocka_unit_test(test_parse_length_bound),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
