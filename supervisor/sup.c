/* The supervisor process (see sup.h). State lives in one struct sup passed to every handler.
 * Workers are grouped in generations: the active one (its slots are respawned when a worker
 * dies), at most one starting (a reload waiting for READY from all its workers) and any
 * number draining (bounded: the oldest is killed when too many pile up). One one-shot timer
 * is re-armed to the nearest deadline (respawn, kill after drain, reload timeout). */
#define _GNU_SOURCE /* Linux interfaces: accept4, close_range, SO_PEERCRED, strsignal */
#include "sup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "ipc.h"
#include "listen.h"
#include "loop.h"
#include "spawn.h"
#include "tickets.h"
#include "util.h"

#define RELOAD_TIMEOUT_MS 10000
#define START_TIMEOUT_MS 30000 /* a worker not ready by then is hung in start-up: killed */
#define KILL_MARGIN_MS 1000   /* after timeouts.graceful, before SIGKILL */
#define STOP_GRACE_MS 1500    /* TERM/INT: STOP, then SIGKILL after this */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
#define STABLE_MS 10000       /* a worker up this long resets its slot's back-off */
#define MAX_WORKERS 1024     /* TTIN stops where the config's limit is */
#define MAX_DRAINING 4        /* draining generations kept; older ones are killed */
#define MAX_WAITERS 32        /* control clients waiting for one reload's outcome */
#define IPC_BURST 64          /* messages read per wake-up, so one worker cannot starve others */

enum sup_state { SUP_RUNNING, SUP_QUITTING, SUP_STOPPING, SUP_DONE };
enum gen_state { GEN_STARTING, GEN_ACTIVE, GEN_DRAINING, GEN_FAILED };

struct gen;

struct worker {
  struct gen *gen;
  struct worker *next;
  pid_t pid;
  unsigned slot;
  int retired; /* TTOU took its slot away: draining, not respawned */
  int fd;
  loop_io_t io;
  int ready, drain_sent, draining, stop_sent, killed, eof;
  uint64_t started_ms, ready_ms, last_answer_ms;
  uint64_t kill_at_ms; /* 0: none */
  uint64_t seq;        /* last ping sent */
  uint64_t answered;   /* last ping answered */
  unsigned outstanding;
  struct ipc_stats stats; /* the last answer's (all zero until one came: answered is 0) */
};

struct slot {
  struct worker *w;
  uint64_t backoff_ms;   /* delay before the next respawn after a quick death */
  uint64_t respawn_at_ms; /* 0: none scheduled */
};

struct gen {
  sup_t *sup;
  struct gen *next; /* newest first */
  unsigned id;
  enum gen_state state;
  conf_t *conf; /* owned */
  int *fds;     /* conf->n_listen listeners (the lset's) */
  int fds_released; /* draining or failed: its references on the listeners are dropped */
  struct slot *slots;
  unsigned n_slots;
  struct worker *workers; /* not yet reaped */
  unsigned n_workers;
  int announced;
  uint64_t deadline_ms; /* starting: the reload's timeout */
};

struct waiters {
  sup_ctl_req_t *req[MAX_WAITERS];
  unsigned n;
};

struct sup {
  loop_t *loop;
  log_t *log;
  conf_t *boot_conf; /* until the first generation takes it */
  char *conf_path;
  char *pid_file;
  char *ctl_path;
  int pid_written;
  pid_t pid;
  enum sup_state state;
  int exit_status;
  uint64_t started_ms;
  sup_lset_t *lset;
  sup_ctl_t *ctl;
  struct gen *gens;
  struct gen *active;
  struct gen *pending; /* a reload in progress */
  unsigned next_gen;
  unsigned last_active_id;
  int reload_again;
  int served; /* a generation has been ready: from then on a failing worker is respawned */
  struct waiters cur, next; /* control clients waiting for this reload, and for the next */
  loop_signal_t sigs[8];
  unsigned n_sigs;
  loop_timer_t health;
  uint64_t health_ms;
  loop_timer_t tick;
  int handles_open;
  struct ipc_ticket_keys tickets; /* TLS ticket keys: in memory only, kept across reloads */
  int tickets_ok;
  loop_timer_t tickets_timer;
};

static void schedule(sup_t *sup);
static void gen_maybe_free(struct gen *g);
static void maybe_finish(sup_t *sup);
static void shutdown_begin(sup_t *sup, int fast);
static void follow_paths(sup_t *sup, const conf_t *now);

static uint64_t now_ms(sup_t *sup) {
  loop_update_time(sup->loop);
  return loop_now(sup->loop);
}

static uint64_t secs_ms(double s) {
  return s <= 0 ? 0 : (uint64_t)(s * 1000.0 + 0.5);
}

/* ---- workers ------------------------------------------------------------------------- */

static const char *worker_state(const struct worker *w) {
  if (w->drain_sent || w->draining || w->stop_sent || w->retired ||
      w->gen->state == GEN_DRAINING)
    return "draining";
  return w->ready ? "running" : "starting";
}

static void worker_kill(struct worker *w, const char *why) {
  if (w->killed)
    return;
  w->killed = 1;
  w->kill_at_ms = 0;
  log_msg(w->gen->sup->log, LOG_WARN, "worker %ld (slot %u, generation %u) %s: killing",
          (long)w->pid, w->slot, w->gen->id, why);
  if (kill(w->pid, SIGKILL) < 0 && errno != ESRCH)
    log_msg(w->gen->sup->log, LOG_ERROR, "kill(%ld, SIGKILL) failed: %s", (long)w->pid,
            strerror(errno));
}

/* Graceful: DRAIN with the deadline, SIGKILL once it and a margin have passed. */
static void worker_drain(struct worker *w, uint64_t graceful_ms) {
  sup_t *sup = w->gen->sup;
  if (w->drain_sent || w->stop_sent || w->killed)
    return;
  w->drain_sent = 1;
  struct ipc_drain d = {.deadline_ms = (uint32_t)graceful_ms};
  int rc = ipc_send(w->fd, IPC_DRAIN, &d, sizeof(d));
  if (rc < 0) {
    /* the channel is full or gone: QUIT means the same to a worker */
    log_msg(sup->log, LOG_WARN, "worker %ld: sending drain failed (%s): sending SIGQUIT",
            (long)w->pid, strerror(-rc));
    if (kill(w->pid, SIGQUIT) < 0 && errno != ESRCH)
      log_msg(sup->log, LOG_ERROR, "kill(%ld, SIGQUIT) failed: %s", (long)w->pid,
              strerror(errno));
  }
  w->kill_at_ms = now_ms(sup) + graceful_ms + KILL_MARGIN_MS;
}

static void worker_stop(struct worker *w) {
  sup_t *sup = w->gen->sup;
  if (w->stop_sent || w->killed)
    return;
  w->stop_sent = 1;
  int rc = ipc_send(w->fd, IPC_STOP, NULL, 0);
  if (rc < 0 && kill(w->pid, SIGTERM) < 0 && errno != ESRCH)
    log_msg(sup->log, LOG_ERROR, "kill(%ld, SIGTERM) failed: %s", (long)w->pid, strerror(errno));
  uint64_t at = now_ms(sup) + STOP_GRACE_MS;
  if (!w->kill_at_ms || at < w->kill_at_ms)
    w->kill_at_ms = at;
}

