/* `evcluster -c FILE top`: a live view of a running cluster, refreshed every interval from
 * the control socket's "status json" (so it works wherever `status` does). On a terminal:
 * the alternate screen, one row per worker, `q` (or Ctrl-C) quits and the terminal is put
 * back as it was. Elsewhere (a pipe, a file): one plain snapshot per interval, each ended by a
 * blank line. Runs in the CLI's process; the parsing and the layout are pure and unit-tested. */
#ifndef EVC_SUP_TOP_H
#define EVC_SUP_TOP_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct top_worker {
  long pid;
  unsigned generation, slot;
  char state[16];
  int replacing; /* the replacement of a recycle, not in a slot yet */
  double uptime_s;
  uint64_t connections, requests;
  double cpu_pct; /* < 0: not measured yet */
  uint64_t rss_kb;
  double lag_p99_ms;
  unsigned pool_queued;
  unsigned refs_connections, refs_pool_jobs, refs_timers, refs_immediates, refs_other,
      refs_listeners;
  double req_rate; /* per second since the previous snapshot; < 0: no previous one */
};

struct top_snap {
  long pid;
  unsigned generation;
  char state[16];
  char listening[256];
  double uptime_s;
  double cpu_pct; /* < 0: not measured yet */
  uint64_t rss_kb;
  uint64_t recycled_rss, recycled_requests;
  int recycle_in_progress;
  struct top_worker *workers; /* owned: top_snap_free */
  size_t n_workers;
  double at_s; /* when it was taken (the caller's monotonic clock) */
};

/* Parses status json into *out (zeroed first). 0, or -EPROTO when it is not what status
 * sends. */
int top_parse(const char *json, double at_s, struct top_snap *out);
void top_snap_free(struct top_snap *s);
/* Fills each worker's req_rate from prev (the same pid's request count then; a worker started
 * since prev counts from 0); -1 where neither applies (NULL prev, a worker prev missed). */
void top_rates(const struct top_snap *prev, struct top_snap *cur);
/* The screen as lines of at most cols bytes, at most rows of them (rows 0: no limit, for
 * piped output); err: a line about a failed refresh, or NULL. */
void top_render(const struct top_snap *s, const char *err, unsigned cols, unsigned rows,
                struct sup_buf *out);

/* The command: args are what follows "top" (-n COUNT, -d SECONDS). Returns the exit status. */
int top_main(const char *ctl_path, int argc, char **argv);

#endif
