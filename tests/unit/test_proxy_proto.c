/* Unit tests of the PROXY protocol parser (worker/proxy_proto.c): v1 lines and v2 headers
 * that HAProxy sends, every prefix of them asking for more bytes, and the malformed and
 * forged ones refused. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy_proto.h"

static int parse_str(const char *s, struct proxy_info *out) {
  return proxy_parse((const uint8_t *)s, strlen(s), out);
}

static void assert_addr4(const struct sockaddr_storage *ss, const char *ip, unsigned port) {
  const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
  char buf[INET_ADDRSTRLEN];
  assert_int_equal(sin->sin_family, AF_INET);
  assert_non_null(inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)));
  assert_string_equal(buf, ip);
  assert_int_equal(ntohs(sin->sin_port), port);
}

static void assert_addr6(const struct sockaddr_storage *ss, const char *ip, unsigned port) {
  const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
  char buf[INET6_ADDRSTRLEN];
  assert_int_equal(sin6->sin6_family, AF_INET6);
  assert_non_null(inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf)));
  assert_string_equal(buf, ip);
  assert_int_equal(ntohs(sin6->sin6_port), port);
}

/* Every strict prefix of a valid header is "more, please", never a verdict. */
static void assert_prefixes_again(const uint8_t *h, size_t len) {
  struct proxy_info pi;
  for (size_t i = 0; i < len; i++)
    assert_int_equal(proxy_parse(h, i, &pi), -EAGAIN);
}

static void test_v1_tcp4(void **state) {
  (void)state;
  struct proxy_info pi;
  const char *h = "PROXY TCP4 192.0.2.9 127.0.0.2 56324 443\r\nGET / HTTP/1.1\r\n";
  assert_int_equal(parse_str(h, &pi), 0);
  assert_int_equal(pi.version, 1);
  assert_int_equal(pi.family, AF_INET);
  assert_int_equal(pi.header_len, strlen("PROXY TCP4 192.0.2.9 127.0.0.2 56324 443\r\n"));
  assert_addr4(&pi.src, "192.0.2.9", 56324);
  assert_addr4(&pi.dst, "127.0.0.2", 443);
  assert_prefixes_again((const uint8_t *)h, pi.header_len);
}

static void test_v1_tcp6_and_unknown(void **state) {
  (void)state;
  struct proxy_info pi;
  assert_int_equal(parse_str("PROXY TCP6 2001:db8::1 ::1 65535 0\r\n", &pi), 0);
  assert_int_equal(pi.family, AF_INET6);
  assert_addr6(&pi.src, "2001:db8::1", 65535);
  assert_addr6(&pi.dst, "::1", 0);
  assert_int_equal(parse_str("PROXY UNKNOWN\r\n", &pi), 0);
  assert_int_equal(pi.family, AF_UNSPEC);
  assert_int_equal(pi.header_len, 15);
  /* UNKNOWN: the rest of the line is to be ignored */
  assert_int_equal(parse_str("PROXY UNKNOWN ffff::1 ::1 1 2\r\n", &pi), 0);
  assert_int_equal(pi.family, AF_UNSPEC);
}