static void worker_io_closed(loop_handle_t *h) {
  struct worker *w = h->data;
  close(w->fd);
  free(w);
}

static void gen_check_ready(struct gen *g);

static void on_ipc(loop_io_t *io, int events) {
  (void)events;
  struct worker *w = io->h.data;
  sup_t *sup = w->gen->sup;
  for (int i = 0; i < IPC_BURST; i++) {
    struct ipc_msg m;
    int rc = ipc_recv(w->fd, &m);
    if (rc == -EAGAIN)
      return;
    if (rc == -EPIPE) {
      /* the worker closed its end; its exit (SIGCHLD) follows, or health kills it */
      w->eof = 1;
      loop_io_stop(&w->io);
      return;
    }
    if (rc == -EBADMSG || rc == -EPROTO || rc == -ENOTSUP) {
      log_msg(sup->log, LOG_WARN, "worker %ld: malformed message dropped: %s", (long)w->pid,
              strerror(-rc));
      continue;
    }
    if (rc < 0) {
      log_msg(sup->log, LOG_ERROR, "worker %ld: recv() failed: %s", (long)w->pid, strerror(-rc));
      w->eof = 1;
      loop_io_stop(&w->io);
      return;
    }
    uint64_t now = now_ms(sup);
    switch (m.type) {
    case IPC_READY:
      if (m.u.ready.pid != (uint32_t)w->pid || m.u.ready.generation != w->gen->id)
        log_msg(sup->log, LOG_WARN, "worker %ld: ready says pid %u generation %u", (long)w->pid,
                m.u.ready.pid, m.u.ready.generation);
      if (!w->ready) {
        w->ready = 1;
        w->ready_ms = now;
        w->last_answer_ms = now;
        if (!w->drain_sent && !w->stop_sent)
          w->kill_at_ms = 0; /* the start-up deadline */
        log_msg(sup->log, LOG_INFO, "worker %ld (slot %u, generation %u) ready", (long)w->pid,
                w->slot, w->gen->id);
        gen_check_ready(w->gen);
      }
      break;
    case IPC_PONG:
      /* Only an answer to a ping sent and not answered yet counts: a repeated or invented
       * sequence number must neither revive a hung worker nor get a healthy one killed. */
      if (m.u.stats.seq <= w->answered || m.u.stats.seq > w->seq) {
        log_msg(sup->log, LOG_WARN, "worker %ld: answer to ping %llu dropped (sent %llu, "
                "answered %llu)", (long)w->pid, (unsigned long long)m.u.stats.seq,
                (unsigned long long)w->seq, (unsigned long long)w->answered);
        break;
      }
      w->answered = m.u.stats.seq;
      w->outstanding = (unsigned)(w->seq - m.u.stats.seq); /* the later pings are still out */
      w->last_answer_ms = now;
      w->stats = m.u.stats;
      break;
    case IPC_DRAINING:
      w->draining = 1;
      break;
    case IPC_EXITING:
      log_msg(sup->log, LOG_DEBUG, "worker %ld exiting", (long)w->pid);
      break;
    default:
      log_msg(sup->log, LOG_WARN, "worker %ld: unexpected %s message dropped", (long)w->pid,
              ipc_type_name(m.type));
      break;
    }
  }
}

static int worker_spawn(struct gen *g, unsigned slot) {
  sup_t *sup = g->sup;
  struct sup_spawn_args a = {.conf = g->conf,
                             .listen_fds = g->fds,
                             .generation = g->id,
                             .slot = slot,
                             .supervisor = sup->pid,
                             .tickets = sup->tickets_ok ? &sup->tickets : NULL};
  pid_t pid;
  int fd;
  int rc = sup_spawn(&a, sup->log, &pid, &fd);
  if (rc < 0)
    return rc;
  struct worker *w = sup_xcalloc(1, sizeof(*w));
  w->gen = g;
  w->pid = pid;
  w->slot = slot;
  w->fd = fd;
  w->started_ms = now_ms(sup);
  w->last_answer_ms = w->started_ms;
  /* Health pings start once it is ready (a slow disk may make start-up take longer than
   * misses x interval); a start-up that hangs ends here. */
  w->kill_at_ms = w->started_ms + START_TIMEOUT_MS;
  loop_io_init(sup->loop, &w->io, fd, LOOP_REF_IPC);
  w->io.h.data = w;
  rc = loop_io_start(&w->io, LOOP_READ, on_ipc);
  if (rc < 0)
    log_msg(sup->log, LOG_ERROR, "worker %ld: loop_io_start() failed: %s", (long)pid,
            strerror(-rc)); /* health checks will replace it */
  w->next = g->workers;
  g->workers = w;
  g->n_workers++;
  g->slots[slot].w = w;
  g->slots[slot].respawn_at_ms = 0;
  log_msg(sup->log, LOG_INFO, "worker %ld (slot %u, generation %u) started", (long)pid, slot,
          g->id);
  return 0;
}

/* The log files a generation's workers write, created and given to `user` while the
 * supervisor still can: workers open them after dropping privileges, and in a root-owned
 * log folder (/var/log/...) they could not create them, nor a file rotation moved away.
 * nginx's master does the same. 0, or -errno with the failure logged. */
static int logs_prepare(sup_t *sup, const conf_t *conf) {
  const char *key, *path;
  int rc = sup_logs_prepare(conf, sup->log, &key, &path);
  if (rc < 0)
    log_msg(sup->log, LOG_ERROR, "%s: open(%s) failed: %s", key, path, strerror(-rc));
  return rc;
}

/* ---- generations --------------------------------------------------------------------- */

static struct gen *gen_new(sup_t *sup, conf_t *conf, enum gen_state state) {
  struct gen *g = sup_xcalloc(1, sizeof(*g));
  g->fds = sup_xcalloc(conf->n_listen, sizeof(int));
  if (sup_lset_acquire(sup->lset, conf, g->fds) < 0) {
    free(g->fds);
    free(g);
    return NULL;
  }
  g->sup = sup;
  g->conf = conf;
  g->id = ++sup->next_gen;
  g->state = state;
  g->n_slots = (unsigned)(conf->workers > 0 ? conf->workers : 1);
  g->slots = sup_xcalloc(g->n_slots, sizeof(struct slot));
  g->next = sup->gens;
  sup->gens = g;
  return g;
}

static void gen_spawn_all(struct gen *g) {
  for (unsigned i = 0; i < g->n_slots; i++) {
    if (g->slots[i].w)
      continue;
    if (worker_spawn(g, i) < 0) {
      g->slots[i].backoff_ms = BACKOFF_MIN_MS;
      g->slots[i].respawn_at_ms = now_ms(g->sup) + BACKOFF_MIN_MS;
    }
  }
}

