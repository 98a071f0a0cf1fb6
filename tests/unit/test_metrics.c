/* Unit tests of the metrics module (supervisor/metrics.c): the totals of gone workers plus the
 * live ones make the counters, so a worker leaving never makes them go backwards; the text has
 * every family with its type; the totals survive an export and import (an upgrade), and a
 * line that does not parse changes nothing. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "metrics.h"

static double value(const char *text, const char *series) {
  size_t n = strlen(series);
  for (const char *p = text; (p = strstr(p, series)); p++)
    if ((p == text || p[-1] == '\n') && p[n] == ' ')
      return strtod(p + n + 1, NULL);
  fail_msg("no series %s in\n%s", series, text);
  return -1;
}

static void render(sup_metrics_t *m, const struct ipc_stats *live, unsigned n, struct sup_buf *b) {
  struct sup_metrics_worker w[4];
  for (unsigned i = 0; i < n; i++)
    w[i] = (struct sup_metrics_worker){
        .generation = 1, .slot = i, .state = "running", .serving = 1, .stats = &live[i]};
  struct sup_metrics_view v = {
      .version = "9.9", .generation = 1, .start_time_s = 1.0, .workers = w, .n_workers = n};
  b->len = 0;
  if (b->p)
    b->p[0] = '\0';
  sup_metrics_render(m, &v, b);
}

static void test_monotonic(void **state) {
  (void)state;
  sup_metrics_t *m = sup_metrics_new();
  struct ipc_stats live[2];
  memset(live, 0, sizeof(live));
  live[0].counters.status[ipc_status_slot(200)] = 10;
  live[0].counters.duration[ipc_duration_slot(50)] = 10;
  live[0].counters.duration_us_sum = 500;
  live[1].counters.status[ipc_status_slot(404)] = 3;
  live[1].counters.status[ipc_status_slot(299)] = 1; /* not listed: "other" */
  live[1].counters.accepted = 4;
  live[1].connections = 2;
  struct sup_buf b = {0};
  render(m, live, 2, &b);
  assert_true(value(b.p, "evcluster_requests_total{code=\"200\"}") == 10);
  assert_true(value(b.p, "evcluster_requests_total{code=\"404\"}") == 3);
  assert_true(value(b.p, "evcluster_requests_total{code=\"other\"}") == 1);
  assert_true(value(b.p, "evcluster_connections_open") == 2);
  assert_true(value(b.p, "evcluster_request_duration_seconds_bucket{le=\"0.0001\"}") == 10);
  assert_true(value(b.p, "evcluster_request_duration_seconds_bucket{le=\"+Inf\"}") == 10);
  assert_true(value(b.p, "evcluster_request_duration_seconds_count") == 10);
  assert_non_null(strstr(b.p, "# TYPE evcluster_request_duration_seconds histogram\n"));
  assert_non_null(strstr(b.p, "# TYPE evcluster_requests_total counter\n"));
  assert_non_null(strstr(b.p, "evcluster_build_info{version=\"9.9\"} 1\n"));
  /* worker 1 goes (its last counters), a new one starts from zero: nothing goes back */
  sup_metrics_worker_gone(m, &live[1].counters);
  sup_metrics_worker_restarted(m, SUP_RESTART_HEALTH);
  memset(&live[1], 0, sizeof(live[1]));
  render(m, live, 2, &b);
  assert_true(value(b.p, "evcluster_requests_total{code=\"404\"}") == 3);
  assert_true(value(b.p, "evcluster_connections_accepted_total") == 4);
  assert_true(value(b.p, "evcluster_worker_restarts_total{reason=\"health\"}") == 1);
  assert_true(value(b.p, "evcluster_worker_restarts_total{reason=\"crash\"}") == 0);
  sup_buf_free(&b);
  sup_metrics_free(m);
}

static void test_export_import(void **state) {
  (void)state;
  sup_metrics_t *a = sup_metrics_new(), *c = sup_metrics_new();
  struct ipc_counters k;
  memset(&k, 0, sizeof(k));
  k.status[0] = 5;
  k.bytes_out = 1ull << 40;
  k.duration[IPC_N_DURATION - 1] = 2;
  sup_metrics_worker_gone(a, &k);
  sup_metrics_worker_started(a);
  sup_metrics_reload(a, 1);
  sup_metrics_upgrade(a, 0);
  struct sup_buf line = {0}, ta = {0}, tc = {0};
  sup_metrics_export(a, &line);
  assert_int_equal(sup_metrics_import(c, line.p), 0);
  render(a, NULL, 0, &ta);
  render(c, NULL, 0, &tc);
  assert_string_equal(ta.p, tc.p);
  assert_true(value(tc.p, "evcluster_response_bytes_total") == (double)(1ull << 40));
  assert_true(value(tc.p, "evcluster_upgrades_total{result=\"failure\"}") == 1);
  /* lines that do not parse change nothing */
  static const char *const bad[] = {"", "m2 46", "m1 3 1 2 3", "m1 46 x", "m1"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(sup_metrics_import(c, bad[i]), -EINVAL);
  line.p[line.len - 1] = 'x'; /* trailing garbage */
  assert_int_equal(sup_metrics_import(c, line.p), -EINVAL);
  render(c, NULL, 0, &tc);
  assert_string_equal(ta.p, tc.p);
  sup_buf_free(&line);
  sup_buf_free(&ta);
  sup_buf_free(&tc);
  sup_metrics_free(a);
  sup_metrics_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_monotonic),
      cmocka_unit_test(test_export_import),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
