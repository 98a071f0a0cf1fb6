/* The Range header (RFC 9110 14.2): one satisfiable byte range, or none. Pure. */
#ifndef EVC_HTTP_RANGE_H
#define EVC_HTTP_RANGE_H

#include <stddef.h>
#include <stdint.h>

struct http_range {
  uint64_t start; /* first byte */
  uint64_t end;   /* last byte, inclusive; end < size */
};

enum http_range_result {
  HTTP_RANGE_NONE = 0,          /* absent, malformed, not "bytes", or several disjoint ranges: 200 full */
  HTTP_RANGE_OK = 1,            /* *out is the (clamped, coalesced) range: 206 */
  HTTP_RANGE_UNSATISFIABLE = 2, /* no range overlaps the file: 416, Content-Range: bytes * /size */
};

/* Parses `value` for a representation of `size` bytes: "bytes=0-99", "bytes=-500" (suffix),
 * "bytes=9500-" (open), ends clamped to size-1; the unit is case-insensitive, OWS is allowed
 * around the value and around commas. Several ranges that overlap or touch are coalesced into
 * one; disjoint ones, or more than 16, give HTTP_RANGE_NONE. Unsatisfiable ranges beside
 * satisfiable ones are dropped; only when none is satisfiable ("bytes=-0", start >= size):
 * HTTP_RANGE_UNSATISFIABLE. Numbers that overflow uint64 make the header malformed.
 * size 0: always HTTP_RANGE_NONE (the empty 200 is the whole answer; no 416 for "bytes=0-").
 * Reads only len bytes; value need not be NUL-terminated. */
enum http_range_result http_range_parse(const char *value, size_t len, uint64_t size,
                                        struct http_range *out);

/* The most parts a multipart/byteranges answer has (nginx's max_ranges): more ranges give
 * the whole file (200), as nginx does. */
#define HTTP_RANGE_MAX 16
/* As http_range_parse, but disjoint ranges are kept: out[0..*n) sorted by start, overlapping
 * and adjacent ones coalesced (RFC 9110 14.2 allows both), n <= HTTP_RANGE_MAX. OK with *n
 * of 1 is a single part; more is multipart/byteranges. */
enum http_range_result http_range_parse_set(const char *value, size_t len, uint64_t size,
                                            struct http_range *out, size_t *n);

#endif