/* A generation that will start no more workers lets go of its listeners at once: an address
 * the new config dropped stops accepting now, not when the last old worker has drained
 * (its workers close their copies when told to drain). */
static void gen_release_listeners(struct gen *g) {
  if (g->fds_released)
    return;
  g->fds_released = 1;
  sup_lset_release(g->sup->lset, g->conf);
}

static void gen_kill_all(struct gen *g, const char *why) {
  for (struct worker *w = g->workers; w; w = w->next)
    worker_kill(w, why);
}

/* A generation that failed to start: its ready workers may already hold accepted
 * connections, so they drain; the others cannot have any and are killed. */
static void gen_abort_workers(struct gen *g, uint64_t graceful_ms, const char *why) {
  for (struct worker *w = g->workers; w; w = w->next) {
    if (w->ready)
      worker_drain(w, graceful_ms);
    else
      worker_kill(w, why);
  }
}

static void gen_drain(struct gen *g, uint64_t graceful_ms) {
  g->state = GEN_DRAINING;
  for (unsigned i = 0; i < g->n_slots; i++)
    g->slots[i].respawn_at_ms = 0;
  for (struct worker *w = g->workers; w; w = w->next)
    worker_drain(w, graceful_ms);
  gen_release_listeners(g);
  log_msg(g->sup->log, LOG_INFO, "generation %u draining (%u workers, %.1f s)", g->id,
          g->n_workers, (double)graceful_ms / 1000.0);
}

static void gen_unlink(struct gen *g) {
  sup_t *sup = g->sup;
  struct gen **pp = &sup->gens;
  while (*pp != g)
    pp = &(*pp)->next;
  *pp = g->next;
  if (sup->active == g)
    sup->active = NULL;
  if (sup->pending == g)
    sup->pending = NULL;
}

static void gen_free(struct gen *g) {
  gen_release_listeners(g);
  conf_free(g->conf);
  free(g->fds);
  free(g->slots);
  free(g);
}

static void gen_maybe_free(struct gen *g) {
  if (g->n_workers > 0 || g->state == GEN_ACTIVE || g->state == GEN_STARTING)
    return;
  sup_t *sup = g->sup;
  if (g->state == GEN_DRAINING)
    log_msg(sup->log, LOG_INFO, "generation %u gone", g->id);
  gen_unlink(g);
  gen_free(g);
}

/* Too many draining generations (reloads faster than drains): kill the oldest ones. */
static void bound_draining(sup_t *sup) {
  unsigned n = 0;
  for (struct gen *g = sup->gens; g; g = g->next) {
    if (g->state != GEN_DRAINING)
      continue;
    if (++n > MAX_DRAINING)
      gen_kill_all(g, "belongs to a draining generation beyond the limit");
  }
}

/* ---- reload -------------------------------------------------------------------------- */

static void waiters_reply(struct waiters *ws, int ok, const char *body) {
  for (unsigned i = 0; i < ws->n; i++)
    sup_ctl_reply(ws->req[i], ok, body);
  ws->n = 0;
}

static void reload_start(sup_t *sup);

static void reload_done(sup_t *sup, int ok, const char *body) {
  waiters_reply(&sup->cur, ok, body);
  if (sup->reload_again && sup->state == SUP_RUNNING) {
    sup->reload_again = 0;
    reload_start(sup);
  }
}

static void log_ready(struct gen *g) {
  char addrs[1024];
  sup_lset_describe(g->sup->lset, g->conf, addrs, sizeof(addrs));
  log_msg(g->sup->log, LOG_INFO, "ready: generation %u, %u workers, listening on %s", g->id,
          g->n_slots, addrs);
}

static void health_arm(sup_t *sup);

static int same_path(const char *a, const char *b) {
  return a == b || (a && b && strcmp(a, b) == 0);
}

/* The supervisor's own lines follow error_log to its new place, or its lines and the new
 * workers' would end up in two files. The last line in the old file says where. */
static void follow_error_log(sup_t *sup, const conf_t *old, const conf_t *now) {
  if (!old || same_path(old->error_log, now->error_log))
    return;
  const char *to = now->error_log ? now->error_log : "stderr";
  log_msg(sup->log, LOG_INFO, "error log continues in %s", to);
  int rc = log_retarget(sup->log, now->error_log);
  if (rc < 0)
    log_msg(sup->log, LOG_ERROR, "cannot move the error log to %s: %s", to, strerror(-rc));
  else
    log_msg(sup->log, LOG_INFO, "error log moved here (reload, generation %u)",
            sup->last_active_id);
}

static void gen_check_ready(struct gen *g) {
  sup_t *sup = g->sup;
  for (unsigned i = 0; i < g->n_slots; i++)
    if (!g->slots[i].w || !g->slots[i].w->ready)
      return;
  if (!g->announced) {
    g->announced = 1;
    sup->served = 1;
    log_set_echo(sup->log, 0); /* started: the error log alone from now on */
    log_ready(g);
  }
  if (g->state != GEN_STARTING || sup->pending != g)
    return;
  struct gen *old = sup->active;
  sup->pending = NULL;
  sup->active = g;
  sup->last_active_id = g->id;
  g->state = GEN_ACTIVE;
  health_arm(sup);
  follow_error_log(sup, old ? old->conf : NULL, g->conf); /* before old may be freed */
  char msg[256];
  if (old) {
    snprintf(msg, sizeof(msg), "reloaded: generation %u running, generation %u draining\n",
             g->id, old->id);
    gen_drain(old, secs_ms(g->conf->timeouts.graceful));
    bound_draining(sup);
    gen_maybe_free(old);
  } else {
    snprintf(msg, sizeof(msg), "reloaded: generation %u running\n", g->id);
  }
  log_msg(sup->log, LOG_INFO, "reload: generation %u running", g->id);
  schedule(sup);
  reload_done(sup, 1, msg); /* on the old control socket, which follow_paths may close */
  follow_paths(sup, g->conf);
}

/* The new generation did not come up: it goes, the old one stays. Frees it when no worker
 * is left (its last one may be the one whose death failed the reload): g is gone after. */
static void reload_abort(sup_t *sup, const char *why) {
  struct gen *g = sup->pending;
  sup->pending = NULL;
  g->state = GEN_FAILED;
  log_msg(sup->log, LOG_ERROR, "reload failed: generation %u %s; keeping generation %u", g->id,
          why, sup->active ? sup->active->id : 0);
  char msg[256];
  snprintf(msg, sizeof(msg), "reload failed: generation %u %s\n", g->id, why);
  gen_abort_workers(g, secs_ms(g->conf->timeouts.graceful), "belongs to a failed reload");
  gen_release_listeners(g);
  gen_maybe_free(g);
  reload_done(sup, 0, msg);
}

