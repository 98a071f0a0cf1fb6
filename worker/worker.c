/* The worker process (see worker.h): one loop thread that accepts and serves connections,
 * a pool for the file system, and the channel to the supervisor. It lives while something
 * holds a ref: listeners while accepting, connections, pool jobs. Draining closes the
 * listeners and lets the count fall to zero; the channel, signals and timers are unref'd
 * then, so they never keep a draining worker alive. */
#define _GNU_SOURCE
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access_log.h"
#include "conn.h"
#include "ipc.h"
#include "log.h"
#include "loop.h"
#include "mapread.h"
#include "pool.h"
#include "sfile.h"
#include "tls.h"
#include "wctx.h"
#include "answer.h"

#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 100 /* after EMFILE: let connections end before trying again */
#define LAG_PROBE_MS 250    /* the loop measures how late timers fire; this one always runs */

enum worker_state { WS_STARTING = 0, WS_RUNNING = 1, WS_DRAINING = 2 };

struct worker {
  struct wctx w; /* first: conn.c's callbacks get a struct wctx * back */
  const struct worker_args *args;
  loop_io_t *listeners;
  struct conn_listener *linfo; /* what each listener gives its connections (transport) */
  size_t n_listeners;
  int listeners_closed;
  int accepting;    /* listener watchers started */
  int accept_paused_fd; /* paused because descriptors ran out (timer runs) */
  loop_io_t ipc;
  int ipc_open;
  loop_signal_t sigs[3];
  loop_timer_t drain_timer;
  loop_timer_t accept_timer;
  loop_timer_t lag_probe;
  enum worker_state state;
  int stopping;
  char *free_bufs[64];
  void *free_resps[64];
};

static struct worker *worker_of(struct wctx *w) {
  return (struct worker *)w;
}

/* ---- accepting --------------------------------------------------------------------------- */

static void on_accept(loop_io_t *io, int events);

static void set_accepting(struct worker *wk, int on) {
  if (wk->listeners_closed || wk->accepting == on)
    return;
  for (size_t i = 0; i < wk->n_listeners; i++) {
    if (on)
      loop_io_start(&wk->listeners[i], LOOP_READ, on_accept);
    else
      loop_io_stop(&wk->listeners[i]);
  }
  wk->accepting = on;
}

/* Accepting stops while the worker is at max_connections (its connections keep it alive)
 * or out of descriptors (the accept timer, ref'd for the pause, keeps it alive). */
static void update_accepting(struct worker *wk) {
  int want = !wk->w.draining && !wk->accept_paused_fd &&
             wk->w.n_conns < (unsigned)wk->w.conf->limits.max_connections;
  set_accepting(wk, want);
}

static void on_accept_timer(loop_timer_t *t) {
  struct worker *wk = t->h.data;
  wk->accept_paused_fd = 0;
  loop_unref(&t->h);
  update_accepting(wk);
}

static void on_accept(loop_io_t *io, int events) {
  struct worker *wk = io->h.data;
  (void)events;
  for (int i = 0; i < ACCEPT_BATCH && wk->accepting; i++) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fd = accept4(io->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
        return; /* EAGAIN: another worker took it, or the queue is empty */
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        /* Out of descriptors: a level-triggered listener would spin. Pause, let
         * connections finish, try again; the backlog holds the new clients meanwhile. */
        log_msg(wk->w.log, LOG_WARN, "accept4() failed: %s; pausing accept for %d ms",
                strerror(errno), ACCEPT_PAUSE_MS);
        wk->accept_paused_fd = 1;
        update_accepting(wk);
        loop_timer_start(&wk->accept_timer, on_accept_timer, ACCEPT_PAUSE_MS, 0);
        loop_ref(&wk->accept_timer.h);
        return;
      }
      log_msg(wk->w.log, LOG_ERROR, "accept4() failed: %s", strerror(errno));
      return;
    }
    if (conn_new(&wk->w, fd, (struct sockaddr *)&ss, len, &wk->linfo[io - wk->listeners]) < 0)
      log_msg(wk->w.log, LOG_ERROR, "cannot set up a connection: out of memory");
    if (wk->w.n_conns >= (unsigned)wk->w.conf->limits.max_connections) {
      update_accepting(wk);
      return;
    }
  }
}

static void on_listener_closed(loop_handle_t *h) {
  loop_io_t *io = (loop_io_t *)h;
  close(io->fd);
}

