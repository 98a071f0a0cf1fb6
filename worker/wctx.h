/* The per-process state of a worker, made in worker_main and passed down to every
 * connection: no globals. Fields are read-only for connections unless noted. */
#ifndef EVC_WCTX_H
#define EVC_WCTX_H

#include <stdint.h>

#include "access_log.h"
#include "conf.h"
#include "fcache.h"
#include "http_date.h"
#include "ipc.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "sfile.h"
#include "site.h"
#include "tls.h"
#include "zcache.h"

struct conn;

struct wctx {
  const conf_t *conf;
  loop_t *loop;
  pool_t *pool;
  log_t *log;
  alog_t *alog;
  sfile_ctx_t *files; /* the default site's (sites->v[0].files) */
  wsites_t *sites;    /* the virtual hosts; one without `sites` in the config */
  zcache_t *zc;       /* files compressed on the fly; NULL when no site does that */
  size_t zc_max;      /* its bytes */
  fcache_t *cache;
  http_date_cache_t date; /* written by connections: the Date header, once a second */
  wtls_t *tls;            /* TLS listeners' state, or NULL when there are none */
  unsigned https_port;    /* redirect_https sends clients to this port (the first TLS one) */
  /* limits and timeouts from the conf, in the units the hot path uses */
  uint32_t max_header_bytes;
  uint32_t keepalive_requests;
  uint64_t header_ms, keepalive_ms, send_ms;
  /* bookkeeping, written by conn.c */
  struct conn *conns; /* every open connection, for drain and stop */
  unsigned n_conns;
  uint64_t requests;
  struct ipc_counters counters; /* for /metrics, through the pong: they only grow */
  int draining;
  int no_cachestat; /* the kernel cannot tell page-cache residency: sendfile on the pool */
  int mapread_ok;   /* mapread_init succeeded: the loop may read files' mappings */
  char **free_bufs; /* parser + input buffer blocks of idle connections, reused */
  unsigned n_free_bufs;
  void **free_resps; /* answer state of idle connections, reused */
  unsigned n_free_resps;
  char *spare_out;   /* a gathering buffer for pipelined answers, kept for the next batch */
  char *free_fbufs[8]; /* file buffers of finished TLS downloads, reused (128 KiB each) */
  unsigned n_free_fbufs;
  /* written by h2.c: output buffers (its OUT_BUF bytes) whose bytes were all sent, for the
   * next connection that writes; h2_free_buffers frees them */
  char *h2_outs[8];
  unsigned n_h2_outs;
  /* called by conn.c after a connection is gone (resume accepting, finish a drain) */
  void (*conn_gone)(struct wctx *w);
};

#endif