static void reload_start(sup_t *sup) {
  if (sup->state != SUP_RUNNING) {
    waiters_reply(&sup->next, 0, "shutting down\n");
    return;
  }
  if (sup->pending) {
    sup->reload_again = 1; /* once this one is decided, read the file again */
    return;
  }
  sup->cur = sup->next;
  sup->next.n = 0;
  log_msg(sup->log, LOG_INFO, "reload: reading %s", sup->conf_path);
  char err[8192] = "";
  conf_t *conf = NULL;
  int rc = conf_load(sup->conf_path, &conf, err, sizeof(err));
  if (rc < 0) {
    log_msg(sup->log, LOG_ERROR, "reload failed: %s has errors; keeping generation %u",
            sup->conf_path, sup->active ? sup->active->id : 0);
    char *save = NULL;
    for (char *line = strtok_r(err, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
      log_msg(sup->log, LOG_ERROR, "%s", line);
    struct sup_buf b = {0};
    sup_buf_printf(&b, "reload failed: configuration errors\n");
    conf = NULL;
    rc = conf_load(sup->conf_path, &conf, err, sizeof(err)); /* strtok_r cut err: again */
    if (rc == 0) {
      conf_free(conf); /* fixed in between: let the next reload take it */
      sup_buf_printf(&b, "(the file changed during the reload; try again)\n");
    } else {
      sup_buf_printf(&b, "%s%s", err[0] ? err : strerror(-rc),
                     err[0] && err[strlen(err) - 1] == '\n' ? "" : "\n");
    }
    reload_done(sup, 0, b.p);
    sup_buf_free(&b);
    return;
  }
  if (conf->warnings) {
    char *save = NULL, *copy = sup_xstrdup(conf->warnings);
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
      log_msg(sup->log, LOG_WARN, "%s", line);
    free(copy);
  }
  if (logs_prepare(sup, conf) < 0) {
    log_msg(sup->log, LOG_ERROR, "reload failed: cannot open the new logs; keeping "
            "generation %u", sup->active ? sup->active->id : 0);
    conf_free(conf);
    reload_done(sup, 0, "reload failed: cannot open the new logs (see the error log)\n");
    return;
  }
  struct gen *g = gen_new(sup, conf, GEN_STARTING);
  if (!g) {
    log_msg(sup->log, LOG_ERROR, "reload failed: cannot open the new listeners; keeping "
            "generation %u", sup->active ? sup->active->id : 0);
    conf_free(conf);
    reload_done(sup, 0, "reload failed: cannot open the new listeners (see the error log)\n");
    return;
  }
  sup->pending = g;
  g->deadline_ms = now_ms(sup) + RELOAD_TIMEOUT_MS;
  log_msg(sup->log, LOG_INFO, "reload: starting generation %u (%u workers)", g->id, g->n_slots);
  for (unsigned i = 0; i < g->n_slots && sup->pending == g; i++) {
    if (worker_spawn(g, i) < 0) {
      reload_abort(sup, "could not fork its workers");
      return;
    }
  }
  schedule(sup);
}

/* ---- deaths and respawn -------------------------------------------------------------- */

static void describe_status(int status, char *buf, size_t len) {
  if (WIFEXITED(status))
    snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
  else
    snprintf(buf, len, "ended (status 0x%x)", status);
}

static struct worker *find_worker(sup_t *sup, pid_t pid) {
  for (struct gen *g = sup->gens; g; g = g->next)
    for (struct worker *w = g->workers; w; w = w->next)
      if (w->pid == pid)
        return w;
  return NULL;
}

static void slot_respawn(struct gen *g, unsigned i, uint64_t uptime_ms) {
  sup_t *sup = g->sup;
  struct slot *s = &g->slots[i];
  if (uptime_ms >= STABLE_MS)
    s->backoff_ms = 0;
  uint64_t delay = s->backoff_ms;
  s->backoff_ms = delay ? (delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2)
                        : BACKOFF_MIN_MS;
  if (delay == 0) {
    log_msg(sup->log, LOG_INFO, "respawning slot %u of generation %u now", i, g->id);
    if (worker_spawn(g, i) == 0)
      return;
    delay = s->backoff_ms;
  }
  log_msg(sup->log, LOG_INFO, "respawning slot %u of generation %u in %llu ms", i, g->id,
          (unsigned long long)delay);
  s->respawn_at_ms = now_ms(sup) + delay;
}

static void worker_reaped(struct worker *w, int status) {
  struct gen *g = w->gen;
  sup_t *sup = g->sup;
  char how[96];
  describe_status(status, how, sizeof(how));
  uint64_t uptime = now_ms(sup) - w->started_ms;
  int expected = w->drain_sent || w->stop_sent || w->retired || g->state != GEN_ACTIVE ||
                 sup->state != SUP_RUNNING;
  log_msg(sup->log, expected ? LOG_INFO : LOG_WARN,
          "worker %ld (slot %u, generation %u) %s after %.1f s", (long)w->pid, w->slot, g->id,
          how, (double)uptime / 1000.0);

  struct worker **pp = &g->workers;
  while (*pp != w)
    pp = &(*pp)->next;
  *pp = w->next;
  g->n_workers--;
  int had_slot = !w->retired && w->slot < g->n_slots && g->slots[w->slot].w == w;
  if (had_slot)
    g->slots[w->slot].w = NULL;
  loop_close(&w->io.h, worker_io_closed);

  if (g->state == GEN_STARTING && sup->pending == g) {
    char why[160];
    snprintf(why, sizeof(why), "lost worker %ld (%s) before it was ready", (long)w->pid, how);
    reload_abort(sup, why); /* frees g if w was its last worker */
    return;
  }
  if (g->state == GEN_ACTIVE && sup->state == SUP_RUNNING && !sup->served && !w->ready) {
    /* The first generation cannot start (an unreadable root, a log the user may not write):
     * respawning would only repeat it while the server accepts and never answers. Fail as a
     * reload does, with the worker's reason in the error log just above. */
    log_msg(sup->log, LOG_ERROR, "worker %ld (slot %u) %s before it was ready: cannot start",
            (long)w->pid, w->slot, how);
    sup->exit_status = 1;
    shutdown_begin(sup, 1);
    return;
  }
  if (g->state == GEN_ACTIVE && sup->state == SUP_RUNNING && had_slot)
    slot_respawn(g, w->slot, uptime);
  gen_maybe_free(g);
}

static void on_sigchld(sup_t *sup) {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR)
      continue;
    if (pid < 0 && errno != ECHILD)
      log_msg(sup->log, LOG_ERROR, "waitpid() failed: %s", strerror(errno));
    if (pid <= 0)
      break;
    struct worker *w = find_worker(sup, pid);
    if (w)
      worker_reaped(w, status);
  }
  schedule(sup);
  maybe_finish(sup);
}

/* ---- timers -------------------------------------------------------------------------- */

