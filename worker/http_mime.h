/* Content-Type by file extension: a built-in table of common types, overridable from the
 * config (mime_types). Text types carry "; charset=utf-8". Pure. */
#ifndef EVC_HTTP_MIME_H
#define EVC_HTTP_MIME_H

#include <stddef.h>

#include "conf.h"

/* The type for the last extension of path's last segment (case-insensitive); the overrides
 * win over the built-in table; unknown or none: "application/octet-stream". A leading dot
 * is not an extension: ".bashrc" and "/.html" have none. Never NULL; the string lives as
 * long as the table or the conf. No allocation: safe on every request. */
const char *http_mime_type(const conf_mime_t *overrides, size_t n_overrides, const char *path,
                           size_t len);

#endif
