/* Recycling policy (see recycle.h). The back-off exists for a memory limit too close to what
 * a worker needs: one a fresh worker reaches within seconds would otherwise have workers
 * replaced back to back. A limit below the baseline is caught earlier, at READY. */
#include "recycle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define QUICK_MS 10000 /* due this soon after READY: the limit is too tight */
#define BACKOFF_FIRST_MS 5000
#define BACKOFF_MAX_MS 300000

struct recycle {
  log_t *log;
  struct recycle_counts counts;
  int in_progress;
  enum recycle_reason reason; /* of the one in progress */
  pid_t old_pid;
  uint64_t backoff_ms;    /* 0: none */
  uint64_t next_ms;       /* no recycle starts before this */
  int exempt_logged_mb;   /* the max_rss_mb whose "below the baseline" was logged; 0: none */
  unsigned short rand[3]; /* erand48 state: thresholds differ per worker, not per run */
};

uint64_t recycle_threshold(uint64_t max_requests, double jitter, double r) {
  if (max_requests == 0)
    return 0;
  if (!(jitter > 0) || !(r > 0))
    return max_requests;
  if (jitter > 1)
    jitter = 1;
  if (r >= 1)
    r = 0.999999;
  return max_requests + (uint64_t)((double)max_requests * jitter * r);
}

enum recycle_reason recycle_due(const conf_t *c, const struct recycle_worker *rw, uint64_t rss_kb,
                                uint64_t requests) {
  if (c->recycle.max_rss_mb > 0 && !rw->rss_exempt && rss_kb > 0 &&
      rss_kb > (uint64_t)c->recycle.max_rss_mb * 1024)
    return RECYCLE_RSS;
  if (rw->threshold > 0 && requests >= rw->threshold)
    return RECYCLE_REQUESTS;
  return RECYCLE_NONE;
}

double recycle_urgency(const conf_t *c, const struct recycle_worker *rw, uint64_t rss_kb,
                       uint64_t requests) {
  switch (recycle_due(c, rw, rss_kb, requests)) {
  case RECYCLE_RSS:
    return 1000.0 + (double)rss_kb / ((double)c->recycle.max_rss_mb * 1024.0);
  case RECYCLE_REQUESTS:
    return (double)requests / (double)rw->threshold;
  default:
    return 0.0;
  }
}

double recycle_observe(const conf_t *c, struct recycle_worker *rw, uint64_t rss_kb,
                       uint64_t requests, uint64_t now_ms) {
  double u = recycle_urgency(c, rw, rss_kb, requests);
  if (u > 0 && !rw->due_ms)
    rw->due_ms = now_ms;
  return u;
}

const char *recycle_reason_name(enum recycle_reason r) {
  return r == RECYCLE_RSS ? "rss" : r == RECYCLE_REQUESTS ? "requests" : "none";
}

int recycle_new(log_t *log, recycle_t **out) {
  recycle_t *r = sup_xcalloc(1, sizeof(*r));
  r->log = log;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
  r->rand[0] = (unsigned short)seed;
  r->rand[1] = (unsigned short)(seed >> 16);
  r->rand[2] = (unsigned short)(seed >> 32);
  *out = r;
  return 0;
}

void recycle_free(recycle_t *r) {
  free(r);
}

void recycle_worker_spawned(recycle_t *r, const conf_t *c, struct recycle_worker *rw) {
  memset(rw, 0, sizeof(*rw));
  rw->threshold =
      recycle_threshold((uint64_t)c->recycle.max_requests, c->recycle.jitter, erand48(r->rand));
}

void recycle_worker_ready(recycle_t *r, const conf_t *c, struct recycle_worker *rw, pid_t pid,
                          uint64_t rss_kb) {
  rw->ready_rss_kb = rss_kb;
  int limit = c->recycle.max_rss_mb;
  if (limit <= 0 || rss_kb == 0 || rss_kb <= (uint64_t)limit * 1024)
    return;
  rw->rss_exempt = 1;
  if (r->exempt_logged_mb == limit)
    return;
  r->exempt_logged_mb = limit;
  log_msg(r->log, LOG_WARN,
          "recycle: worker %ld is resident %.1f MiB at start-up, already above "
          "recycle.max_rss_mb = %d: the limit is below a worker's baseline, so workers that "
          "start above it are not recycled by memory (its replacement would be too); raise "
          "the limit",
          (long)pid, (double)rss_kb / 1024.0, limit);
}

