/* The cluster's figures for /metrics (Prometheus text format, prefix evcluster_). Counters
 * never go backwards: a worker's counters live in its last ping answer while it runs, and
 * are added to the totals kept here when it is gone (exited, crashed, killed, drained). A
 * SIGKILLed worker's counts since its last answer are lost with it. Supervisor only. */
#ifndef EVC_SUP_METRICS_H
#define EVC_SUP_METRICS_H

#include "ipc.h"
#include "util.h"

typedef struct sup_metrics sup_metrics_t;

enum sup_restart_reason { SUP_RESTART_CRASH = 0, SUP_RESTART_HEALTH = 1 };

/* One live worker, as the supervisor sees it when rendering. */
struct sup_metrics_worker {
  unsigned generation, slot;
  const char *state;             /* starting, running, draining */
  int serving;                   /* of the generation that serves: its gauges are shown per slot */
  const struct ipc_stats *stats; /* its last answer (zero until one came) */
};

struct sup_metrics_view {
  const char *version;
  unsigned generation;
  double start_time_s; /* Unix time of the supervisor's start */
  const struct sup_metrics_worker *workers;
  unsigned n_workers;
};

sup_metrics_t *sup_metrics_new(void);
/* NULL: no-op. */
void sup_metrics_free(sup_metrics_t *m);
void sup_metrics_worker_started(sup_metrics_t *m);
void sup_metrics_worker_restarted(sup_metrics_t *m, enum sup_restart_reason why);
void sup_metrics_reload(sup_metrics_t *m, int ok);
void sup_metrics_upgrade(sup_metrics_t *m, int ok);
/* A worker was recycled (its replacement ready): by_rss, or by its request count. */
void sup_metrics_recycled(sup_metrics_t *m, int by_rss);
/* A worker is gone: its last counters join the totals. */
void sup_metrics_worker_gone(sup_metrics_t *m, const struct ipc_counters *last);
/* Requests answered by workers that are gone (add the live ones' for the total). */
uint64_t sup_metrics_requests_gone(const sup_metrics_t *m);
uint64_t sup_metrics_requests(const struct ipc_counters *c);
/* Appends the exposition text. */
void sup_metrics_render(const sup_metrics_t *m, const struct sup_metrics_view *v,
                        struct sup_buf *b);
/* The totals as one line of text, for the next binary of an upgrade, and back: import
 * returns 0 or -EINVAL (a line it cannot read changes nothing). */
void sup_metrics_export(const sup_metrics_t *m, struct sup_buf *b);
int sup_metrics_import(sup_metrics_t *m, const char *line);

#endif
