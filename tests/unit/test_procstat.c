/* Unit tests of the /proc readers (supervisor/procstat.c): /proc/PID/stat lines whose command
 * name holds spaces and parentheses, truncated and malformed ones, statm, the CPU share, and
 * one real sample of this process (it burns some CPU between two samples). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "procstat.h"

/* fields 3..15 after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
 * cmajflt utime stime, then more */
#define TAIL "S 1 100 100 0 -1 4194560 5 0 0 0 1234 567 0 0 20 0 1 0 42 12345678 300\n"

static void test_stat_plain(void **state) {
  (void)state;
  uint64_t t = 0;
  assert_int_equal(procstat_parse_stat("4242 (evcluster) " TAIL, &t), 0);
  assert_int_equal(t, 1234 + 567);
}

static void test_stat_comm_with_spaces_and_parens(void **state) {
  (void)state;
  uint64_t t = 0;
  /* a process may call itself anything up to 15 bytes: ") 9 9 (" must not shift the fields */
  assert_int_equal(procstat_parse_stat("77 (a) b (c) 9 9) " TAIL, &t), 0);
  assert_int_equal(t, 1801);
  assert_int_equal(procstat_parse_stat("77 ( ) ) " TAIL, &t), 0);
  assert_int_equal(t, 1801);
  assert_int_equal(procstat_parse_stat("77 ()) " TAIL, &t), 0);
  assert_int_equal(t, 1801);
}

static void test_stat_malformed(void **state) {
  (void)state;
  uint64_t t = 99;
  assert_int_equal(procstat_parse_stat("", &t), -EINVAL);
  assert_int_equal(procstat_parse_stat("12 no parens S 1 2 3", &t), -EINVAL);
  /* cut before stime */
  assert_int_equal(procstat_parse_stat("12 (x) S 1 100 100 0 -1 4194560 5 0 0 0 1234", &t),
                   -EINVAL);
  assert_int_equal(procstat_parse_stat("12 (x) S 1 100 100 0 -1 4194560 5 0 0 0 12x4 5\n", &t),
                   -EINVAL);
  assert_int_equal(procstat_parse_stat("12 (x) S 1 100 100 0 -1 4194560 5 0 0 0 -3 5\n", &t),
                   -EINVAL);
  assert_int_equal(t, 99); /* untouched on failure */
}

static void test_statm(void **state) {
  (void)state;
  uint64_t kb = 0;
  assert_int_equal(procstat_parse_statm("5000 1234 300 10 0 700 0\n", 4096, &kb), 0);
  assert_int_equal(kb, 1234 * 4);
  assert_int_equal(procstat_parse_statm("5000 3 300 10 0 700 0", 65536, &kb), 0);
  assert_int_equal(kb, 192);
  assert_int_equal(procstat_parse_statm("5000\n", 4096, &kb), -EINVAL);
  assert_int_equal(procstat_parse_statm("", 4096, &kb), -EINVAL);
  assert_int_equal(procstat_parse_statm("5000 x 1", 4096, &kb), -EINVAL);
  assert_int_equal(procstat_parse_statm("5000 -4 1", 4096, &kb), -EINVAL);
}

static void test_cpu_pct(void **state) {
  (void)state;
  assert_true(procstat_cpu_pct(100, 1000, 100) == 100.0); /* one core for a second */
  assert_true(procstat_cpu_pct(50, 2000, 100) == 25.0);
  assert_true(procstat_cpu_pct(200, 1000, 100) == 200.0); /* threads on two cores */
  assert_true(procstat_cpu_pct(5, 0, 100) == 0.0);
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_sample_self(void **state) {
  (void)state;
  struct procstat ps = {0};
  assert_int_equal(procstat_sample(getpid(), mono_ms(), &ps), 0);
  assert_true(ps.rss_kb > 100);
  assert_false(ps.cpu_valid);
  uint64_t t0 = mono_ms();
  volatile uint64_t x = 0;
  while (mono_ms() - t0 < 300)
    x += 1;
  assert_int_equal(procstat_sample(getpid(), mono_ms(), &ps), 0);
  assert_true(ps.cpu_valid);
  assert_true(ps.cpu_pct > 20.0 && ps.cpu_pct < 250.0);
  assert_int_equal(procstat_sample(999999999, mono_ms(), &ps), -ESRCH);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stat_plain),
      cmocka_unit_test(test_stat_comm_with_spaces_and_parens),
      cmocka_unit_test(test_stat_malformed),
      cmocka_unit_test(test_statm),
      cmocka_unit_test(test_cpu_pct),
      cmocka_unit_test(test_sample_self),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
