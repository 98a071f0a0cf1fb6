/* A process's CPU time and resident memory, read from /proc/PID/stat and /proc/PID/statm by
 * the supervisor for its workers and itself (status, top, recycling by memory). The two
 * parsers are pure and unit-tested; procstat_sample does the reads. Linux only. */
#ifndef EVC_SUP_PROCSTAT_H
#define EVC_SUP_PROCSTAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One process's figures as of its last sample. Zeroed: nothing read yet. */
struct procstat {
  uint64_t at_ms;     /* when the last sample was read (the caller's clock); 0: never */
  uint64_t cpu_ticks; /* utime + stime, clock ticks, at that sample */
  uint64_t rss_kb;    /* resident set size, KiB */
  double cpu_pct;     /* CPU time over wall time between the last two samples, % of one core */
  int cpu_valid;      /* cpu_pct covers an interval (two samples were read) */
};

/* The contents of /proc/PID/stat: utime + stime (fields 14 and 15) into *ticks. The command
 * name (field 2) may hold spaces and parentheses, so fields count from its LAST ')'.
 * 0 or -EINVAL. */
int procstat_parse_stat(const char *text, uint64_t *ticks);
/* The contents of /proc/PID/statm: the resident field (the second, in pages) in KiB.
 * 0 or -EINVAL. */
int procstat_parse_statm(const char *text, long page_size, uint64_t *rss_kb);
/* CPU share in % of one core: ticks used over ms of wall time at hz ticks a second; 0 for an
 * empty interval. */
double procstat_cpu_pct(uint64_t ticks, uint64_t ms, long hz);
/* Reads pid's stat and statm and updates *ps: its RSS, and its CPU % over the time since the
 * previous sample. 0 or -errno (-ESRCH: the process is gone); *ps unchanged on failure. */
int procstat_sample(pid_t pid, uint64_t now_ms, struct procstat *ps);

#endif
