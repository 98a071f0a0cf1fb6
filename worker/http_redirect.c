/* The Location of redirect_https (see http_redirect.h). */
#include "http_redirect.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int name_byte(unsigned char b) {
  return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
         b == '-' || b == '.' || b == '_';
}

static int hex_byte(unsigned char b) {
  return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F') || b == ':' ||
         b == '.';
}

/* The host part of a Host value (its port, if any, dropped): its length, or -1 if bad. */
static long host_part(const char *h, size_t n) {
  size_t i = 0;
  if (n == 0 || n > 255)
    return -1;
  if (h[0] == '[') {
    for (i = 1; i < n && h[i] != ']'; i++)
      if (!hex_byte((unsigned char)h[i]))
        return -1;
    if (i == n || i == 1)
      return -1;
    i++; /* the ']' */
  } else {
    while (i < n && name_byte((unsigned char)h[i]))
      i++;
    if (i == 0)
      return -1;
  }
  size_t end = i;
  if (i < n) {
    if (h[i] != ':')
      return -1;
    for (i++; i < n; i++)
      if (h[i] < '0' || h[i] > '9')
        return -1;
  }
  return (long)end;
}

int http_https_location(const char *host, size_t host_len, const char *target,
                        size_t target_len, unsigned port, char *out, size_t cap) {
  long hl = host ? host_part(host, host_len) : -1;
  if (hl < 0 || target_len == 0 || target[0] != '/')
    return -EINVAL;
  char p[8] = "";
  if (port != 443)
    snprintf(p, sizeof(p), ":%u", port & 0xffff);
  size_t need = 8 + (size_t)hl + strlen(p) + target_len;
  if (need + 1 > cap)
    return -ENAMETOOLONG;
  size_t o = 0;
  memcpy(out, "https://", 8);
  o = 8;
  memcpy(out + o, host, (size_t)hl);
  o += (size_t)hl;
  memcpy(out + o, p, strlen(p));
  o += strlen(p);
  memcpy(out + o, target, target_len);
  o += target_len;
  out[o] = '\0';
  return (int)o;
}