static void on_tick(loop_timer_t *t) {
  sup_t *sup = t->h.data;
  uint64_t now = now_ms(sup);
  if (sup->pending && now >= sup->pending->deadline_ms) {
    char why[96];
    snprintf(why, sizeof(why), "was not ready within %d s", RELOAD_TIMEOUT_MS / 1000);
    reload_abort(sup, why);
  }
  for (struct gen *g = sup->gens; g; g = g->next)
    for (struct worker *w = g->workers; w; w = w->next)
      if (w->kill_at_ms && now >= w->kill_at_ms)
        worker_kill(w, w->stop_sent    ? "did not stop in time"
                       : w->drain_sent ? "did not drain in time"
                                       : "was not ready within the start-up timeout");
  struct gen *a = sup->active;
  if (a && a->state == GEN_ACTIVE && sup->state == SUP_RUNNING) {
    for (unsigned i = 0; i < a->n_slots; i++) {
      struct slot *s = &a->slots[i];
      if (s->respawn_at_ms && now >= s->respawn_at_ms && !s->w) {
        s->respawn_at_ms = 0;
        if (worker_spawn(a, i) < 0)
          slot_respawn(a, i, 0);
      }
    }
  }
  schedule(sup);
}

/* Arms the tick timer for the nearest deadline. */
static void schedule(sup_t *sup) {
  if (sup->state == SUP_DONE)
    return;
  uint64_t next = UINT64_MAX;
  if (sup->pending && sup->pending->deadline_ms < next)
    next = sup->pending->deadline_ms;
  for (struct gen *g = sup->gens; g; g = g->next) {
    for (struct worker *w = g->workers; w; w = w->next)
      if (w->kill_at_ms && w->kill_at_ms < next)
        next = w->kill_at_ms;
    if (g == sup->active)
      for (unsigned i = 0; i < g->n_slots; i++)
        if (g->slots[i].respawn_at_ms && g->slots[i].respawn_at_ms < next)
          next = g->slots[i].respawn_at_ms;
  }
  if (next == UINT64_MAX) {
    loop_timer_stop(&sup->tick);
    return;
  }
  uint64_t now = now_ms(sup);
  loop_timer_start(&sup->tick, on_tick, next > now ? next - now : 0, 0);
}

static void on_health(loop_timer_t *t) {
  sup_t *sup = t->h.data;
  const conf_t *c = sup->active ? sup->active->conf : NULL;
  if (!c)
    return;
  uint64_t now = now_ms(sup);
  for (struct gen *g = sup->gens; g; g = g->next) {
    for (struct worker *w = g->workers; w; w = w->next) {
      if (w->killed || !w->ready)
        continue;
      if (w->outstanding >= (unsigned)c->health.misses) {
        char why[128];
        snprintf(why, sizeof(why), "missed %u pings, last answer %.1f s ago", w->outstanding,
                 (double)(now - w->last_answer_ms) / 1000.0);
        worker_kill(w, why);
        continue;
      }
      struct ipc_ping p = {.seq = ++w->seq};
      w->outstanding++; /* a ping that cannot be sent is unanswered too */
      int rc = ipc_send(w->fd, IPC_PING, &p, sizeof(p));
      if (rc < 0 && rc != -EAGAIN && rc != -EPIPE)
        log_msg(sup->log, LOG_WARN, "worker %ld: sending ping failed: %s", (long)w->pid,
                strerror(-rc));
    }
  }
}

/* TLS ticket keys rotate every tls.ticket_key_rotation seconds of the active configuration
 * (a reload's new period applies from the next rotation); every worker gets the new pair, and
 * workers forked later inherit it. */
static void on_tickets(loop_timer_t *t) {
  sup_t *sup = t->h.data;
  const conf_t *c = sup->active ? sup->active->conf : NULL;
  if (!c)
    return;
  if (sup_tickets_rotate(&sup->tickets) < 0) {
    log_msg(sup->log, LOG_ERROR, "RAND_priv_bytes() failed: ticket keys not rotated");
  } else {
    for (struct gen *g = sup->gens; g; g = g->next)
      for (struct worker *w = g->workers; w; w = w->next)
        if (!w->killed && ipc_send(w->fd, IPC_TICKET_KEYS, &sup->tickets, sizeof(sup->tickets)) < 0)
          log_msg(sup->log, LOG_WARN, "worker %ld: sending ticket keys failed", (long)w->pid);
    log_msg(sup->log, LOG_INFO, "TLS ticket keys rotated");
  }
  loop_timer_start(&sup->tickets_timer, on_tickets, secs_ms(c->tls.ticket_key_rotation), 0);
}

static void health_arm(sup_t *sup) {
  uint64_t ms = secs_ms(sup->active->conf->health.interval);
  if (ms == 0)
    ms = 1;
  if (ms == sup->health_ms && loop_is_active(&sup->health.h))
    return;
  sup->health_ms = ms;
  loop_timer_start(&sup->health, on_health, ms, ms);
}

/* ---- shutdown ------------------------------------------------------------------------ */

static unsigned total_workers(sup_t *sup) {
  unsigned n = 0;
  for (struct gen *g = sup->gens; g; g = g->next)
    n += g->n_workers;
  return n;
}

static void remove_pid_file(sup_t *sup) {
  if (sup->pid_written && unlink(sup->pid_file) < 0 && errno != ENOENT)
    log_msg(sup->log, LOG_WARN, "unlink(%s) failed: %s", sup->pid_file, strerror(errno));
  sup->pid_written = 0;
}

/* Everything is gone: close every handle so loop_run returns. */
static void finish(sup_t *sup) {
  sup->state = SUP_DONE;
  waiters_reply(&sup->cur, 0, "shutting down\n");
  waiters_reply(&sup->next, 0, "shutting down\n");
  while (sup->gens) {
    struct gen *g = sup->gens;
    gen_unlink(g);
    gen_free(g);
  }
  for (unsigned i = 0; i < sup->n_sigs; i++)
    loop_close(&sup->sigs[i].h, NULL);
  loop_close(&sup->health.h, NULL);
  loop_close(&sup->tick.h, NULL);
  loop_close(&sup->tickets_timer.h, NULL);
  sup_ctl_close(sup->ctl);
  sup->ctl = NULL;
  remove_pid_file(sup);
  log_msg(sup->log, LOG_INFO, "exiting with status %d", sup->exit_status);
}

static void maybe_finish(sup_t *sup) {
  if ((sup->state == SUP_QUITTING || sup->state == SUP_STOPPING) && total_workers(sup) == 0)
    finish(sup);
}

static void shutdown_begin(sup_t *sup, int fast) {
  if (sup->state == SUP_DONE || sup->state == SUP_STOPPING ||
      (sup->state == SUP_QUITTING && !fast))
    return;
  sup->state = fast ? SUP_STOPPING : SUP_QUITTING;
  log_msg(sup->log, LOG_INFO, "%s shutdown: %u workers", fast ? "fast" : "graceful",
          total_workers(sup));
  if (sup->pending) {
    sup->pending->state = GEN_FAILED;
    sup->pending = NULL;
  }
  sup->reload_again = 0;
  waiters_reply(&sup->cur, 0, "shutting down\n");
  waiters_reply(&sup->next, 0, "shutting down\n");
  /* new connections are refused at once: the workers close theirs on DRAIN/STOP */
  sup_lset_close_all(sup->lset);
  uint64_t graceful = sup->active ? secs_ms(sup->active->conf->timeouts.graceful) : 0;
  for (struct gen *g = sup->gens; g; g = g->next) {
    if (fast) {
      g->state = g->state == GEN_FAILED ? GEN_FAILED : GEN_DRAINING;
      for (struct worker *w = g->workers; w; w = w->next)
        worker_stop(w);
    } else if (g->state != GEN_DRAINING) {
      gen_drain(g, g->state == GEN_FAILED ? 0 : graceful);
    }
  }
  /* generations with no workers left (all slots waiting for a respawn) go now */
  for (struct gen *g = sup->gens, *next; g; g = next) {
    next = g->next;
    gen_maybe_free(g);
  }
  schedule(sup);
  maybe_finish(sup);
}

