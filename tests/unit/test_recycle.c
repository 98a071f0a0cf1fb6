/* Unit tests of the recycling policy (supervisor/recycle.c): the jitter threshold, what is
 * due and why, which first (urgency), the exemption of a worker above the memory limit at READY
 * (said once), the back-off for a worker due by memory right after it started, and the counters. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "recycle.h"

static void test_threshold(void **state) {
  (void)state;
  assert_int_equal(recycle_threshold(0, 0.5, 0.7), 0);
  assert_int_equal(recycle_threshold(1000, 0.0, 0.7), 1000);
  assert_int_equal(recycle_threshold(1000, 0.1, 0.0), 1000);
  assert_int_equal(recycle_threshold(1000, 0.1, 0.5), 1050);
  assert_int_equal(recycle_threshold(1000, 0.1, 0.9999), 1099); /* never the full share */
  assert_int_equal(recycle_threshold(1000, 1.0, 0.5), 1500);
  assert_int_equal(recycle_threshold(1, 0.1, 0.99), 1);
  assert_int_equal(recycle_threshold(1000, 2.0, 0.5), 1500); /* jitter clamped to 1 */
}

static void test_spread(void **state) {
  (void)state;
  recycle_t *r = NULL;
  assert_int_equal(recycle_new(NULL, &r), 0);
  conf_t c;
  memset(&c, 0, sizeof(c));
  c.recycle.max_requests = 10000;
  c.recycle.jitter = 0.2;
  uint64_t lo = UINT64_MAX, hi = 0;
  for (int i = 0; i < 200; i++) {
    struct recycle_worker rw;
    recycle_worker_spawned(r, &c, &rw);
    assert_true(rw.threshold >= 10000 && rw.threshold < 12000);
    lo = rw.threshold < lo ? rw.threshold : lo;
    hi = rw.threshold > hi ? rw.threshold : hi;
  }
  assert_true(hi - lo > 1000); /* 200 draws cover most of the spread */
  c.recycle.jitter = 0;
  struct recycle_worker rw;
  recycle_worker_spawned(r, &c, &rw);
  assert_int_equal(rw.threshold, 10000);
  recycle_free(r);
}

static void test_due(void **state) {
  (void)state;
  conf_t c;
  memset(&c, 0, sizeof(c));
  struct recycle_worker rw = {.threshold = 0};
  assert_int_equal(recycle_due(&c, &rw, 1 << 30, 1 << 30), RECYCLE_NONE); /* all off */
  c.recycle.max_rss_mb = 100;
  assert_int_equal(recycle_due(&c, &rw, 100 * 1024, 5), RECYCLE_NONE);
  assert_int_equal(recycle_due(&c, &rw, 100 * 1024 + 1, 5), RECYCLE_RSS);
  assert_int_equal(recycle_due(&c, &rw, 0, 5), RECYCLE_NONE); /* unknown */
  rw.threshold = 50;
  assert_int_equal(recycle_due(&c, &rw, 1024, 49), RECYCLE_NONE);
  assert_int_equal(recycle_due(&c, &rw, 1024, 50), RECYCLE_REQUESTS);
  assert_int_equal(recycle_due(&c, &rw, 200 * 1024, 50), RECYCLE_RSS); /* memory first */
  rw.rss_exempt = 1;
  assert_int_equal(recycle_due(&c, &rw, 200 * 1024, 10), RECYCLE_NONE);
  /* urgency: memory above requests, then how far past the limit */
  rw.rss_exempt = 0;
  assert_true(recycle_urgency(&c, &rw, 1024, 10) == 0.0);
  assert_true(recycle_urgency(&c, &rw, 1024, 50) == 1.0);
  assert_true(recycle_urgency(&c, &rw, 1024, 75) == 1.5);
  assert_true(recycle_urgency(&c, &rw, 150 * 1024, 0) == 1001.5);
  assert_true(recycle_urgency(&c, &rw, 101 * 1024, 0) > recycle_urgency(&c, &rw, 1024, 5000));
  /* observe: the first time it is seen due stays */
  rw.due_ms = 0;
  assert_true(recycle_observe(&c, &rw, 1024, 10, 500) == 0.0);
  assert_int_equal(rw.due_ms, 0);
  assert_true(recycle_observe(&c, &rw, 1024, 60, 700) == 1.2);
  assert_true(recycle_observe(&c, &rw, 1024, 70, 900) == 1.4);
  assert_int_equal(rw.due_ms, 700);
  assert_string_equal(recycle_reason_name(RECYCLE_RSS), "rss");
  assert_string_equal(recycle_reason_name(RECYCLE_REQUESTS), "requests");
}

