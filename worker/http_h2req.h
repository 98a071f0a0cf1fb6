/* The checks RFC 9113 (8.1.1, 8.2, 8.3) asks of an HTTP/2 request's fields, body and
 * trailers, field by field as nghttp2's session decodes them. nghttp2 makes the same checks
 * itself unless told not to (nghttp2_option_set_no_http_messaging); h2.c tells it. Its way
 * cost 1,278 of a 1 KiB h2c answer's 11,100 instructions (callgrind, h2load's requests): a
 * token lookup, a table look-up per byte of every name and value, a flag test, in separate
 * calls. Here common names are recognised whole and need no byte checks, and values are
 * read eight bytes a step: 11,102 -> 10,615 instructions an answer in all. What they reject
 * is what nghttp2 1.52 rejects (89_h2_malformed's table ran against both): the stream is
 * reset with PROTOCOL_ERROR. Pure functions of the state below: no I/O, no allocation. */
#ifndef EVC_HTTP_H2REQ_H
#define EVC_HTTP_H2REQ_H

#include <stddef.h>
#include <stdint.h>

struct http_h2req {
  uint32_t flags;         /* private: the pseudo-fields seen, and what they said */
  int64_t content_length; /* -1: none given */
  int64_t body;           /* DATA bytes received */
};

/* A new request: no field seen. */
void http_h2req_begin(struct http_h2req *r);
/* A field of the request's header block, or (trailer) of its trailers. 0, or -EPROTO: the
 * request is malformed (a name or value with a byte RFC 9113 8.2.1 forbids, an uppercase
 * name, a pseudo-field unknown, doubled, empty, in trailers or after a regular field, a
 * connection-specific field, te other than "trailers", a content-length that is not a number
 * or comes twice). */
int http_h2req_field(struct http_h2req *r, const uint8_t *name, size_t name_len, const uint8_t *value,
                size_t value_len, int trailer);
/* The header block is over; end_stream: its frame ended the stream. 0, or -EPROTO (a
 * pseudo-field missing, a :path that is neither "/..." nor OPTIONS's "*", a content-length
 * without its body). */
int http_h2req_headers_end(struct http_h2req *r, int end_stream);
/* The trailers' block is over: 0, or -EPROTO when its frame did not end the stream, or the
 * body was not content-length bytes. */
int http_h2req_trailers_end(struct http_h2req *r, int end_stream);
/* n more bytes of body: 0, or -EPROTO past content-length. */
int http_h2req_data(struct http_h2req *r, size_t n);
/* A DATA frame ended the stream: 0, or -EPROTO when the body is not content-length bytes. */
int http_h2req_end(const struct http_h2req *r);

#endif
