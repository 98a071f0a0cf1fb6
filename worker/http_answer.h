/* What to answer for a GET or HEAD of a regular file: conditionals (RFC 9110 13.2.2), the
 * Range, the status and every header, decided from the request and the file's metadata.
 * Pure, like the rest of http_*: the connection code and the fuzz harness share it. */
#ifndef EVC_HTTP_ANSWER_H
#define EVC_HTTP_ANSWER_H

#include <stdint.h>
#include <time.h>

#include "conf.h"
#include "http_date.h"
#include "http_range.h"
#include "http_request.h"
#include "http_response.h"

/* The file as the answer sees it. etag, last_modified and content_type may be precomputed
 * (by http_answer_prepare and a cache); http_answer_file fills what is missing. */
struct http_file_info {
  uint64_t size;
  time_t mtime;
  long mtime_nsec; /* 0 where the file system keeps whole seconds */
  const char *content_type; /* NULL: from path, by extension */
  const char *path; /* the file's name, as served (index resolved) */
  size_t path_len;
  char etag[48];
  size_t etag_len;
  char last_modified[HTTP_DATE_LEN + 1];
};

struct http_answer {
  struct http_head head; /* status and header fields; date and connection left to the caller */
  uint64_t body_off;     /* the bytes of the file to send: [body_off, body_off + body_len) */
  uint64_t body_len;     /* 0 for HEAD, 304, 412, 416 */
  int error_page;        /* 412 and 416 carry the small HTML error body instead */
  /* several disjoint ranges: a 206 of multipart/byteranges, parts in order; head's
   * content_type is the parts', length and body are the caller's to frame */
  size_t n_parts;
  struct http_range parts[HTTP_RANGE_MAX];
};

/* q and buf: the parsed request and the buffer its spans point into. mime: the config's
 * overrides. The answer's pointers refer to f and the mime tables: keep f alive while the
 * head is written. */
/* Fills f's etag and last_modified from its size and mtime. */
void http_answer_prepare(struct http_file_info *f);
void http_answer_file(const http_request_t *q, const char *buf, struct http_file_info *f,
                      const conf_mime_t *mime, size_t n_mime, struct http_answer *out);

#endif
