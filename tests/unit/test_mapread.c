/* Unit tests for worker/mapread.c: a copy from a file's mapping gives its bytes; one from
 * pages past the file's end (truncated after it was mapped) fails with -EFAULT, again and
 * again (the handler stays armed and SIGBUS unblocked), and the process lives on; a SIGBUS
 * outside a copy, or one sent by kill, still kills the process, as it would without the
 * module. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mapread.h"

#define SIZE (64 * 1024)

struct mapped {
  int fd;
  char *map;
  char bytes[SIZE];
};

static int setup(void **state) {
  struct mapped *m = calloc(1, sizeof(*m));
  char path[] = "/tmp/evc-mapread-XXXXXX";
  assert_non_null(m);
  m->fd = mkstemp(path);
  assert_true(m->fd >= 0);
  unlink(path);
  for (size_t i = 0; i < SIZE; i++)
    m->bytes[i] = (char)(i * 7 + i / 4096);
  assert_int_equal(write(m->fd, m->bytes, SIZE), SIZE);
  m->map = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, m->fd, 0);
  assert_true(m->map != MAP_FAILED);
  *state = m;
  return 0;
}

static int teardown(void **state) {
  struct mapped *m = *state;
  munmap(m->map, SIZE);
  close(m->fd);
  free(m);
  return 0;
}

/* In the test itself: cmocka puts its own SIGBUS handler in place for each test, after the
 * setup. */
static void arm(void) {
  assert_int_equal(mapread_init(), 0);
}

static void copies_the_bytes(void **state) {
  struct mapped *m = *state;
  arm();
  char out[SIZE];
  assert_int_equal(mapread_copy(out, m->map, SIZE), 0);
  assert_memory_equal(out, m->bytes, SIZE);
  assert_int_equal(mapread_copy(out, m->map + 5000, 3), 0);
  assert_memory_equal(out, m->bytes + 5000, 3);
}

static void truncated_file_fails_the_copy(void **state) {
  struct mapped *m = *state;
  arm();
  char out[SIZE];
  assert_int_equal(ftruncate(m->fd, 8192), 0);
  for (int i = 0; i < 3; i++) { /* caught each time: SIGBUS is not left blocked */
    assert_int_equal(mapread_copy(out, m->map + 4096, 16384), -EFAULT);
  }
  /* what is still the file's copies as before */
  assert_int_equal(mapread_copy(out, m->map, 8192), 0);
  assert_memory_equal(out, m->bytes, 8192);
}

static void fault_outside_a_copy_still_kills(void **state) {
  struct mapped *m = *state;
  arm();
  assert_int_equal(ftruncate(m->fd, 4096), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    volatile char c = m->map[3 * 4096]; /* past the end, not in mapread_copy */
    (void)c;
    _exit(0);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGBUS);
}

static void sigbus_by_kill_still_kills(void **state) {
  (void)state;
  arm();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    kill(getpid(), SIGBUS);
    _exit(0);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGBUS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(copies_the_bytes, setup, teardown),
      cmocka_unit_test_setup_teardown(truncated_file_fails_the_copy, setup, teardown),
      cmocka_unit_test_setup_teardown(fault_outside_a_copy_still_kills, setup, teardown),
      cmocka_unit_test(sigbus_by_kill_still_kills),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
