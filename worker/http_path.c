/* Request-target normalisation (see http_path.h): the single gate between a URL and the
 * file system, run on the worker's loop thread for every request. It decodes first and
 * normalises the decoded bytes, so an escaped "%2e%2e" or "%2f" can never smuggle a ".."
 * or a separator past the dot-segment check. Output never leaves the root. */
#include "http_path.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static int hex_val(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Next decoded byte of [*p, end) into *c; -EINVAL for a bad escape or a byte no file name
 * here may contain (NUL truncates C strings, '\' is a separator to some tools). */
static int next_byte(const char **p, const char *end, unsigned char *c) {
  const unsigned char *s = (const unsigned char *)*p;
  int hi, lo;

  if (*s == '%') {
    if (end - *p < 3)
      return -EINVAL;
    hi = hex_val(s[1]);
    lo = hex_val(s[2]);
    if (hi < 0 || lo < 0)
      return -EINVAL;
    *c = (unsigned char)(hi << 4 | lo);
    *p += 3;
  } else {
    *c = *s;
    *p += 1;
  }
  if (*c == '\0' || *c == '\\')
    return -EINVAL;
  return 0;
}

static int scheme_is(const char *s, size_t len, const char *scheme) {
  size_t n = strlen(scheme);

  return len >= n + 3 && strncasecmp(s, scheme, n) == 0 && memcmp(s + n, "://", 3) == 0;
}

/* Finds the path part of the target: [*start, *end), without query or fragment. An
 * absolute-form target with an empty path (e.g. "http://h?q") yields an empty range, which
 * the caller treats as "/". */
static int path_bounds(const char *target, size_t len, const char **start, const char **end) {
  const char *p = target, *e = target + len, *q;
  size_t skip;

  if (len == 0)
    return -EINVAL;
  if (*p != '/') {
    if (scheme_is(p, len, "http"))
      skip = 7;
    else if (scheme_is(p, len, "https"))
      skip = 8;
    else
      return -EINVAL; /* asterisk-form, authority-form, relative or other schemes */
    p += skip;
    while (p < e && *p != '/' && *p != '?' && *p != '#')
      p++; /* the authority: Host is not ours to check here */
  }
  for (q = p; q < e && *q != '?' && *q != '#'; q++)
    ;
  *start = p;
  *end = q;
  return 0;
}

/* A path with nothing to decode or resolve (no escape, no NUL or '\\', no empty, "." or ".."
 * segment: no "//" or "/."), as nearly every request's is, is its own normal form up to
 * its query or fragment: copied in one pass instead of byte by byte through next_byte
 * (296 instructions for "/1k.bin" that way, 168 this way: callgrind). 1: done; 0: the
 * general walk decides (a path that does not fit is left to it, for its error). */
static int plain_path(const char *t, size_t len, char *out, size_t cap, size_t *outlen) {
  size_t i;

  if (len == 0 || t[0] != '/')
    return 0;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)t[i];
    if (c == '/') {
      if (i + 1 < len && (t[i + 1] == '/' || t[i + 1] == '.'))
        return 0;
    } else if (c == '?' || c == '#') {
      break;
    } else if (c == '%' || c == '\\' || c == '\0') {
      return 0;
    }
  }
  if (i + 1 > cap)
    return 0;
  memcpy(out, t, i);
  out[i] = '\0';
  *outlen = i;
  return 1;
}

int http_path_normalize(const char *target, size_t len, char *out, size_t cap, size_t *outlen) {
  const char *p = NULL, *end = NULL;
  size_t o = 0, seg, seglen;
  /* Segments that did not fit in out: a later ".." may still pop them, so only a path
   * that really ends up too long is refused. */
  size_t over = 0;
  unsigned char c, c0, c1;
  int fits, slash, rc;

  if (plain_path(target, len, out, cap, outlen))
    return 0;
  rc = path_bounds(target, len, &p, &end);
  if (rc < 0)
    goto out;
  if (cap < 2) {
    rc = -ENAMETOOLONG;
    goto out;
  }
  out[o++] = '/';
  /* Invariant: out[0..o) is the resolved path so far and ends in '/'. */
  while (p < end) {
    seg = o;
    seglen = 0;
    c0 = c1 = 0;
    slash = 0;
    fits = over == 0;
    while (p < end) {
      rc = next_byte(&p, end, &c);
      if (rc < 0)
        goto out;
      if (c == '/') {
        slash = 1;
        break;
      }
      if (seglen == 0)
        c0 = c;
      else if (seglen == 1)
        c1 = c;
      seglen++;
      if (fits && o + 1 < cap) /* keep one byte for the NUL */
        out[o++] = (char)c;
      else
        fits = 0;
    }
    if (seglen == 0)
      continue; /* "//": merged */
    if (seglen == 1 && c0 == '.') {
      o = seg;
      continue;
    }
    if (seglen == 2 && c0 == '.' && c1 == '.') {
      o = seg;
      if (over > 0) {
        over--;
      } else if (o == 1) {
        rc = -EINVAL; /* above the root: refused, not clamped, so it shows in the logs */
        goto out;
      } else {
        o--; /* the '/' that ends the parent segment */
        while (out[o - 1] != '/')
          o--;
      }
      continue;
    }
    if (fits && slash) {
      if (o + 1 < cap)
        out[o++] = '/';
      else
        fits = 0;
    }
    if (!fits) {
      o = seg;
      over++;
    }
  }
  if (over > 0) {
    rc = -ENAMETOOLONG;
    goto out;
  }
  out[o] = '\0';
  *outlen = o;
  rc = 0;
out:
  return rc;
}

/* RFC 3986 pchar without pct-encoded, plus '/': unreserved, sub-delims, ':' and '@'. */
static int is_path_char(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return 1;
  return c != '\0' && strchr("-._~!$&'()*+,;=:@/", c) != NULL;
}

int http_path_encode(const char *path, size_t len, char *out, size_t cap, size_t *outlen) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)path[i];
    if (is_path_char(c)) {
      if (o + 1 > cap)
        return -ENAMETOOLONG;
      out[o++] = (char)c;
    } else {
      if (o + 3 > cap)
        return -ENAMETOOLONG;
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  *outlen = o;
  return 0;
}
