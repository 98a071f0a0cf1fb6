/* The worker process: entered in the child right after fork. It owns its loop, its pool,
 * its connections and its end of the IPC channel, and returns when its refs reach zero. */
#ifndef EVC_WORKER_H
#define EVC_WORKER_H

#include "conf.h"
#include "ipc.h"

struct worker_args {
  const conf_t *conf;     /* the snapshot inherited across fork; read-only */
  const int *listen_fds;  /* conf->n_listen non-blocking listening sockets, inherited */
  int ipc_fd;             /* the worker's end of the socketpair */
  unsigned generation;
  unsigned slot;          /* index within its generation, for the logs ("worker 2") */
  const struct ipc_ticket_keys *tickets; /* the supervisor's TLS ticket keys, or NULL */
};

/* Runs the worker until it has drained; returns the process exit status (0 clean, 1 error).
 * The caller (the forked child) passes the result to _exit(). Before calling, the child has
 * closed every descriptor it does not need and reset signal dispositions. */
int worker_main(const struct worker_args *args);

#endif
