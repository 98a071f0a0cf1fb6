/* RFC 9113 request checks (see http_h2req.h), in the order and with the outcome of nghttp2 1.52's
 * nghttp2_http_on_header, nghttp2_http_on_request_headers and their neighbours, for a
 * server without extended CONNECT (RFC 8441). */
#include "http_h2req.h"

#include <errno.h>
#include <string.h>

enum {
  F_METHOD = 1 << 0,
  F_SCHEME = 1 << 1,
  F_PATH = 1 << 2,
  F_AUTHORITY = 1 << 3,
  F_HOST = 1 << 4,
  F_REGULAR = 1 << 5, /* a regular field came: no pseudo-field may follow (8.3) */
  F_CONNECT = 1 << 6,
  F_OPTIONS = 1 << 7,
  F_SCHEME_HTTP = 1 << 8,
  F_PATH_REGULAR = 1 << 9,  /* ":path" starts with "/" */
  F_PATH_ASTERISK = 1 << 10 /* ":path" is "*" */
};

/* Byte classes, one bit each: C_NAME a field name's (RFC 9110 tchar, lowercase only: 8.2.1);
 * C_VALUE a field value's (HTAB, SP, VCHAR, obs-text; no other control byte); C_METHOD a
 * token; C_PATH VCHAR and obs-text; C_AUTHORITY RFC 3986's host, port and userinfo bytes;
 * C_SCHEME the bytes after a scheme's first letter (ALPHA, DIGIT, "+", "-", "."). The same
 * sets as nghttp2_helper.c's VALID_*_CHARS tables. */
enum { C_NAME = 1, C_VALUE = 2, C_METHOD = 4, C_PATH = 8, C_AUTHORITY = 16, C_SCHEME = 32 };
static const uint8_t CLASS[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x1f, 0x0a, 0x0f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1a, 0x1a, 0x1f, 0x3f, 0x1a, 0x3f, 0x3f, 0x0a,
    0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x1a, 0x1a, 0x0a, 0x1a, 0x0a, 0x0a,
    0x1a, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e,
    0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x1a, 0x0a, 0x1a, 0x0f, 0x1f,
    0x0f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f,
    0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x0a, 0x0f, 0x0a, 0x1f, 0x00,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a,
};

static int all_in(const uint8_t *s, size_t n, uint8_t class) {
  unsigned acc = class;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) /* no early exit: a malformed field is rare, a branch a byte not */
    acc &= (unsigned)(CLASS[s[i]] & CLASS[s[i + 1]] & CLASS[s[i + 2]] & CLASS[s[i + 3]]);
  for (; i < n; i++)
    acc &= CLASS[s[i]];
  return (acc & class) != 0;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Nonzero when some byte of x is below n (n <= 128): exact as a test of "some", which is all
 * it is used for. */
static uint64_t has_less(uint64_t x, unsigned n) {
  return (x - ONES * n) & ~x & HIGHS;
}

/* All of s is at least lo, and none is DEL (0x7f): eight bytes a step. The classes of C_VALUE
 * (lo 0x20, with HTAB) and C_PATH (lo 0x21) are that, so a value with a byte below lo (a tab)
 * is settled by the table instead. Values are most of a request's bytes: a byte a
 * table look-up, they cost more than nghttp2's checks saved (callgrind). */
static int printable(const uint8_t *s, size_t n, unsigned lo, uint8_t class) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    memcpy(&x, s + i, 8);
    if (has_less(x, lo) | has_less(x ^ (ONES * 0x7f), 1))
      return all_in(s + i, n - i, class);
  }
  return all_in(s + i, n - i, class);
}

/* The fields whose name carries a rule, and (T_KNOWN) common names that carry none: a name
 * matched here is valid as it stands, and only the others are checked byte by byte. By
 * length first, as h2.c's field_id. */
