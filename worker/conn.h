/* One client connection of a worker: reads requests, answers them from the file system
 * through the pool, keeps the connection alive, pipelines in order, enforces the header,
 * keep-alive and send timeouts. Loop thread only. Each connection owns its memory, freed
 * in its close callback (or when the last pool job it has in flight comes back). */
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
/* The next connection in w->conns, for iteration that may close the current one. */
struct conn *conn_next(struct conn *c);
void conn_free_buffers(struct wctx *w);

#endif
