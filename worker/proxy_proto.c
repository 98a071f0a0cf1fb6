/* PROXY protocol v1 (a text line) and v2 (binary) parsing, after HAProxy's specification
 * (doc/proxy-protocol.txt). Strict where a lenient reading could put a wrong address in the
 * logs: a v1 line must match its grammar exactly, a v2 address block must fit its length, and
 * the TLVs after it must tile the rest (they are skipped, never interpreted). */
#include "proxy_proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static const uint8_t V2_SIG[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char V1_PREFIX[] = "PROXY ";

static size_t min_size(size_t a, size_t b) {
  return a < b ? a : b;
}

/* ---- v1 ------------------------------------------------------------------------------- */
/* The next space-separated field of line[*pos..end) into field (NUL-terminated); 0 or
 * -EPROTO (empty, too long, or a byte that has no place in the line). */
static int v1_field(const char *line, size_t end, size_t *pos, char *field, size_t cap) {
  size_t n = 0;
  while (*pos < end && line[*pos] != ' ') {
    unsigned char ch = (unsigned char)line[*pos];
    if (ch < 0x21 || ch > 0x7e || n + 1 >= cap)
      return -EPROTO;
    field[n++] = (char)ch;
    (*pos)++;
  }
  field[n] = '\0';
  return n > 0 ? 0 : -EPROTO;
}

/* A port: 1 to 5 digits, at most 65535. */
static int v1_port(const char *s, uint16_t *out) {
  unsigned long v = 0;
  size_t n = strlen(s);
  if (n == 0 || n > 5)
    return -EPROTO;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -EPROTO;
    v = v * 10 + (unsigned long)(s[i] - '0');
  }
  if (v > 65535)
    return -EPROTO;
  *out = htons((uint16_t)v);
  return 0;
}

static int v1_addr(int family, const char *host, const char *port, struct sockaddr_storage *ss) {
  uint16_t p;
  memset(ss, 0, sizeof(*ss));
  if (v1_port(port, &p) != 0)
    return -EPROTO;
  if (family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = p;
    return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -EPROTO;
  }
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = p;
  return inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1 ? 0 : -EPROTO;
}

static int v1_parse(const uint8_t *buf, size_t len, struct proxy_info *out) {
  const char *line = (const char *)buf;
  size_t scan = min_size(len, PROXY_V1_MAX), end = 0, pos = sizeof(V1_PREFIX) - 1;
  char proto[8], src[48], dst[48], sport[8], dport[8];
  int family;

  if (memcmp(buf, V1_PREFIX, min_size(len, pos)) != 0)
    return -EPROTO;
  for (size_t i = 0; i < scan; i++) {
    if (buf[i] == '\n') { /* only as the end of CRLF */
      if (i == 0 || buf[i - 1] != '\r')
        return -EPROTO;
      end = i - 1;
      break;
    }
  }
  if (end == 0)
    return len >= PROXY_V1_MAX ? -EPROTO : -EAGAIN;
  if (end < pos || v1_field(line, end, &pos, proto, sizeof(proto)) != 0)
    return -EPROTO;
  memset(out, 0, sizeof(*out));
  out->version = 1;
  out->header_len = end + 2;
  if (strcmp(proto, "UNKNOWN") == 0) { /* whatever follows is to be ignored */
    out->family = AF_UNSPEC;
    return 0;
  }
  if (strcmp(proto, "TCP4") == 0)
    family = AF_INET;
  else if (strcmp(proto, "TCP6") == 0)
    family = AF_INET6;
  else
    return -EPROTO;
  /* exactly: SP src SP dst SP sport SP dport, then the CRLF */
  char *fields[4] = {src, dst, sport, dport};
  size_t caps[4] = {sizeof(src), sizeof(dst), sizeof(sport), sizeof(dport)};
  for (int f = 0; f < 4; f++) {
    if (pos >= end || line[pos] != ' ')
      return -EPROTO;
    pos++;
    if (v1_field(line, end, &pos, fields[f], caps[f]) != 0)
      return -EPROTO;
  }
  if (pos != end || v1_addr(family, src, sport, &out->src) != 0 ||
      v1_addr(family, dst, dport, &out->dst) != 0)
    return -EPROTO;
  out->family = family;
  return 0;
}

