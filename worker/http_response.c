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

static void put_u64(struct out *o, uint64_t v) {
  char tmp[20];
  size_t i = sizeof(tmp);
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put(o, tmp + i, sizeof(tmp) - i);
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

int http_head_write(char *buf, size_t cap, const struct http_head *h) {
  struct out o = {buf, buf + cap, 0};
  PUT_LIT(&o, "HTTP/1.1 ");
  put_u64(&o, (uint64_t)h->status);
  PUT_LIT(&o, " ");
  put_str(&o, http_reason(h->status));
  PUT_LIT(&o, "\r\nServer: evcluster\r\n");
  if (h->date) {
    PUT_LIT(&o, "Date: ");
    put_str(&o, h->date);
    PUT_LIT(&o, "\r\n");
  }
  if (h->content_type) {
    PUT_LIT(&o, "Content-Type: ");
    put_str(&o, h->content_type);
    PUT_LIT(&o, "\r\n");
  }
  if (h->has_length) {
    PUT_LIT(&o, "Content-Length: ");
    put_u64(&o, h->content_length);
    PUT_LIT(&o, "\r\n");
  }
  if (h->last_modified) {
    PUT_LIT(&o, "Last-Modified: ");
    put_str(&o, h->last_modified);
    PUT_LIT(&o, "\r\n");
  }
  if (h->etag) {
    PUT_LIT(&o, "ETag: ");
    put(&o, h->etag, h->etag_len);
    PUT_LIT(&o, "\r\n");
  }
  if (h->accept_ranges)
    PUT_LIT(&o, "Accept-Ranges: bytes\r\n");
  if (h->has_range) {
    PUT_LIT(&o, "Content-Range: bytes ");
    put_u64(&o, h->range_start);
    PUT_LIT(&o, "-");
    put_u64(&o, h->range_end);
    PUT_LIT(&o, "/");
    put_u64(&o, h->range_size);
    PUT_LIT(&o, "\r\n");
  } else if (h->unsatisfied) {
    PUT_LIT(&o, "Content-Range: bytes */");
    put_u64(&o, h->range_size);
    PUT_LIT(&o, "\r\n");
  }
  if (h->location) {
    PUT_LIT(&o, "Location: ");
    put(&o, h->location, h->location_len);
    PUT_LIT(&o, "\r\n");
  }
  if (h->allow) {
    PUT_LIT(&o, "Allow: ");
    put_str(&o, h->allow);
    PUT_LIT(&o, "\r\n");
  }
  if (h->content_encoding) {
    PUT_LIT(&o, "Content-Encoding: ");
    put_str(&o, h->content_encoding);
    PUT_LIT(&o, "\r\n");
  }
  if (h->vary_encoding)
    PUT_LIT(&o, "Vary: Accept-Encoding\r\n");
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
