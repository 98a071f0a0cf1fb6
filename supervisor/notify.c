/* systemd integration (see notify.h). Runs in the supervisor process only: workers never
 * talk to the service manager (NotifyAccess=main in the unit file). */
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "util.h"

static void send_msg(log_t *log, const char *state, const char *status) {
  static int warned;
  char msg[1024];
  snprintf(msg, sizeof(msg), "%s%s%s", state, status ? "\nSTATUS=" : "", status ? status : "");
  int rc = sd_notify(0, msg);
  if (rc < 0 && !warned) {
    warned = 1;
    log_msg(log, LOG_WARN, "sd_notify() failed: %s", strerror(-rc));
  }
}

void sup_notify_ready(log_t *log, const char *status) {
  send_msg(log, "READY=1", status);
}

/* MONOTONIC_USEC: systemd (253 and later) pairs the reload with this timestamp, and needs
 * it for Type=notify-reload. */
void sup_notify_reloading(log_t *log, const char *status) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  char state[96];
  snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
           (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
  send_msg(log, state, status);
}

void sup_notify_stopping(log_t *log, const char *status) {
  send_msg(log, "STOPPING=1", status);
}

void sup_notify_status(log_t *log, const char *status) {
  char msg[1024];
  snprintf(msg, sizeof(msg), "STATUS=%s", status);
  int rc = sd_notify(0, msg);
  (void)rc;
  (void)log; /* a lost status line is no reason for a warning of its own */
}

void sup_notify_watchdog(log_t *log) {
  send_msg(log, "WATCHDOG=1", NULL);
}

uint64_t sup_notify_watchdog_ms(void) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0)
    return 0;
  return usec / 1000 ? usec / 1000 : 1;
}

int sup_notify_listen_fds(log_t *log, int **fds) {
  *fds = NULL;
  int n = sd_listen_fds(1); /* unset LISTEN_*: workers and an upgrade must not see them */
  if (n < 0) {
    log_msg(log, LOG_WARN, "sd_listen_fds() failed: %s", strerror(-n));
    return 0;
  }
  if (n == 0)
    return 0;
  *fds = sup_xcalloc((size_t)n, sizeof(int));
  for (int i = 0; i < n; i++) {
    int fd = SD_LISTEN_FDS_START + i;
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
      fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    (*fds)[i] = fd;
  }
  return n;
}