int recycle_may_start(const recycle_t *r, uint64_t now_ms) {
  return !r->in_progress && now_ms >= r->next_ms;
}

void recycle_begin(recycle_t *r, const conf_t *c, uint64_t now_ms, pid_t pid, unsigned slot,
                   unsigned gen, enum recycle_reason reason, const struct recycle_worker *rw,
                   uint64_t rss_kb, uint64_t requests, uint64_t due_after_ms) {
  r->in_progress = 1;
  r->reason = reason;
  r->old_pid = pid;
  if (reason == RECYCLE_RSS)
    log_msg(r->log, LOG_INFO,
            "recycle: worker %ld (slot %u, generation %u) is resident %.1f MiB, above "
            "recycle.max_rss_mb = %d (%.1f MiB at start-up, %llu requests): starting its "
            "replacement",
            (long)pid, slot, gen, (double)rss_kb / 1024.0, c->recycle.max_rss_mb,
            (double)rw->ready_rss_kb / 1024.0, (unsigned long long)requests);
  else
    log_msg(r->log, LOG_INFO,
            "recycle: worker %ld (slot %u, generation %u) has served %llu requests, its "
            "threshold %llu (recycle.max_requests = %d, jitter %.2f; %.1f MiB resident): "
            "starting its replacement",
            (long)pid, slot, gen, (unsigned long long)requests, (unsigned long long)rw->threshold,
            c->recycle.max_requests, c->recycle.jitter, (double)rss_kb / 1024.0);
  /* Only memory: a request count starts from 0 in every worker, so a low max_requests under
   * load recycles often by design (as gunicorn's does), one worker at a time. */
  if (reason != RECYCLE_RSS || due_after_ms >= QUICK_MS) {
    r->backoff_ms = 0;
    return;
  }
  int first = r->backoff_ms == 0;
  r->backoff_ms = first                                ? BACKOFF_FIRST_MS
                  : r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                       : r->backoff_ms * 2;
  r->next_ms = now_ms + r->backoff_ms;
  if (first)
    log_msg(r->log, LOG_WARN,
            "recycle: worker %ld was due %.1f s after it was ready: the %s limit is close to "
            "what a fresh worker takes; recycling backs off (%.0f s, doubling up to %.0f s, "
            "while workers keep being due this soon)",
            (long)pid, (double)due_after_ms / 1000.0, recycle_reason_name(reason),
            (double)r->backoff_ms / 1000.0, (double)BACKOFF_MAX_MS / 1000.0);
}

enum recycle_reason recycle_end(recycle_t *r, uint64_t now_ms, int ok, pid_t new_pid,
                                const char *why) {
  if (!r->in_progress)
    return RECYCLE_NONE;
  r->in_progress = 0;
  if (ok) {
    if (r->reason == RECYCLE_RSS)
      r->counts.rss++;
    else
      r->counts.requests++;
    log_msg(r->log, LOG_INFO,
            "recycle: worker %ld ready, worker %ld drains (by %s; recycled so far: %llu by "
            "memory, %llu by requests)",
            (long)new_pid, (long)r->old_pid, recycle_reason_name(r->reason),
            (unsigned long long)r->counts.rss, (unsigned long long)r->counts.requests);
    return r->reason;
  }
  r->counts.failed++;
  /* a replacement that cannot start must not be retried back to back either */
  uint64_t wait = r->backoff_ms ? r->backoff_ms : BACKOFF_FIRST_MS;
  if (r->next_ms < now_ms + wait)
    r->next_ms = now_ms + wait;
  log_msg(r->log, LOG_WARN,
          "recycle of worker %ld abandoned: %s; it keeps serving (next "
          "recycle in %.0f s at the earliest)",
          (long)r->old_pid, why, (double)wait / 1000.0);
  return RECYCLE_NONE;
}

int recycle_in_progress(const recycle_t *r) {
  return r->in_progress;
}

const struct recycle_counts *recycle_counts(const recycle_t *r) {
  return &r->counts;
}
