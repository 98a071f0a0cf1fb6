/* HTTP/1.1 request parsing on llhttp (see http_request.h). Runs on a worker's loop thread
 * (and in the fuzz harness). llhttp is paused twice per request: after the header block, so
 * the request is answered without waiting for a body it may carry, and after the message,
 * so the body is dropped and pipelined requests are answered one at a time, in order. */
#include "http_request.h"

#include <string.h>
#include <strings.h>

static const struct {
  const char *name;
  size_t len;
} hdr_names[HTTP_H_COUNT] = {
    [HTTP_H_HOST] = {"host", 4},
    [HTTP_H_CONNECTION] = {"connection", 10},
    [HTTP_H_RANGE] = {"range", 5},
    [HTTP_H_IF_MATCH] = {"if-match", 8},
    [HTTP_H_IF_NONE_MATCH] = {"if-none-match", 13},
    [HTTP_H_IF_MODIFIED_SINCE] = {"if-modified-since", 17},
    [HTTP_H_IF_UNMODIFIED_SINCE] = {"if-unmodified-since", 19},
    [HTTP_H_IF_RANGE] = {"if-range", 8},
    [HTTP_H_USER_AGENT] = {"user-agent", 10},
    [HTTP_H_REFERER] = {"referer", 7},
    [HTTP_H_EXPECT] = {"expect", 6},
    [HTTP_H_TRANSFER_ENCODING] = {"transfer-encoding", 17},
    [HTTP_H_ACCEPT_ENCODING] = {"accept-encoding", 15},
    [HTTP_H_ACCEPT] = {"accept", 6},
};

static http_parser_t *parser_of(llhttp_t *l) {
  return (http_parser_t *)l->data;
}

/* llhttp hands a token over in pieces when it spans two reads; the pieces are adjacent in
 * our buffer, so a span only grows. */
static void span_add(http_parser_t *p, struct http_span *s, const char *at, size_t len) {
  if (s->len == 0)
    s->off = (uint32_t)(at - p->base);
  s->len += (uint32_t)len;
}

/* RFC 9110 5.6.2: the characters of a token (a method, a field name). Every byte of every
 * header name goes through it: a table, which halved what the check costs a typical
 * browser request (about 50 -> 25 ns of 440, against tests on letters then strchr). */
static int is_tchar(unsigned char c) {
  static const unsigned char tchar[256] = {
      ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
      ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
      ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1};
  return tchar[c];
}

static int on_method(llhttp_t *l, const char *at, size_t len) {
  http_parser_t *p = parser_of(l);
  (void)len;
  if (!p->line_started) { /* the request line starts with the method's first piece */
    p->line_started = 1;
    p->req.line.off = (uint32_t)(at - p->base);
  }
  return 0;
}

static int on_url(llhttp_t *l, const char *at, size_t len) {
  http_parser_t *p = parser_of(l);
  span_add(p, &p->req.target, at, len);
  return 0;
}

static int on_version(llhttp_t *l, const char *at, size_t len) {
  http_parser_t *p = parser_of(l);
  /* The request line runs from the method to the end of the version. */
  p->req.line.len = (uint32_t)(at + len - p->base) - p->req.line.off;
  return 0;
}

static int on_header_field(llhttp_t *l, const char *at, size_t len) {
  http_parser_t *p = parser_of(l);
  if (p->in_body)
    return 0; /* trailers of a body being dropped: nothing of them is kept */
  span_add(p, &p->field, at, len);
  return 0;
}

static int on_header_field_complete(llhttp_t *l) {
  http_parser_t *p = parser_of(l);
  if (p->in_body)
    return 0; /* trailers of a body being dropped: nothing of them is kept */
  const char *name = p->base + p->field.off;
  /* llhttp lets a space or other non-token byte into a name ("X Y: z"); a proxy that reads
   * the name differently is a smuggling target. */
  for (uint32_t i = 0; i < p->field.len; i++) {
    if (!is_tchar((unsigned char)name[i])) {
      p->error_why = "invalid character in a header name";
      return -1;
    }
  }
  p->cur_hdr = -1;
  for (int i = 0; i < HTTP_H_COUNT; i++) {
    if (hdr_names[i].len == p->field.len && strncasecmp(hdr_names[i].name, name, p->field.len) == 0) {
      p->cur_hdr = i;
      break;
    }
  }
  p->value.len = 0;
  return 0;
}

static int on_header_value(llhttp_t *l, const char *at, size_t len) {
  http_parser_t *p = parser_of(l);
  if (p->in_body)
    return 0; /* trailers of a body being dropped: nothing of them is kept */
  span_add(p, &p->value, at, len);
  return 0;
}