static void test_v1_refused(void **state) {
  (void)state;
  struct proxy_info pi;
  const char *bad[] = {
      "GET / HTTP/1.1\r\n",                                  /* no header at all */
      "PROXY TCP4 192.0.2.9 127.0.0.2 56324 443\n",          /* LF without CR */
      "PROXY TCP4 192.0.2.9 127.0.0.2 56324 65536\r\n",      /* port too big */
      "PROXY TCP4 192.0.2.9 127.0.0.2 563240 443\r\n",       /* port too long */
      "PROXY TCP4 192.0.2.9 127.0.0.2 -1 443\r\n",           /* not digits */
      "PROXY TCP4 192.0.2.9  127.0.0.2 56324 443\r\n",       /* two spaces */
      "PROXY TCP4 192.0.2.9 127.0.0.2 56324 443 \r\n",       /* trailing space */
      "PROXY TCP4 192.0.2.9 127.0.0.2 56324\r\n",            /* a field short */
      "PROXY TCP4 ::1 127.0.0.2 56324 443\r\n",              /* v6 address for TCP4 */
      "PROXY TCP6 192.0.2.9 ::1 56324 443\r\n",              /* v4 address for TCP6 */
      "PROXY TCP4 192.0.2.300 127.0.0.2 1 2\r\n",            /* no such address */
      "PROXY tcp4 192.0.2.9 127.0.0.2 56324 443\r\n",        /* case matters */
      "PROXY UDP4 192.0.2.9 127.0.0.2 56324 443\r\n",        /* no such protocol */
      "PROXY \r\n",                                          /* nothing */
      "PROXY TCP4 192.0.2.9\x01 127.0.0.2 56324 443\r\n",    /* control byte */
      "PROXYTCP4 192.0.2.9 127.0.0.2 56324 443\r\n",         /* the space */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc = parse_str(bad[i], &pi);
    if (rc != -EPROTO)
      fail_msg("case %zu (%s): %d, want -EPROTO", i, bad[i], rc);
  }
  /* no CRLF within the 107 bytes the specification allows */
  char longline[200];
  memset(longline, 'A', sizeof(longline));
  memcpy(longline, "PROXY UNKNOWN ", 14);
  assert_int_equal(proxy_parse((const uint8_t *)longline, 106, &pi), -EAGAIN);
  assert_int_equal(proxy_parse((const uint8_t *)longline, 107, &pi), -EPROTO);
  assert_int_equal(proxy_parse((const uint8_t *)longline, sizeof(longline), &pi), -EPROTO);
  /* a prefix that already disagrees is refused at once, without waiting for more */
  assert_int_equal(parse_str("PROXX", &pi), -EPROTO);
  assert_int_equal(parse_str("G", &pi), -EPROTO);
}

/* A v2 header: signature, version/command, family/transport, length, addresses, TLVs. */
static size_t v2(uint8_t *b, uint8_t ver_cmd, uint8_t fam, const uint8_t *addr, size_t alen,
                 const uint8_t *tlv, size_t tlen) {
  static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                  0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  memcpy(b, sig, 12);
  b[12] = ver_cmd;
  b[13] = fam;
  b[14] = (uint8_t)((alen + tlen) >> 8);
  b[15] = (uint8_t)(alen + tlen);
  if (alen) /* memcpy's pointers must not be NULL even for 0 bytes */
    memcpy(b + 16, addr, alen);
  if (tlen)
    memcpy(b + 16 + alen, tlv, tlen);
  return 16 + alen + tlen;
}

static const uint8_t ADDR4[12] = {192, 0, 2, 9, 127, 0, 0, 2, 0xdc, 0x04, 0x01, 0xbb};
/* ALPN "h2", then an AUTHORITY (SNI) TLV, as HAProxy sends with send-proxy-v2-ssl */
static const uint8_t TLVS[] = {0x01, 0x00, 0x02, 'h', '2', 0x02, 0x00, 0x03, 'a', '.', 'b'};

static void test_v2_tcp4_with_tlvs(void **state) {
  (void)state;
  uint8_t b[256];
  struct proxy_info pi;
  size_t n = v2(b, 0x21, 0x11, ADDR4, sizeof(ADDR4), TLVS, sizeof(TLVS));
  b[n] = 'G'; /* the request follows */
  assert_int_equal(proxy_parse(b, n + 1, &pi), 0);
  assert_int_equal(pi.version, 2);
  assert_int_equal(pi.header_len, n);
  assert_int_equal(pi.family, AF_INET);
  assert_addr4(&pi.src, "192.0.2.9", 56324);
  assert_addr4(&pi.dst, "127.0.0.2", 443);
  assert_prefixes_again(b, n);
}