static void close_listeners(struct worker *wk) {
  if (wk->listeners_closed)
    return;
  wk->listeners_closed = 1;
  wk->accepting = 0;
  /* Our copies only: the supervisor keeps the sockets open for the next generation, so no
   * client is refused during a reload. */
  for (size_t i = 0; i < wk->n_listeners; i++)
    loop_close(&wk->listeners[i].h, on_listener_closed);
  if (loop_is_active(&wk->accept_timer.h))
    loop_timer_stop(&wk->accept_timer);
}

/* ---- draining and stopping --------------------------------------------------------------- */

static void send_ipc(struct worker *wk, uint8_t type, const void *payload, size_t len) {
  if (!wk->ipc_open)
    return;
  int rc = ipc_send(wk->ipc.fd, type, payload, len);
  if (rc < 0 && rc != -EPIPE)
    log_msg(wk->w.log, LOG_WARN, "ipc_send(%s) failed: %s", ipc_type_name(type), strerror(-rc));
}

static void close_ipc(struct worker *wk) {
  if (!wk->ipc_open)
    return;
  wk->ipc_open = 0;
  loop_close(&wk->ipc.h, NULL);
  close(wk->ipc.fd);
}

static void on_drain_deadline(loop_timer_t *t) {
  struct worker *wk = t->h.data;
  unsigned n = wk->w.n_conns;
  if (n)
    log_msg(wk->w.log, LOG_WARN, "drain deadline reached: closing %u connection%s", n,
            n == 1 ? "" : "s");
  for (struct conn *c = wk->w.conns, *next; c; c = next) {
    next = conn_next(c);
    conn_abort(c);
  }
}

static void drain(struct worker *wk, uint64_t deadline_ms, const char *why) {
  if (wk->state == WS_DRAINING)
    return;
  wk->state = WS_DRAINING;
  wk->w.draining = 1;
  log_msg(wk->w.log, LOG_INFO, "draining (%s): %u connection%s open, deadline %.1f s", why,
          wk->w.n_conns, wk->w.n_conns == 1 ? "" : "s", (double)deadline_ms / 1000.0);
  close_listeners(wk);
  send_ipc(wk, IPC_DRAINING, NULL, 0);
  /* Keep answering pings while draining, without being a reason to live. */
  if (wk->ipc_open)
    loop_unref(&wk->ipc.h);
  for (struct conn *c = wk->w.conns; c; c = conn_next(c))
    conn_drain(c);
  loop_timer_start(&wk->drain_timer, on_drain_deadline, deadline_ms, 0);
}

static void stop_now(struct worker *wk, const char *why) {
  if (wk->stopping)
    return;
  wk->stopping = 1;
  log_msg(wk->w.log, LOG_INFO, "stopping (%s)", why);
  close_listeners(wk);
  wk->w.draining = 1;
  for (struct conn *c = wk->w.conns, *next; c; c = next) {
    next = conn_next(c);
    conn_abort(c);
  }
  loop_stop(wk->w.loop);
}

static void conn_gone(struct wctx *w) {
  update_accepting(worker_of(w));
}

/* ---- the supervisor's channel ------------------------------------------------------------ */

static void fill_stats(struct worker *wk, struct ipc_stats *out) {
  struct ipc_stats st = {0};
  unsigned counts[LOOP_REF_KINDS];
  st.connections = wk->w.n_conns;
  conn_h2_counts(&wk->w, &st.h2_connections, &st.h2_streams);
  st.requests = wk->w.requests;
  st.refs_total = loop_refs(wk->w.loop, counts);
  for (int i = 0; i < LOOP_REF_KINDS && i < 8; i++)
    st.refs[i] = counts[i];
  struct pool_stats ps;
  pool_stats(wk->w.pool, &ps);
  st.pool_threads = ps.threads;
  st.pool_queued = ps.queued;
  st.pool_running = ps.running;
  st.state = wk->state;
  struct loop_lag lag;
  loop_lag(wk->w.loop, &lag);
  st.lag_p50_ms = lag.p50_ms;
  st.lag_p99_ms = lag.p99_ms;
  st.lag_max_ms = lag.max_ms;
  st.counters = wk->w.counters;
  struct zcache_stats zs;
  zcache_stats(wk->w.zc, &zs);
  st.zc_entries = zs.entries;
  st.zc_bytes = zs.bytes;
  st.zc_max_bytes = zs.max_bytes;
  st.zc_hits = zs.hits;
  st.zc_compressions = zs.compressions;
  if (wk->w.tls) { /* the TLS transport keeps its own counts: they join the counters here */
    struct wtls_stats ts;
    wtls_stats(wk->w.tls, &ts);
    st.counters.tls_handshakes = ts.handshakes;
    st.counters.tls_resumptions = ts.resumed;
    st.counters.tls_failures = ts.failed;
    st.tls_body_path = ts.ktls ? IPC_BODY_KTLS : IPC_BODY_BUFFER;
  }
  *out = st;
}

