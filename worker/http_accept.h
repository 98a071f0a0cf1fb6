/* Accept-Encoding negotiation (RFC 9110 12.5.3): which of the codings the server has for a
 * file the client takes, in the client's order of preference. Pure; unit-tested and fuzzed. */
#ifndef EVC_HTTP_ACCEPT_H
#define EVC_HTTP_ACCEPT_H

#include <stddef.h>

enum http_coding {
  HTTP_CODING_IDENTITY = 0,
  HTTP_CODING_BR,
  HTTP_CODING_ZSTD,
  HTTP_CODING_GZIP,
  HTTP_CODING_COUNT
};

/* The coding's token ("br", "zstd", "gzip"; "identity") and the file suffix of a
 * precompressed sibling (".br", ".zst", ".gz"; ""). */
const char *http_coding_name(enum http_coding c);
const char *http_coding_suffix(enum http_coding c);

/* The client's weights, in thousandths (q=0.5 is 500), per coding. value NULL: no header
 * (identity only, as every server does, though the RFC would allow any). An unparsable
 * element is skipped, as if not sent. */
void http_accept_encoding(const char *value, size_t len, int q[HTTP_CODING_COUNT]);
/* The best coding among avail (a bit per enum http_coding; identity's bit is the file
 * itself): the highest weight, ties to the smaller (br, zstd, gzip, identity), never one of
 * weight 0. -1: nothing acceptable (406). */
int http_accept_pick(const int q[HTTP_CODING_COUNT], unsigned avail);

#endif
