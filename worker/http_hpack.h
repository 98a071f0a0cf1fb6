/* The HPACK encoder of the responses' header blocks (RFC 7541), one per HTTP/2 connection.
 *
 * Why our own when nghttp2 has one: nghttp2's deflater never indexes etag, content-length
 * or location (nor age, set-cookie), so every response of a static file carried its etag
 * and length as Huffman-coded literals (33 bytes a 1 KiB answer against h2o's 14), which
 * cost us the encoding and the client the decoding, and the deflater's general search was
 * the largest single cost of a small answer (callgrind). A static file
 * server sends the same dozen fields again and again: this encoder indexes them all, looks
 * a value up only among the entries of the same name, and writes literals without Huffman.
 * Decoding stays nghttp2's (worker/h2.c); the unit test decodes our blocks with it.
 *
 * Pure: bytes out, no I/O. Not thread-safe; one connection's. */
#ifndef EVC_HTTP_HPACK_H
#define EVC_HTTP_HPACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The table size this encoder uses at most: HTTP/2's default SETTINGS_HEADER_TABLE_SIZE, so
 * a client that never sends the setting needs no size update. */
#define HTTP_HPACK_TABLE_MAX 4096

/* One field of a header block. index is the static table's entry for the name (RFC 7541
 * Appendix A: 8 for :status, 28 for content-length, ...): such fields are indexed in the
 * dynamic table. 0: a name of no static entry (a site's own header), sent as a literal and
 * not indexed. name is lowercase. */
struct http_hpack_field {
  const char *name, *value;
  uint32_t name_len, value_len;
  uint8_t index;
};

typedef struct http_hpack http_hpack_t;

http_hpack_t *http_hpack_new(void); /* NULL when out of memory */
void http_hpack_free(http_hpack_t *e);

/* The peer's SETTINGS_HEADER_TABLE_SIZE is now limit (call it for each one received, in
 * order): the next block begins with the size updates RFC 7541 4.2 asks for, the smallest
 * size seen since the last block first. */
void http_hpack_limit(http_hpack_t *e, uint32_t limit);

/* Encodes the fields, in order, as one header block into out. Returns its length, or
 * -ENOBUFS when cap is too small; then the table is as it was, and nothing may be sent. */
ssize_t http_hpack_encode(http_hpack_t *e, const struct http_hpack_field *f, size_t n,
                          uint8_t *out, size_t cap);

/* Bytes a block of these fields can take at most: what out needs. */
size_t http_hpack_bound(const struct http_hpack_field *f, size_t n);

#endif