static void answer_ping(struct worker *wk, const struct ipc_ping *ping) {
  struct ipc_stats st;
  fill_stats(wk, &st);
  st.seq = ping->seq;
  send_ipc(wk, IPC_PONG, &st, sizeof(st));
}

static uint64_t graceful_ms(const struct worker *wk) {
  return (uint64_t)(wk->w.conf->timeouts.graceful * 1000.0);
}

static void on_ipc(loop_io_t *io, int events) {
  struct worker *wk = io->h.data;
  (void)events;
  for (int i = 0; i < 16 && wk->ipc_open; i++) {
    struct ipc_msg msg;
    int rc = ipc_recv(io->fd, &msg);
    if (rc == -EAGAIN || rc == -EINTR)
      return;
    if (rc == -EPIPE || rc == -ECONNRESET) {
      /* The supervisor is gone: we must not outlive it, nor cut clients short. */
      log_msg(wk->w.log, LOG_WARN, "supervisor channel closed: draining");
      close_ipc(wk);
      drain(wk, graceful_ms(wk), "supervisor gone");
      return;
    }
    if (rc == -EPROTO || rc == -EBADMSG || rc == -ENOTSUP) {
      log_msg(wk->w.log, LOG_WARN, "malformed message from the supervisor dropped: %s",
              strerror(-rc));
      continue;
    }
    if (rc < 0) {
      log_msg(wk->w.log, LOG_ERROR, "recv() on the supervisor channel failed: %s",
              strerror(-rc));
      close_ipc(wk);
      drain(wk, graceful_ms(wk), "supervisor channel failed");
      return;
    }
    switch (msg.type) {
    case IPC_PING:
      answer_ping(wk, &msg.u.ping);
      break;
    case IPC_DRAIN:
      drain(wk, msg.u.drain.deadline_ms, "asked by the supervisor");
      break;
    case IPC_STOP:
      stop_now(wk, "asked by the supervisor");
      break;
    case IPC_REOPEN:
      log_reopen(wk->w.log);
      alog_reopen(wk->w.alog);
      /* the supervisor's own line only says it asked: a rotation script (and 12) can wait
       * for this one to know the old files are no longer written */
      log_msg(wk->w.log, LOG_INFO, "logs reopened");
      break;
    case IPC_TICKET_KEYS:
      if (wk->w.tls) {
        wtls_set_keys(wk->w.tls, &msg.u.keys);
        /* the supervisor's "rotated" says it sent them; this says they are in use here */
        log_msg(wk->w.log, LOG_INFO, "TLS ticket keys in use");
      }
      break;
    default:
      log_msg(wk->w.log, LOG_WARN, "unexpected %s message from the supervisor dropped",
              ipc_type_name(msg.type));
      break;
    }
  }
}

/* Nothing to do: the loop records how late every timer fires, and this one makes sure there
 * is always a sample, busy or idle, for the loop lag that status reports. */
static void on_lag_probe(loop_timer_t *t) {
  (void)t;
}