/* ---- v2 ------------------------------------------------------------------------------- */
/* TLVs: type (1), length (2, big-endian), value. They must tile [p, end) exactly. */
static int v2_tlvs_ok(const uint8_t *p, const uint8_t *end) {
  while (p < end) {
    if (end - p < 3)
      return 0;
    size_t vlen = (size_t)p[1] << 8 | p[2];
    if ((size_t)(end - p - 3) < vlen)
      return 0;
    p += 3 + vlen;
  }
  return 1;
}

static int v2_parse(const uint8_t *buf, size_t len, struct proxy_info *out) {
  size_t body, total;
  const uint8_t *a;
  if (memcmp(buf, V2_SIG, min_size(len, sizeof(V2_SIG))) != 0)
    return -EPROTO;
  if (len < 16)
    return -EAGAIN;
  uint8_t ver = buf[12] >> 4, cmd = buf[12] & 0x0f, af = buf[13] >> 4, tr = buf[13] & 0x0f;
  if (ver != 2 || cmd > 1 || af > 3 || tr > 2)
    return -EPROTO;
  body = (size_t)buf[14] << 8 | buf[15];
  total = 16 + body;
  if (total > PROXY_V2_MAX)
    return -EMSGSIZE;
  if (len < total)
    return -EAGAIN;
  memset(out, 0, sizeof(*out));
  out->version = 2;
  out->header_len = total;
  out->family = AF_UNSPEC;
  a = buf + 16;
  if (cmd == 0) /* LOCAL: the proxy speaking for itself (health checks); skip the block */
    return 0;
  if (tr == 2) /* a datagram's addresses before a stream: no proxy sends that */
    return -EPROTO;
  if (af == 1 && tr == 1) {
    struct sockaddr_in *s = (struct sockaddr_in *)&out->src, *d = (struct sockaddr_in *)&out->dst;
    if (body < 12 || !v2_tlvs_ok(a + 12, a + body))
      return -EPROTO;
    s->sin_family = d->sin_family = AF_INET;
    memcpy(&s->sin_addr, a, 4);
    memcpy(&d->sin_addr, a + 4, 4);
    memcpy(&s->sin_port, a + 8, 2);
    memcpy(&d->sin_port, a + 10, 2);
    out->family = AF_INET;
  } else if (af == 2 && tr == 1) {
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src;
    struct sockaddr_in6 *d = (struct sockaddr_in6 *)&out->dst;
    if (body < 36 || !v2_tlvs_ok(a + 36, a + body))
      return -EPROTO;
    s->sin6_family = d->sin6_family = AF_INET6;
    memcpy(&s->sin6_addr, a, 16);
    memcpy(&d->sin6_addr, a + 16, 16);
    memcpy(&s->sin6_port, a + 32, 2);
    memcpy(&d->sin6_port, a + 34, 2);
    out->family = AF_INET6;
  } else if (af == 0) { /* UNSPEC: no addresses, TLVs only; keep the connection's own */
    if (!v2_tlvs_ok(a, a + body))
      return -EPROTO;
  } else if (af == 3) { /* a local socket on the proxy's side: nothing to log of it */
    if (body < 216 || !v2_tlvs_ok(a + 216, a + body))
      return -EPROTO;
  } else { /* an address family with an unspecified transport */
    return -EPROTO;
  }
  return 0;
}

int proxy_parse(const uint8_t *buf, size_t len, struct proxy_info *out) {
  if (len == 0)
    return -EAGAIN;
  if (buf[0] == 'P')
    return v1_parse(buf, len, out);
  if (buf[0] == V2_SIG[0])
    return v2_parse(buf, len, out);
  return -EPROTO;
}