enum tok {
  T_OTHER,
  T_KNOWN,
  T_METHOD,
  T_SCHEME,
  T_PATH,
  T_AUTHORITY,
  T_PROTOCOL,
  T_HOST,
  T_CONTENT_LENGTH,
  T_TE,
  T_CONNECTION_SPECIFIC /* connection, keep-alive, proxy-connection, transfer-encoding,
                         * upgrade (8.2.2) */
};

static enum tok token(const uint8_t *n, size_t len) {
#define IS(lit) (memcmp(n, lit, sizeof(lit) - 1) == 0)
  switch (len) {
  case 2:
    return IS("te") ? T_TE : T_OTHER;
  case 4:
    return IS("host") ? T_HOST : T_OTHER;
  case 5:
    return IS(":path") ? T_PATH : IS("range") ? T_KNOWN : T_OTHER;
  case 6:
    return IS("accept") || IS("cookie") || IS("origin") ? T_KNOWN : T_OTHER;
  case 7:
    return IS(":method")   ? T_METHOD
           : IS(":scheme") ? T_SCHEME
           : IS("upgrade") ? T_CONNECTION_SPECIFIC
           : IS("referer") ? T_KNOWN
                           : T_OTHER;
  case 8:
    return IS("if-match") || IS("if-range") || IS("priority") ? T_KNOWN : T_OTHER;
  case 9:
    return IS(":protocol") ? T_PROTOCOL : T_OTHER;
  case 10:
    return IS(":authority")                   ? T_AUTHORITY
           : IS("user-agent")                 ? T_KNOWN
           : IS("connection") || IS("keep-alive") ? T_CONNECTION_SPECIFIC
                                                  : T_OTHER;
  case 13:
    return IS("if-none-match") || IS("cache-control") ? T_KNOWN : T_OTHER;
  case 14:
    return IS("content-length") ? T_CONTENT_LENGTH : T_OTHER;
  case 15:
    return IS("accept-encoding") || IS("accept-language") ? T_KNOWN : T_OTHER;
  case 16:
    return IS("proxy-connection") ? T_CONNECTION_SPECIFIC : T_OTHER;
  case 17:
    return IS("transfer-encoding") ? T_CONNECTION_SPECIFIC
           : IS("if-modified-since") ? T_KNOWN
                                     : T_OTHER;
  default:
    return T_OTHER;
  }
#undef IS
}

static int lower_eq(const uint8_t *s, size_t n, const char *lit) {
  if (n != strlen(lit))
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((s[i] >= 'A' && s[i] <= 'Z' ? s[i] | 0x20 : s[i]) != (uint8_t)lit[i])
      return 0;
  return 1;
}

/* A content-length: decimal digits only, within int64_t; -1 otherwise. */
static int64_t parse_length(const uint8_t *s, size_t n) {
  if (n == 0)
    return -1;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX - (s[i] - '0')) / 10)
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/* A pseudo-field (or host) seen for the first time, with a value. */
static int once(struct http_h2req *r, uint32_t flag, size_t value_len) {
  if ((r->flags & flag) || value_len == 0)
    return 0;
  r->flags |= flag;
  return 1;
}

void http_h2req_begin(struct http_h2req *r) {
  r->flags = 0;
  r->content_length = -1;
  r->body = 0;
}

