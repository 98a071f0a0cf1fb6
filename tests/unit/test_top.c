/* Unit tests of evcluster top's pure parts (supervisor/top.c): parsing status json (as the
 * supervisor writes it, and what is not), request rates between two snapshots, and the
 * layout: the holds of a draining worker, lines cut to the width, rows bounded by the height
 * with the rest counted. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "top.h"

#define WORKER(pid, gen, slot, state, reqs, conns, cpu)                                            \
  "{\"pid\": " #pid ", \"generation\": " #gen ", \"slot\": " #slot ", \"state\": \"" state         \
  "\", \"uptime_s\": 3.5, \"connections\": " #conns ", \"requests\": " #reqs ", "                  \
  "\"refs\": {\"total\": 4, \"listeners\": 0, \"connections\": " #conns ", \"pool_jobs\": 1, "     \
  "\"timers\": 0, \"ipc\": 1, \"signals\": 1, \"immediates\": 0, \"other\": 0}, "                  \
  "\"loop_lag_ms\": {\"p50\": 0.1, \"p99\": 2.5, \"max\": 3.0}, "                                  \
  "\"pool\": {\"threads\": 4, \"queued\": 7, \"running\": 1}, \"last_pong_s\": 0.1, "              \
  "\"missed_pings\": 0, \"rss_kb\": 2048, \"recycle_at_requests\": 0, \"replacing\": false, "      \
  "\"cpu_pct\": " cpu "}"

static const char *status(void) {
  return "{\"supervisor\": {\"pid\": 100, \"generation\": 2, \"config\": \"/x/e.conf\", "
         "\"uptime_s\": 3725.0, \"state\": \"running\", \"listening\": [\"127.0.0.1:80\", "
         "\"[::1]:80\"], \"cpu_pct\": null, \"rss_kb\": 3000, \"recycled\": {\"rss\": 1, "
         "\"requests\": 4, \"failed\": 0, \"in_progress\": true}},\n \"workers\": [\n  " WORKER(
             101, 2, 0, "running", 500, 3,
             "12.5") ",\n  " WORKER(102, 2, 1, "running", 800, 0,
                                    "null") ",\n  " WORKER(90, 1, 0, "draining", 70, 2,
                                                           "0.0") "]}\n";
}

static void test_parse(void **state) {
  (void)state;
  struct top_snap s;
  assert_int_equal(top_parse(status(), 10.0, &s), 0);
  assert_int_equal(s.pid, 100);
  assert_int_equal(s.generation, 2);
  assert_string_equal(s.state, "running");
  assert_string_equal(s.listening, "127.0.0.1:80, [::1]:80");
  assert_true(s.cpu_pct < 0); /* null: not measured yet */
  assert_int_equal(s.rss_kb, 3000);
  assert_int_equal(s.recycled_rss, 1);
  assert_int_equal(s.recycled_requests, 4);
  assert_int_equal(s.recycle_in_progress, 1);
  assert_int_equal(s.n_workers, 3);
  assert_int_equal(s.workers[0].pid, 101);
  assert_true(s.workers[0].cpu_pct == 12.5);
  assert_true(s.workers[1].cpu_pct < 0);
  assert_int_equal(s.workers[2].generation, 1);
  assert_string_equal(s.workers[2].state, "draining");
  assert_int_equal(s.workers[2].refs_connections, 2);
  assert_int_equal(s.workers[0].pool_queued, 7);
  assert_true(s.workers[0].lag_p99_ms == 2.5);
  top_snap_free(&s);

  assert_int_equal(top_parse("not json", 0, &s), -EPROTO);
  top_snap_free(&s);
  assert_int_equal(top_parse("{\"workers\": []}", 0, &s), -EPROTO);
  top_snap_free(&s);
  assert_int_equal(top_parse("{\"supervisor\": {}, \"workers\": 3}", 0, &s), -EPROTO);
  top_snap_free(&s);
  assert_int_equal(
      top_parse("{\"supervisor\": {\"listening\": [null, 5]}, \"workers\": []}", 0, &s), 0);
  assert_int_equal(s.n_workers, 0);
  assert_string_equal(s.listening, "?, 5");
  assert_string_equal(s.state, "?");
  top_snap_free(&s);
}

static void test_rates(void **state) {
  (void)state;
  struct top_snap a, b;
  assert_int_equal(top_parse(status(), 10.0, &a), 0);
  top_rates(NULL, &a);
  assert_true(a.workers[0].req_rate < 0);
  assert_int_equal(top_parse(status(), 12.0, &b), 0);
  a.workers[0].requests = 300; /* 200 more in 2 s */
  a.workers[1].pid = 55;       /* a new worker: no rate yet */
  a.workers[2].requests = 90;  /* fewer than before (a reused pid): no rate */
  top_rates(&a, &b);
  assert_true(b.workers[0].req_rate == 100.0);
  assert_true(b.workers[1].req_rate < 0); /* up 3.5 s: it was there, unseen, 2 s ago */
  assert_true(b.workers[2].req_rate < 0);
  b.workers[1].uptime_s = 1.5; /* started since: its 800 requests are this interval's */
  top_rates(&a, &b);
  assert_true(b.workers[1].req_rate == 400.0);
  top_snap_free(&a);
  top_snap_free(&b);
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

static void test_render(void **state) {
  (void)state;
  struct top_snap s;
  assert_int_equal(top_parse(status(), 10.0, &s), 0);
  struct sup_buf b = {0};
  top_render(&s, NULL, 0, 0, &b);
  assert_non_null(strstr(b.p, "supervisor 100 running  generation 2  up 1:02:05"));
  assert_non_null(strstr(b.p, "workers 2 running, 1 draining, 0 starting  req/s -"));
  assert_non_null(strstr(b.p, "recycled 1 by memory, 4 by requests (one in progress)"));
  assert_non_null(strstr(b.p, "supervisor cpu -%"));
  /* the draining worker: what holds it; the running ones: "-" */
  const char *row = strstr(b.p, "\n90 ");
  assert_non_null(row);
  assert_non_null(strstr(row, "draining"));
  assert_non_null(strstr(row, " conn=2,pool=1\n"));
  row = strstr(b.p, "\n101 ");
  assert_non_null(row);
  assert_non_null(strstr(row, " 12.5 "));
  assert_int_equal(strchr(row + 1, '\n')[-1], '-');
  assert_int_equal(count_lines(b.p), 4 + 3);
  sup_buf_free(&b);

  /* 50 columns, 6 rows: every line cut; no room for a worker row, so all are counted */
  top_render(&s, "control socket x: refused", 50, 6, &b);
  assert_int_equal(count_lines(b.p), 6);
  for (const char *p = b.p; *p; p = strchr(p, '\n') + 1)
    assert_true(strchr(p, '\n') - p <= 50);
  assert_non_null(strstr(b.p, "! control socket x: refused"));
  assert_non_null(strstr(b.p, "... 3 more workers"));
  sup_buf_free(&b);

  top_render(NULL, "not running", 80, 10, &b);
  assert_non_null(strstr(b.p, "not running"));
  sup_buf_free(&b);
  top_snap_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_rates),
      cmocka_unit_test(test_render),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
