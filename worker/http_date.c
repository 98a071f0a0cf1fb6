/* HTTP-date (RFC 9110 5.6.7) formatting and parsing, used by the worker's loop thread for
 * Date, Last-Modified and the conditional headers. Our own name tables and gmtime_r/timegm,
 * never strftime or strptime: their %a/%b follow the locale, and a header is not prose. */
#include "http_date.h"

#include <errno.h>
#include <string.h>

static const char day_short[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const day_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};
static const char month_name[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void put2(char *p, int v) {
  p[0] = (char)('0' + v / 10 % 10);
  p[1] = (char)('0' + v % 10);
}

void http_date_format(time_t t, char *out) {
  struct tm tm;
  int year;

  /* Outside 0000..9999 the fixed-width form cannot say it: fall back to the epoch rather
   * than write a malformed header (only a corrupt mtime gets here). */
  if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
    t = 0;
    gmtime_r(&t, &tm);
  }
  year = tm.tm_year + 1900;
  memcpy(out, day_short[tm.tm_wday], 3);
  memcpy(out + 3, ", ", 2);
  put2(out + 5, tm.tm_mday);
  out[7] = ' ';
  memcpy(out + 8, month_name[tm.tm_mon], 3);
  out[11] = ' ';
  put2(out + 12, year / 100);
  put2(out + 14, year % 100);
  out[16] = ' ';
  put2(out + 17, tm.tm_hour);
  out[19] = ':';
  put2(out + 20, tm.tm_min);
  out[22] = ':';
  put2(out + 23, tm.tm_sec);
  memcpy(out + 25, " GMT", 5); /* with the NUL */
}

void http_date_cache_init(http_date_cache_t *c) {
  /* buf is valid from the start, so a first call with now == -1 returns a real date */
  c->sec = -1;
  http_date_format(c->sec, c->buf);
}

const char *http_date_cache_get(http_date_cache_t *c, time_t now) {
  if (now != c->sec) {
    http_date_format(now, c->buf);
    c->sec = now;
  }
  return c->buf;
}

/* n digits at s, or -1 */
static int digits(const char *s, int n) {
  int v = 0, i;

  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

static int month_index(const char *s) {
  int i;

  for (i = 0; i < 12; i++)
    if (memcmp(s, month_name[i], 3) == 0)
      return i;
  return -1;
}

static int is_short_day(const char *s) {
  int i;

  for (i = 0; i < 7; i++)
    if (memcmp(s, day_short[i], 3) == 0)
      return 1;
  return 0;
}

/* "hh:mm:ss" at s into tm; 0 or -1 */
static int parse_time(const char *s, struct tm *tm) {
  if (s[2] != ':' || s[5] != ':')
    return -1;
  tm->tm_hour = digits(s, 2);
  tm->tm_min = digits(s + 3, 2);
  tm->tm_sec = digits(s + 6, 2);
  return tm->tm_hour < 0 || tm->tm_min < 0 || tm->tm_sec < 0 ? -1 : 0;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
static int parse_imf(const char *s, size_t len, struct tm *tm) {
  if (len != 29 || !is_short_day(s) || memcmp(s + 3, ", ", 2) != 0 || s[7] != ' ' || s[11] != ' ' ||
      s[16] != ' ' || memcmp(s + 25, " GMT", 4) != 0)
    return -1;
  tm->tm_mday = digits(s + 5, 2);
  tm->tm_mon = month_index(s + 8);
  tm->tm_year = digits(s + 12, 4);
  if (tm->tm_year < 0)
    return -1;
  tm->tm_year -= 1900;
  return parse_time(s + 17, tm);
}

/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; the year's century from `now` */
static int parse_rfc850(const char *s, size_t len, time_t now, struct tm *tm) {
  size_t dl = 0, i;
  int yy, cur, year;
  struct tm ntm;

  for (i = 0; i < 7; i++) {
    dl = strlen(day_long[i]);
    if (len > dl && memcmp(s, day_long[i], dl) == 0 && s[dl] == ',')
      break;
  }
  if (i == 7 || len != dl + 24)
    return -1;
  s += dl + 1;
  /* " 06-Nov-94 08:49:37 GMT" */
  if (s[0] != ' ' || s[3] != '-' || s[7] != '-' || s[10] != ' ' || memcmp(s + 19, " GMT", 4) != 0)
    return -1;
  tm->tm_mday = digits(s + 1, 2);
  tm->tm_mon = month_index(s + 4);
  yy = digits(s + 8, 2);
  if (yy < 0)
    return -1;
  /* RFC 9110 5.6.7: a two-digit year more than 50 years in the future is the most recent
   * past year with those digits; we take the year in (now - 50, now + 50]. */
  if (gmtime_r(&now, &ntm) == NULL)
    return -1;
  cur = ntm.tm_year + 1900;
  year = cur - cur % 100 + yy;
  if (year > cur + 50)
    year -= 100;
  else if (year <= cur - 50)
    year += 100;
  tm->tm_year = year - 1900;
  return parse_time(s + 11, tm);
}

/* asctime: "Sun Nov  6 08:49:37 1994" (day space-padded; a zero is tolerated) */
static int parse_asctime(const char *s, size_t len, struct tm *tm) {
  if (len != 24 || !is_short_day(s) || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ')
    return -1;
  tm->tm_mon = month_index(s + 4);
  tm->tm_mday = s[8] == ' ' ? digits(s + 9, 1) : digits(s + 8, 2);
  tm->tm_year = digits(s + 20, 4);
  if (tm->tm_year < 0)
    return -1;
  tm->tm_year -= 1900;
  return parse_time(s + 11, tm);
}

static int days_in_month(int year, int mon) {
  static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

  return dim[mon] + (mon == 1 && leap);
}

int http_date_parse_at(const char *s, size_t len, time_t now, time_t *out) {
  struct tm tm;
  int rc = -EINVAL, year;

  if (s == NULL)
    goto done;
  while (len > 0 && (*s == ' ' || *s == '\t')) {
    s++;
    len--;
  }
  while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
    len--;
  memset(&tm, 0, sizeof tm);
  if (len < 24)
    goto done;
  if (s[3] == ',')
    rc = parse_imf(s, len, &tm);
  else if (s[3] == ' ')
    rc = parse_asctime(s, len, &tm);
  else
    rc = parse_rfc850(s, len, now, &tm);
  if (rc < 0) {
    rc = -EINVAL;
    goto done;
  }
  rc = -EINVAL;
  year = tm.tm_year + 1900;
  /* 60 is a leap second (RFC 5322 allows it); timegm carries it into the next minute */
  if (year < 1900 || tm.tm_mon < 0 || tm.tm_mday < 1 ||
      tm.tm_mday > days_in_month(year, tm.tm_mon) || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    goto done;
  *out = timegm(&tm);
  rc = 0;
done:
  return rc;
}

int http_date_parse(const char *s, size_t len, time_t *out) {
  return http_date_parse_at(s, len, time(NULL), out);
}