int http_h2req_field(struct http_h2req *r, const uint8_t *n, size_t nlen, const uint8_t *v, size_t vlen,
                int trailer) {
  int pseudo = nlen > 0 && n[0] == ':';
  enum tok t = token(n, nlen);
  /* the name (a pseudo-field's after its colon), unless it is one of token's */
  if (t == T_OTHER &&
      (nlen == (size_t)pseudo || !all_in(n + pseudo, nlen - (size_t)pseudo, C_NAME)))
    return -EPROTO;
  if (pseudo && (trailer || (r->flags & F_REGULAR)))
    return -EPROTO;
  int ok;
  switch (t) {
  case T_METHOD:
    ok = vlen > 0 && all_in(v, vlen, C_METHOD);
    break;
  case T_PATH:
    ok = printable(v, vlen, 0x21, C_PATH);
    break;
  case T_AUTHORITY:
  case T_HOST:
    ok = all_in(v, vlen, C_AUTHORITY);
    break;
  case T_SCHEME:
    ok = vlen > 0 && ((v[0] | 0x20) >= 'a' && (v[0] | 0x20) <= 'z') &&
         all_in(v + 1, vlen - 1, C_SCHEME);
    break;
  default: /* 8.2.1: no leading or trailing whitespace, no NUL, CR, LF (nor other controls) */
    ok = vlen == 0 || (v[0] != ' ' && v[0] != '\t' && v[vlen - 1] != ' ' &&
                       v[vlen - 1] != '\t' && printable(v, vlen, 0x20, C_VALUE));
  }
  if (!ok)
    return -EPROTO;
  switch (t) {
  case T_METHOD:
    if (!once(r, F_METHOD, vlen))
      return -EPROTO;
    if (vlen == 7 && memcmp(v, "CONNECT", 7) == 0)
      r->flags |= F_CONNECT;
    else if (vlen == 7 && memcmp(v, "OPTIONS", 7) == 0)
      r->flags |= F_OPTIONS;
    break;
  case T_PATH:
    if (!once(r, F_PATH, vlen))
      return -EPROTO;
    if (v[0] == '/')
      r->flags |= F_PATH_REGULAR;
    else if (vlen == 1 && v[0] == '*')
      r->flags |= F_PATH_ASTERISK;
    break;
  case T_SCHEME:
    if (!once(r, F_SCHEME, vlen))
      return -EPROTO;
    /* "http" as clients send it, before the case-blind compares (40 instructions a request) */
    if ((vlen == 4 && memcmp(v, "http", 4) == 0) || lower_eq(v, vlen, "http") ||
        lower_eq(v, vlen, "https"))
      r->flags |= F_SCHEME_HTTP;
    break;
  case T_AUTHORITY:
    if (!once(r, F_AUTHORITY, vlen))
      return -EPROTO;
    break;
  case T_HOST:
    if (!once(r, F_HOST, vlen))
      return -EPROTO;
    break;
  case T_PROTOCOL: /* extended CONNECT is not offered (SETTINGS_ENABLE_CONNECT_PROTOCOL) */
  case T_CONNECTION_SPECIFIC:
    return -EPROTO;
  case T_CONTENT_LENGTH:
    if (r->content_length != -1 || (r->content_length = parse_length(v, vlen)) == -1)
      return -EPROTO;
    break;
  case T_TE:
    if (!lower_eq(v, vlen, "trailers"))
      return -EPROTO;
    break;
  case T_OTHER:
    if (pseudo)
      return -EPROTO;
    break;
  case T_KNOWN:
    break;
  }
  if (!pseudo)
    r->flags |= F_REGULAR;
  return 0;
}

int http_h2req_headers_end(struct http_h2req *r, int end_stream) {
  if (r->flags & F_CONNECT) {
    if ((r->flags & (F_SCHEME | F_PATH)) || !(r->flags & F_AUTHORITY))
      return -EPROTO;
    r->content_length = -1; /* a tunnel's bytes, not a body */
  } else {
    const uint32_t req = F_METHOD | F_SCHEME | F_PATH;
    if ((r->flags & req) != req || !(r->flags & (F_AUTHORITY | F_HOST)))
      return -EPROTO;
    if ((r->flags & F_SCHEME_HTTP) && !(r->flags & F_PATH_REGULAR) &&
        !((r->flags & F_OPTIONS) && (r->flags & F_PATH_ASTERISK)))
      return -EPROTO;
  }
  return end_stream ? http_h2req_end(r) : 0;
}

int http_h2req_trailers_end(struct http_h2req *r, int end_stream) {
  return end_stream ? http_h2req_end(r) : -EPROTO;
}

int http_h2req_data(struct http_h2req *r, size_t n) {
  r->body += (int64_t)n;
  return r->content_length != -1 && r->body > r->content_length ? -EPROTO : 0;
}

int http_h2req_end(const struct http_h2req *r) {
  return r->content_length != -1 && r->content_length != r->body ? -EPROTO : 0;
}
