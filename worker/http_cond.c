/* Conditional GET/HEAD (RFC 9110 13.1, 13.2.2) for a static file, on the worker's loop
 * thread. Only a file that exists gets here, so "*" always matches. A malformed entity-tag
 * list never matches: If-Match then fails (412: we cannot prove the client's precondition)
 * and If-None-Match passes (the full response is always a safe answer). */
#include "http_cond.h"

#include <stdio.h>
#include <string.h>

#include "http_date.h"

static int is_ows(char c) {
  return c == ' ' || c == '\t';
}

/* Trims OWS around [*s, *s + *len). */
static void trim(const char **s, size_t *len) {
  while (*len > 0 && is_ows(**s)) {
    (*s)++;
    (*len)--;
  }
  while (*len > 0 && is_ows((*s)[*len - 1]))
    (*len)--;
}

/* etagc = %x21 / %x23-7E / obs-text */
static int is_etagc(unsigned char c) {
  return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

/* Walks an entity-tag list (If-Match, If-None-Match): 1 if an element matches the file's tag
 * (strong: both tags strong; weak: the opaque-tags equal), 0 if none does or the list is
 * malformed. "*" matches any existing file. */
static int etag_list_match(const char *s, size_t len, const struct http_validators *v, int strong) {
  const char *p = s, *end, *tag;
  size_t taglen;
  int weak, match = 0;

  trim(&p, &len);
  end = p + len;
  if (len == 1 && *p == '*')
    return 1;
  for (;;) {
    while (p < end && (is_ows(*p) || *p == ','))
      p++; /* empty list elements are allowed (RFC 9110 5.6.1) */
    if (p == end)
      break;
    weak = 0;
    if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
      weak = 1;
      p += 2;
    }
    if (p == end || *p != '"')
      return 0;
    tag = p++;
    while (p < end && is_etagc((unsigned char)*p))
      p++;
    if (p == end || *p != '"')
      return 0;
    p++;
    taglen = (size_t)(p - tag);
    while (p < end && is_ows(*p))
      p++;
    if (p < end && *p != ',')
      return 0;
    if ((!strong || !weak) && v->etag != NULL && taglen == v->etag_len &&
        memcmp(tag, v->etag, taglen) == 0)
      match = 1; /* keep walking: a malformed tail voids the list */
  }
  return match;
}

/* 0 and *t for a valid HTTP-date, else -1 (the header is then ignored) */
static int header_date(const char *s, size_t len, time_t *t) {
  return s != NULL && http_date_parse(s, len, t) == 0 ? 0 : -1;
}

enum http_cond_result http_cond_eval(const struct http_cond_headers *h,
                                     const struct http_validators *v) {
  enum http_cond_result res = HTTP_COND_PROCEED;
  time_t t;

  /* Steps 1 and 2: the client's preconditions on the current state. */
  if (h->if_match != NULL) {
    if (!etag_list_match(h->if_match, h->if_match_len, v, 1)) {
      res = HTTP_COND_PRECONDITION_FAILED;
      goto done;
    }
  } else if (header_date(h->if_unmodified_since, h->if_unmodified_since_len, &t) == 0 &&
             v->mtime > t) {
    res = HTTP_COND_PRECONDITION_FAILED;
    goto done;
  }
  /* Steps 3 and 4: cache validation; If-None-Match wins over If-Modified-Since. */
  if (h->if_none_match != NULL) {
    if (etag_list_match(h->if_none_match, h->if_none_match_len, v, 0))
      res = HTTP_COND_NOT_MODIFIED;
  } else if (header_date(h->if_modified_since, h->if_modified_since_len, &t) == 0 &&
             v->mtime <= t) {
    res = HTTP_COND_NOT_MODIFIED;
  }
done:
  return res;
}

int http_cond_if_range(const struct http_cond_headers *h, const struct http_validators *v) {
  const char *s = h->if_range;
  size_t len = h->if_range_len;
  time_t t;
  int ok = 1;

  if (s == NULL)
    goto done;
  trim(&s, &len);
  /* A DQUOTE or "W/" starts an entity-tag (RFC 9110 13.1.5); weak tags never match. */
  if (len > 0 && (*s == '"' || (len >= 2 && s[0] == 'W' && s[1] == '/'))) {
    ok = len >= 2 && s[0] == '"' && s[len - 1] == '"' && v->etag != NULL && len == v->etag_len &&
         memcmp(s, v->etag, len) == 0;
  } else {
    ok = header_date(s, len, &t) == 0 && t == v->mtime;
  }
done:
  return ok;
}

size_t http_cond_etag(char *out, size_t cap, time_t mtime, long mtime_nsec,
                      unsigned long long size) {
  int n = mtime_nsec > 0
              ? snprintf(out, cap, "\"%llx.%lx-%llx\"", (unsigned long long)mtime,
                         (unsigned long)mtime_nsec, size)
              : snprintf(out, cap, "\"%llx-%llx\"", (unsigned long long)mtime, size);

  if (n < 0 || (size_t)n >= cap) {
    if (cap > 0)
      out[0] = '\0';
    n = 0;
  }
  return (size_t)n;
}
