/* Worker start-up (see spawn.h). The child runs only async-signal-safe work plus worker_main:
 * it never touches the supervisor's loop (its libevent base shares the epoll instance with
 * the parent), it just abandons it along with every descriptor it does not need. */
#define _GNU_SOURCE /* Linux interfaces: accept4, close_range, SO_PEERCRED, strsignal */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker.h"

#define SPAWN_MAX_LISTEN 64

static void child_fail(log_t *log, const char *what, int err) {
  log_msg(log, LOG_ERROR, "worker start-up: %s failed: %s", what, strerror(err));
  _exit(1);
}

/* Every descriptor but 0, 1, 2, the listeners and the channel goes: the worker must not hold
 * the control socket, other workers' channels or the supervisor's epoll and signal pipes.
 * The kept ones move to 3.. (listeners in config order, then the channel). */
static void child_fds(log_t *log, const int *src, size_t n, int *dst) {
  int tmp[SPAWN_MAX_LISTEN + 1];
  int base = 3 + (int)n + 1;
  for (size_t i = 0; i < n; i++)
    if (src[i] >= base)
      base = src[i] + 1;
  /* first above every source and target, so no dup2 below clobbers a descriptor still needed */
  for (size_t i = 0; i < n; i++) {
    tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, base);
    if (tmp[i] < 0)
      child_fail(log, "fcntl(F_DUPFD_CLOEXEC)", errno);
  }
  for (size_t i = 0; i < n; i++) {
    dst[i] = 3 + (int)i;
    if (dup2(tmp[i], dst[i]) < 0) /* dup2 clears close-on-exec; the worker never execs */
      child_fail(log, "dup2", errno);
  }
  if (close_range((unsigned)(3 + n), ~0U, 0) < 0) {
    struct rlimit rl;
    int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur
                                                                         : 65536;
    for (int fd = 3 + (int)n; fd < max; fd++)
      close(fd);
  }
}

int sup_logs_prepare(const conf_t *conf, log_t *give_to, const char **key, const char **path) {
  const char *keys[2] = {"error_log", "access_log"};
  const char *paths[2] = {conf->error_log, conf->access_log};
  for (size_t i = 0; i < 2; i++) {
    if (!paths[i])
      continue;
    int fd = open(paths[i], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      *key = keys[i];
      *path = paths[i];
      return -errno;
    }
    if (give_to && conf->user && geteuid() == 0 && fchown(fd, conf->uid, conf->gid) < 0)
      log_msg(give_to, LOG_WARN, "fchown(%s) to %s failed: %s", paths[i], conf->user,
              strerror(errno));
    close(fd);
  }
  return 0;
}

int sup_privileges_drop(const conf_t *conf) {
  if (!conf->user || geteuid() != 0)
    return 0;
  if (initgroups(conf->user, conf->gid) < 0 || setgid(conf->gid) < 0 || setuid(conf->uid) < 0)
    return -errno;
  return 0;
}

/* The worker never outlives the supervisor: if it dies, the kernel sends QUIT (drain). A
 * supervisor that died before this call is caught by the parent check. */
static void child_parent_death(const struct sup_spawn_args *a, log_t *log) {
  if (prctl(PR_SET_PDEATHSIG, SIGQUIT) < 0)
    child_fail(log, "prctl(PR_SET_PDEATHSIG)", errno);
  if (getppid() != a->supervisor)
    _exit(1);
}

static void child(const struct sup_spawn_args *a, log_t *log, int fd) {
  child_parent_death(a, log);

  /* dispositions and the mask the supervisor's loop set up are not the worker's */
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig < NSIG; sig++)
    sigaction(sig, &sa, NULL); /* SIGKILL, SIGSTOP and the RT signals glibc reserves fail: fine */
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);

  size_t n = a->conf->n_listen;
  if (n > SPAWN_MAX_LISTEN)
    child_fail(log, "listeners", E2BIG);
  int src[SPAWN_MAX_LISTEN + 1], dst[SPAWN_MAX_LISTEN + 1];
  memcpy(src, a->listen_fds, n * sizeof(int));
  src[n] = fd;
  child_fds(log, src, n + 1, dst);
  /* the supervisor's log descriptor may be gone now: the worker opens its own */
  log_t *own = NULL;
  if (log_new("worker", a->conf->error_log, &own) < 0)
    own = NULL;
  int rc = sup_privileges_drop(a->conf);
  if (rc < 0)
    child_fail(own, "dropping privileges", -rc);
  if (a->conf->user)
    child_parent_death(a, own); /* a change of user cleared it */
  log_free(own);

  struct worker_args wa = {
      .conf = a->conf,
      .listen_fds = dst,
      .ipc_fd = dst[n],
      .generation = a->generation,
      .slot = a->slot,
      .tickets = a->tickets,
  };
  _exit(worker_main(&wa));
}

int sup_spawn(const struct sup_spawn_args *a, log_t *log, pid_t *pid, int *ipc_fd) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    int err = errno;
    log_msg(log, LOG_ERROR, "socketpair() failed: %s", strerror(err));
    return -err;
  }
  pid_t p = fork();
  if (p < 0) {
    int err = errno;
    log_msg(log, LOG_ERROR, "fork() failed: %s", strerror(err));
    close(sv[0]);
    close(sv[1]);
    return -err;
  }
  if (p == 0) {
    close(sv[0]);
    child(a, log, sv[1]);
  }
  close(sv[1]);
  int fl = fcntl(sv[0], F_GETFL);
  if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) < 0)
    log_msg(log, LOG_WARN, "fcntl(O_NONBLOCK) on worker %ld's channel failed: %s", (long)p,
            strerror(errno)); /* ipc_recv/ipc_send use MSG_DONTWAIT: still never blocks */
  *pid = p;
  *ipc_fd = sv[0];
  return 0;
}
