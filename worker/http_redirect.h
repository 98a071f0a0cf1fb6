/* redirect_https: the Location of the 301 a plain listener answers with, built from the
 * client's Host header and request target. Pure, like the rest of http_*. The Host is the
 * one part a client controls that goes before the path: only a name or an address passes
 * (letters, digits, '-', '.', '_', or an IPv6 literal in brackets, then an optional port), so
 * nothing in it can end the header (CR, LF) or move the path (a '/', '@', '\\'). */
#ifndef EVC_HTTP_REDIRECT_H
#define EVC_HTTP_REDIRECT_H

#include <stddef.h>

/* Writes "https://HOST[:PORT]TARGET" into out: HOST without the port the client named, PORT
 * left out when it is 443. target must be origin-form (start with '/'). Returns the length,
 * -EINVAL for a bad or missing Host or target (answer 400), -ENAMETOOLONG when it does not
 * fit (414). */
int http_https_location(const char *host, size_t host_len, const char *target,
                        size_t target_len, unsigned port, char *out, size_t cap);

#endif