/* ---- signals ------------------------------------------------------------------------- */

static void reopen_logs(sup_t *sup) {
  int rc = log_reopen(sup->log);
  if (rc < 0)
    log_msg(sup->log, LOG_ERROR, "reopening the error log failed: %s", strerror(-rc));
  /* rotation moved the files away: new ones, the workers' user's, before they reopen */
  for (struct gen *g = sup->gens; g; g = g->next)
    if (g->state == GEN_ACTIVE || g->state == GEN_DRAINING)
      (void)logs_prepare(sup, g->conf);
  for (struct gen *g = sup->gens; g; g = g->next)
    for (struct worker *w = g->workers; w; w = w->next)
      if (!w->killed && ipc_send(w->fd, IPC_REOPEN, NULL, 0) < 0)
        log_msg(sup->log, LOG_WARN, "worker %ld: sending reopen failed", (long)w->pid);
  log_msg(sup->log, LOG_INFO, "logs reopened");
}

static void workers_more(sup_t *sup) {
  struct gen *g = sup->active;
  if (!g || sup->state != SUP_RUNNING)
    return;
  if (g->n_slots >= MAX_WORKERS) {
    log_msg(sup->log, LOG_WARN, "SIGTTIN: generation %u already has %u workers, the most a "
            "config allows", g->id, g->n_slots);
    return;
  }
  g->slots = sup_xrealloc(g->slots, (g->n_slots + 1) * sizeof(struct slot));
  memset(&g->slots[g->n_slots], 0, sizeof(struct slot));
  unsigned i = g->n_slots++;
  log_msg(sup->log, LOG_INFO, "generation %u: %u workers (one more)", g->id, g->n_slots);
  if (worker_spawn(g, i) < 0)
    slot_respawn(g, i, 0);
  schedule(sup);
}

static void workers_fewer(sup_t *sup) {
  struct gen *g = sup->active;
  if (!g || sup->state != SUP_RUNNING)
    return;
  if (g->n_slots <= 1) {
    log_msg(sup->log, LOG_INFO, "SIGTTOU: generation %u keeps its last worker", g->id);
    return;
  }
  struct slot *s = &g->slots[--g->n_slots];
  log_msg(sup->log, LOG_INFO, "generation %u: %u workers (one fewer)", g->id, g->n_slots);
  if (s->w) {
    s->w->retired = 1;
    worker_drain(s->w, secs_ms(g->conf->timeouts.graceful));
  }
  schedule(sup);
}

static void on_signal(loop_signal_t *s, int signum) {
  sup_t *sup = s->h.data;
  switch (signum) {
  case SIGCHLD:
    on_sigchld(sup);
    break;
  case SIGHUP:
    log_msg(sup->log, LOG_INFO, "SIGHUP: reload");
    reload_start(sup);
    break;
  case SIGQUIT:
    shutdown_begin(sup, 0);
    break;
  case SIGTERM:
  case SIGINT:
    shutdown_begin(sup, 1);
    break;
  case SIGUSR1:
    reopen_logs(sup);
    break;
  case SIGTTIN:
    workers_more(sup);
    break;
  case SIGTTOU:
    workers_fewer(sup);
    break;
  }
}

/* ---- status -------------------------------------------------------------------------- */

static const char *sup_state_name(enum sup_state s) {
  switch (s) {
  case SUP_RUNNING:
    return "running";
  case SUP_QUITTING:
    return "quitting";
  case SUP_STOPPING:
    return "stopping";
  default:
    return "exiting";
  }
}

/* Workers in listing order: the active generation, the starting one, then draining ones
 * newest first; each by slot. */
static unsigned collect(sup_t *sup, struct worker **out, unsigned cap) {
  unsigned n = 0;
  struct gen *order[3] = {sup->active, sup->pending, NULL};
  for (int pass = 0; pass < 3; pass++) {
    for (struct gen *g = sup->gens; g; g = g->next) {
      int take = pass < 2 ? g == order[pass] : (g != sup->active && g != sup->pending);
      if (!take || !g)
        continue;
      unsigned first = n;
      for (struct worker *w = g->workers; w && n < cap; w = w->next)
        out[n++] = w;
      for (unsigned i = first + 1; i < n; i++) /* by slot: insertion sort, lists are short */
        for (unsigned j = i; j > first && out[j - 1]->slot > out[j]->slot; j--) {
          struct worker *t = out[j];
          out[j] = out[j - 1];
          out[j - 1] = t;
        }
    }
  }
  return n;
}