static int on_header_value_complete(llhttp_t *l) {
  http_parser_t *p = parser_of(l);
  if (p->in_body)
    return 0; /* trailers of a body being dropped: nothing of them is kept */
  int h = p->cur_hdr;
  while (p->value.len > 0) { /* trailing OWS is not part of the value */
    char c = p->base[p->value.off + p->value.len - 1];
    if (c != ' ' && c != '\t')
      break;
    p->value.len--;
  }
  /* llhttp accepts obs-fold (a value continued on an indented line); RFC 9112 lets a
   * server reject it, and we do: intermediaries that unfold differently are how requests
   * get smuggled. A fold shows as a line break between the field name and the value's end
   * (the value may even start after it, when the first line was empty). */
  if (p->value.len) {
    uint32_t from = p->field.off + p->field.len, to = p->value.off + p->value.len;
    if (to > from && memchr(p->base + from, '\n', to - from)) {
      p->error_why = "obs-fold in a header value";
      return -1;
    }
  }
  if (h >= 0) {
    if (p->req.hdr_present & (1u << h)) {
      if (h == HTTP_H_HOST)
        p->dup_host = 1;
    } else {
      p->req.hdr_present |= 1u << h;
      p->req.hdr[h] = p->value;
    }
  }
  p->field.len = 0;
  p->value.len = 0;
  p->cur_hdr = -1;
  return 0;
}

