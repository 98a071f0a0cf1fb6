/* Binary upgrade in place (-s upgrade, SIGUSR2), as HAProxy's master does it: the supervisor
 * checks the binary at the path it was started from (`BINARY -t -c CONFIG` in a child must
 * succeed), then execve()s it in its own pid, so systemd keeps tracking the service. What
 * the new image needs crosses the execve in one environment variable (EVC_UPGRADE): the
 * listening sockets (adopted, never re-bound), the control socket and the CLI client waiting
 * for the outcome, the admin listener, the running workers (children still: their pids and
 * channels) and the metrics' totals. The new image starts its own generation and drains the
 * old workers once it is ready; if it does not come up, the old workers keep serving.
 * This module encodes and decodes that hand-over and runs the check and the execve. */
#ifndef EVC_SUP_UPGRADE_H
#define EVC_SUP_UPGRADE_H

#include <stdint.h>
#include <sys/types.h>

#include "ipc.h"
#include "util.h"

#define SUP_UPGRADE_ENV "EVC_UPGRADE"

enum {
  SUP_UP_READY = 1,
  SUP_UP_DRAIN_SENT = 2,
  SUP_UP_KILLED = 4,
  SUP_UP_RETIRED = 8,
  SUP_UP_DRAINING = 16,
};

struct sup_up_worker {
  pid_t pid;
  int fd; /* the supervisor's end of its channel */
  unsigned slot, generation;
  uint64_t seq, answered;
  unsigned flags; /* SUP_UP_* */
  struct ipc_stats stats; /* zero when the previous binary's layout differs from ours: its
                           * figures are unknown until the worker's next answer */
};

struct sup_up_listener {
  char *text; /* the config's text ("127.0.0.1:8080") */
  int fd;
};

struct sup_handover {
  int ctl_fd;       /* the control socket's listener */
  int req_fd;       /* the CLI client waiting for the outcome, or -1 (SIGUSR2) */
  int admin_fd;     /* the admin listener, or -1 */
  char *admin_text; /* its config text, or NULL */
  unsigned active_gen, next_gen;
  double started_wall;
  char *version;  /* of the binary that hands over */
  char *exe;      /* the path upgrades execute: it stays the one the service was started as */
  char *ctl_path; /* where the control socket and the pid file are (a config edited since */
  char *pid_file; /* the last reload may name others: they move once the upgrade is done) */
  char *metrics;  /* sup_metrics_export's line */
  /* TLS session ticket keys, so that tickets issued before the upgrade still resume after
   * it (and new ones are issued at all: the new image starts no key of its own then). The
   * new image wipes the variable's bytes once decoded: it is in every worker's
   * /proc/PID/environ, which a process of the workers' user could read. */
  struct ipc_ticket_keys tickets;
  int has_tickets;
  struct sup_up_listener *listeners;
  unsigned n_listeners;
  struct sup_up_worker *workers;
  unsigned n_workers;
};

/* Appends one listener or worker (copied). */
void sup_handover_add_listener(struct sup_handover *h, const char *text, int fd);
void sup_handover_add_worker(struct sup_handover *h, const struct sup_up_worker *w);
/* Releases what h holds (not the descriptors). */
void sup_handover_free(struct sup_handover *h);
/* The environment value. */
void sup_handover_encode(const struct sup_handover *h, struct sup_buf *out);
/* 0, or -EINVAL for a value that does not parse (then h holds nothing). */
int sup_handover_decode(const char *s, struct sup_handover *h);

/* The path of the binary as started, for later upgrades: argv0 made absolute (searched in
 * PATH when it has no '/'), symlinks left as they are, so that an upgrade runs what is
 * installed under that name then (a symlink re-pointed to a new version included). NULL
 * when it cannot be found; the caller falls back to /proc/self/exe. Malloc'd. */
char *sup_upgrade_binary_path(const char *argv0);
/* Starts `exe -t -c conf` with its output into a pipe: 0 with *pid and *out_fd (read end,
 * non-blocking, close-on-exec), or -errno. */
int sup_upgrade_check_start(const char *exe, const char *conf, const char *held, pid_t *pid,
                            int *out_fd);
/* Replaces the process image: keeps h's descriptors open across the execve and puts h in
 * the environment. Returns only on failure: -errno, with every descriptor's close-on-exec
 * flag restored. */
int sup_upgrade_exec(const char *exe, const char *conf, const struct sup_handover *h);

#endif
