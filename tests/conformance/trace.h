/* Helpers shared by the conformance scenarios (the C halves): one trace line per event on
 * stdout, a busy wait, and a check that ends the scenario loudly when a loop or pool call
 * fails. Each scenario is one process; a watchdog alarm ends it if the loop never returns. */
#ifndef EVC_CONFORMANCE_TRACE_H
#define EVC_CONFORMANCE_TRACE_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"

/* One trace line, written at once so the order survives a crash or a kill. */
static inline void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void trace(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

/* Fails the scenario when a call returns a negative errno. */
#define CHECK(call)                                                                       \
  do {                                                                                    \
    int rc_ = (call);                                                                     \
    if (rc_ < 0) {                                                                        \
      fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, strerror(-rc_)); \
      exit(2);                                                                            \
    }                                                                                     \
  } while (0)

/* Busy-waits ms milliseconds of monotonic time (as the Node scripts do with hrtime). */
static inline void spin_ms(unsigned ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t end = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + (uint64_t)ms * 1000000u;
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec >= end)
      return;
  }
}

/* Starts a scenario: a watchdog (SIGALRM's default action ends the process) and a new loop. */
static inline loop_t *scenario_start(void) {
  loop_t *loop = NULL;
  alarm(20);
  CHECK(loop_new(&loop));
  /* Idle polling on, as in a worker (idle_poll_us's default): the traces must not change. */
  loop_set_idle_poll(loop, 200);
  return loop;
}

/* Runs the loop to its end and prints "exit", as Node's process 'exit' event does. */
static inline void scenario_run(loop_t *loop) {
  trace("main");
  CHECK(loop_run(loop, LOOP_RUN_DEFAULT));
  trace("exit");
}

/* Ends a scenario after the trace: closes the handles given (a NULL-terminated list of
 * loop_handle_t *, none closed yet) without a trace, runs the loop until their close
 * callbacks are done, and frees the loop. Returns main's exit code. */
static inline int scenario_end(loop_t *loop, ...) {
  va_list ap;
  va_start(ap, loop);
  for (loop_handle_t *h = va_arg(ap, loop_handle_t *); h; h = va_arg(ap, loop_handle_t *))
    loop_close(h, NULL);
  va_end(ap);
  CHECK(loop_run(loop, LOOP_RUN_DEFAULT));
  loop_free(loop);
  return 0;
}

/* A TCP socket like Node's `new TCP()` before bind: a handle to watch and close. */
static inline int tcp_socket(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    perror("socket() failed");
    exit(2);
  }
  return fd;
}

#endif
