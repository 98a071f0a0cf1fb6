/* Reading the PROXY protocol header off an accepted socket, for listeners with
 * proxy_protocol = true: the header comes first, before TLS or HTTP, and not one byte past it
 * is taken, so what follows reaches the transport (OpenSSL included) untouched. Worker's loop
 * thread; non-blocking sockets only. */
#ifndef EVC_PROXY_CONN_H
#define EVC_PROXY_CONN_H

#include "proxy_proto.h"

typedef struct proxy_conn proxy_conn_t;

/* A reader for one connection (aborts when out of memory, as the worker's allocations do).
 * Owned by the connection: proxy_conn_free once the header is read or the connection closes. */
proxy_conn_t *proxy_conn_new(void);
void proxy_conn_free(proxy_conn_t *pc);

/* Reads what the socket has of the header. 0: complete, *info filled (the socket's next byte
 * is the first after the header); -EAGAIN: wait until fd is readable and call again;
 * -EPROTO: not a valid header; -EMSGSIZE: a v2 header over PROXY_V2_MAX; -ECONNRESET: the
 * peer closed before the header was complete; another -errno: recv failed. Partial bytes are
 * taken off the socket (they are all header bytes, or the parser would have said so), so a
 * level-triggered loop does not spin on a header that arrives in pieces. */
int proxy_conn_read(proxy_conn_t *pc, int fd, struct proxy_info *info);

/* 1 when no byte of the header has arrived yet: a peer that closes then is a plain TCP check
 * or a port scan, not a broken header worth a log line. */
int proxy_conn_empty(const proxy_conn_t *pc);

/* A phrase for the log: "invalid PROXY protocol header"... */
const char *proxy_conn_strerror(int rc);

#endif
