/* The supervisor process (see sup.h). State lives in one struct sup passed to every handler.
 * Workers are grouped in generations: the active one (its slots are respawned when a worker
 * dies), at most one starting (a reload waiting for READY from all its workers) and any
 * number draining (bounded: the oldest is killed when too many pile up). One one-shot timer
 * is re-armed to the nearest deadline (respawn, kill after drain, reload timeout). */
#define _GNU_SOURCE /* Linux interfaces: accept4, close_range, SO_PEERCRED, strsignal */
#include "sup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "ctl.h"
#include "ipc.h"
#include "listen.h"
#include "loop.h"
#include "metrics.h"
#include "notify.h"
#include "procstat.h"
#include "recycle.h"
#include "spawn.h"
#include "upgrade.h"
#include "tickets.h"
#include "util.h"
#include "version.h"

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
#define UPGRADE_CHECK_MS 10000 /* for `NEW -t -c CONFIG` to answer */

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
  int health_killed; /* killed for missed pings: a restart for "health", not "crash" */
  int keys_owed;     /* a rotation's ticket keys found its IPC socket full: sent with a ping */
  uint64_t started_ms, ready_ms, last_answer_ms;
  uint64_t kill_at_ms; /* 0: none */
  uint64_t seq;        /* last ping sent */
  uint64_t answered;   /* last ping answered */
  unsigned outstanding;
  struct ipc_stats stats; /* the last answer's (all zero until one came: answered is 0) */
  struct procstat ps;         /* CPU and RSS, read from /proc on each health interval */
  struct recycle_worker rec;  /* its request threshold and RSS baseline */
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
  const char *version;  /* the binary its workers run (status shows it after an upgrade) */
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
  loop_signal_t sigs[10];
  unsigned n_sigs;
  loop_timer_t health;
  uint64_t health_ms;
  loop_timer_t tick;
  int handles_open;
  struct procstat self; /* the supervisor's own CPU and RSS */
  recycle_t *recycle;
  /* The recycle in progress, both NULL when none: rec_new starts for rec_old's slot while
   * rec_old keeps the slot and serves; at rec_new's READY they swap and rec_old drains. */
  struct worker *rec_old, *rec_new;
  sup_metrics_t *metrics;
  sup_admin_t *admin;
  char *admin_text; /* the admin address it serves, as configured */
  double started_wall; /* Unix time of the start, for /metrics */
  loop_timer_t delay;  /* timeouts.drain_delay: /healthz says 503 before a graceful stop */
  int delaying, delay_done;
  loop_timer_t watchdog; /* WATCHDOG=1 at half of WATCHDOG_USEC, while healthy */
  char last_status[160]; /* the last STATUS= sent to systemd */
  char *exe; /* the binary's path as started: an upgrade executes what is there now */
  struct {
    pid_t check_pid; /* `exe -t -c CONFIG` running */
    int out_fd;      /* its output */
    uint64_t deadline_ms;
    sup_ctl_req_t *req; /* the CLI waiting for the outcome, or NULL (SIGUSR2) */
  } up;
  struct sup_handover *handover; /* from the previous image, until start() took it */
  char *old_version;             /* the previous image's, for its adopted generations */
  int upgrading; /* this image came from an upgrade; its own first generation is starting */
  struct ipc_ticket_keys tickets; /* TLS ticket keys: in memory only, kept across reloads */
  int tickets_ok;
  loop_timer_t tickets_timer;
};

static void schedule(sup_t *sup);
static void gen_maybe_free(struct gen *g);
static void maybe_finish(sup_t *sup);
static void shutdown_begin(sup_t *sup, int fast);
static void follow_paths(sup_t *sup, const conf_t *now);
static void recycle_ready(struct worker *w);
static int recycle_reaped(struct worker *w, int had_slot);
static int sup_healthy(sup_t *sup, const char **why);
static void status_line(sup_t *sup, char *buf, size_t len);
static int follow_admin(sup_t *sup, const conf_t *now, int fd);
static void upgrade_start(sup_t *sup, sup_ctl_req_t *req);
static void upgrade_checked(sup_t *sup, int status);
static void handled_set(sigset_t *set);

/* Listeners open at once: a config and the one reloaded over it, at most 64 each. */
#define HELD_MAX 256

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
        recycle_ready(w);
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
    case IPC_FINAL: /* the counters since the last ping, just before it exits */
      w->stats.counters = m.u.stats.counters;
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

/* Forks a worker for slot of g and lists it in g; putting it in the slot is the caller's. */
static int worker_new(struct gen *g, unsigned slot, struct worker **out) {
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
  recycle_worker_spawned(sup->recycle, g->conf, &w->rec);
  sup_metrics_worker_started(sup->metrics);
  log_msg(sup->log, LOG_INFO, "worker %ld (slot %u, generation %u) started", (long)pid, slot,
          g->id);
  *out = w;
  return 0;
}

