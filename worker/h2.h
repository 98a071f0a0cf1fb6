/* The h2 session of a client connection: HTTP/2 (RFC 9113) on nghttp2's server session,
 * over the connection's transport (plain: h2c with prior knowledge; TLS: ALPN "h2"). Every
 * stream's request goes to the answer layer (answer.h), as h1's do; bodies come from memory
 * (small cached files, error pages) or from pool reads. conn.c owns the socket, its loop
 * handles and the connection's lifetime, and hands its events here. Loop thread only. */
#ifndef EVC_H2_H
#define EVC_H2_H

#include <stddef.h>
#include <stdint.h>

struct conn;
struct transport;
struct wctx;
typedef struct h2 h2_t;

/* The first bytes of an h2c connection (RFC 9113 3.4). */
#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24

/* 1 when buf (len bytes, the first of a connection) is the whole preface, 0 when it is a
 * prefix of it (wait for more), -1 when it is not HTTP/2. */
int h2_preface_match(const char *buf, size_t len);
/* Starts the session on c; in: bytes already read (the preface and what followed), copied.
 * 0 or -errno (the caller closes the connection). */
int h2_new(struct wctx *w, struct conn *c, struct transport *tx, const char *in, size_t len,
           h2_t **out);
/* The connection's socket is ready (LOOP_READ / LOOP_WRITE). */
void h2_on_io(h2_t *h, int events);
/* The connection's timer fired at its deadline. */
void h2_on_timer(h2_t *h);
/* The worker drains: GOAWAY, the open streams finish, then the connection closes. */
void h2_drain(h2_t *h);
/* The connection is closing: answers under way are abandoned, pool reads cancelled (their
 * callbacks still come back and release the connection's holds). */
void h2_close(h2_t *h);
/* The connection's last hold is gone. NULL: no-op. */
void h2_free(h2_t *h);
/* Open streams, for status. */
unsigned h2_streams(const h2_t *h);
/* The output buffers connections gave back to the worker (wctx h2_outs): freed when the
 * worker ends, after its last connection. */
void h2_free_buffers(struct wctx *w);

#endif
