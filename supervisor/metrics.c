/* The cluster's metrics (see metrics.h): totals of workers that are gone, counters of the
 * supervisor's own events, and the Prometheus text built from them and the live workers.
 * Runs in the supervisor process. Every series is written even when it is 0, so that a
 * scrape always has the same set (rate() needs the zero before the first event). */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT_TAG "m1"

struct sup_metrics {
  struct ipc_counters gone; /* workers that are gone */
  uint64_t starts;
  uint64_t restarts[2]; /* enum sup_restart_reason */
  uint64_t reloads[2];  /* failure, success */
  uint64_t upgrades[2]; /* failure, success */
  uint64_t recycles[2]; /* by requests, by rss */
};

sup_metrics_t *sup_metrics_new(void) {
  return sup_xcalloc(1, sizeof(sup_metrics_t));
}

void sup_metrics_free(sup_metrics_t *m) {
  free(m);
}

void sup_metrics_worker_started(sup_metrics_t *m) {
  m->starts++;
}

void sup_metrics_worker_restarted(sup_metrics_t *m, enum sup_restart_reason why) {
  m->restarts[why == SUP_RESTART_HEALTH]++;
}

void sup_metrics_reload(sup_metrics_t *m, int ok) {
  m->reloads[ok != 0]++;
}

void sup_metrics_upgrade(sup_metrics_t *m, int ok) {
  m->upgrades[ok != 0]++;
}

void sup_metrics_recycled(sup_metrics_t *m, int by_rss) {
  m->recycles[by_rss != 0]++;
}

static void counters_add(struct ipc_counters *to, const struct ipc_counters *c) {
  to->accepted += c->accepted;
  to->bytes_out += c->bytes_out;
  for (unsigned i = 0; i < IPC_N_STATUS; i++)
    to->status[i] += c->status[i];
  for (unsigned i = 0; i < IPC_N_DURATION; i++)
    to->duration[i] += c->duration[i];
  to->duration_us_sum += c->duration_us_sum;
  to->tls_handshakes += c->tls_handshakes;
  to->tls_resumptions += c->tls_resumptions;
  to->tls_failures += c->tls_failures;
}

void sup_metrics_worker_gone(sup_metrics_t *m, const struct ipc_counters *last) {
  counters_add(&m->gone, last);
}

uint64_t sup_metrics_requests(const struct ipc_counters *c) {
  uint64_t n = 0;
  for (unsigned i = 0; i < IPC_N_STATUS; i++)
    n += c->status[i];
  return n;
}

uint64_t sup_metrics_requests_gone(const sup_metrics_t *m) {
  return sup_metrics_requests(&m->gone);
}

static void family(struct sup_buf *b, const char *name, const char *type, const char *help) {
  sup_buf_printf(b, "# HELP evcluster_%s %s\n# TYPE evcluster_%s %s\n", name, help, name, type);
}

static void gauge_per_slot(struct sup_buf *b, const struct sup_metrics_view *v, const char *name,
                           const char *help, int which) {
  family(b, name, "gauge", help);
  for (unsigned i = 0; i < v->n_workers; i++) {
    const struct sup_metrics_worker *w = &v->workers[i];
    if (!w->serving)
      continue;
    const struct ipc_stats *s = w->stats;
    if (which == 0) {
      sup_buf_printf(b, "evcluster_%s{slot=\"%u\",stat=\"p50\"} %.6f\n", name, w->slot,
                     s->lag_p50_ms / 1000.0);
      sup_buf_printf(b, "evcluster_%s{slot=\"%u\",stat=\"p99\"} %.6f\n", name, w->slot,
                     s->lag_p99_ms / 1000.0);
      sup_buf_printf(b, "evcluster_%s{slot=\"%u\",stat=\"max\"} %.6f\n", name, w->slot,
                     s->lag_max_ms / 1000.0);
    } else {
      sup_buf_printf(b, "evcluster_%s{slot=\"%u\"} %u\n", name, w->slot,
                     which == 1 ? s->pool_queued : s->pool_running);
    }
  }
}

