/* systemd integration of the supervisor, through libsystemd: sd_notify messages (READY=1,
 * RELOADING=1 with MONOTONIC_USEC, STOPPING=1, STATUS=, WATCHDOG=1) and the listeners of
 * socket activation (sd_listen_fds). Without systemd (no NOTIFY_SOCKET, no LISTEN_FDS) every
 * call does nothing. */
#ifndef EVC_SUP_NOTIFY_H
#define EVC_SUP_NOTIFY_H

#include <stdint.h>

#include "log.h"

/* Each sends its message with a STATUS= line (status may be NULL); failures are logged once
 * (a service manager that went away is not the server's problem). */
void sup_notify_ready(log_t *log, const char *status);
void sup_notify_reloading(log_t *log, const char *status);
void sup_notify_stopping(log_t *log, const char *status);
void sup_notify_status(log_t *log, const char *status);
void sup_notify_watchdog(log_t *log);
/* The watchdog period systemd asks for (WATCHDOG_USEC for this pid), in ms; 0: none. */
uint64_t sup_notify_watchdog_ms(void);

/* Socket activation: the descriptors passed in LISTEN_FDS (non-blocking and close-on-exec
 * now), *fds malloc'd (the caller frees). Returns their number, 0 when none were passed. */
int sup_notify_listen_fds(log_t *log, int **fds);

#endif
