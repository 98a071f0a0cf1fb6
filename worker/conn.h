/* One client connection of a worker: reads requests (HTTP/1.1 here, HTTP/2 through h2.h),
 * answers them from the file system through the answer layer and the pool, keeps the
 * connection alive, pipelines in order, enforces the header, keep-alive and send timeouts.
 * Loop thread only. Each connection owns its memory, freed in its close callback (or when
 * the last pool job it has in flight comes back). */
#ifndef EVC_CONN_H
#define EVC_CONN_H

#include <sys/socket.h>

#include "wctx.h"

struct conn;
struct transport;

/* What a listener gives its connections. */
struct conn_listener {
  /* Sets up the transport (t->fd is set, t->ops is the plain one): 0 or -errno. NULL: plain. */
  int (*transport_init)(void *arg, struct transport *t);
  void *arg;
  int redirect_https; /* answer every request with a 301 to https (wctx.https_port) */
  int proxy_protocol; /* a PROXY protocol header comes first and names the client */
};

/* Takes ownership of fd (a non-blocking accepted socket). 0 or -errno (fd closed). */
int conn_new(struct wctx *w, int fd, const struct sockaddr *peer, socklen_t peer_len,
             const struct conn_listener *l);
/* The worker started draining: an idle connection closes after a short grace, a busy one
 * answers its current request with "Connection: close" and then closes. */
void conn_drain(struct conn *c);
/* Closes now, whatever the connection is doing (fast stop, drain deadline). */
void conn_abort(struct conn *c);
/* The transport still holds decrypted bytes the socket will not announce again, and the
 * session gave up its turn: read on in the next pending phase (once, however often asked). */
void conn_read_later(struct conn *c);
/* The next connection in w->conns, for iteration that may close the current one. */
struct conn *conn_next(struct conn *c);
void conn_free_buffers(struct wctx *w);

/* For a session other than h1 (h2.c) that runs on the connection: */
/* The io interest (LOOP_READ | LOOP_WRITE). */
void conn_want(struct conn *c, int events);
/* The connection's timer fires in ms (at the latest); the session's on_timer then runs. */
void conn_arm(struct conn *c, uint64_t ms);
/* A pool job of the session holds the connection's memory until it comes back (release,
 * which frees the connection when it was the last hold). */
void conn_hold(struct conn *c);
void conn_release(struct conn *c);
/* The peer's address as text, for the logs. */
const char *conn_peer(const struct conn *c, char *buf, size_t len);
/* 1 when every request is to be answered with a redirect to https. */
int conn_redirects_https(const struct conn *c);
/* The TLS server name (SNI) of the connection, or NULL. */
const char *conn_servername(const struct conn *c);
/* Open h2 connections and streams of the worker, for status. */
void conn_h2_counts(struct wctx *w, uint64_t *conns, uint64_t *streams);

#endif
