/* The answer to a GET or HEAD of a regular file (see http_answer.h). Runs on a worker's
 * loop thread for every file request, so it allocates nothing and formats once. */
#include "http_answer.h"

#include <string.h>

#include "http_cond.h"
#include "http_mime.h"
#include "http_range.h"

static struct http_cond_headers cond_headers(const http_request_t *q, const char *b) {
  struct http_cond_headers h = {0};
#define COND(field, id)                                                                        \
  if (q->hdr_present & (1u << id)) {                                                           \
    h.field = b + q->hdr[id].off;                                                              \
    h.field##_len = q->hdr[id].len;                                                            \
  }
  COND(if_match, HTTP_H_IF_MATCH)
  COND(if_none_match, HTTP_H_IF_NONE_MATCH)
  COND(if_modified_since, HTTP_H_IF_MODIFIED_SINCE)
  COND(if_unmodified_since, HTTP_H_IF_UNMODIFIED_SINCE)
  COND(if_range, HTTP_H_IF_RANGE)
#undef COND
  return h;
}

void http_answer_prepare(struct http_file_info *f) {
  f->etag_len = http_cond_etag(f->etag, sizeof(f->etag), f->mtime, f->mtime_nsec, f->size);
  http_date_format(f->mtime, f->last_modified);
}

void http_answer_file(const http_request_t *q, const char *buf, struct http_file_info *f,
                      const conf_mime_t *mime, size_t n_mime, struct http_answer *out) {
  memset(out, 0, sizeof(*out));
  if (f->etag_len == 0 || f->last_modified[0] == '\0')
    http_answer_prepare(f);

  struct http_head *h = &out->head;
  struct http_validators v = {f->mtime, f->etag, f->etag_len};
  struct http_cond_headers ch = cond_headers(q, buf);
  enum http_cond_result cr = http_cond_eval(&ch, &v);
  if (cr == HTTP_COND_PRECONDITION_FAILED) {
    h->status = 412;
    out->error_page = 1;
    return;
  }
  h->last_modified = f->last_modified;
  h->etag = f->etag;
  h->etag_len = f->etag_len;
  if (cr == HTTP_COND_NOT_MODIFIED) {
    h->status = 304; /* validators, no body, no length (RFC 9110 15.4.5) */
    return;
  }
  h->status = 200;
  h->accept_ranges = 1;
  uint64_t start = 0, len = f->size;
  if ((q->hdr_present & (1u << HTTP_H_RANGE)) && http_cond_if_range(&ch, &v)) {
    struct http_range rg;
    size_t n = 0;
    switch (http_range_parse_set(buf + q->hdr[HTTP_H_RANGE].off, q->hdr[HTTP_H_RANGE].len,
                                 f->size, out->parts, &n)) {
    case HTTP_RANGE_UNSATISFIABLE:
      memset(h, 0, sizeof(*h));
      h->status = 416;
      h->unsatisfied = 1;
      h->range_size = f->size;
      out->error_page = 1;
      return;
    case HTTP_RANGE_OK:
      if (n > 1) { /* multipart/byteranges: the caller frames the parts */
        h->status = 206;
        out->n_parts = n;
        break;
      }
      rg = out->parts[0];
      h->status = 206;
      h->has_range = 1;
      h->range_start = rg.start;
      h->range_end = rg.end;
      h->range_size = f->size;
      start = rg.start;
      len = rg.end - rg.start + 1;
      break;
    case HTTP_RANGE_NONE:
      break;
    }
  }
  h->content_type =
      f->content_type ? f->content_type : http_mime_type(mime, n_mime, f->path, f->path_len);
  h->has_length = 1;
  h->content_length = len;
  out->body_off = start;
  out->body_len = q->method == HTTP_HEAD ? 0 : len;
}
