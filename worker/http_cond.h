/* Conditional requests (RFC 9110 13.2.2 precedence) for GET and HEAD of a static file. Pure. */
#ifndef EVC_HTTP_COND_H
#define EVC_HTTP_COND_H

#include <stddef.h>
#include <time.h>

/* The request's conditional headers; ptr NULL when absent. Values are not NUL-terminated. */
struct http_cond_headers {
  const char *if_match;
  size_t if_match_len;
  const char *if_none_match;
  size_t if_none_match_len;
  const char *if_modified_since;
  size_t if_modified_since_len;
  const char *if_unmodified_since;
  size_t if_unmodified_since_len;
  const char *if_range;
  size_t if_range_len;
};

/* The file's validators. etag is a strong tag with its quotes, e.g. "\"5f3a-1c\"". */
struct http_validators {
  time_t mtime;
  const char *etag;
  size_t etag_len;
};

enum http_cond_result {
  HTTP_COND_PROCEED = 0,             /* serve normally (200 or 206) */
  HTTP_COND_NOT_MODIFIED = 304,
  HTTP_COND_PRECONDITION_FAILED = 412,
};

/* Evaluates If-Match (strong), else If-Unmodified-Since; then If-None-Match (weak), else
 * If-Modified-Since. Call it only for GET and HEAD of an existing file ("*" matches).
 * Unparseable dates are ignored, as the RFC says; a malformed entity-tag list matches
 * nothing (If-Match: 412, If-None-Match: proceed). */
enum http_cond_result http_cond_eval(const struct http_cond_headers *h,
                                     const struct http_validators *v);
/* 1 if a Range header may be honoured: no If-Range, or If-Range matches (a strong ETag equal
 * to the file's, or an HTTP-date equal to its mtime); 0: send the full 200. */
int http_cond_if_range(const struct http_cond_headers *h, const struct http_validators *v);
/* Writes the file's strong ETag with a NUL and returns its length: "\"<mtime hex>-<size hex>\""
 * (nginx's form), with ".<nanoseconds hex>" after the seconds when the file system keeps
 * them. A strong tag must change with the content: two writes of the same size in one
 * second would otherwise share one. cap >= 48 always fits; if it does not fit, writes ""
 * and returns 0. */
size_t http_cond_etag(char *out, size_t cap, time_t mtime, long mtime_nsec,
                      unsigned long long size);

#endif
