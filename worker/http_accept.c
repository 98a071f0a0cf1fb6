/* Accept-Encoding (see http_accept.h). A header of a few dozen bytes, parsed once per request
 * of a site with compression; no allocation. */
#include "http_accept.h"

#include <string.h>
#include <strings.h>

static const char *const names[HTTP_CODING_COUNT] = {"identity", "br", "zstd", "gzip"};
static const char *const suffixes[HTTP_CODING_COUNT] = {"", ".br", ".zst", ".gz"};

const char *http_coding_name(enum http_coding c) {
  return names[c];
}

const char *http_coding_suffix(enum http_coding c) {
  return suffixes[c];
}

static int is_ows(char c) {
  return c == ' ' || c == '\t';
}

/* "q=0.5" (after the ';' and spaces): thousandths, or -1 when it is no qvalue. */
static int parse_q(const char *p, const char *end) {
  while (p < end && is_ows(*p))
    p++;
  if (end - p < 3 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
    return -1;
  p += 2;
  while (end > p && is_ows(end[-1]))
    end--;
  if (p == end || (*p != '0' && *p != '1'))
    return -1;
  int v = (*p++ - '0') * 1000;
  if (p == end)
    return v;
  if (*p++ != '.')
    return -1;
  int scale = 100;
  for (int digits = 0; p < end; p++, digits++) {
    if (digits == 3 || *p < '0' || *p > '9')
      return -1;
    v += (*p - '0') * scale;
    scale /= 10;
  }
  return v > 1000 ? -1 : v;
}

void http_accept_encoding(const char *value, size_t len, int q[HTTP_CODING_COUNT]) {
  int star = -1, ident = -1;
  for (int i = 0; i < HTTP_CODING_COUNT; i++)
    q[i] = -1;
  if (!value) {
    q[HTTP_CODING_IDENTITY] = 1000;
    for (int i = 1; i < HTTP_CODING_COUNT; i++)
      q[i] = 0;
    return;
  }
  const char *p = value, *end = value + len;
  while (p < end) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *eoe = comma ? comma : end;
    const char *t = p;
    while (t < eoe && is_ows(*t))
      t++;
    const char *semi = t;
    while (semi < eoe && *semi != ';')
      semi++;
    const char *tend = semi;
    if (semi == eoe)
      semi = NULL;
    while (tend > t && is_ows(tend[-1]))
      tend--;
    int w = 1000;
    if (semi)
      w = parse_q(semi + 1, eoe);
    size_t tl = (size_t)(tend - t);
    if (w >= 0 && tl > 0) {
      if (tl == 1 && *t == '*')
        star = w;
      else if (tl == 6 && strncasecmp(t, "x-gzip", 6) == 0)
        q[HTTP_CODING_GZIP] = w > q[HTTP_CODING_GZIP] ? w : q[HTTP_CODING_GZIP];
      else
        for (int i = 0; i < HTTP_CODING_COUNT; i++)
          if (strlen(names[i]) == tl && strncasecmp(t, names[i], tl) == 0) {
            if (i == HTTP_CODING_IDENTITY)
              ident = w;
            else
              q[i] = w;
          }
    }
    p = comma ? comma + 1 : end;
  }
  /* codings not named take '*''s weight, or none; identity is acceptable unless excluded by
   * identity;q=0, or by *;q=0 without an identity of its own */
  for (int i = 1; i < HTTP_CODING_COUNT; i++)
    if (q[i] < 0)
      q[i] = star >= 0 ? star : 0;
  q[HTTP_CODING_IDENTITY] = ident >= 0 ? ident : star == 0 ? 0 : star > 0 ? star : 1;
}

int http_accept_pick(const int q[HTTP_CODING_COUNT], unsigned avail) {
  /* server's order for ties: the smaller encodings first, identity last */
  static const int order[] = {HTTP_CODING_BR, HTTP_CODING_ZSTD, HTTP_CODING_GZIP,
                              HTTP_CODING_IDENTITY};
  int best = -1, bw = 0;
  for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
    int c = order[i];
    if ((avail & (1u << c)) && q[c] > bw) {
      best = c;
      bw = q[c];
    }
  }
  return best;
}