static void on_signal(loop_signal_t *s, int signum) {
  struct worker *wk = s->h.data;
  if (signum == SIGQUIT)
    drain(wk, graceful_ms(wk), "SIGQUIT");
  else
    stop_now(wk, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- main -------------------------------------------------------------------------------- */

static int setup(struct worker *wk, const struct worker_args *a) {
  const conf_t *conf = a->conf;
  struct wctx *w = &wk->w;
  int rc;
  w->conf = conf;
  w->max_header_bytes = (uint32_t)conf->limits.max_header_bytes;
  w->keepalive_requests = (uint32_t)conf->limits.keepalive_requests;
  /* rounded as the supervisor rounds its own (the config allows nothing below 1 ms) */
  w->header_ms = (uint64_t)(conf->timeouts.header * 1000.0 + 0.5);
  w->keepalive_ms = (uint64_t)(conf->timeouts.keepalive * 1000.0 + 0.5);
  w->send_ms = (uint64_t)(conf->timeouts.send * 1000.0 + 0.5);
  w->free_bufs = wk->free_bufs;
  w->free_resps = wk->free_resps;
  w->conn_gone = conn_gone;
  http_date_cache_init(&w->date);
  if ((rc = mapread_init()) < 0) /* h2 over TLS then reads files with pread */
    log_msg(w->log, LOG_WARN, "mapread_init() failed: %s", strerror(-rc));
  w->mapread_ok = rc == 0;

  if ((rc = loop_new(&w->loop)) < 0) {
    log_msg(w->log, LOG_ERROR, "loop_new() failed: %s", strerror(-rc));
    return rc;
  }
  loop_set_idle_poll(w->loop, (unsigned)conf->idle_poll_us);
  if ((rc = pool_new(w->loop, (unsigned)conf->pool_threads, POOL_DEFAULT_MAX_QUEUED,
                     &w->pool)) < 0) {
    log_msg(w->log, LOG_ERROR, "pool_new() failed: %s", strerror(-rc));
    return rc;
  }
  const char *bad_root = conf->root;
  if ((rc = wsites_new(conf, &w->sites, &bad_root)) < 0) {
    log_msg(w->log, LOG_ERROR, "cannot open the root \"%s\": %s", bad_root, strerror(-rc));
    return rc;
  }
  w->files = w->sites->v[0].files;
  /* Open files stay cached for a second: a changed or deleted file is served fresh within
   * that, and a busy file costs one lookup a second instead of one per request. The cache
   * keeps at most a quarter of the descriptors the process may open. */
  struct rlimit nofile;
  size_t max_fds = 256;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur / 4 < max_fds)
    max_fds = nofile.rlim_cur / 4;
  struct fcache_limits lim = {.valid_ms = 1000, .max_entries = 4096,
                              .max_bytes = 64u << 20, .max_fds = max_fds,
                              .max_map = 64u << 20};
  if ((rc = fcache_new(&lim, &w->cache)) < 0) {
    log_msg(w->log, LOG_ERROR, "fcache_new() failed: %s", strerror(-rc));
    return rc;
  }
  size_t zc_mb = 0; /* the sites' budgets for compressed files, one cache */
  for (size_t i = 0; i < conf->n_sites; i++)
    if (conf->sites[i].zip.on_the_fly)
      zc_mb += (size_t)conf->sites[i].zip.cache_mb;
  if (zc_mb && (rc = zcache_new(w->pool, w->cache, zc_mb << 20, answer_zready, &w->zc)) < 0) {
    log_msg(w->log, LOG_ERROR, "zcache_new() failed: %s", strerror(-rc));
    return rc;
  }
  w->zc_max = zc_mb << 20;
  if ((rc = alog_new(w->loop, w->pool, conf->access_log, &w->alog)) < 0) {
    log_msg(w->log, LOG_ERROR, "open(\"%s\") failed: %s", conf->access_log, strerror(-rc));
    return rc;
  }

  wk->listeners = calloc(conf->n_listen, sizeof(*wk->listeners));
  wk->linfo = calloc(conf->n_listen, sizeof(*wk->linfo));
  if (!wk->listeners || !wk->linfo)
    return -ENOMEM;
  for (size_t i = 0; i < conf->n_listen; i++) {
    loop_io_init(w->loop, &wk->listeners[i], a->listen_fds[i], LOOP_REF_LISTENER);
    wk->listeners[i].h.data = wk;
  }
  wk->n_listeners = conf->n_listen;
  if (conf->tls.ctx && (rc = wtls_new(conf, a->tickets, w->log, &w->tls)) < 0) {
    log_msg(w->log, LOG_ERROR, "cannot set up TLS: %s", strerror(-rc));
    return rc;
  }
  for (size_t i = 0; i < conf->n_listen; i++) {
    if (conf->listen[i].tls) {
      wk->linfo[i].transport_init = wtls_transport_init;
      wk->linfo[i].arg = w->tls;
    }
    wk->linfo[i].redirect_https = conf->listen[i].redirect_https;
    wk->linfo[i].proxy_protocol = conf->listen[i].proxy_protocol;
  }
  if (conf->https_listener >= 0) {
    /* the bound port: the config may say 0 */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(a->listen_fds[conf->https_listener], (struct sockaddr *)&ss, &sl) == 0)
      w->https_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
  }

  loop_io_init(w->loop, &wk->ipc, a->ipc_fd, LOOP_REF_IPC);
  wk->ipc.h.data = wk;
  loop_io_start(&wk->ipc, LOOP_READ, on_ipc);
  wk->ipc_open = 1;

  static const int signums[3] = {SIGQUIT, SIGTERM, SIGINT};
  for (int i = 0; i < 3; i++) {
    loop_signal_init(w->loop, &wk->sigs[i]);
    wk->sigs[i].h.data = wk;
    loop_signal_start(&wk->sigs[i], on_signal, signums[i]);
    loop_unref(&wk->sigs[i].h);
  }
  loop_timer_init(w->loop, &wk->drain_timer);
  wk->drain_timer.h.data = wk;
  loop_unref(&wk->drain_timer.h);
  loop_timer_init(w->loop, &wk->accept_timer);
  wk->accept_timer.h.data = wk;
  loop_unref(&wk->accept_timer.h);
  loop_timer_init(w->loop, &wk->lag_probe);
  loop_timer_start(&wk->lag_probe, on_lag_probe, LAG_PROBE_MS, LAG_PROBE_MS);
  loop_unref(&wk->lag_probe.h);
  return 0;
}