void sup_metrics_render(const sup_metrics_t *m, const struct sup_metrics_view *v,
                        struct sup_buf *b) {
  struct ipc_counters t = m->gone;
  uint64_t open = 0;
  unsigned starting = 0, running = 0, draining = 0;
  for (unsigned i = 0; i < v->n_workers; i++) {
    const struct sup_metrics_worker *w = &v->workers[i];
    counters_add(&t, &w->stats->counters);
    open += w->stats->connections;
    starting += strcmp(w->state, "starting") == 0;
    running += strcmp(w->state, "running") == 0;
    draining += strcmp(w->state, "draining") == 0;
  }

  family(b, "build_info", "gauge", "The running binary's version (always 1).");
  sup_buf_printf(b, "evcluster_build_info{version=\"%s\"} 1\n", v->version);
  family(b, "start_time_seconds", "gauge", "When the supervisor started, in Unix time.");
  sup_buf_printf(b, "evcluster_start_time_seconds %.3f\n", v->start_time_s);
  family(b, "generation", "gauge", "The generation of workers that serves.");
  sup_buf_printf(b, "evcluster_generation %u\n", v->generation);
  family(b, "workers", "gauge", "Worker processes by state.");
  sup_buf_printf(b, "evcluster_workers{state=\"starting\"} %u\n", starting);
  sup_buf_printf(b, "evcluster_workers{state=\"running\"} %u\n", running);
  sup_buf_printf(b, "evcluster_workers{state=\"draining\"} %u\n", draining);

  family(b, "requests_total", "counter", "Answered requests by status code.");
  for (unsigned i = 0; i < IPC_N_STATUS; i++) {
    if (i < IPC_N_STATUS - 1)
      sup_buf_printf(b, "evcluster_requests_total{code=\"%u\"} %" PRIu64 "\n", ipc_status_codes[i],
                     t.status[i]);
    else
      sup_buf_printf(b, "evcluster_requests_total{code=\"other\"} %" PRIu64 "\n", t.status[i]);
  }
  family(b, "response_bytes_total", "counter",
         "Response bytes handed to the kernel, header blocks and bodies.");
  sup_buf_printf(b, "evcluster_response_bytes_total %" PRIu64 "\n", t.bytes_out);
  family(b, "connections_accepted_total", "counter", "Client connections accepted.");
  sup_buf_printf(b, "evcluster_connections_accepted_total %" PRIu64 "\n", t.accepted);
  family(b, "connections_open", "gauge", "Client connections open, at the last health ping.");
  sup_buf_printf(b, "evcluster_connections_open %" PRIu64 "\n", open);

  family(b, "request_duration_seconds", "histogram",
         "From a complete request head to the last byte of its answer handed to the kernel.");
  uint64_t cum = 0;
  for (unsigned i = 0; i < IPC_N_DURATION; i++) {
    cum += t.duration[i];
    if (i < IPC_N_DURATION - 1)
      sup_buf_printf(b, "evcluster_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                     (double)ipc_duration_bounds_us[i] / 1e6, cum);
    else
      sup_buf_printf(b, "evcluster_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
                     cum);
  }
  sup_buf_printf(b, "evcluster_request_duration_seconds_sum %.6f\n",
                 (double)t.duration_us_sum / 1e6);
  sup_buf_printf(b, "evcluster_request_duration_seconds_count %" PRIu64 "\n", cum);

  family(b, "tls_handshakes_total", "counter", "Completed TLS handshakes.");
  sup_buf_printf(b, "evcluster_tls_handshakes_total %" PRIu64 "\n", t.tls_handshakes);
  family(b, "tls_resumptions_total", "counter", "TLS handshakes that resumed a session.");
  sup_buf_printf(b, "evcluster_tls_resumptions_total %" PRIu64 "\n", t.tls_resumptions);
  family(b, "tls_handshake_failures_total", "counter",
         "TLS handshakes that failed: a plain request or garbage on a TLS port, a timeout, no "
         "shared protocol.");
  sup_buf_printf(b, "evcluster_tls_handshake_failures_total %" PRIu64 "\n", t.tls_failures);

  gauge_per_slot(b, v, "loop_lag_seconds", "How late the worker's timers fire, recent window.", 0);
  gauge_per_slot(b, v, "pool_queued_jobs", "File jobs waiting for a pool thread.", 1);
  gauge_per_slot(b, v, "pool_running_jobs", "File jobs running on pool threads.", 2);

  family(b, "worker_starts_total", "counter", "Worker processes started.");
  sup_buf_printf(b, "evcluster_worker_starts_total %" PRIu64 "\n", m->starts);
  family(b, "worker_restarts_total", "counter",
         "Workers replaced after dying (crash) or being killed for missed pings (health).");
  sup_buf_printf(b, "evcluster_worker_restarts_total{reason=\"crash\"} %" PRIu64 "\n",
                 m->restarts[SUP_RESTART_CRASH]);
  sup_buf_printf(b, "evcluster_worker_restarts_total{reason=\"health\"} %" PRIu64 "\n",
                 m->restarts[SUP_RESTART_HEALTH]);
  family(b, "reloads_total", "counter", "Reloads by result.");
  sup_buf_printf(b, "evcluster_reloads_total{result=\"success\"} %" PRIu64 "\n", m->reloads[1]);
  sup_buf_printf(b, "evcluster_reloads_total{result=\"failure\"} %" PRIu64 "\n", m->reloads[0]);
  family(b, "upgrades_total", "counter", "Binary upgrades by result.");
  sup_buf_printf(b, "evcluster_upgrades_total{result=\"success\"} %" PRIu64 "\n", m->upgrades[1]);
  sup_buf_printf(b, "evcluster_upgrades_total{result=\"failure\"} %" PRIu64 "\n", m->upgrades[0]);
  family(b, "worker_recycles_total", "counter",
         "Workers replaced by recycling (recycle.max_rss_mb, recycle.max_requests), by reason.");
  sup_buf_printf(b, "evcluster_worker_recycles_total{reason=\"rss\"} %" PRIu64 "\n",
                 m->recycles[1]);
  sup_buf_printf(b, "evcluster_worker_recycles_total{reason=\"requests\"} %" PRIu64 "\n",
                 m->recycles[0]);
}

/* "m1 N v1 v2 ... vN": every counter in the struct's order; N guards against a binary whose
 * set differs (then nothing is taken: counters start again, as after a restart). */
#define N_VALUES (2 + IPC_N_STATUS + IPC_N_DURATION + 1 + 3 + 1 + 2 + 2 + 2 + 2)

static void values(sup_metrics_t *m, uint64_t **v) {
  unsigned n = 0;
  v[n++] = &m->gone.accepted;
  v[n++] = &m->gone.bytes_out;
  for (unsigned i = 0; i < IPC_N_STATUS; i++)
    v[n++] = &m->gone.status[i];
  for (unsigned i = 0; i < IPC_N_DURATION; i++)
    v[n++] = &m->gone.duration[i];
  v[n++] = &m->gone.duration_us_sum;
  v[n++] = &m->gone.tls_handshakes;
  v[n++] = &m->gone.tls_resumptions;
  v[n++] = &m->gone.tls_failures;
  v[n++] = &m->starts;
  for (unsigned i = 0; i < 2; i++) {
    v[n++] = &m->restarts[i];
    v[n++] = &m->reloads[i];
    v[n++] = &m->upgrades[i];
    v[n++] = &m->recycles[i];
  }
}

void sup_metrics_export(const sup_metrics_t *m, struct sup_buf *b) {
  uint64_t *v[N_VALUES];
  values((sup_metrics_t *)m, v);
  sup_buf_printf(b, "%s %u", EXPORT_TAG, (unsigned)N_VALUES);
  for (unsigned i = 0; i < N_VALUES; i++)
    sup_buf_printf(b, " %" PRIu64, *v[i]);
}

int sup_metrics_import(sup_metrics_t *m, const char *line) {
  uint64_t got[N_VALUES];
  const char *p = line;
  char *end;
  if (strncmp(p, EXPORT_TAG " ", 3) != 0)
    return -EINVAL;
  p += 3;
  unsigned long n = strtoul(p, &end, 10);
  if (end == p || n != N_VALUES)
    return -EINVAL;
  p = end;
  for (unsigned i = 0; i < N_VALUES; i++) {
    if (*p != ' ')
      return -EINVAL;
    p++;
    errno = 0;
    unsigned long long x = strtoull(p, &end, 10);
    if (end == p || errno)
      return -EINVAL;
    got[i] = x;
    p = end;
  }
  if (*p)
    return -EINVAL;
  uint64_t *v[N_VALUES];
  values(m, v);
  for (unsigned i = 0; i < N_VALUES; i++)
    *v[i] = got[i];
  return 0;
}