static void status_json(sup_t *sup, struct sup_buf *b) {
  uint64_t now = now_ms(sup);
  sup_buf_printf(b, "{\"supervisor\": {\"pid\": %ld, \"generation\": %u, \"config\": ",
                 (long)sup->pid, sup->last_active_id);
  sup_buf_json_str(b, sup->conf_path);
  sup_buf_printf(b, ", \"uptime_s\": %.3f, \"state\": \"%s\", \"listening\": [",
                 (double)(now - sup->started_ms) / 1000.0, sup_state_name(sup->state));
  if (sup->active && sup->state == SUP_RUNNING) {
    char addrs[1024];
    sup_lset_describe(sup->lset, sup->active->conf, addrs, sizeof(addrs));
    char *save = NULL;
    int first = 1;
    for (char *a = strtok_r(addrs, ", ", &save); a; a = strtok_r(NULL, ", ", &save)) {
      sup_buf_printf(b, "%s", first ? "" : ", ");
      sup_buf_json_str(b, a);
      first = 0;
    }
  }
  sup_buf_printf(b, "]},\n \"workers\": [");
  struct worker *ws[1024];
  unsigned n = collect(sup, ws, 1024);
  for (unsigned i = 0; i < n; i++) {
    struct worker *w = ws[i];
    const struct ipc_stats *st = &w->stats;
    sup_buf_printf(b,
                   "%s{\"pid\": %ld, \"generation\": %u, \"slot\": %u, \"state\": \"%s\", "
                   "\"uptime_s\": %.3f, \"connections\": %llu, \"requests\": %llu, "
                   "\"refs\": {\"total\": %u, \"listeners\": %u, \"connections\": %u, "
                   "\"pool_jobs\": %u, \"timers\": %u, \"ipc\": %u, \"signals\": %u, "
                   "\"immediates\": %u, \"other\": %u}, "
                   "\"loop_lag_ms\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f}, "
                   "\"pool\": {\"threads\": %u, \"queued\": %u, \"running\": %u}, "
                   "\"last_pong_s\": %.3f, \"missed_pings\": %u",
                   i ? ",\n  " : "\n  ", (long)w->pid, w->gen->id, w->slot, worker_state(w),
                   (double)(now - w->started_ms) / 1000.0,
                   (unsigned long long)st->connections, (unsigned long long)st->requests,
                   st->refs_total, st->refs[LOOP_REF_LISTENER], st->refs[LOOP_REF_CONNECTION],
                   st->refs[LOOP_REF_POOL_JOB], st->refs[LOOP_REF_TIMER], st->refs[LOOP_REF_IPC],
                   st->refs[LOOP_REF_SIGNAL], st->refs[LOOP_REF_IMMEDIATE],
                   st->refs[LOOP_REF_OTHER], st->lag_p50_ms, st->lag_p99_ms, st->lag_max_ms,
                   st->pool_threads, st->pool_queued, st->pool_running,
                   (double)(now - w->last_answer_ms) / 1000.0, w->outstanding);
    static const char *const paths[] = {"none", "buffer", "ktls"};
    sup_buf_printf(b, ", \"tls\": {\"handshakes\": %llu, \"resumed\": %llu, \"failed\": %llu, "
                   "\"body_path\": \"%s\"}", (unsigned long long)st->tls_handshakes,
                   (unsigned long long)st->tls_resumed, (unsigned long long)st->tls_failed,
                   paths[st->tls_body_path < 3 ? st->tls_body_path : 0]);
    sup_buf_printf(b, ", \"h2\": {\"connections\": %llu, \"streams\": %llu}",
                   (unsigned long long)st->h2_connections, (unsigned long long)st->h2_streams);
    sup_buf_printf(b, ", \"compression\": {\"entries\": %llu, \"bytes\": %llu, "
                   "\"max_bytes\": %llu, \"hits\": %llu, \"compressions\": %llu}}",
                   (unsigned long long)st->zc_entries, (unsigned long long)st->zc_bytes,
                   (unsigned long long)st->zc_max_bytes, (unsigned long long)st->zc_hits,
                   (unsigned long long)st->zc_compressions);
  }
  sup_buf_printf(b, "]}\n");
}

static void status_text(sup_t *sup, struct sup_buf *b) {
  uint64_t now = now_ms(sup);
  char addrs[1024] = "-";
  if (sup->active && sup->state == SUP_RUNNING)
    sup_lset_describe(sup->lset, sup->active->conf, addrs, sizeof(addrs));
  sup_buf_printf(b, "supervisor pid %ld, %s, generation %u, up %.1f s\nconfig %s\nlistening on %s\n",
                 (long)sup->pid, sup_state_name(sup->state), sup->last_active_id,
                 (double)(now - sup->started_ms) / 1000.0, sup->conf_path, addrs);
  struct worker *ws[1024];
  unsigned n = collect(sup, ws, 1024);
  /* MISSED: pings unanswered now; a hung worker shows it here before health kills it, while
   * its other figures are the last ones it sent. */
  sup_buf_printf(b, "%-8s %4s %4s %-9s %8s %6s %10s %4s %4s %4s %4s %4s %8s %6s %6s\n", "PID",
                 "GEN", "SLOT", "STATE", "UPTIME", "CONNS", "REQUESTS", "REFS", "LSTN", "CONN",
                 "POOL", "TIMR", "LAG99ms", "QUEUED", "MISSED");
  for (unsigned i = 0; i < n; i++) {
    struct worker *w = ws[i];
    const struct ipc_stats *st = &w->stats;
    sup_buf_printf(b,
                   "%-8ld %4u %4u %-9s %7.1fs %6llu %10llu %4u %4u %4u %4u %4u %8.2f %6u %6u\n",
                   (long)w->pid, w->gen->id, w->slot, worker_state(w),
                   (double)(now - w->started_ms) / 1000.0, (unsigned long long)st->connections,
                   (unsigned long long)st->requests, st->refs_total, st->refs[LOOP_REF_LISTENER],
                   st->refs[LOOP_REF_CONNECTION], st->refs[LOOP_REF_POOL_JOB],
                   st->refs[LOOP_REF_TIMER], st->lag_p99_ms, st->pool_queued, w->outstanding);
  }
  /* slots whose worker died and waits out its back-off: otherwise they would just be absent */
  struct gen *a = sup->active;
  for (unsigned i = 0; a && i < a->n_slots; i++)
    if (!a->slots[i].w && a->slots[i].respawn_at_ms)
      sup_buf_printf(b, "slot %u of generation %u: no worker, respawn in %.1f s\n", i, a->id,
                     a->slots[i].respawn_at_ms > now
                         ? (double)(a->slots[i].respawn_at_ms - now) / 1000.0
                         : 0.0);
}

/* ---- control socket ------------------------------------------------------------------ */

static void on_ctl(sup_ctl_req_t *req, const char *line, void *data) {
  sup_t *sup = data;
  struct sup_buf b = {0};
  if (strcmp(line, "reload") == 0) {
    if (sup->state != SUP_RUNNING) {
      sup_ctl_reply(req, 0, "shutting down\n");
    } else if (sup->next.n >= MAX_WAITERS) {
      sup_ctl_reply(req, 0, "too many reloads waiting\n");
    } else {
      log_msg(sup->log, LOG_INFO, "control socket: reload");
      sup->next.req[sup->next.n++] = req;
      reload_start(sup); /* answers when the outcome is known */
    }
  } else if (strcmp(line, "quit") == 0 || strcmp(line, "stop") == 0) {
    sup_ctl_reply(req, 1, line[0] == 'q' ? "graceful shutdown started\n"
                                         : "fast shutdown started\n");
    shutdown_begin(sup, line[0] == 's');
  } else if (strcmp(line, "reopen") == 0) {
    reopen_logs(sup);
    sup_ctl_reply(req, 1, "logs reopened\n");
  } else if (strcmp(line, "status") == 0) {
    status_text(sup, &b);
    sup_ctl_reply(req, 1, b.p);
  } else if (strcmp(line, "status json") == 0) {
    status_json(sup, &b);
    sup_ctl_reply(req, 1, b.p);
  } else {
    sup_ctl_reply(req, 0, "unknown command\n");
  }
  sup_buf_free(&b);
}

/* ---- start-up and teardown ----------------------------------------------------------- */

static int write_pid_file(sup_t *sup) {
  char buf[32];
  int n = snprintf(buf, sizeof(buf), "%ld\n", (long)sup->pid);
  int fd = open(sup->pid_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    int err = errno;
    log_msg(sup->log, LOG_ERROR, "open(%s) failed: %s", sup->pid_file, strerror(err));
    return -err;
  }
  int rc = 0;
  if (write(fd, buf, (size_t)n) != n) {
    rc = -errno;
    log_msg(sup->log, LOG_ERROR, "write(%s) failed: %s", sup->pid_file, strerror(errno));
  }
  close(fd);
  if (rc == 0)
    sup->pid_written = 1;
  return rc;
}

