/* Virtual hosts: which site a request's Host (h1), :authority (h2) or SNI names. Pure: the
 * answer layer calls it for every request, the unit tests and the fuzz harness drive it. */
#ifndef EVC_HTTP_HOST_H
#define EVC_HTTP_HOST_H

#include <stddef.h>

/* The host of a Host value as sites are matched: lower case, the port and one trailing dot
 * gone ("Example.COM.:8080" -> "example.com"; "[::1]:80" -> "[::1]"). Returns its length
 * (written to out, NUL-terminated), or -1 for a value that is no host (empty, a '/', '@',
 * control bytes, a bad port, too long for cap). */
int http_host_normalize(const char *in, size_t len, char *out, size_t cap);
/* 1 if a site name ("example.com", or "*.example.com" for exactly one leading label) matches
 * a normalized host. */
int http_host_match(const char *name, const char *host, size_t host_len);

/* The sites' names, for http_host_pick: names[i] belongs to site[i]. */
struct http_host_names {
  const char *const *names;
  const size_t *site;
  size_t n;
};
/* The site for host (normalized): an exact name first, then a wildcard, in the order
 * written; else -1 (the caller takes the default site). */
int http_host_pick(const struct http_host_names *t, const char *host, size_t host_len);

#endif
