/* Response header blocks (see http_response.h). On the hot path of every request: no
 * allocation, no printf; the buffer is filled with memcpy and a decimal writer. */
#include "http_response.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct out {
  char *p;
  char *end;
  int full;
};

static void put(struct out *o, const char *s, size_t n) {
  if (o->full || (size_t)(o->end - o->p) < n) {
    o->full = 1;
    return;
  }
  memcpy(o->p, s, n);
  o->p += n;
}

#define PUT_LIT(o, lit) put((o), (lit), sizeof(lit) - 1)

static void put_str(struct out *o, const char *s) {
  put(o, s, strlen(s));
}

const char *http_reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 406: return "Not Acceptable";
  case 408: return "Request Timeout";
  case 412: return "Precondition Failed";
  case 414: return "URI Too Long";
  case 416: return "Range Not Satisfiable";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

/* The decimal text of v at p; returns its length (at most 20). */
static size_t u64_text(char *p, uint64_t v) {
  char tmp[20];
  size_t i = sizeof(tmp);
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  memcpy(p, tmp + i, sizeof(tmp) - i);
  return sizeof(tmp) - i;
}

#define FIELD(H1, NAME, HPACK, V, VLEN)                                                      \
  f[n++] = (struct http_field) {                                                             \
    H1 ": ", NAME, (V), sizeof(H1 ": ") - 1, sizeof(NAME) - 1, HPACK, (uint32_t)(VLEN)       \
  }

size_t http_head_fields(const struct http_head *h, struct http_field f[HTTP_FIELDS_MAX],
                        char num[HTTP_FIELD_NUM]) {
  size_t n = 0;
  char *p = num;
  FIELD("Server", "server", 54, "evcluster", 9);
  if (h->date)
    FIELD("Date", "date", 33, h->date, strlen(h->date));
  if (h->content_type)
    FIELD("Content-Type", "content-type", 31, h->content_type, strlen(h->content_type));
  if (h->has_length) {
    size_t l = u64_text(p, h->content_length);
    FIELD("Content-Length", "content-length", 28, p, l);
    p += l;
  }
  if (h->last_modified)
    FIELD("Last-Modified", "last-modified", 44, h->last_modified, strlen(h->last_modified));
  if (h->etag)
    FIELD("ETag", "etag", 34, h->etag, h->etag_len);
  if (h->accept_ranges)
    FIELD("Accept-Ranges", "accept-ranges", 18, "bytes", 5);
  if (h->has_range || h->unsatisfied) { /* bytes START-END/SIZE, or bytes * / SIZE */
    char *v = p;
    memcpy(p, "bytes ", 6);
    p += 6;
    if (h->has_range) {
      p += u64_text(p, h->range_start);
      *p++ = '-';
      p += u64_text(p, h->range_end);
    } else {
      *p++ = '*';
    }
    *p++ = '/';
    p += u64_text(p, h->range_size);
    FIELD("Content-Range", "content-range", 30, v, p - v);
  }
  if (h->location)
    FIELD("Location", "location", 46, h->location, h->location_len);
  if (h->allow)
    FIELD("Allow", "allow", 22, h->allow, strlen(h->allow));
  if (h->content_encoding)
    FIELD("Content-Encoding", "content-encoding", 26, h->content_encoding,
          strlen(h->content_encoding));
  if (h->vary_encoding)
    FIELD("Vary", "vary", 59, "Accept-Encoding", 15);
  return n;
}

static void put_u64(struct out *o, uint64_t v) {
  char tmp[20];
  put(o, tmp, u64_text(tmp, v));
}

int http_head_write(char *buf, size_t cap, const struct http_head *h) {
  struct out o = {buf, buf + cap, 0};
  struct http_field f[HTTP_FIELDS_MAX];
  char num[HTTP_FIELD_NUM];
  size_t n = http_head_fields(h, f, num);
  PUT_LIT(&o, "HTTP/1.1 ");
  put_u64(&o, (uint64_t)h->status);
  PUT_LIT(&o, " ");
  put_str(&o, http_reason(h->status));
  PUT_LIT(&o, "\r\n");
  for (size_t i = 0; i < n; i++) {
    put(&o, f[i].h1, f[i].h1_len);
    put(&o, f[i].value, f[i].value_len);
    PUT_LIT(&o, "\r\n");
  }
  if (h->extra)
    put(&o, h->extra, h->extra_len);
  if (h->connection == HTTP_CONN_CLOSE)
    PUT_LIT(&o, "Connection: close\r\n");
  else if (h->connection == HTTP_CONN_KEEP_ALIVE)
    PUT_LIT(&o, "Connection: keep-alive\r\n");
  PUT_LIT(&o, "\r\n");
  if (o.full)
    return -ENOBUFS;
  return (int)(o.p - buf);
}

size_t http_error_body(int status, char *out, size_t cap) {
  const char *reason = http_reason(status);
  int n = snprintf(out, cap,
                   "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
                   "<center><h1>%d %s</h1></center>\r\n<hr><center>evcluster</center>\r\n"
                   "</body>\r\n</html>\r\n",
                   status, reason, status, reason);
  return (n < 0 || (size_t)n >= cap) ? 0 : (size_t)n;
}