/* pid_file and control_socket follow a reload, as nginx's pid file does: the CLI reads them
 * from the config, so one the server left behind would lock it out. Each new one is in place
 * before the old one goes; one that cannot be made leaves the old one, logged. */
static void follow_paths(sup_t *sup, const conf_t *now) {
  if (strcmp(now->pid_file, sup->pid_file) != 0) {
    char *old = sup->pid_file;
    int had = sup->pid_written;
    sup->pid_file = sup_xstrdup(now->pid_file);
    if (write_pid_file(sup) == 0) {
      if (had && unlink(old) < 0 && errno != ENOENT)
        log_msg(sup->log, LOG_WARN, "unlink(%s) failed: %s", old, strerror(errno));
      log_msg(sup->log, LOG_INFO, "pid file moved to %s", sup->pid_file);
      free(old);
    } else {
      free(sup->pid_file);
      sup->pid_file = old;
      sup->pid_written = had;
      log_msg(sup->log, LOG_ERROR, "the pid file stays at %s", old);
    }
  }
  if (strcmp(now->control_socket, sup->ctl_path) != 0 && sup->ctl) {
    sup_ctl_t *ctl = NULL;
    int rc = -EADDRINUSE;
    if (sup_ctl_probe(now->control_socket))
      log_msg(sup->log, LOG_ERROR, "another evcluster answers on %s", now->control_socket);
    else
      rc = sup_ctl_new(sup->loop, sup->log, now->control_socket, on_ctl, sup, &ctl);
    if (rc < 0) {
      log_msg(sup->log, LOG_ERROR, "the control socket stays at %s", sup->ctl_path);
      return;
    }
    sup_ctl_close(sup->ctl);
    sup->ctl = ctl;
    free(sup->ctl_path);
    sup->ctl_path = sup_xstrdup(now->control_socket);
    log_msg(sup->log, LOG_INFO, "control socket moved to %s", sup->ctl_path);
  }
}

int sup_new(conf_t *conf, log_t *log, sup_t **out) {
  sup_t *sup = sup_xcalloc(1, sizeof(*sup));
  int rc = loop_new(&sup->loop);
  if (rc < 0) {
    log_msg(log, LOG_ERROR, "loop_new() failed: %s", strerror(-rc));
    conf_free(conf);
    free(sup);
    return rc;
  }
  sup->log = log;
  sup->boot_conf = conf;
  sup->conf_path = sup_xstrdup(conf->path);
  sup->pid_file = sup_xstrdup(conf->pid_file);
  sup->ctl_path = sup_xstrdup(conf->control_socket);
  sup->pid = getpid();
  sup->lset = sup_lset_new(log);
  loop_timer_init(sup->loop, &sup->health);
  loop_timer_init(sup->loop, &sup->tick);
  loop_timer_init(sup->loop, &sup->tickets_timer);
  sup->tickets_timer.h.data = sup;
  sup->health.h.data = sup;
  sup->tick.h.data = sup;
  *out = sup;
  return 0;
}

static const int handled_signals[] = {SIGCHLD, SIGHUP,  SIGQUIT, SIGTERM,
                                      SIGINT,  SIGUSR1, SIGTTIN, SIGTTOU};
#define N_HANDLED (sizeof(handled_signals) / sizeof(handled_signals[0]))

static void handled_set(sigset_t *set) {
  sigemptyset(set);
  for (size_t i = 0; i < N_HANDLED; i++)
    sigaddset(set, handled_signals[i]);
}

void sup_block_signals(void) {
  sigset_t set;
  handled_set(&set);
  sigprocmask(SIG_BLOCK, &set, NULL);
}

static int start(sup_t *sup) {
  const int *signals = handled_signals;
  sup->started_ms = now_ms(sup);
  if (sup_ctl_probe(sup->ctl_path)) {
    log_msg(sup->log, LOG_ERROR,
            "another evcluster is running: its control socket %s answers", sup->ctl_path);
    return -EADDRINUSE;
  }
  /* a write to a closed control client or worker channel is an error, not a death */
  signal(SIGPIPE, SIG_IGN);
  for (size_t i = 0; i < N_HANDLED; i++) {
    loop_signal_t *s = &sup->sigs[sup->n_sigs];
    loop_signal_init(sup->loop, s);
    s->h.data = sup;
    sup->n_sigs++;
    int rc = loop_signal_start(s, on_signal, signals[i]);
    if (rc < 0) {
      log_msg(sup->log, LOG_ERROR, "loop_signal_start(%s) failed: %s", strsignal(signals[i]),
              strerror(-rc));
      return rc;
    }
  }
  sigset_t held;
  handled_set(&held);
  sigprocmask(SIG_UNBLOCK, &held, NULL); /* what came meanwhile is delivered to the loop */
  struct gen *g = gen_new(sup, sup->boot_conf, GEN_ACTIVE);
  if (!g)
    return -EADDRNOTAVAIL;
  sup->boot_conf = NULL;
  sup->active = g;
  sup->last_active_id = g->id;
  int rc = write_pid_file(sup);
  if (rc < 0)
    return rc;
  rc = sup_ctl_new(sup->loop, sup->log, sup->ctl_path, on_ctl, sup, &sup->ctl);
  if (rc < 0)
    return rc;
  rc = logs_prepare(sup, g->conf);
  if (rc < 0)
    return rc;
  log_msg(sup->log, LOG_INFO, "started: pid %ld, config %s, %u workers", (long)sup->pid,
          sup->conf_path, g->n_slots);
  if (sup_tickets_make(&sup->tickets) == 0) {
    sup->tickets_ok = 1;
    loop_timer_start(&sup->tickets_timer, on_tickets, secs_ms(g->conf->tls.ticket_key_rotation), 0);
  } else {
    log_msg(sup->log, LOG_ERROR, "RAND_priv_bytes() failed: no TLS session tickets");
  }
  gen_spawn_all(g);
  health_arm(sup);
  schedule(sup);
  return 0;
}

int sup_run(sup_t *sup) {
  int rc = start(sup);
  if (rc < 0) {
    sup->exit_status = 1;
    finish(sup);
  }
  rc = loop_run(sup->loop, LOOP_RUN_DEFAULT);
  if (rc < 0) {
    log_msg(sup->log, LOG_ERROR, "loop_run() failed: %s", strerror(-rc));
    return 1;
  }
  return sup->exit_status;
}

void sup_free(sup_t *sup) {
  if (!sup)
    return;
  if (sup->state != SUP_DONE) {
    /* loop_run failed: nothing can be drained any more */
    for (struct gen *g = sup->gens; g; g = g->next)
      gen_kill_all(g, "is left by a failing supervisor");
    finish(sup);
  }
  /* close callbacks of the handles finish() closed; nothing else is alive */
  loop_run(sup->loop, LOOP_RUN_DEFAULT);
  loop_free(sup->loop);
  sup_lset_free(sup->lset);
  conf_free(sup->boot_conf);
  free(sup->conf_path);
  free(sup->pid_file);
  free(sup->ctl_path);
  free(sup);
}
