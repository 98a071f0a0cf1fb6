/* HTTP dates (IMF-fixdate out; IMF-fixdate, RFC 850 and asctime in) and the per-worker cache
 * of the current Date header value, formatted at most once a second. Pure. */
#ifndef EVC_HTTP_DATE_H
#define EVC_HTTP_DATE_H

#include <stddef.h>
#include <time.h>

#define HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

typedef struct http_date_cache {
  time_t sec; /* private: the second buf was formatted for; -1 before the first call */
  char buf[HTTP_DATE_LEN + 1];
} http_date_cache_t;

void http_date_cache_init(http_date_cache_t *c);
/* The IMF-fixdate for `now`, re-formatted only when the second changed. NUL-terminated,
 * HTTP_DATE_LEN long, valid until the next call. */
const char *http_date_cache_get(http_date_cache_t *c, time_t now);
/* Writes HTTP_DATE_LEN chars and a NUL into out (cap >= 30). A time outside years
 * 0000..9999 is written as the epoch (the fixed-width form cannot express it). */
void http_date_format(time_t t, char *out);
/* Parses an IMF-fixdate, RFC 850 or asctime date (surrounding spaces/tabs ignored); 0 and
 * *out, or -EINVAL for anything else, including out-of-range fields (a leap second 60 is
 * accepted and carried into the next minute). RFC 850's two-digit year is read as the year
 * within (now - 50, now + 50] (RFC 9110 5.6.7): http_date_parse reads the clock for that,
 * http_date_parse_at takes `now` from the caller (tests, or a loop's cached time). */
int http_date_parse(const char *s, size_t len, time_t *out);
int http_date_parse_at(const char *s, size_t len, time_t now, time_t *out);

#endif
