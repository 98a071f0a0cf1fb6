/* multipart/byteranges framing (see http_multipart.h). */
#include "http_multipart.h"

#include <stdio.h>

size_t http_multipart_part_head(char *out, size_t cap, const char *boundary, const char *ctype,
                                const struct http_range *r, uint64_t size) {
  char tmp[512];
  int n = snprintf(tmp, sizeof(tmp),
                   "\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes %llu-%llu/%llu\r\n\r\n",
                   boundary, ctype, (unsigned long long)r->start, (unsigned long long)r->end,
                   (unsigned long long)size);
  size_t len = n < 0 ? 0 : (size_t)n >= sizeof(tmp) ? sizeof(tmp) - 1 : (size_t)n;
  for (size_t i = 0; i < len && i < cap; i++)
    out[i] = tmp[i];
  return len;
}

size_t http_multipart_tail(char *out, size_t cap, const char *boundary) {
  char tmp[64];
  int n = snprintf(tmp, sizeof(tmp), "\r\n--%s--\r\n", boundary);
  size_t len = n < 0 ? 0 : (size_t)n >= sizeof(tmp) ? sizeof(tmp) - 1 : (size_t)n;
  for (size_t i = 0; i < len && i < cap; i++)
    out[i] = tmp[i];
  return len;
}

uint64_t http_multipart_length(const struct http_range *r, size_t n, const char *boundary,
                               const char *ctype, uint64_t size) {
  uint64_t len = http_multipart_tail(NULL, 0, boundary);
  for (size_t i = 0; i < n; i++)
    len += http_multipart_part_head(NULL, 0, boundary, ctype, &r[i], size) +
           (r[i].end - r[i].start + 1);
  return len;
}
