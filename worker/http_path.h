/* Request-target to file path: the one place that decides which file a URL names. Pure:
 * no I/O, used by the worker's loop thread and by the fuzz harness. */
#ifndef EVC_HTTP_PATH_H
#define EVC_HTTP_PATH_H

#include <stddef.h>

/* Normalises a request target (origin-form "/a/b?q", or absolute-form "http://h/a/b" or
 * "https://...", whose authority is skipped unchecked) into a path that starts with '/':
 * query and fragment dropped, percent-escapes decoded once, repeated slashes merged, "." and
 * ".." segments removed (RFC 3986 5.2.4). Decoding comes first, so "%2e%2e" is ".." and
 * "%2f" is a separator. A trailing slash is kept ("/dir/" stays "/dir/", "/dir/." becomes
 * "/dir/"). Reads only len bytes.
 * Returns 0 and writes a NUL-terminated path (length in *outlen); -EINVAL for a target that
 * is not a path, a bad escape, a NUL or a '\' after decoding, or ".." above the root
 * (refused, never clamped); -ENAMETOOLONG when the result does not fit in cap (NUL counted). */
int http_path_normalize(const char *target, size_t len, char *out, size_t cap, size_t *outlen);
/* The way back: percent-encodes a decoded path (as normalize produced it) for a URI, such as
 * a Location header. Every byte outside RFC 3986's pchar set and '/' becomes %XX, so the
 * result names the same path and can be read neither as an authority ("//host") nor as
 * carrying a query or fragment. Returns 0 with *outlen bytes written (no NUL), or
 * -ENAMETOOLONG when they do not fit in cap. */
int http_path_encode(const char *path, size_t len, char *out, size_t cap, size_t *outlen);

#endif