static int on_headers_complete(llhttp_t *l) {
  http_parser_t *p = parser_of(l);
  /* llhttp lets a bare LF end the request line; RFC 9112 allows that leniency, but a server
   * that reads lines differently from a proxy in front of it is a smuggling target. */
  if (p->base[p->req.line.off + p->req.line.len] != '\r') {
    p->error_why = "request line not ended by CRLF";
    return -1;
  }
  if (p->req.hdr_present & (1u << HTTP_H_TRANSFER_ENCODING)) {
    /* llhttp takes "gzip, chunked" as chunked; a body in a coding we cannot undo is not
     * one we can frame the way every other reader would (RFC 9112 6.1). */
    struct http_span te = p->req.hdr[HTTP_H_TRANSFER_ENCODING];
    if (te.len != 7 || strncasecmp(p->base + te.off, "chunked", 7) != 0) {
      p->error_why = "transfer coding other than chunked";
      return -1;
    }
  }
  if (l->http_major != 1) { /* HTTP/2.0 and the like in an HTTP/1 request line */
    p->error_why = "HTTP version not supported";
    p->error_hint = 505;
    return -1;
  }
  p->req.method = l->method;
  p->req.http_major = l->http_major;
  p->req.http_minor = l->http_minor;
  if (p->dup_host) {
    p->error_why = "duplicate Host";
    return -1;
  }
  if (l->http_major == 1 && l->http_minor >= 1 && !(p->req.hdr_present & (1u << HTTP_H_HOST))) {
    p->error_why = "HTTP/1.1 request without Host";
    return -1;
  }
  p->req.keep_alive = llhttp_should_keep_alive(l);
  if (l->upgrade || l->method == HTTP_CONNECT) {
    /* CONNECT or Upgrade: what follows is not HTTP; answer, then close */
    p->req.upgrade = 1;
    p->req.keep_alive = 0;
  }
  return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *l) {
  http_parser_t *p = parser_of(l);
  p->msg_complete = 1;
  return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_method = on_method,
    .on_url = on_url,
    .on_version = on_version,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

static void reset_request(http_parser_t *p) {
  memset(&p->req, 0, sizeof(p->req));
  p->field.len = 0;
  p->value.len = 0;
  p->cur_hdr = -1;
  p->dup_host = 0;
  p->line_started = 0;
  p->error_hint = 0;
  p->done = 0;
  p->body_pending = 0;
  p->msg_complete = 0;
  p->parsed = 0;
}

void http_parser_init(http_parser_t *p, uint32_t max_header_bytes) {
  memset(p, 0, sizeof(*p));
  llhttp_init(&p->llhttp, HTTP_REQUEST, &settings);
  p->llhttp.data = p;
  p->max_header_bytes = max_header_bytes;
  reset_request(p);
}

/* 1 if the request in buf (at its start, after the blank lines a client may send first)
 * begins with a token and a space: a method, if not one llhttp knows (QUERY, PROPFIND).
 * Such a request gets 501 (RFC 9110 9.1), bytes that are no request line at all 400. */
static int method_is_token(const char *buf, uint32_t len) {
  uint32_t i = 0, start;
  while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
    i++;
  for (start = i; i < len && is_tchar((unsigned char)buf[i]); i++)
    ;
  return i > start && i < len && buf[i] == ' ';
}

/* 1 while the request in buf is still nothing but the beginning of a token: llhttp refuses a
 * method it does not know at its first byte that matches none it knows, but whether it is
 * 501 (a token, then a space) or 400 depends on bytes not read yet. */
static int method_undecided(const char *buf, uint32_t len) {
  uint32_t i = 0, start;
  while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
    i++;
  for (start = i; i < len && is_tchar((unsigned char)buf[i]); i++)
    ;
  return i > start && i == len;
}

static enum http_parse_result fail(http_parser_t *p, int status, const char *why) {
  p->error_status = status;
  p->error_why = why;
  return HTTP_PARSE_ERROR;
}

/* After the pause at the header block: one empty execute tells whether the message is
 * already complete (no body) or a body follows. */
static int probe_body(http_parser_t *p, const char *buf) {
  llhttp_errno_t e = llhttp_execute(&p->llhttp, buf + p->parsed, 0);
  if (e == HPE_OK)
    return 1;
  if (e == HPE_PAUSED_UPGRADE) {
    p->req.upgrade = 1;
    p->req.keep_alive = 0;
    p->msg_complete = 0;
    return 0;
  }
  if (e == HPE_PAUSED && p->msg_complete) {
    p->msg_complete = 0;
    llhttp_resume(&p->llhttp);
    return 0;
  }
  return -1;
}

enum http_parse_result http_parser_execute(http_parser_t *p, char *buf, uint32_t *len) {
  if (p->error_status)
    return HTTP_PARSE_ERROR;
  if (p->done)
    return HTTP_PARSE_DONE;
  p->base = buf;
  while (p->parsed < *len) {
    llhttp_errno_t e = llhttp_execute(&p->llhttp, buf + p->parsed, *len - p->parsed);
    if (e == HPE_OK) {
      p->parsed = *len;
      break;
    }
    if (e == HPE_PAUSED && p->msg_complete) {
      /* The end of a body we were discarding: drop it, go on with the next request. */
      p->parsed = (uint32_t)(llhttp_get_error_pos(&p->llhttp) - buf);
      p->msg_complete = 0;
      p->in_body = 0;
      llhttp_resume(&p->llhttp);
      memmove(buf, buf + p->parsed, *len - p->parsed);
      *len -= p->parsed;
      p->parsed = 0;
      continue;
    }
    if (e == HPE_PAUSED) {
      /* The header block is complete: the request is ready. Its body, if any, is read and
       * dropped after the answer (the client need not finish sending it to get one). */
      p->parsed = (uint32_t)(llhttp_get_error_pos(&p->llhttp) - buf);
      /* Every line of the head ends in CRLF, the empty one too: a bare LF there is another
       * leniency of llhttp's that a proxy may not share. */
      if (p->parsed < 4 || memcmp(buf + p->parsed - 4, "\r\n\r\n", 4) != 0)
        return fail(p, 400, "header block not ended by CRLF CRLF");
      llhttp_resume(&p->llhttp);
      int body = probe_body(p, buf);
      if (body < 0)
        return fail(p, 400, llhttp_errno_name(llhttp_get_errno(&p->llhttp)));
      p->body_pending = body;
      /* A client that waits to be asked for its body (Expect: 100-continue) gets the final
       * answer instead and need never send it: the connection cannot be kept, or its next
       * request would be read as that body (RFC 9110 10.1.1). */
      if (body && (p->req.hdr_present & (1u << HTTP_H_EXPECT)))
        p->req.keep_alive = 0;
      p->done = 1;
      return HTTP_PARSE_DONE;
    }
    if (e == HPE_INVALID_METHOD && method_undecided(buf, *len)) {
      /* Decide once the token has ended, whatever the reads: the same bytes split as "ST"
       * then the rest got 400, and in one read 501 (found by fuzz_http). llhttp is started
       * again on the whole request each time; it refuses within the first bytes. */
      if (*len >= p->max_header_bytes)
        return fail(p, 414, "request line too long");
      llhttp_reset(&p->llhttp);
      reset_request(p);
      return HTTP_PARSE_AGAIN;
    }
    const char *why = p->error_why ? p->error_why : llhttp_get_error_reason(&p->llhttp);
    int status = p->error_hint ? p->error_hint : 400;
    if (e == HPE_INVALID_METHOD && method_is_token(buf, *len)) {
      status = 501;
      why = "method not implemented";
    }
    return fail(p, status, why && *why ? why : llhttp_errno_name(e));
  }
  if (p->in_body) {
    /* Everything fed since the last request was body: nothing of it is kept. */
    *len = 0;
    p->parsed = 0;
  } else if (*len >= p->max_header_bytes) {
    if (p->req.line.len == 0)
      return fail(p, 414, "request line too long");
    return fail(p, 431, "request header block too large");
  }
  return HTTP_PARSE_AGAIN;
}

void http_parser_next(http_parser_t *p, char *buf, uint32_t *len) {
  uint32_t rest = *len - p->parsed;
  if (rest > 0 && p->parsed > 0)
    memmove(buf, buf + p->parsed, rest);
  *len = rest;
  int body = p->body_pending;
  reset_request(p);
  p->in_body = body;
}

int http_parser_idle(const http_parser_t *p, uint32_t len) {
  return !p->done && !p->in_body && len == 0;
}
