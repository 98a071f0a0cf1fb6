/* Access log lines in the combined format. Pure formatting; the buffering and the writes
 * (on the pool) live in access_log.c. Bytes from clients are escaped: control characters,
 * '"', '\\' and bytes >= 0x7f are written as \xHH, never raw. */
#ifndef EVC_HTTP_LOG_H
#define EVC_HTTP_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct http_log_entry {
  const char *remote_addr; /* NUL-terminated, e.g. "127.0.0.1" */
  time_t time;
  const char *request_line; /* "GET /x HTTP/1.1" as received (escaped on output) */
  size_t request_line_len;
  int status;
  uint64_t body_bytes;
  const char *referer; /* NULL: "-" */
  size_t referer_len;
  const char *user_agent; /* NULL: "-" */
  size_t user_agent_len;
  const char *tls; /* a server with TLS listeners: "TLSv1.3 r" (r: resumed, .: full
                    * handshake) or "-" on plain, quoted as a last field; NULL: no field */
};

/* Escapes len bytes of in into out, without a NUL; returns the bytes written (never more
 * than cap: output stops before the first byte whose escape does not fit whole). */
size_t http_log_escape(const char *in, size_t len, char *out, size_t cap);
/* Formats one line, '\n' included, followed by a NUL that the length does not count:
 *   127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 2326 "-" "curl/7.88"
 * and, when tls is set, one more field: ... "curl/7.88" "TLSv1.3 r"
 * The time is UTC; body_bytes is always a number (nginx's $body_bytes_sent, "0" not "-");
 * a NULL request_line, referer or user_agent is written "-".
 * Returns the length, or -ENOBUFS when line and NUL do not fit in cap (out is then ""). */
int http_log_format(char *out, size_t cap, const struct http_log_entry *e);

#endif
