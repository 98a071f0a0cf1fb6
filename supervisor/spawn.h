/* Starting one worker process: the socketpair, the fork, and everything the child does
 * before it enters worker_main() (death signal, signal reset, descriptors, privileges).
 * Called by the supervisor on its loop thread. */
#ifndef EVC_SUP_SPAWN_H
#define EVC_SUP_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "conf.h"
#include "log.h"

struct sup_spawn_args {
  const conf_t *conf;
  const int *listen_fds; /* conf->n_listen */
  unsigned generation;
  unsigned slot;
  pid_t supervisor; /* getpid() of the caller: the child checks it is still its parent */
};

/* Forks a worker. On success returns 0 with *pid and *ipc_fd (the supervisor's end of the
 * channel: non-blocking, close-on-exec, owned by the caller). On failure returns -errno,
 * the failed call logged, nothing left open. Never returns in the child. */
int sup_spawn(const struct sup_spawn_args *a, log_t *log, pid_t *pid, int *ipc_fd);

#endif