static void teardown(struct worker *wk) {
  struct wctx *w = &wk->w;
  /* We are on our way out: a late TERM or QUIT (from a terminal's process group, say) must
   * not kill us mid-teardown once the watchers are gone and the default action is back. */
  sigset_t late;
  sigemptyset(&late);
  sigaddset(&late, SIGTERM);
  sigaddset(&late, SIGINT);
  sigaddset(&late, SIGQUIT);
  sigprocmask(SIG_BLOCK, &late, NULL);
  if (w->loop) {
    close_listeners(wk);
    for (struct conn *c = w->conns, *next; c; c = next) {
      next = conn_next(c);
      conn_abort(c);
    }
    close_ipc(wk);
    for (int i = 0; i < 3; i++)
      if (wk->sigs[i].h.loop && !loop_is_closing(&wk->sigs[i].h))
        loop_close(&wk->sigs[i].h, NULL);
    if (wk->drain_timer.h.loop)
      loop_close(&wk->drain_timer.h, NULL);
    if (wk->accept_timer.h.loop)
      loop_close(&wk->accept_timer.h, NULL);
    if (wk->lag_probe.h.loop)
      loop_close(&wk->lag_probe.h, NULL);
  }
  /* The pool goes first: it hands back every job (connections free themselves when their
   * last job returns), then the access log writes what is left. */
  pool_free(w->pool);
  alog_close(w->alog);
  if (w->loop) {
    for (int i = 0; i < 100 && loop_alive(w->loop); i++)
      loop_run(w->loop, LOOP_RUN_NOWAIT);
  }
  conn_free_buffers(w);
  zcache_free(w->zc);
  fcache_free(w->cache);
  wsites_free(w->sites);
  free(wk->listeners);
  free(wk->linfo);
  wtls_free(w->tls);
  loop_free(w->loop);
}

int worker_main(const struct worker_args *a) {
  struct worker wk;
  memset(&wk, 0, sizeof(wk));
  wk.args = a;
  int code = 1;
  char role[32];
  snprintf(role, sizeof(role), "worker %u", a->slot);

  /* Signals the supervisor acts on reach the whole process group from a terminal; they
   * are not ours. */
  static const int ignored[] = {SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGWINCH, SIGPIPE};
  for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
    signal(ignored[i], SIG_IGN);

  if (log_new(role, a->conf->error_log, &wk.w.log) < 0 && log_new(role, NULL, &wk.w.log) < 0)
    return 1;
  if (setup(&wk, a) < 0)
    goto out;

  wk.state = WS_RUNNING;
  update_accepting(&wk);
  struct ipc_ready ready = {(uint32_t)getpid(), a->generation};
  send_ipc(&wk, IPC_READY, &ready, sizeof(ready));

  int rc = loop_run(wk.w.loop, LOOP_RUN_DEFAULT);
  if (rc < 0) {
    log_msg(wk.w.log, LOG_ERROR, "loop_run() failed: %s", strerror(-rc));
    goto out;
  }
  if (alog_dropped(wk.w.alog))
    log_msg(wk.w.log, LOG_WARN, "%llu access log lines were dropped (log writes too slow)",
            (unsigned long long)alog_dropped(wk.w.alog));
  /* the counters since the last ping: the supervisor adds them to the cluster's totals */
  struct ipc_stats last;
  fill_stats(&wk, &last);
  send_ipc(&wk, IPC_FINAL, &last, sizeof(last));
  send_ipc(&wk, IPC_EXITING, NULL, 0);
  log_msg(wk.w.log, LOG_INFO, "exiting after %llu requests",
          (unsigned long long)wk.w.requests);
  code = 0;
out:
  teardown(&wk);
  log_free(wk.w.log);
  return code;
}