/* The log goes to a file read back here, to see what is said and how often. */
static char *read_all(const char *path) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char buf[65536];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p++)
    n++;
  return n;
}

static void test_baseline_and_backoff(void **state) {
  (void)state;
  char path[] = "/tmp/evc-recycle-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  log_t *log = NULL;
  assert_int_equal(log_new("supervisor", path, &log), 0);
  recycle_t *r = NULL;
  assert_int_equal(recycle_new(log, &r), 0);
  conf_t c;
  memset(&c, 0, sizeof(c));
  c.recycle.max_rss_mb = 4;

  /* above the limit at READY: exempt, said once for two such workers */
  struct recycle_worker a, b;
  recycle_worker_spawned(r, &c, &a);
  recycle_worker_spawned(r, &c, &b);
  recycle_worker_ready(r, &c, &a, 10, 5 * 1024);
  recycle_worker_ready(r, &c, &b, 11, 6 * 1024);
  assert_true(a.rss_exempt && b.rss_exempt);
  assert_int_equal(recycle_due(&c, &a, 50 * 1024, 0), RECYCLE_NONE);
  /* below it: not exempt, due once it grows */
  struct recycle_worker w;
  recycle_worker_spawned(r, &c, &w);
  recycle_worker_ready(r, &c, &w, 12, 3 * 1024);
  assert_false(w.rss_exempt);
  assert_int_equal(recycle_due(&c, &w, 5 * 1024, 0), RECYCLE_RSS);

  /* due 2 s after READY: the recycle goes ahead, the next waits 5 s, then 10 s */
  uint64_t now = 100000;
  assert_true(recycle_may_start(r, now));
  recycle_begin(r, &c, now, 12, 0, 1, RECYCLE_RSS, &w, 5 * 1024, 7, 2000);
  assert_false(recycle_may_start(r, now)); /* one at a time */
  assert_int_equal(recycle_in_progress(r), 1);
  recycle_end(r, now + 100, 1, 13, NULL);
  assert_int_equal(recycle_counts(r)->rss, 1);
  assert_false(recycle_may_start(r, now + 4999));
  assert_true(recycle_may_start(r, now + 5000));
  now += 5000;
  recycle_begin(r, &c, now, 13, 0, 1, RECYCLE_RSS, &w, 5 * 1024, 7, 2000);
  recycle_end(r, now + 100, 1, 14, NULL);
  assert_false(recycle_may_start(r, now + 9999));
  assert_true(recycle_may_start(r, now + 10000));
  /* a worker that lived long resets it */
  now += 10000;
  recycle_begin(r, &c, now, 14, 0, 1, RECYCLE_RSS, &w, 5 * 1024, 7, 60000);
  recycle_end(r, now + 100, 1, 15, NULL);
  assert_true(recycle_may_start(r, now + 100));
  /* requests: never backs off; a failed replacement waits 5 s */
  w.threshold = 10;
  recycle_begin(r, &c, now, 15, 0, 1, RECYCLE_REQUESTS, &w, 1024, 10, 100);
  recycle_end(r, now, 1, 16, NULL);
  assert_true(recycle_may_start(r, now));
  recycle_begin(r, &c, now, 16, 0, 1, RECYCLE_REQUESTS, &w, 1024, 10, 100);
  recycle_end(r, now, 0, 17, "test");
  assert_false(recycle_may_start(r, now + 4999));
  assert_true(recycle_may_start(r, now + 5000));
  const struct recycle_counts *n = recycle_counts(r);
  assert_int_equal(n->rss, 3);
  assert_int_equal(n->requests, 1);
  assert_int_equal(n->failed, 1);

  const char *text = read_all(path);
  assert_int_equal(count(text, "below a worker's baseline"), 1);
  assert_int_equal(count(text, "recycling backs off"), 1);
  assert_int_equal(count(text, "starting its replacement"), 5);
  assert_int_equal(count(text, "abandoned: test"), 1);
  recycle_free(r);
  log_free(log);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_threshold),
      cmocka_unit_test(test_spread),
      cmocka_unit_test(test_due),
      cmocka_unit_test(test_baseline_and_backoff),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
