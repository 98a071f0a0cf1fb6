/* multipart/byteranges (RFC 9110 14.6): the framing around the parts of an answer to several
 * ranges, laid out as nginx does. Pure; the answer layer puts the bytes between. */
#ifndef EVC_HTTP_MULTIPART_H
#define EVC_HTTP_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#include "http_range.h"

#define HTTP_MULTIPART_BOUNDARY_LEN 20

/* The header before a part: CRLF "--" boundary CRLF, Content-Type, Content-Range, CRLF.
 * Returns its length; writes at most cap bytes (cap 0: just the length). */
size_t http_multipart_part_head(char *out, size_t cap, const char *boundary, const char *ctype,
                                const struct http_range *r, uint64_t size);
/* CRLF "--" boundary "--" CRLF. */
size_t http_multipart_tail(char *out, size_t cap, const char *boundary);
/* The whole body's length: every part's head and bytes, and the tail. */
uint64_t http_multipart_length(const struct http_range *r, size_t n, const char *boundary,
                               const char *ctype, uint64_t size);

#endif
