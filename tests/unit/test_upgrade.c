/* Unit tests of the upgrade hand-over (supervisor/upgrade.c): what one image writes into
 * EVC_UPGRADE the next one reads back exactly; a value that does not parse is refused whole;
 * the binary's path is found as the shell would find it, symlinks kept. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "upgrade.h"

static void fill(struct sup_handover *h) {
  memset(h, 0, sizeof(*h));
  h->ctl_fd = 7;
  h->req_fd = 12;
  h->admin_fd = -1;
  h->active_gen = 3;
  h->next_gen = 4;
  h->started_wall = 1796290444.633;
  h->version = strdup("0.1.0");
  h->exe = strdup("/opt/ev;cluster/bin/evcluster"); /* a ';' must survive */
  h->metrics = strdup("m1 2 5 6");
  h->ctl_path = strdup("/run/evcluster/evcluster.sock");
  sup_handover_add_listener(h, "127.0.0.1:8080", 5);
  sup_handover_add_listener(h, "[::1]:0", 6);
  struct sup_up_worker w = {.pid = 1234,
                            .fd = 9,
                            .slot = 1,
                            .generation = 3,
                            .seq = 77,
                            .answered = 76,
                            .flags = SUP_UP_READY | SUP_UP_DRAIN_SENT};
  w.stats.requests = 99;
  w.stats.counters.status[0] = 42;
  w.stats.lag_p99_ms = 1.5;
  sup_handover_add_worker(h, &w);
}

static void test_roundtrip(void **state) {
  (void)state;
  struct sup_handover a, b;
  struct sup_buf text = {0};
  fill(&a);
  memset(&a.tickets, 0x5c, sizeof(a.tickets));
  a.tickets.n_keys = 2;
  a.has_tickets = 1;
  sup_handover_encode(&a, &text);
  assert_int_equal(sup_handover_decode(text.p, &b), 0);
  assert_int_equal(b.ctl_fd, 7);
  assert_int_equal(b.req_fd, 12);
  assert_int_equal(b.admin_fd, -1);
  assert_null(b.admin_text);
  assert_int_equal(b.active_gen, 3);
  assert_int_equal(b.next_gen, 4);
  assert_true(b.started_wall > 1796290444.6 && b.started_wall < 1796290444.7);
  assert_string_equal(b.version, "0.1.0");
  assert_string_equal(b.exe, "/opt/ev;cluster/bin/evcluster");
  assert_string_equal(b.metrics, "m1 2 5 6");
  assert_string_equal(b.ctl_path, "/run/evcluster/evcluster.sock");
  assert_null(b.pid_file);
  assert_int_equal(b.n_listeners, 2);
  assert_string_equal(b.listeners[0].text, "127.0.0.1:8080");
  assert_int_equal(b.listeners[0].fd, 5);
  assert_string_equal(b.listeners[1].text, "[::1]:0");
  assert_int_equal(b.n_workers, 1);
  assert_int_equal(b.workers[0].pid, 1234);
  assert_int_equal(b.workers[0].fd, 9);
  assert_int_equal(b.workers[0].seq, 77);
  assert_int_equal(b.workers[0].flags, SUP_UP_READY | SUP_UP_DRAIN_SENT);
  assert_memory_equal(&b.workers[0].stats, &a.workers[0].stats, sizeof(struct ipc_stats));
  assert_int_equal(b.has_tickets, 1);
  assert_memory_equal(&b.tickets, &a.tickets, sizeof(a.tickets));
  sup_handover_free(&a);
  sup_handover_free(&b);
  sup_buf_free(&text);
}

static void test_rejects(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      "v2;ctl=3;gen=1;next=1",
      "v1;gen=1;next=1",       /* no control socket */
      "v1;ctl=3;gen=0;next=0", /* no generation */
      "v1;ctl=3;gen=2;next=1", /* next below the active one */
      "v1;ctl=x;gen=1;next=1",
      "v1;ctl=3;gen=1;next=1;L=127.0.0.1:80",
      "v1;ctl=3;gen=1;next=1;L=127.0.0.1:80,-4",
      "v1;ctl=3;gen=1;next=1;W=1,2,3",
      "v1;ctl=3;gen=1;next=1;K=00",     /* ticket keys of the wrong size */
      "v1;ctl=3;gen=1;next=1;X=2f0",
      "v1;ctl=3;gen=1;next=1;X=2f00", /* a NUL inside the path */
      "v1;ctl=3;gen=1;next=1;Q=1",
      "v1;ctl=3;gen=1;next=1;noequals",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct sup_handover h;
    assert_int_equal(sup_handover_decode(bad[i], &h), -EINVAL);
    assert_int_equal(h.n_listeners, 0);
    assert_int_equal(h.n_workers, 0);
    assert_null(h.version);
  }
  struct sup_handover ok;
  assert_int_equal(sup_handover_decode("v1;ctl=3;gen=1;next=1", &ok), 0);
  assert_int_equal(ok.has_tickets, 0);
  sup_handover_free(&ok);
  /* a worker whose stats are in another binary's layout is still handed over: its figures
   * are unknown (zero) until it next answers */
  assert_int_equal(sup_handover_decode("v1;ctl=3;gen=1;next=1;W=1,2,0,1,0,0,1,abc", &ok), 0);
  assert_int_equal(ok.n_workers, 1);
  assert_int_equal(ok.workers[0].pid, 1);
  assert_int_equal(ok.workers[0].stats.requests, 0);
  sup_handover_free(&ok);
}

static void test_binary_path(void **state) {
  (void)state;
  char cwd[PATH_MAX], want[PATH_MAX + 16];
  assert_non_null(getcwd(cwd, sizeof(cwd)));
  char *p = sup_upgrade_binary_path("/bin/sh");
  assert_string_equal(p, "/bin/sh");
  free(p);
  p = sup_upgrade_binary_path("sh"); /* through PATH */
  assert_non_null(p);
  assert_true(p[0] == '/' && strcmp(p + strlen(p) - 3, "/sh") == 0);
  free(p);
  assert_null(sup_upgrade_binary_path("/nonexistent/evcluster"));
  assert_null(sup_upgrade_binary_path("no-such-binary-anywhere-evc"));
  assert_null(sup_upgrade_binary_path(""));
  char here[PATH_MAX];
  assert_int_equal(chdir("/bin"), 0);
  assert_non_null(getcwd(here, sizeof(here)));
  p = sup_upgrade_binary_path("./sh");
  snprintf(want, sizeof(want), "%s/./sh", here);
  assert_string_equal(p, want); /* made absolute, the name kept as given */
  free(p);
  assert_int_equal(chdir(cwd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_rejects),
      cmocka_unit_test(test_binary_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