static int worker_spawn(struct gen *g, unsigned slot) {
  struct worker *w;
  int rc = worker_new(g, slot, &w);
  if (rc < 0)
    return rc;
  g->slots[slot].w = w;
  g->slots[slot].respawn_at_ms = 0;
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

static struct gen *gen_new_id(sup_t *sup, conf_t *conf, enum gen_state state, unsigned id);

static struct gen *gen_new(sup_t *sup, conf_t *conf, enum gen_state state) {
  return gen_new_id(sup, conf, state, sup->next_gen + 1);
}

/* id: an upgrade's adopted generations keep theirs. */
static struct gen *gen_new_id(sup_t *sup, conf_t *conf, enum gen_state state, unsigned id) {
  struct gen *g = sup_xcalloc(1, sizeof(*g));
  g->fds = sup_xcalloc(conf->n_listen, sizeof(int));
  if (sup_lset_acquire(sup->lset, conf, g->fds) < 0) {
    free(g->fds);
    free(g);
    return NULL;
  }
  g->sup = sup;
  g->conf = conf;
  g->id = id;
  if (id > sup->next_gen)
    sup->next_gen = id;
  g->state = state;
  g->version = EVC_VERSION;
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
  if (sup->upgrading)
    sup_metrics_upgrade(sup->metrics, ok);
  else
    sup_metrics_reload(sup->metrics, ok);
  sup->upgrading = 0;
  /* READY=1 after a failed reload too: the old generation serves on, and STATUS= says so */
  char st[sizeof(sup->last_status)];
  if (ok)
    status_line(sup, st, sizeof(st));
  else
    snprintf(st, sizeof(st), "%.*s; generation %u serves on", (int)strcspn(body, "\n"), body,
             sup->last_active_id);
  memcpy(sup->last_status, st, sizeof(st));
  sup_notify_ready(sup->log, st);
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

/* "generation 3, 2 workers, 12345 requests": systemd's STATUS= line; requests since the
 * start, as /metrics counts them (workers that are gone included). */
static void status_line(sup_t *sup, char *buf, size_t len) {
  unsigned long long requests = sup_metrics_requests_gone(sup->metrics);
  unsigned workers = 0;
  for (struct gen *g = sup->gens; g; g = g->next)
    for (struct worker *w = g->workers; w; w = w->next) {
      requests += sup_metrics_requests(&w->stats.counters);
      workers++;
    }
  snprintf(buf, len, "generation %u, %u workers, %llu requests", sup->last_active_id, workers,
           requests);
}

static void notify_status(sup_t *sup) {
  char line[sizeof(sup->last_status)];
  status_line(sup, line, sizeof(line));
  if (strcmp(line, sup->last_status) == 0)
    return;
  memcpy(sup->last_status, line, sizeof(line));
  sup_notify_status(sup->log, line);
}

static void gen_check_ready(struct gen *g) {
  sup_t *sup = g->sup;
  for (unsigned i = 0; i < g->n_slots; i++)
    if (!g->slots[i].w || !g->slots[i].w->ready)
      return;
  if (!g->announced) {
    g->announced = 1;
    int first = !sup->served;
    sup->served = 1;
    log_set_echo(sup->log, 0); /* started: the error log alone from now on */
    log_ready(g);
    if (first && g->state == GEN_ACTIVE) {
      status_line(sup, sup->last_status, sizeof(sup->last_status));
      sup_notify_ready(sup->log, sup->last_status);
    }
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
    snprintf(msg, sizeof(msg), "%s: generation %u running, generation %u draining\n",
             sup->upgrading ? "upgraded" : "reloaded", g->id, old->id);
    gen_drain(old, secs_ms(g->conf->timeouts.graceful));
    bound_draining(sup);
    gen_maybe_free(old);
  } else {
    snprintf(msg, sizeof(msg), "%s: generation %u running\n",
             sup->upgrading ? "upgraded" : "reloaded", g->id);
  }
  log_msg(sup->log, LOG_INFO, "%s: generation %u running", sup->upgrading ? "upgrade" : "reload",
          g->id);
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
  const char *what = sup->upgrading ? "upgrade" : "reload";
  log_msg(sup->log, LOG_ERROR, "%s failed: generation %u %s; keeping generation %u", what,
          g->id, why, sup->active ? sup->active->id : 0);
  char msg[256];
  snprintf(msg, sizeof(msg), "%s failed: generation %u %s\n", what, g->id, why);
  gen_abort_workers(g, secs_ms(g->conf->timeouts.graceful), "belongs to a failed reload");
  gen_release_listeners(g);
  gen_maybe_free(g);
  reload_done(sup, 0, msg);
}

static void reload_start(sup_t *sup) {
  if (sup->state != SUP_RUNNING || sup->delaying) {
    waiters_reply(&sup->next, 0, "shutting down\n");
    return;
  }
  if (sup->pending) {
    sup->reload_again = 1; /* once this one is decided, read the file again */
    return;
  }
  if (sup->up.check_pid) { /* the execve would cut a reload short: they do not overlap */
    log_msg(sup->log, LOG_WARN, "reload refused: a binary upgrade is under way");
    waiters_reply(&sup->next, 0, "reload refused: a binary upgrade is under way\n");
    return;
  }
  sup->cur = sup->next;
  sup->next.n = 0;
  sup_notify_reloading(sup->log, "reloading");
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

/* A worker that is gone may have left messages in its channel: its FINAL counters (a
 * graceful exit) or a last pong. Only counters are taken from them: anything else is news
 * about a process that no longer exists. */
static void worker_last_words(struct worker *w) {
  for (int i = 0; i < IPC_BURST && !w->eof; i++) {
    struct ipc_msg m;
    int rc = ipc_recv(w->fd, &m);
    if (rc == -EBADMSG || rc == -EPROTO || rc == -ENOTSUP)
      continue;
    if (rc < 0)
      break;
    if (m.type == IPC_FINAL ||
        (m.type == IPC_PONG && m.u.stats.seq > w->answered && m.u.stats.seq <= w->seq))
      w->stats.counters = m.u.stats.counters;
  }
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
  worker_last_words(w);
  sup_metrics_worker_gone(sup->metrics, &w->stats.counters);
  if (!expected)
    sup_metrics_worker_restarted(sup->metrics,
                                 w->health_killed ? SUP_RESTART_HEALTH : SUP_RESTART_CRASH);

  struct worker **pp = &g->workers;
  while (*pp != w)
    pp = &(*pp)->next;
  *pp = w->next;
  g->n_workers--;
  int had_slot = !w->retired && w->slot < g->n_slots && g->slots[w->slot].w == w;
  if (had_slot)
    g->slots[w->slot].w = NULL;
  if (recycle_reaped(w, had_slot)) /* before any return: the recycle must not keep w */
    had_slot = 0; /* the replacement that was starting for it took the slot */
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
    if (pid == sup->up.check_pid) {
      upgrade_checked(sup, status);
      continue;
    }
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
  if (sup->up.check_pid && now >= sup->up.deadline_ms && sup->up.deadline_ms) {
    log_msg(sup->log, LOG_WARN, "upgrade: the check of %s did not end within %d s: killing it",
            sup->exe, UPGRADE_CHECK_MS / 1000);
    sup->up.deadline_ms = 0; /* reaped with its signal: the upgrade fails then */
    kill(sup->up.check_pid, SIGKILL);
  }
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
  if (sup->up.check_pid && sup->up.deadline_ms && sup->up.deadline_ms < next)
    next = sup->up.deadline_ms;
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

/* ---- recycling (policy in recycle.c) -------------------------------------------------- */

/* Ends the recycle in progress without a swap: the old worker keeps its slot. A replacement
 * still starting is killed (before READY it holds no connection); a ready one drains. */
static void recycle_cancel(sup_t *sup, const char *why) {
  struct worker *spare = sup->rec_new;
  sup->rec_old = sup->rec_new = NULL;
  recycle_end(sup->recycle, now_ms(sup), 0, spare ? spare->pid : 0, why);
  if (spare && spare->ready)
    worker_drain(spare, secs_ms(spare->gen->conf->timeouts.graceful));
  else if (spare)
    worker_kill(spare, "was the replacement of a cancelled recycle");
}

/* On each health interval: /proc figures of every process, then at most one recycle starts,
 * in the active generation, outside a reload and a shutdown. */
static void recycle_check(sup_t *sup, uint64_t now) {
  (void)procstat_sample(sup->pid, now, &sup->self);
  for (struct gen *g = sup->gens; g; g = g->next)
    for (struct worker *w = g->workers; w; w = w->next)
      if (!w->killed)
        (void)procstat_sample(w->pid, now, &w->ps); /* a gone one: its SIGCHLD is coming */
  struct gen *g = sup->active;
  if (sup->rec_new && (sup->rec_new->gen != g || sup->state != SUP_RUNNING))
    recycle_cancel(sup, "its generation is no longer the active one");
  if (!g || g->state != GEN_ACTIVE || sup->state != SUP_RUNNING || sup->pending || !sup->served)
    return;
  struct worker *due = NULL;
  double most = 0;
  for (unsigned i = 0; i < g->n_slots; i++) {
    struct worker *w = g->slots[i].w;
    if (!w || !w->ready || w->drain_sent || w->stop_sent || w->killed || w->eof)
      continue;
    double u = recycle_observe(g->conf, &w->rec, w->ps.rss_kb, w->stats.requests, now);
    if (u > most) {
      most = u;
      due = w;
    }
  }
  if (!due || !recycle_may_start(sup->recycle, now))
    return;
  recycle_begin(sup->recycle, g->conf, now, due->pid, due->slot, g->id,
                recycle_due(g->conf, &due->rec, due->ps.rss_kb, due->stats.requests), &due->rec,
                due->ps.rss_kb, due->stats.requests, due->rec.due_ms - due->ready_ms);
  struct worker *spare;
  if (worker_new(g, due->slot, &spare) < 0) {
    recycle_end(sup->recycle, now, 0, 0, "could not fork its replacement");
    return;
  }
  sup->rec_old = due;
  sup->rec_new = spare;
  schedule(sup);
}

/* A worker is READY: its RSS baseline; and if it is the replacement of a recycle, the swap:
 * it takes the slot and the old worker drains as on a reload (timeouts.graceful, then cut). */
static void recycle_ready(struct worker *w) {
  sup_t *sup = w->gen->sup;
  uint64_t now = now_ms(sup);
  (void)procstat_sample(w->pid, now, &w->ps);
  recycle_worker_ready(sup->recycle, w->gen->conf, &w->rec, w->pid, w->ps.rss_kb);
  if (w != sup->rec_new)
    return;
  struct worker *old = sup->rec_old;
  struct gen *g = w->gen;
  if (g != sup->active || g->state != GEN_ACTIVE || sup->state != SUP_RUNNING ||
      w->slot >= g->n_slots || g->slots[w->slot].w != old) {
    recycle_cancel(sup, "the cluster changed while its replacement started");
    return;
  }
  sup->rec_old = sup->rec_new = NULL;
  g->slots[w->slot].w = w;
  enum recycle_reason why = recycle_end(sup->recycle, now, 1, w->pid, NULL);
  if (why != RECYCLE_NONE)
    sup_metrics_recycled(sup->metrics, why == RECYCLE_RSS);
  worker_drain(old, secs_ms(g->conf->timeouts.graceful));
  schedule(sup);
}

/* A worker was reaped. The replacement dying before READY abandons the recycle; the old
 * worker dying meanwhile hands its slot to the replacement: returns 1 then (no respawn). */
static int recycle_reaped(struct worker *w, int had_slot) {
  sup_t *sup = w->gen->sup;
  if (w == sup->rec_new) {
    sup->rec_new = NULL;
    recycle_cancel(sup, "its replacement died before it was ready");
    return 0;
  }
  if (w != sup->rec_old)
    return 0;
  sup->rec_old = NULL;
  if (!had_slot) { /* no slot to hand over: the replacement has no place either */
    recycle_cancel(sup, "it died out of its slot");
    return 0;
  }
  struct worker *spare = sup->rec_new;
  sup->rec_new = NULL;
  recycle_end(sup->recycle, now_ms(sup), 0, spare->pid,
              "it died first; its replacement takes the slot");
  w->gen->slots[w->slot].w = spare;
  return 1;
}

/* A worker whose IPC socket is full (busy, or hung: health decides) gets the keys later, from
 * on_health: a worker that missed two rotations could not read its peers' tickets. */
static void send_keys(sup_t *sup, struct worker *w) {
  int rc = ipc_send(w->fd, IPC_TICKET_KEYS, &sup->tickets, sizeof(sup->tickets));
  w->keys_owed = rc == -EAGAIN;
  if (rc < 0 && rc != -EAGAIN && rc != -EPIPE)
    log_msg(sup->log, LOG_WARN, "worker %ld: sending ticket keys failed: %s", (long)w->pid,
            strerror(-rc));
}

static void on_health(loop_timer_t *t) {
  sup_t *sup = t->h.data;
  const conf_t *c = sup->active ? sup->active->conf : NULL;
  if (!c)
    return;
  if (sup->served && sup->state == SUP_RUNNING && !sup->delaying)
    notify_status(sup);
  uint64_t now = now_ms(sup);
  for (struct gen *g = sup->gens; g; g = g->next) {
    for (struct worker *w = g->workers; w; w = w->next) {
      if (w->killed || !w->ready)
        continue;
      if (w->outstanding >= (unsigned)c->health.misses) {
        char why[128];
        snprintf(why, sizeof(why), "missed %u pings, last answer %.1f s ago", w->outstanding,
                 (double)(now - w->last_answer_ms) / 1000.0);
        w->health_killed = !w->killed;
        worker_kill(w, why);
        continue;
      }
      if (w->keys_owed)
        send_keys(sup, w);
      struct ipc_ping p = {.seq = ++w->seq};
      w->outstanding++; /* a ping that cannot be sent is unanswered too */
      int rc = ipc_send(w->fd, IPC_PING, &p, sizeof(p));
      if (rc < 0 && rc != -EAGAIN && rc != -EPIPE)
        log_msg(sup->log, LOG_WARN, "worker %ld: sending ping failed: %s", (long)w->pid,
                strerror(-rc));
    }
  }
  recycle_check(sup, now);
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
        if (!w->killed)
          send_keys(sup, w);
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
  loop_close(&sup->delay.h, NULL);
  loop_close(&sup->watchdog.h, NULL);
  sup_admin_close(sup->admin, 0);
  sup->admin = NULL;
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

static void on_drain_delay(loop_timer_t *t) {
  sup_t *sup = t->h.data;
  sup->delaying = 0;
  sup->delay_done = 1;
  log_msg(sup->log, LOG_INFO, "drain delay over: stopping to accept");
  shutdown_begin(sup, 0);
}

static void shutdown_begin(sup_t *sup, int fast) {
  if (sup->state == SUP_DONE || sup->state == SUP_STOPPING ||
      (sup->state == SUP_QUITTING && !fast))
    return;
  /* A graceful stop first says 503 on /healthz for drain_delay while everything still
   * serves, so that a load balancer takes the host out before connections are refused. */
  uint64_t delay = sup->active ? secs_ms(sup->active->conf->timeouts.drain_delay) : 0;
  if (!fast && sup->state == SUP_RUNNING && !sup->delay_done && delay > 0 && sup->served) {
    if (!sup->delaying) {
      sup->delaying = 1;
      sup_notify_stopping(sup->log, "draining: health checks fail, still serving");
      log_msg(sup->log, LOG_INFO, "graceful shutdown: /healthz answers 503 for %.3f s first",
              (double)delay / 1000.0);
      waiters_reply(&sup->next, 0, "shutting down\n");
      loop_timer_start(&sup->delay, on_drain_delay, delay, 0);
    }
    return;
  }
  if (sup->delaying) {
    sup->delaying = 0;
    loop_timer_stop(&sup->delay);
  }
  if (!sup->delay_done || fast)
    sup_notify_stopping(sup->log, fast ? "fast shutdown" : "graceful shutdown");
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
  if (sup->rec_new && sup->rec_new->gen == g && sup->rec_new->slot >= g->n_slots)
    recycle_cancel(sup, "SIGTTOU removed its slot"); /* the old one drains, retired */
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
  case SIGUSR2:
    log_msg(sup->log, LOG_INFO, "SIGUSR2: binary upgrade");
    upgrade_start(sup, NULL);
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

/* JSON for a CPU share not measured yet (one sample so far): null rather than a made-up 0. */
static void json_cpu(struct sup_buf *b, const struct procstat *ps) {
  if (ps->cpu_valid)
    sup_buf_printf(b, "%.1f", ps->cpu_pct);
  else
    sup_buf_printf(b, "null");
}

static void status_json(sup_t *sup, struct sup_buf *b) {
  uint64_t now = now_ms(sup);
  sup_buf_printf(b, "{\"supervisor\": {\"pid\": %ld, \"generation\": %u, \"config\": ",
                 (long)sup->pid, sup->last_active_id);
  sup_buf_json_str(b, sup->conf_path);
  sup_buf_printf(b, ", \"uptime_s\": %.3f, \"state\": \"%s\", \"version\": \"%s\", "
                 "\"healthy\": %s, \"listening\": [",
                 (double)(now - sup->started_ms) / 1000.0, sup_state_name(sup->state),
                 EVC_VERSION, sup_healthy(sup, NULL) == 200 ? "true" : "false");
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
  const struct recycle_counts *rc = recycle_counts(sup->recycle);
  sup_buf_printf(b, "], \"cpu_pct\": ");
  json_cpu(b, &sup->self);
  sup_buf_printf(b,
                 ", \"rss_kb\": %llu, \"recycled\": {\"rss\": %llu, \"requests\": %llu, "
                 "\"failed\": %llu, \"in_progress\": %s}},\n \"workers\": [",
                 (unsigned long long)sup->self.rss_kb, (unsigned long long)rc->rss,
                 (unsigned long long)rc->requests, (unsigned long long)rc->failed,
                 sup->rec_new ? "true" : "false");
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
                   "\"last_pong_s\": %.3f, \"missed_pings\": %u, \"rss_kb\": %llu, "
                   "\"recycle_at_requests\": %llu, \"replacing\": %s, \"version\": ",
                   i ? ",\n  " : "\n  ", (long)w->pid, w->gen->id, w->slot, worker_state(w),
                   (double)(now - w->started_ms) / 1000.0,
                   (unsigned long long)st->connections, (unsigned long long)st->requests,
                   st->refs_total, st->refs[LOOP_REF_LISTENER], st->refs[LOOP_REF_CONNECTION],
                   st->refs[LOOP_REF_POOL_JOB], st->refs[LOOP_REF_TIMER], st->refs[LOOP_REF_IPC],
                   st->refs[LOOP_REF_SIGNAL], st->refs[LOOP_REF_IMMEDIATE],
                   st->refs[LOOP_REF_OTHER], st->lag_p50_ms, st->lag_p99_ms, st->lag_max_ms,
                   st->pool_threads, st->pool_queued, st->pool_running,
                   (double)(now - w->last_answer_ms) / 1000.0, w->outstanding,
                   (unsigned long long)w->ps.rss_kb, (unsigned long long)w->rec.threshold,
                   w == sup->rec_new ? "true" : "false");
    sup_buf_json_str(b, w->gen->version);
    sup_buf_printf(b, ", \"cpu_pct\": ");
    json_cpu(b, &w->ps);
    static const char *const paths[] = {"none", "buffer", "ktls"};
    sup_buf_printf(b, ", \"tls\": {\"handshakes\": %llu, \"resumed\": %llu, \"failed\": %llu, "
                   "\"body_path\": \"%s\"}", (unsigned long long)st->counters.tls_handshakes,
                   (unsigned long long)st->counters.tls_resumptions,
                   (unsigned long long)st->counters.tls_failures,
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
  const struct recycle_counts *rc = recycle_counts(sup->recycle);
  sup_buf_printf(b, "supervisor pid %ld, %s, generation %u, up %.1f s, cpu %.1f%%, rss %.1f MiB, "
                 "version %s\nconfig %s\nlistening on %s\n"
                 "recycled: %llu by memory, %llu by requests, %llu abandoned%s\n",
                 (long)sup->pid, sup_state_name(sup->state), sup->last_active_id,
                 (double)(now - sup->started_ms) / 1000.0, sup->self.cpu_pct,
                 (double)sup->self.rss_kb / 1024.0, EVC_VERSION, sup->conf_path, addrs,
                 (unsigned long long)rc->rss, (unsigned long long)rc->requests,
                 (unsigned long long)rc->failed, sup->rec_new ? "; one in progress" : "");
  if (sup->admin)
    sup_buf_printf(b, "admin on %s\n", sup_admin_name(sup->admin));
  for (struct gen *g = sup->gens; g; g = g->next)
    sup_buf_printf(b, "generation %u: %s, %u workers, version %s\n", g->id,
                   g == sup->active ? "serving" : g == sup->pending ? "starting" : "draining",
                   g->n_workers, g->version);
  struct worker *ws[1024];
  unsigned n = collect(sup, ws, 1024);
  /* MISSED: pings unanswered now; a hung worker shows it here before health kills it, while
   * its other figures are the last ones it sent. */
  sup_buf_printf(b, "%-8s %4s %4s %-9s %8s %6s %8s %6s %10s %4s %4s %4s %4s %4s %8s %6s %6s\n",
                 "PID", "GEN", "SLOT", "STATE", "UPTIME", "CPU%", "RSS_MiB", "CONNS", "REQUESTS",
                 "REFS", "LSTN", "CONN", "POOL", "TIMR", "LAG99ms", "QUEUED", "MISSED");
  for (unsigned i = 0; i < n; i++) {
    struct worker *w = ws[i];
    const struct ipc_stats *st = &w->stats;
    sup_buf_printf(b,
                   "%-8ld %4u %4u %-9s %7.1fs %6.1f %8.1f %6llu %10llu %4u %4u %4u %4u %4u %8.2f "
                   "%6u %6u\n",
                   (long)w->pid, w->gen->id, w->slot, worker_state(w),
                   (double)(now - w->started_ms) / 1000.0, w->ps.cpu_pct,
                   (double)w->ps.rss_kb / 1024.0, (unsigned long long)st->connections,
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

/* ---- admin listener ------------------------------------------------------------------ */

/* /healthz: 200 while a generation serves; 503 once a graceful stop began (drain_delay
 * included, while everything still serves) and before the first generation is ready. */
static int sup_healthy(sup_t *sup, const char **why) {
  const char *w = "ok";
  int code = 503;
  if (sup->delaying || sup->state == SUP_QUITTING)
    w = "draining";
  else if (sup->state != SUP_RUNNING)
    w = "stopping";
  else if (!sup->served || !sup->active)
    w = "starting";
  else
    code = 200;
  if (why)
    *why = w;
  return code;
}

static int admin_health(void *data, const char **why) {
  return sup_healthy(data, why);
}

static void admin_status(void *data, struct sup_buf *b) {
  status_json(data, b);
}

static void admin_metrics(void *data, struct sup_buf *b) {
  sup_t *sup = data;
  static struct worker *ws[1024];
  static struct sup_metrics_worker mw[1024];
  unsigned n = collect(sup, ws, 1024);
  for (unsigned i = 0; i < n; i++)
    mw[i] = (struct sup_metrics_worker){.generation = ws[i]->gen->id,
                                        .slot = ws[i]->slot,
                                        .state = worker_state(ws[i]),
                                        .serving = ws[i]->gen == sup->active && !ws[i]->retired,
                                        .stats = &ws[i]->stats};
  struct sup_metrics_view v = {.version = EVC_VERSION,
                               .generation = sup->last_active_id,
                               .start_time_s = sup->started_wall,
                               .workers = mw,
                               .n_workers = n};
  sup_metrics_render(sup->metrics, &v, b);
}

static const struct sup_admin_ops admin_ops = {admin_health, admin_status, admin_metrics};

/* The admin listener follows the config: started, moved or stopped by a reload (the new one
 * is bound before the old one goes; one that cannot be bound keeps the old one). */
static int follow_admin(sup_t *sup, const conf_t *now, int fd) {
  const char *want = now->admin.text;
  if (same_path(want, sup->admin_text) && (sup->admin || !want))
    return 0;
  sup_admin_t *a = NULL;
  if (want) {
    int rc = sup_admin_new(sup->loop, sup->log, &now->admin, fd, &admin_ops, sup, &a);
    if (rc < 0) {
      log_msg(sup->log, LOG_ERROR, "admin listener %s: cannot serve it%s", want,
              sup->admin ? "; the old one stays" : "");
      return rc;
    }
  }
  sup_admin_close(sup->admin, 0);
  sup->admin = a;
  free(sup->admin_text);
  sup->admin_text = want ? sup_xstrdup(want) : NULL;
  return 0;
}

/* ---- control socket ------------------------------------------------------------------ */

static void on_ctl(sup_ctl_req_t *req, const char *line, void *data) {
  sup_t *sup = data;
  struct sup_buf b = {0};
  if (strcmp(line, "reload") == 0) {
    if (sup->state != SUP_RUNNING || sup->delaying) {
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
  } else if (strcmp(line, "upgrade") == 0) {
    log_msg(sup->log, LOG_INFO, "control socket: binary upgrade");
    upgrade_start(sup, req); /* answered by this image if it fails, else by the next one */
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

/* ---- binary upgrade (see upgrade.h) --------------------------------------------------- */

/* The new binary did not come up: the running one serves on, and says why. */
static void upgrade_fail(sup_t *sup, const char *why) {
  log_msg(sup->log, LOG_ERROR, "upgrade failed: %s; %s serves on", why, EVC_VERSION);
  sup_metrics_upgrade(sup->metrics, 0);
  snprintf(sup->last_status, sizeof(sup->last_status), "upgrade failed; generation %u serves on",
           sup->last_active_id);
  sup_notify_ready(sup->log, sup->last_status);
  if (sup->up.req) {
    struct sup_buf b = {0};
    sup_buf_printf(&b, "upgrade failed: %s\nthe running binary (%s) serves on\n", why,
                   EVC_VERSION);
    sup_ctl_reply(sup->up.req, 0, b.p);
    sup_buf_free(&b);
  }
  sup->up.req = NULL;
}

static void upgrade_start(sup_t *sup, sup_ctl_req_t *req) {
  const char *busy = sup->state != SUP_RUNNING || sup->delaying ? "shutting down"
                     : sup->up.check_pid                       ? "an upgrade is under way"
                     : sup->pending || sup->upgrading
                         ? "a reload is under way: try again once it is decided"
                     : sup->rec_new ? "a worker is being recycled: try again once its "
                                      "replacement is ready"
                     : !sup->served || !sup->active ? "not serving yet"
                                                     : NULL;
  if (busy) {
    log_msg(sup->log, LOG_WARN, "upgrade refused: %s", busy);
    if (req) {
      struct sup_buf b = {0};
      sup_buf_printf(&b, "upgrade refused: %s\n", busy);
      sup_ctl_reply(req, 0, b.p);
      sup_buf_free(&b);
    }
    return;
  }
  sup->up.req = req;
  sup_notify_reloading(sup->log, "upgrading the binary");
  struct stat st;
  char why[PATH_MAX + 128];
  if (stat(sup->exe, &st) < 0) {
    snprintf(why, sizeof(why), "%s: %s", sup->exe, strerror(errno));
    upgrade_fail(sup, why);
    return;
  }
  if (!S_ISREG(st.st_mode) || access(sup->exe, X_OK) < 0) {
    snprintf(why, sizeof(why), "%s: not an executable file", sup->exe);
    upgrade_fail(sup, why);
    return;
  }
  log_msg(sup->log, LOG_INFO, "upgrade: checking %s -t -c %s", sup->exe, sup->conf_path);
  /* what we hold and hand over: the check binds the config's other addresses (trial.h) */
  struct sup_buf held = {0};
  const char *texts[HELD_MAX];
  int fds[HELD_MAX];
  int n = sup_lset_fds(sup->lset, texts, fds, HELD_MAX);
  sup_buf_printf(&held, "held");
  for (int i = 0; i < n; i++)
    sup_buf_printf(&held, "\n%s", texts[i]);
  if (sup->admin_text)
    sup_buf_printf(&held, "\n%s", sup->admin_text);
  int rc = sup_upgrade_check_start(sup->exe, sup->conf_path, held.p ? held.p : "held",
                                   &sup->up.check_pid, &sup->up.out_fd);
  sup_buf_free(&held);
  if (rc < 0) {
    sup->up.check_pid = 0;
    snprintf(why, sizeof(why), "cannot run %s: %s", sup->exe, strerror(-rc));
    upgrade_fail(sup, why);
    return;
  }
  sup->up.deadline_ms = now_ms(sup) + UPGRADE_CHECK_MS;
  schedule(sup);
}

/* Everything the next image takes over: our listeners, control socket (and the CLI waiting
 * on it), admin listener, workers and totals. */
static void upgrade_handover(sup_t *sup, struct sup_handover *h) {
  memset(h, 0, sizeof(*h));
  h->ctl_fd = sup_ctl_fd(sup->ctl);
  h->req_fd = sup->up.req ? sup_ctl_req_fd(sup->up.req) : -1;
  h->admin_fd = sup->admin ? sup_admin_fd(sup->admin) : -1;
  h->admin_text = sup->admin ? sup_xstrdup(sup->admin_text) : NULL;
  h->active_gen = sup->active->id;
  h->next_gen = sup->next_gen;
  h->started_wall = sup->started_wall;
  h->version = sup_xstrdup(EVC_VERSION);
  h->exe = sup_xstrdup(sup->exe);
  h->ctl_path = sup_xstrdup(sup->ctl_path);
  h->pid_file = sup_xstrdup(sup->pid_file);
  struct sup_buf m = {0};
  sup_metrics_export(sup->metrics, &m);
  h->metrics = m.p;
  h->tickets = sup->tickets;
  h->has_tickets = sup->tickets_ok;
  const char *texts[HELD_MAX];
  int fds[HELD_MAX];
  int n = sup_lset_fds(sup->lset, texts, fds, HELD_MAX);
  for (int i = 0; i < n; i++)
    sup_handover_add_listener(h, texts[i], fds[i]);
  for (struct gen *g = sup->gens; g; g = g->next)
    for (struct worker *w = g->workers; w; w = w->next) {
      struct sup_up_worker u = {
          .pid = w->pid, .fd = w->fd, .slot = w->slot, .generation = g->id, .seq = w->seq,
          .answered = w->answered, .stats = w->stats,
          .flags = (w->ready ? SUP_UP_READY : 0) | (w->drain_sent ? SUP_UP_DRAIN_SENT : 0) |
                   (w->killed ? SUP_UP_KILLED : 0) | (w->retired ? SUP_UP_RETIRED : 0) |
                   (w->draining || g->state != GEN_ACTIVE ? SUP_UP_DRAINING : 0)};
      sup_handover_add_worker(h, &u);
    }
}

/* `NEW -t -c CONFIG` ended: execute the new binary in our place, or say why not. */
static void upgrade_checked(sup_t *sup, int status) {
  char buf[4096] = "";
  ssize_t n = read(sup->up.out_fd, buf, sizeof(buf) - 1);
  close(sup->up.out_fd);
  sup->up.check_pid = 0;
  sup->up.deadline_ms = 0;
  buf[n > 0 ? n : 0] = '\0';
  /* the reason is its last line (a trial worker's own lines may come first) */
  size_t end = strlen(buf);
  while (end > 0 && buf[end - 1] == '\n')
    buf[--end] = '\0';
  char *nl = strrchr(buf, '\n');
  char out[1024]; /* a longer line is cut: it goes into one log line and one CLI answer */
  snprintf(out, sizeof(out), "%.*s", (int)sizeof(out) - 1, nl ? nl + 1 : buf);
  char why[PATH_MAX + 1200];
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char how[96];
    describe_status(status, how, sizeof(how));
    snprintf(why, sizeof(why), "%s -t -c %s %s%s%s", sup->exe, sup->conf_path, how,
             out[0] ? ": " : "", out);
    upgrade_fail(sup, why);
    return;
  }
  if (sup->state != SUP_RUNNING || sup->delaying || sup->pending || !sup->active) {
    upgrade_fail(sup, "the server began to shut down or reload meanwhile");
    return;
  }
  struct sup_handover h;
  upgrade_handover(sup, &h);
  log_msg(sup->log, LOG_INFO, "upgrade: %s checked the config; executing it as pid %ld",
          sup->exe, (long)sup->pid);
  sup_block_signals(); /* pending across the execve, delivered to the new image's loop */
  int rc = sup_upgrade_exec(sup->exe, sup->conf_path, &h);
  sigset_t set;
  handled_set(&set);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  sup_handover_free(&h);
  snprintf(why, sizeof(why), "execve(%s) failed: %s", sup->exe, strerror(-rc));
  upgrade_fail(sup, why);
}

/* In the new image: the old image's workers become their generations again (the active one
 * serving until ours is ready; older ones draining on), then our own generation starts as a
 * reload's does. The CLI that asked is answered when it is decided. */
static int upgrade_adopt(sup_t *sup, struct gen *ours) {
  struct sup_handover *h = sup->handover;
  uint64_t now = now_ms(sup);
  uint64_t graceful = secs_ms(ours->conf->timeouts.graceful);
  sup->old_version = sup_xstrdup(h->version && h->version[0] ? h->version : "?");
  if (h->metrics && sup_metrics_import(sup->metrics, h->metrics) < 0)
    log_msg(sup->log, LOG_WARN, "upgrade: the previous totals do not parse: counters restart");
  if (h->started_wall > 0)
    sup->started_wall = h->started_wall;
  for (unsigned i = 0; i < h->n_workers; i++) {
    const struct sup_up_worker *u = &h->workers[i];
    struct gen *g;
    for (g = sup->gens; g && g->id != u->generation; g = g->next)
      ;
    if (!g) {
      char err[4096] = "";
      conf_t *conf = NULL;
      if (conf_load(sup->conf_path, &conf, err, sizeof(err)) < 0) {
        log_msg(sup->log, LOG_ERROR, "upgrade: %s no longer loads: %s", sup->conf_path, err);
        return -EINVAL;
      }
      int active = u->generation == h->active_gen;
      g = gen_new_id(sup, conf, active ? GEN_ACTIVE : GEN_DRAINING, u->generation);
      if (!g) {
        conf_free(conf);
        return -EADDRNOTAVAIL;
      }
      if (!active)
        gen_release_listeners(g);
      g->announced = 1;
      g->version = sup->old_version;
      g->n_slots = 0;
      if (active) {
        sup->active = g;
        sup->last_active_id = g->id;
      }
    }
    struct worker *w = sup_xcalloc(1, sizeof(*w));
    w->gen = g;
    w->pid = u->pid;
    w->slot = u->slot;
    w->fd = u->fd;
    w->ready = (u->flags & SUP_UP_READY) != 0;
    w->drain_sent = (u->flags & SUP_UP_DRAIN_SENT) != 0;
    w->killed = (u->flags & SUP_UP_KILLED) != 0;
    w->retired = (u->flags & SUP_UP_RETIRED) != 0;
    w->draining = (u->flags & SUP_UP_DRAINING) != 0;
    w->seq = u->seq;
    w->answered = u->answered;
    w->outstanding = (unsigned)(u->seq - u->answered);
    w->stats = u->stats;
    recycle_worker_spawned(sup->recycle, g->conf, &w->rec); /* kept serving if ours fails */
    w->started_ms = w->ready_ms = w->last_answer_ms = now;
    if (w->drain_sent && !w->killed)
      w->kill_at_ms = now + graceful + KILL_MARGIN_MS;
    else if (!w->ready && !w->killed)
      w->kill_at_ms = now + START_TIMEOUT_MS;
    loop_io_init(sup->loop, &w->io, w->fd, LOOP_REF_IPC);
    w->io.h.data = w;
    loop_io_start(&w->io, LOOP_READ, on_ipc);
    w->next = g->workers;
    g->workers = w;
    g->n_workers++;
    if (g->state == GEN_ACTIVE && !w->retired && w->slot < MAX_WORKERS) {
      if (w->slot >= g->n_slots) {
        g->slots = sup_xrealloc(g->slots, (w->slot + 1) * sizeof(struct slot));
        memset(&g->slots[g->n_slots], 0, (w->slot + 1 - g->n_slots) * sizeof(struct slot));
        g->n_slots = w->slot + 1;
      }
      g->slots[w->slot].w = w;
    }
  }
  if (!sup->active) {
    log_msg(sup->log, LOG_WARN, "upgrade: no serving worker was handed over");
    return 0;
  }
  /* a slot whose worker died during the handover: respawned (with this binary) */
  for (unsigned i = 0; i < sup->active->n_slots; i++)
    if (!sup->active->slots[i].w)
      sup->active->slots[i].respawn_at_ms = now;
  sup->served = 1;
  log_msg(sup->log, LOG_INFO, "upgrade: pid %ld now runs %s %s; generation %u (%s, %u workers) "
          "serves until generation %u is ready", (long)sup->pid, sup->exe, EVC_VERSION,
          sup->active->id, sup->old_version, sup->active->n_workers, ours->id);
  return 0;
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
  (void)follow_admin(sup, now, -1);
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
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  sup->started_wall = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9;
  sup->lset = sup_lset_new(log);
  (void)recycle_new(log, &sup->recycle);
  loop_timer_init(sup->loop, &sup->health);
  loop_timer_init(sup->loop, &sup->tick);
  loop_timer_init(sup->loop, &sup->tickets_timer);
  sup->tickets_timer.h.data = sup;
  sup->health.h.data = sup;
  sup->tick.h.data = sup;
  loop_timer_init(sup->loop, &sup->delay);
  loop_timer_init(sup->loop, &sup->watchdog);
  sup->delay.h.data = sup;
  sup->watchdog.h.data = sup;
  sup->metrics = sup_metrics_new();
  sup->up.out_fd = -1;
  /* The path, not the inode: an upgrade runs what was installed there since. */
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) {
    log_msg(log, LOG_WARN, "readlink(/proc/self/exe) failed: %s; upgrades are not possible",
            strerror(errno));
    n = 0;
  }
  exe[n] = '\0';
  sup->exe = sup_xstrdup(exe);
  const char *up = getenv(SUP_UPGRADE_ENV);
  if (up) {
    sup->handover = sup_xcalloc(1, sizeof(*sup->handover));
    int hrc = sup_handover_decode(up, sup->handover);
    /* Not for the workers, nor for the next upgrade: unsetenv drops the pointer, but the
     * bytes stay where /proc/PID/environ shows them (the ticket keys among them), in this
     * process and every worker it forks. */
    explicit_bzero((char *)up, strlen(up));
    unsetenv(SUP_UPGRADE_ENV);
    if (hrc == 0 && sup->handover->exe) {
      free(sup->exe);
      sup->exe = sup_xstrdup(sup->handover->exe);
    }
    if (hrc < 0) {
      log_msg(log, LOG_ERROR, "upgrade: the hand-over from the previous binary does not parse");
      free(sup->handover);
      sup->handover = NULL;
      sup_free(sup);
      return hrc;
    }
  }
  *out = sup;
  return 0;
}

static const int handled_signals[] = {SIGCHLD, SIGHUP,  SIGQUIT, SIGTERM, SIGINT,
                                      SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU};
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

/* WATCHDOG=1 at half the period systemd asks for, while healthy: a supervisor whose loop
 * hangs, or whose serving generation has lost every worker, gets restarted by systemd. A
 * start-up (TimeoutStartSec rules it) and a shutdown (TimeoutStopSec) count as healthy. */
static void on_watchdog(loop_timer_t *t) {
  sup_t *sup = t->h.data;
  int healthy = sup->state != SUP_RUNNING || !sup->served;
  for (struct worker *w = sup->active ? sup->active->workers : NULL; w && !healthy; w = w->next)
    healthy = w->ready && !w->killed;
  if (healthy)
    sup_notify_watchdog(sup->log);
}

static void watchdog_arm(sup_t *sup) {
  uint64_t ms = sup_notify_watchdog_ms();
  if (ms == 0)
    return;
  ms = ms / 2 ? ms / 2 : 1;
  loop_timer_start(&sup->watchdog, on_watchdog, ms, ms);
  loop_unref(&sup->watchdog.h);
  log_msg(sup->log, LOG_INFO, "systemd watchdog: WATCHDOG=1 every %llu ms",
          (unsigned long long)ms);
}

/* Socket activation: the listeners systemd passed become spares that the configured
 * addresses claim (by the address they are bound to) instead of binding their own. */
static void adopt_passed(sup_t *sup) {
  int *fds = NULL;
  int n = sup_notify_listen_fds(sup->log, &fds);
  for (int i = 0; i < n; i++)
    sup_lset_add_spare(sup->lset, fds[i], NULL);
  if (n > 0)
    log_msg(sup->log, LOG_INFO, "socket activation: %d listening socket%s passed", n,
            n == 1 ? "" : "s");
  free(fds);
}

void sup_set_binary(sup_t *sup, const char *argv0) {
  if (sup->handover && sup->handover->exe)
    return; /* an upgrade's: the name the service was started as, kept */
  char *p = sup_upgrade_binary_path(argv0);
  if (!p)
    return;
  free(sup->exe);
  sup->exe = p;
}

/* TLS ticket keys: the previous image's (an upgrade), or new ones; rotated from here on. */
static void tickets_start(sup_t *sup, const conf_t *c, const struct ipc_ticket_keys *kept) {
  if (kept) {
    sup->tickets = *kept;
    sup->tickets_ok = 1;
  } else if (sup_tickets_make(&sup->tickets) == 0) {
    sup->tickets_ok = 1;
  } else {
    log_msg(sup->log, LOG_ERROR, "RAND_priv_bytes() failed: no TLS session tickets");
    return;
  }
  loop_timer_start(&sup->tickets_timer, on_tickets, secs_ms(c->tls.ticket_key_rotation), 0);
}

/* The new image of an upgrade: everything comes from the hand-over, nothing is bound. */
static int start_upgraded(sup_t *sup) {
  struct sup_handover *h = sup->handover;
  for (unsigned i = 0; i < h->n_listeners; i++)
    sup_lset_add_spare(sup->lset, h->listeners[i].fd, h->listeners[i].text);
  if (h->next_gen > sup->next_gen)
    sup->next_gen = h->next_gen;
  struct gen *ours = gen_new(sup, sup->boot_conf, GEN_STARTING);
  if (!ours)
    return -EADDRNOTAVAIL;
  sup->boot_conf = NULL;
  int rc = upgrade_adopt(sup, ours);
  if (rc < 0)
    return rc;
  /* where the previous image had them: follow_paths moves them once the upgrade is done */
  if (h->ctl_path) {
    free(sup->ctl_path);
    sup->ctl_path = sup_xstrdup(h->ctl_path);
  }
  if (h->pid_file) {
    free(sup->pid_file);
    sup->pid_file = sup_xstrdup(h->pid_file);
  }
  rc = sup_ctl_adopt(sup->loop, sup->log, sup->ctl_path, h->ctl_fd, on_ctl, sup, &sup->ctl);
  if (rc < 0)
    return rc;
  rc = write_pid_file(sup);
  if (rc < 0)
    return rc;
  rc = logs_prepare(sup, ours->conf);
  if (rc < 0)
    return rc;
  int afd = h->admin_fd;
  if (afd >= 0 && !(ours->conf->admin.text && h->admin_text &&
                    strcmp(ours->conf->admin.text, h->admin_text) == 0)) {
    close(afd); /* the config moved or dropped it */
    afd = -1;
  }
  /* a moved admin address that cannot be bound (the check binds it first; something took it
   * since) costs the admin listener, not the service: a reload can bring it back */
  if (follow_admin(sup, ours->conf, afd) < 0)
    log_msg(sup->log, LOG_ERROR, "upgrade: no admin listener until a reload brings one");
  sup_lset_drop_spares(sup->lset);
  watchdog_arm(sup);
  tickets_start(sup, ours->conf, h->has_tickets ? &h->tickets : NULL);
  sup->upgrading = 1;
  if (h->req_fd >= 0)
    sup->cur.req[sup->cur.n++] = sup_ctl_adopt_req(sup->ctl, h->req_fd);
  sup_handover_free(h);
  free(h);
  sup->handover = NULL;
  if (!sup->active) { /* nothing was serving: ours is the first generation */
    ours->state = GEN_ACTIVE;
    sup->active = ours;
    sup->last_active_id = ours->id;
    gen_spawn_all(ours);
    reload_done(sup, 1, "upgraded: no worker was running; a new generation starts\n");
  } else {
    sup->pending = ours;
    ours->deadline_ms = now_ms(sup) + RELOAD_TIMEOUT_MS;
    for (unsigned i = 0; i < ours->n_slots && sup->pending == ours; i++)
      if (worker_spawn(ours, i) < 0) {
        reload_abort(sup, "could not fork its workers");
        break;
      }
  }
  health_arm(sup);
  schedule(sup);
  return 0;
}

static int start(sup_t *sup) {
  const int *signals = handled_signals;
  sup->started_ms = now_ms(sup);
  if (!sup->handover && sup_ctl_probe(sup->ctl_path)) {
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
  if (sup->handover)
    return start_upgraded(sup);
  adopt_passed(sup);
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
  rc = follow_admin(sup, g->conf,
                    g->conf->admin.text ? sup_lset_take_spare(sup->lset, &g->conf->admin) : -1);
  if (rc < 0)
    return rc;
  sup_lset_drop_spares(sup->lset); /* passed to us, matching nothing configured */
  watchdog_arm(sup);
  log_msg(sup->log, LOG_INFO, "started: pid %ld, config %s, %u workers", (long)sup->pid,
          sup->conf_path, g->n_slots);
  tickets_start(sup, g->conf, NULL);
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
  recycle_free(sup->recycle);
  conf_free(sup->boot_conf);
  free(sup->conf_path);
  free(sup->pid_file);
  free(sup->ctl_path);
  free(sup->admin_text);
  sup_metrics_free(sup->metrics);
  free(sup->exe);
  free(sup->old_version);
  if (sup->handover)
    sup_handover_free(sup->handover);
  free(sup->handover);
  free(sup);
}
