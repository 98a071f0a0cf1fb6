/* Host matching for virtual hosts (see http_host.h). Runs on the loop thread once per
 * request: no allocation, a few hundred bytes compared at most. */
#include "http_host.h"

#include <string.h>

int http_host_normalize(const char *in, size_t len, char *out, size_t cap) {
  size_t end = len;
  if (len == 0)
    return -1;
  if (in[0] == '[') { /* an IPv6 literal: the port follows the ']' */
    const char *rb = memchr(in, ']', len);
    if (!rb)
      return -1;
    end = (size_t)(rb - in) + 1;
  } else {
    const char *colon = memchr(in, ':', len);
    if (colon)
      end = (size_t)(colon - in);
  }
  if (end < len) { /* ":PORT": digits only */
    if (in[end] != ':' || end + 1 == len || len - end - 1 > 5)
      return -1;
    for (size_t i = end + 1; i < len; i++)
      if (in[i] < '0' || in[i] > '9')
        return -1;
  }
  if (end > 1 && in[end - 1] == '.') /* "example.com." is example.com */
    end--;
  if (end == 0 || end >= cap)
    return -1;
  for (size_t i = 0; i < end; i++) {
    unsigned char ch = (unsigned char)in[i];
    if (ch <= 0x20 || ch >= 0x7f || ch == '/' || ch == '@' || ch == '\\' || ch == '?' ||
        ch == '#' || ch == '%')
      return -1;
    out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
  }
  out[end] = '\0';
  return (int)end;
}

int http_host_match(const char *name, const char *host, size_t host_len) {
  if (name[0] == '*' && name[1] == '.') {
    /* "*.example.com": one label, then ".example.com" exactly */
    size_t sl = strlen(name + 1); /* ".example.com" */
    if (host_len <= sl || memcmp(host + host_len - sl, name + 1, sl) != 0)
      return 0;
    return memchr(host, '.', host_len - sl) == NULL;
  }
  return strlen(name) == host_len && memcmp(name, host, host_len) == 0;
}

int http_host_pick(const struct http_host_names *t, const char *host, size_t host_len) {
  for (size_t i = 0; i < t->n; i++)
    if (t->names[i][0] != '*' && http_host_match(t->names[i], host, host_len))
      return (int)t->site[i];
  for (size_t i = 0; i < t->n; i++)
    if (t->names[i][0] == '*' && http_host_match(t->names[i], host, host_len))
      return (int)t->site[i];
  return -1;
}
