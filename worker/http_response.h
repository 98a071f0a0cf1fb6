/* The response side: HTTP/1.1's status lines and header blocks, the list of fields both
 * they and HTTP/2's header blocks (http_hpack.h) are made from, and the small bodies of error
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

/* One field of a response head, as each protocol spells its name. */
struct http_field {
  const char *h1;    /* "Content-Type: ": HTTP/1.1's name, the ": " that follows it included */
  const char *name;  /* "content-type": HTTP/2's (RFC 9113 8.2.1) */
  const char *value; /* not NUL-terminated */
  uint8_t h1_len, name_len;
  uint8_t hpack; /* the name's entry in HPACK's static table (RFC 7541 Appendix A) */
  uint32_t value_len;
};
#define HTTP_FIELDS_MAX 12 /* the fields below, each at most once */
/* The numbers' text: a Content-Length and a Content-Range ("bytes START-END/SIZE"), each
 * number up to 20 digits. */
#define HTTP_FIELD_NUM (20 + 6 + 20 + 1 + 20 + 1 + 20)

/* The fields of h in the order both protocols send them (the site's extra lines and
 * Connection, which HTTP/2 does not have, are not among them): the one list h1's
 * http_head_write and h2's HEADERS are made from, so that the two cannot disagree on a
 * header. Numbers are written into num, which the values then point into; the other values
 * point where h's do. Returns how many fields f got. */
size_t http_head_fields(const struct http_head *h, struct http_field f[HTTP_FIELDS_MAX],
                        char num[HTTP_FIELD_NUM]);
/* Writes the status line and header block, final CRLF included. Returns the length, or
 * -ENOBUFS when cap is too small (a location of up to cap - 256 bytes always fits with the
 * other headers this server sends). */
int http_head_write(char *out, size_t cap, const struct http_head *h);
/* The reason phrase of a status this server sends ("Not Found"); "Unknown" otherwise. */
const char *http_reason(int status);
/* A small HTML body for an error status; returns its length (0 when it does not fit). */
size_t http_error_body(int status, char *out, size_t cap);

#endif
