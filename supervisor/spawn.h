/* Starting one worker process: the socketpair, the fork, and everything the child does
 * before it enters worker_main() (death signal, signal reset, descriptors, privileges).
 * Called by the supervisor on its loop thread. */
#ifndef EVC_SUP_SPAWN_H
#define EVC_SUP_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "conf.h"
#include "ipc.h"
#include "log.h"

struct sup_spawn_args {
  const conf_t *conf;
  const int *listen_fds; /* conf->n_listen */
  unsigned generation;
  unsigned slot;
  pid_t supervisor; /* getpid() of the caller: the child checks it is still its parent */
  const struct ipc_ticket_keys *tickets; /* TLS ticket keys the worker starts with, or NULL */
};

/* The log files workers write (error_log, access_log), opened and created as a start does,
 * and with give_to (when the config has a `user` and we are root) given to that user: workers
 * open them after dropping privileges, and in a root-owned log folder could neither create
 * them nor one a rotation moved away. A failed fchown is logged there and is not an error.
 * 0, or -errno with *key and *path naming the log that could not be opened. */
int sup_logs_prepare(const conf_t *conf, log_t *give_to, const char **key, const char **path);
/* Drops to the config's user and group when it has a user and we are root: 0 or -errno. */
int sup_privileges_drop(const conf_t *conf);

/* Forks a worker. On success returns 0 with *pid and *ipc_fd (the supervisor's end of the
 * channel: non-blocking, close-on-exec, owned by the caller). On failure returns -errno,
 * the failed call logged, nothing left open. Never returns in the child. */
int sup_spawn(const struct sup_spawn_args *a, log_t *log, pid_t *pid, int *ipc_fd);

#endif
