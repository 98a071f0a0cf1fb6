/* The request side of HTTP/1.1: llhttp fed from a connection's input buffer, one request at a
 * time. Pure (bytes in, a parsed request or an error status out), so it is unit-tested and
 * fuzzed without sockets. The parser records offsets, not pointers, into the caller's buffer:
 * the caller may move the buffer between calls, and compacts it between requests. */
#ifndef EVC_HTTP_REQUEST_H
#define EVC_HTTP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

struct http_span {
  uint32_t off;
  uint32_t len;
};

/* The request headers the server acts on; others are parsed and skipped. */
enum http_hdr {
  HTTP_H_HOST = 0,
  HTTP_H_CONNECTION,
  HTTP_H_RANGE,
  HTTP_H_IF_MATCH,
  HTTP_H_IF_NONE_MATCH,
  HTTP_H_IF_MODIFIED_SINCE,
  HTTP_H_IF_UNMODIFIED_SINCE,
  HTTP_H_IF_RANGE,
  HTTP_H_USER_AGENT,
  HTTP_H_REFERER,
  HTTP_H_EXPECT,
  HTTP_H_TRANSFER_ENCODING,
  HTTP_H_ACCEPT_ENCODING, /* compression: which coding of a file to send */
  HTTP_H_ACCEPT,          /* autoindex: application/json asks for the listing as JSON */
  HTTP_H_COUNT
};

typedef struct http_request {
  int method; /* enum llhttp_method */
  int http_major;
  int http_minor;
  int keep_alive;              /* the client allows another request on this connection */
  int upgrade;                 /* CONNECT or Upgrade: the connection closes after the answer */
  struct http_span line;       /* the request line, for the access log */
  struct http_span target;     /* the request-target */
  struct http_span hdr[HTTP_H_COUNT]; /* first occurrence of each; len 0 when absent */
  uint32_t hdr_present;        /* bit per enum http_hdr */
} http_request_t;

enum http_parse_result {
  HTTP_PARSE_AGAIN = 0, /* every byte consumed; need more */
  HTTP_PARSE_DONE,      /* p->req is complete up to its header block; a body is dropped later */
  HTTP_PARSE_ERROR,     /* p->error_status says what to answer; then close the connection */
};

/* Embedded in the connection. Fields are private except req and error_status (read-only). */
typedef struct http_parser {
  llhttp_t llhttp;
  http_request_t req;    /* read-only: valid after HTTP_PARSE_DONE, until http_parser_next() */
  int error_status;      /* read-only: 400, 414, 431, 501, 505 after HTTP_PARSE_ERROR */
  const char *error_why; /* read-only: a short reason for the log */
  /* private */
  const char *base;      /* the caller's buffer during an execute */
  uint32_t parsed;       /* bytes of the buffer fed to llhttp */
  uint32_t msg_start;    /* where the current request begins */
  uint32_t max_header_bytes;
  struct http_span field;
  struct http_span value;
  int cur_hdr; /* enum http_hdr of the header being read, or -1 */
  int error_hint; /* the status a callback's refusal calls for; 0: 400 */
  int dup_host;
  int line_started;
  int msg_complete; /* on_message_complete ran */
  int body_pending; /* the request being answered has a body still to drop */
  int in_body;      /* dropping the body of the request answered last */
  int done;
} http_parser_t;

/* max_header_bytes bounds the request line and header block together. */
void http_parser_init(http_parser_t *p, uint32_t max_header_bytes);
/* Feeds buf[parsed, *len) to the parser. A request is DONE once its header block is in.
 * The body of a request (a GET with a body) is consumed after http_parser_next() and dropped
 * from buf as it goes, so *len may shrink: the caller's buffer need only hold one header
 * block. */
enum http_parse_result http_parser_execute(http_parser_t *p, char *buf, uint32_t *len);
/* After a request is answered: moves the bytes that followed it (pipelined requests) to the
 * start of buf, updates *len, and readies the parser for the next request. */
void http_parser_next(http_parser_t *p, char *buf, uint32_t *len);
/* 1 if no byte of a next request (nor of the last one's body) is outstanding: the
 * connection is idle between requests, given the buffer's current length. */
int http_parser_idle(const http_parser_t *p, uint32_t len);

static inline const char *http_span_ptr(const char *buf, struct http_span s) {
  return buf + s.off;
}

#endif
