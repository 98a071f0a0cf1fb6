/* The PROXY protocol (HAProxy's, versions 1 and 2) that a load balancer puts in front of a
 * connection to pass on the client's address. Pure: bytes in, an address out; no sockets.
 * Only listeners configured with proxy_protocol = true ever call it, so a client that talks
 * straight to any other listener cannot forge its address. Used by the worker. */
#ifndef EVC_PROXY_PROTO_H
#define EVC_PROXY_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A v1 line is at most 107 bytes with its CRLF (the specification's bound). */
#define PROXY_V1_MAX 107
/* A v2 header is 16 bytes and up to 65535 more; we take at most this much in all. HAProxy's
 * own headers (addresses, ALPN, SNI, unique id, SSL TLVs) stay well under it; more would only
 * let a peer make a worker buffer 64 KiB per connection before it says anything else. */
#define PROXY_V2_MAX (16 + 2048)

struct proxy_info {
  size_t header_len; /* bytes of the header: the connection's own data starts after them */
  int version;       /* 1 or 2 */
  /* AF_INET or AF_INET6: src and dst hold the addresses the header gave. AF_UNSPEC: the
   * header says nothing of the client (v1 UNKNOWN, v2 LOCAL such as a health check, or a v2
   * family other than TCP over IPv4 or IPv6): keep the connection's own addresses. */
  int family;
  struct sockaddr_storage src;
  struct sockaddr_storage dst;
};

/* Parses a header at the start of buf[0..len). 0: complete, *out filled; -EAGAIN: what is
 * there is a valid beginning, more bytes are needed; -EPROTO: not a PROXY header, or a
 * malformed one (the connection must be closed); -EMSGSIZE: a v2 header longer than
 * PROXY_V2_MAX. Never reads past len. */
int proxy_parse(const uint8_t *buf, size_t len, struct proxy_info *out);

#endif