static void test_v2_tcp6_local_unspec(void **state) {
  (void)state;
  uint8_t b[256], a6[36] = {0};
  struct proxy_info pi;
  a6[0] = 0x20, a6[1] = 0x01, a6[2] = 0x0d, a6[3] = 0xb8, a6[15] = 1; /* 2001:db8::1 */
  a6[31] = 1;                                                      /* ::1 */
  a6[32] = 0x30, a6[33] = 0x39, a6[34] = 0x00, a6[35] = 0x50;       /* 12345 -> 80 */
  size_t n = v2(b, 0x21, 0x21, a6, sizeof(a6), NULL, 0);
  assert_int_equal(proxy_parse(b, n, &pi), 0);
  assert_addr6(&pi.src, "2001:db8::1", 12345);
  assert_addr6(&pi.dst, "::1", 80);
  /* LOCAL (HAProxy's health checks): the connection's own addresses stay */
  n = v2(b, 0x20, 0x00, NULL, 0, NULL, 0);
  assert_int_equal(proxy_parse(b, n, &pi), 0);
  assert_int_equal(pi.family, AF_UNSPEC);
  assert_int_equal(pi.header_len, 16);
  /* PROXY with an unspecified family: TLVs only */
  n = v2(b, 0x21, 0x00, NULL, 0, TLVS, sizeof(TLVS));
  assert_int_equal(proxy_parse(b, n, &pi), 0);
  assert_int_equal(pi.family, AF_UNSPEC);
}

static void test_v2_refused(void **state) {
  (void)state;
  uint8_t b[PROXY_V2_MAX + 64];
  struct proxy_info pi;
  size_t n;
  /* version 1 in a v2 header, an unknown command, a datagram, an unknown family */
  n = v2(b, 0x11, 0x11, ADDR4, sizeof(ADDR4), NULL, 0);
  assert_int_equal(proxy_parse(b, n, &pi), -EPROTO);
  n = v2(b, 0x22, 0x11, ADDR4, sizeof(ADDR4), NULL, 0);
  assert_int_equal(proxy_parse(b, n, &pi), -EPROTO);
  n = v2(b, 0x21, 0x12, ADDR4, sizeof(ADDR4), NULL, 0);
  assert_int_equal(proxy_parse(b, n, &pi), -EPROTO);
  n = v2(b, 0x21, 0x41, ADDR4, sizeof(ADDR4), NULL, 0);
  assert_int_equal(proxy_parse(b, n, &pi), -EPROTO);
  /* an address block shorter than its family's */
  n = v2(b, 0x21, 0x11, ADDR4, 8, NULL, 0);
  assert_int_equal(proxy_parse(b, n, &pi), -EPROTO);
  /* a TLV whose length runs past the header, and a TLV cut in its own header */
  static const uint8_t over[] = {0x01, 0x00, 0x09, 'h', '2'};
  n = v2(b, 0x21, 0x11, ADDR4, sizeof(ADDR4), over, sizeof(over));
  assert_int_equal(proxy_parse(b, n, &pi), -EPROTO);
  static const uint8_t cut[] = {0x01, 0x00};
  n = v2(b, 0x21, 0x11, ADDR4, sizeof(ADDR4), cut, sizeof(cut));
  assert_int_equal(proxy_parse(b, n, &pi), -EPROTO);
  /* a header longer than we take: refused from its first 16 bytes */
  static uint8_t big[PROXY_V2_MAX];
  n = v2(b, 0x21, 0x11, ADDR4, sizeof(ADDR4), big, PROXY_V2_MAX - 16 - sizeof(ADDR4) + 1);
  assert_int_equal(proxy_parse(b, 16, &pi), -EMSGSIZE);
  /* the signature wrong in its last byte */
  n = v2(b, 0x21, 0x11, ADDR4, sizeof(ADDR4), NULL, 0);
  b[11] = 0x0B;
  assert_int_equal(proxy_parse(b, n, &pi), -EPROTO);
  assert_int_equal(proxy_parse(b, 0, &pi), -EAGAIN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_v1_tcp4),           cmocka_unit_test(test_v1_tcp6_and_unknown),
      cmocka_unit_test(test_v1_refused),        cmocka_unit_test(test_v2_tcp4_with_tlvs),
      cmocka_unit_test(test_v2_tcp6_local_unspec), cmocka_unit_test(test_v2_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
