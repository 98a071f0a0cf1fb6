/* The response side of HTTP/1.1: status lines, header blocks and the small bodies of error
 * answers, written into a caller's buffer. Pure, like http_request.h. */
#ifndef EVC_HTTP_RESPONSE_H
#define EVC_HTTP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

enum http_conn_header {
  HTTP_CONN_NONE = 0,   /* HTTP/1.1 keep-alive: nothing to say */
  HTTP_CONN_KEEP_ALIVE, /* HTTP/1.0 client that asked to keep the connection */
  HTTP_CONN_CLOSE,
};

/* One response's header fields; unset pointers and flags are left out. */
struct http_head {
  int status;
  int http_minor;            /* the status line says HTTP/1.1 always; kept for the future */
  const char *date;          /* IMF-fixdate */
  const char *content_type;
  int has_length;
  uint64_t content_length;
  const char *last_modified; /* IMF-fixdate */
  const char *etag;
  size_t etag_len;
  int accept_ranges;
  int has_range;             /* Content-Range: bytes START-END/SIZE */
  uint64_t range_start, range_end, range_size;
  int unsatisfied;           /* Content-Range: bytes * / range_size */
  const char *location;
  size_t location_len;
  const char *allow;
  const char *content_encoding; /* "br", "gzip": a precompressed sibling's coding */
  int vary_encoding;            /* Vary: Accept-Encoding (the file has other codings) */
  const char *extra;            /* a site's headers: whole "Name: value\r\n" lines, checked
                                 * at config load (no CR or LF inside a line) */
  size_t extra_len;
  enum http_conn_header connection;
};

/* Writes the status line and header block, final CRLF included. Returns the length, or
 * -ENOBUFS when cap is too small (a location of up to cap - 256 bytes always fits with the
 * other headers this server sends). */
int http_head_write(char *out, size_t cap, const struct http_head *h);
/* The reason phrase of a status this server sends ("Not Found"); "Unknown" otherwise. */
const char *http_reason(int status);
/* A small HTML body for an error status; returns its length (0 when it does not fit). */
size_t http_error_body(int status, char *out, size_t cap);

#endif
