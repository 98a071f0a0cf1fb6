/* The Range header (RFC 9110 14.1, 14.2), run on the worker's loop thread. Ranges that
 * overlap or touch are coalesced; disjoint ones make a multipart/byteranges answer (the set
 * parser) or a full 200 (the single-range parser: the RFC allows ignoring Range). The whole
 * header is parsed before any decision, so a malformed tail voids a good head. */
#include "http_range.h"

#include <strings.h>

/* More ranges than this is not a browser or a download manager: answering 200 is cheaper
 * than sorting an attacker's list (CVE-2011-3192 was an unbounded Range list). */
#define RANGE_MAX HTTP_RANGE_MAX

static int is_ows(char c) {
  return c == ' ' || c == '\t';
}

/* 1 and *n for one or more digits at *p (UINT64_MAX for any larger number); 0 for none. */
static int parse_u64(const char **p, const char *end, uint64_t *n) {
  const char *s = *p;
  uint64_t v = 0;
  unsigned d;

  if (s == end || *s < '0' || *s > '9')
    return 0;
  /* A number past 2^64 - 1 is past any file's end, not a reason to ignore the header (which
   * would send the whole file): it saturates. */
  while (s < end && *s >= '0' && *s <= '9') {
    d = (unsigned)(*s - '0');
    v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    s++;
  }
  *p = s;
  *n = v;
  return 1;
}

enum http_range_result http_range_parse(const char *value, size_t len, uint64_t size,
                                        struct http_range *out) {
  struct http_range r[RANGE_MAX];
  size_t n;
  enum http_range_result res = http_range_parse_set(value, len, size, r, &n);
  if (res == HTTP_RANGE_OK && n > 1)
    return HTTP_RANGE_NONE;
  if (res == HTTP_RANGE_OK)
    *out = r[0];
  return res;
}

enum http_range_result http_range_parse_set(const char *value, size_t len, uint64_t size,
                                            struct http_range *out, size_t *nout) {
  struct http_range r[RANGE_MAX], t;
  const char *p = value, *end = value + len;
  size_t n = 0, i, j, specs = 0;
  uint64_t first, last;
  enum http_range_result res = HTTP_RANGE_NONE;

  if (value == NULL)
    goto done;
  while (p < end && is_ows(*p))
    p++;
  while (end > p && is_ows(end[-1]))
    end--;
  if (end - p < 6 || strncasecmp(p, "bytes=", 6) != 0)
    goto done;
  p += 6;
  /* range-set = 1#range-spec; a list tolerates OWS around commas and empty elements
   * (RFC 9110 5.6.1). */
  for (;;) {
    while (p < end && is_ows(*p))
      p++;
    if (p < end && *p == ',') {
      p++;
      continue;
    }
    if (p == end)
      break;
    if (*p == '-') {
      p++;
      if (!parse_u64(&p, end, &last))
        goto done;
      specs++;
      /* suffix-range: satisfiable only when its length is non-zero */
      if (last > 0 && size > 0) {
        t.start = last >= size ? 0 : size - last;
        t.end = size - 1;
      } else {
        t.start = 1; /* marks unsatisfiable below */
        t.end = 0;
      }
    } else {
      if (!parse_u64(&p, end, &first) || p == end || *p++ != '-')
        goto done;
      if (p < end && *p >= '0' && *p <= '9') {
        if (!parse_u64(&p, end, &last) || last < first)
          goto done;
      } else {
        last = UINT64_MAX;
      }
      specs++;
      if (first < size) {
        t.start = first;
        t.end = last < size - 1 ? last : size - 1;
      } else {
        t.start = 1;
        t.end = 0;
      }
    }
    while (p < end && is_ows(*p))
      p++;
    if (p < end && *p != ',')
      goto done; /* garbage after a spec */
    if (specs > RANGE_MAX)
      goto done;
    if (t.start <= t.end)
      r[n++] = t;
  }
  if (specs == 0)
    goto done; /* "bytes=" or "bytes=,": no range-spec at all */
  /* A 0-byte representation has no byte to send: any range (even "-5", which would select
   * "the whole of it") is answered with the full, empty 200 rather than a 416. */
  if (size == 0)
    goto done;
  if (n == 0) {
    res = HTTP_RANGE_UNSATISFIABLE;
    goto done;
  }
  for (i = 1; i < n; i++) { /* insertion sort by start: n <= RANGE_MAX */
    t = r[i];
    for (j = i; j > 0 && r[j - 1].start > t.start; j--)
      r[j] = r[j - 1];
    r[j] = t;
  }
  out[0] = r[0];
  j = 0;
  for (i = 1; i < n; i++) {
    /* overlapping or adjacent (end + 1 == start); end < size, so no overflow */
    if (r[i].start > out[j].end + 1)
      out[++j] = r[i];
    else if (r[i].end > out[j].end)
      out[j].end = r[i].end;
  }
  *nout = j + 1;
  res = HTTP_RANGE_OK;
done:
  return res;
}
