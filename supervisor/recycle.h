/* Rolling worker recycling: the policy. A worker resident above recycle.max_rss_mb, or past
 * its own request threshold (recycle.max_requests spread up by a random share of at most
 * recycle.jitter, drawn when it is spawned, as gunicorn's max_requests_jitter), is due for
 * replacement. The supervisor (sup.c) does the mechanics: it asks recycle_may_start, spawns
 * the replacement, waits for its READY, then drains the old worker as a reload would; one
 * recycle at a time. This module decides, keeps the counters and the back-off, and logs.
 * Runs on the supervisor's loop thread. */
#ifndef EVC_SUP_RECYCLE_H
#define EVC_SUP_RECYCLE_H

#include <stdint.h>
#include <sys/types.h>

#include "conf.h"
#include "log.h"

typedef struct recycle recycle_t;

enum recycle_reason { RECYCLE_NONE = 0, RECYCLE_RSS, RECYCLE_REQUESTS };

/* Per worker, embedded in the supervisor's record of it. Written by this module only. */
struct recycle_worker {
  uint64_t threshold;    /* requests after which it is replaced; 0: no limit */
  uint64_t ready_rss_kb; /* resident at READY: its baseline */
  int rss_exempt;        /* resident above max_rss_mb already at READY: never recycled by RSS */
  uint64_t due_ms;       /* when it was first seen due (the caller's clock); 0: not yet */
};

/* Recycles done, per reason: read by `status` (and the metrics endpoint). Counters only go up;
 * a recycle counts once its replacement is ready and the old worker has been told to drain. */
struct recycle_counts {
  uint64_t rss;      /* evcluster_worker_recycles_total{reason="rss"} */
  uint64_t requests; /* evcluster_worker_recycles_total{reason="requests"} */
  uint64_t failed;   /* replacements that died or were cancelled before they were ready */
};

/* max_requests spread by jitter: max_requests * (1 + jitter * r), r in [0, 1), at least 1;
 * 0 when max_requests is 0. Pure. */
uint64_t recycle_threshold(uint64_t max_requests, double jitter, double r);
/* Whether a worker is due, given its figures and the config; RSS first (memory is the urgent
 * one). rss_kb 0 means unknown and never triggers. Pure. */
enum recycle_reason recycle_due(const conf_t *c, const struct recycle_worker *rw, uint64_t rss_kb,
                                uint64_t requests);
/* How far past its limit a due worker is, 0 when it is not due: the share of its limit it
 * reached (1 at the limit), plus 1000 when due by memory. The supervisor recycles the highest
 * first, so a busy slot whose replacements keep coming due does not starve another. Pure. */
double recycle_urgency(const conf_t *c, const struct recycle_worker *rw, uint64_t rss_kb,
                       uint64_t requests);
/* recycle_urgency for a worker the supervisor looks at now; also records when it first came
 * due (rw->due_ms), which waiting for its turn or a back-off does not move. */
double recycle_observe(const conf_t *c, struct recycle_worker *rw, uint64_t rss_kb,
                       uint64_t requests, uint64_t now_ms);
const char *recycle_reason_name(enum recycle_reason r);

/* 0 or -errno. log stays the caller's. */
int recycle_new(log_t *log, recycle_t **out);
/* NULL: no-op. */
void recycle_free(recycle_t *r);

/* A worker was spawned under config c: draws its request threshold. */
void recycle_worker_spawned(recycle_t *r, const conf_t *c, struct recycle_worker *rw);
/* A worker is READY with rss_kb resident (0: unknown): records the baseline. One above
 * max_rss_mb is exempt from recycling by memory, since its replacement would be over as well
 * (a limit below the baseline); said in the log once per limit. */
void recycle_worker_ready(recycle_t *r, const conf_t *c, struct recycle_worker *rw, pid_t pid,
                          uint64_t rss_kb);
/* 1 if a recycle may start now: none in progress, and the back-off has passed. */
int recycle_may_start(const recycle_t *r, uint64_t now_ms);
/* A recycle starts: worker pid (slot, generation), first seen due due_after_ms after its
 * READY, is due for reason with these figures. Logs it, marks one in progress, and when it
 * came due by memory soon after it was ready (the limit is too close to what a fresh worker
 * takes) backs off exponentially before the next recycle, saying so once per back-off
 * episode. Measured to when it came due, not to now, so that a worker held back by the
 * back-off does not count as one that lived long and end the episode. */
void recycle_begin(recycle_t *r, const conf_t *c, uint64_t now_ms, pid_t pid, unsigned slot,
                   unsigned gen, enum recycle_reason reason, const struct recycle_worker *rw,
                   uint64_t rss_kb, uint64_t requests, uint64_t due_after_ms);
/* The recycle in progress ended: ok (the replacement new_pid is ready, the old worker drains:
 * counted under its reason) or not (why says what happened; the old worker keeps serving).
 * Returns the reason a completed recycle was counted under; RECYCLE_NONE when it was
 * abandoned or none was in progress. */
enum recycle_reason recycle_end(recycle_t *r, uint64_t now_ms, int ok, pid_t new_pid,
                                const char *why);
int recycle_in_progress(const recycle_t *r);
const struct recycle_counts *recycle_counts(const recycle_t *r);

#endif
