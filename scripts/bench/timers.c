/* Timer lateness of our loop, measured as node's side of `scripts/bench.sh --timers` measures
 * it (timers.js): a repeating timer of INTERVAL ms on an otherwise idle loop, and for each
 * tick how much later than INTERVAL after the previous tick it ran (the repeat is scheduled
 * from the loop's time when the callback runs, in both). Prints one line: p50 p99 max in ms,
 * then what the loop's own lag figure (the one `status` shows) says. Usage: bench_timers
 * [INTERVAL_MS [TICKS]] */
#include <stdio.h>
#include <stdlib.h>

#include "loop.h"

static uint64_t last_ns;
static double *late;
static unsigned ticks, n;
static uint64_t interval_ms;

static void on_tick(loop_timer_t *t) {
  uint64_t now = loop_hrtime_ns();
  if (last_ns != 0)
    late[n++] = (double)(now - last_ns) / 1e6 - (double)interval_ms;
  last_ns = now;
  if (n == ticks)
    loop_timer_stop(t);
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  loop_t *loop;
  loop_timer_t t;
  struct loop_lag lag;
  interval_ms = argc > 1 ? strtoull(argv[1], NULL, 10) : 100;
  ticks = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 50;
  if (interval_ms == 0 || ticks == 0 || loop_new(&loop) != 0)
    return 2;
  late = calloc(ticks, sizeof(*late));
  loop_set_idle_poll(loop, 200); /* as a worker runs it */
  loop_timer_init(loop, &t);
  loop_timer_start(&t, on_tick, interval_ms, interval_ms);
  if (loop_run(loop, LOOP_RUN_DEFAULT) != 0)
    return 1;
  qsort(late, n, sizeof(*late), cmp);
  loop_lag(loop, &lag);
  printf("%.3f %.3f %.3f loop-lag %.3f %.3f %.3f\n", late[(n - 1) * 50 / 100],
         late[(n - 1) * 99 / 100], late[n - 1], lag.p50_ms, lag.p99_ms, lag.max_ms);
  loop_close(&t.h, NULL);
  loop_run(loop, LOOP_RUN_DEFAULT);
  loop_free(loop);
  free(late);
  return 0;
}
