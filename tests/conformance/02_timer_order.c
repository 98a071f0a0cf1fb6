/* Timers started together: shorter delays first; equal delays in start order. */
#include "trace.h"

static void on_timer(loop_timer_t *t) { trace("timer %s", (const char *)t->h.data); }

int main(void) {
  static const struct { const char *name; uint64_t ms; } spec[] = {
    {"5a", 5}, {"1a", 1}, {"12", 12}, {"5b", 5}, {"1b", 1}, {"5c", 5}, {"0 (1 ms)", 1}, {"1c", 1},
  };
  enum { N = sizeof spec / sizeof spec[0] };
  static loop_timer_t timers[N];
  loop_t *loop = scenario_start();
  for (size_t i = 0; i < N; i++) {
    CHECK(loop_timer_init(loop, &timers[i]));
    timers[i].h.data = (void *)spec[i].name;
    CHECK(loop_timer_start(&timers[i], on_timer, spec[i].ms, 0));
  }
  scenario_run(loop);
  for (size_t i = 0; i < N; i++)
    loop_close(&timers[i].h, NULL);
  return scenario_end(loop, NULL);
}
