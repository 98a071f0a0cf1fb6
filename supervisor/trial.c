/* An upgrade's rehearsal (see trial.h): one worker, started as the supervisor starts them,
 * on throwaway listeners of the configured families. Blocking calls with deadlines are fine
 * here: this is the -t process, which serves nothing. */
#define _GNU_SOURCE
#include "trial.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "spawn.h"

#define TRIAL_READY_MS 8000 /* within the supervisor's 10 s for the whole check */
#define TRIAL_STOP_MS 1000
#define TRIAL_MAX_LISTEN 64

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A listener the worker can set up exactly as its real one, that no client knows. */
static int private_listener(const conf_listen_t *l) {
  struct sockaddr_storage ss;
  socklen_t sl;
  memset(&ss, 0, sizeof(ss));
  if (l->addr.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    sl = sizeof(*a);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sl = sizeof(*a);
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

/* 1 if text is one of held's lines after the first. */
static int is_held(const char *held, const char *text) {
  size_t n = strlen(text);
  const char *p = strchr(held, '\n');
  while (p) {
    p++;
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && memcmp(p, text, n) == 0)
      return 1;
    p = end;
  }
  return 0;
}

/* Binds l's address as sup_listen_open would, without listen (no client can connect in
 * between), and closes it: 0 or -errno. */
static int try_bind(const conf_listen_t *l) {
  int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int one = 1, rc = 0;
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (l->addr.ss_family == AF_INET6)
    (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0)
    rc = -errno;
  close(fd);
  return rc;
}

/* The addresses the new image would bind itself: each must be free now. */
static int check_addresses(const conf_t *conf, const char *held, char *why, size_t len) {
  if (!held || strncmp(held, "held", 4) != 0)
    return 0; /* the running binary does not say what it holds */
  for (size_t i = 0; i <= conf->n_listen; i++) {
    const conf_listen_t *l = i < conf->n_listen ? &conf->listen[i] : &conf->admin;
    if (!l->text || is_held(held, l->text))
      continue;
    int rc = try_bind(l);
    if (rc < 0) {
      snprintf(why, len, "trial: %s %s is not held by the running binary and cannot be bound: %s",
               i < conf->n_listen ? "listen" : "admin.listen", l->text, strerror(-rc));
      return -1;
    }
  }
  return 0;
}

/* Waits for pid within ms (then kills it): its status, or -1. */
static int reap(pid_t pid, long ms) {
  long deadline = now_ms() + ms;
  int status;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return status;
    if (r < 0 && errno != EINTR)
      return -1;
    if (now_ms() >= deadline) {
      kill(pid, SIGKILL);
      return waitpid(pid, &status, 0) == pid ? status : -1;
    }
    struct timespec ts = {0, 5 * 1000000L};
    nanosleep(&ts, NULL);
  }
}

int sup_trial_run(const conf_t *conf, const char *held, char *why, size_t len) {
  int fds[TRIAL_MAX_LISTEN];
  size_t n = 0;
  int rc = -1, ipc = -1;
  pid_t pid = -1;
  log_t *log = NULL;
  if (check_addresses(conf, held, why, len) < 0)
    return -1;
  if (log_new("trial", NULL, &log) < 0) {
    snprintf(why, len, "trial: cannot log");
    return -1;
  }
  for (; n < conf->n_listen && n < TRIAL_MAX_LISTEN; n++) {
    fds[n] = private_listener(&conf->listen[n]);
    if (fds[n] < 0) {
      snprintf(why, len, "trial: a private listener: %s", strerror(-fds[n]));
      goto out;
    }
  }
  struct sup_spawn_args a = {
      .conf = conf, .listen_fds = fds, .generation = 0, .slot = 0, .supervisor = getpid()};
  int err = sup_spawn(&a, log, &pid, &ipc);
  if (err < 0) {
    pid = -1;
    snprintf(why, len, "trial: cannot start a worker: %s", strerror(-err));
    goto out;
  }
  long deadline = now_ms() + TRIAL_READY_MS;
  for (;;) {
    long left = deadline - now_ms();
    struct pollfd p = {.fd = ipc, .events = POLLIN};
    if (left <= 0) {
      snprintf(why, len, "trial: a worker of this binary was not ready within %d s",
               TRIAL_READY_MS / 1000);
      break;
    }
    if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
      snprintf(why, len, "trial: poll() failed: %s", strerror(errno));
      break;
    }
    struct ipc_msg m;
    int r = ipc_recv(ipc, &m);
    if (r == 0 && m.type == IPC_READY) {
      rc = 0;
      break;
    }
    if (r == -EPIPE) {
      snprintf(why, len, "trial: a worker of this binary ended before it was ready");
      break;
    }
  }
  if (rc == 0)
    (void)ipc_send(ipc, IPC_STOP, NULL, 0);
  int status = reap(pid, TRIAL_STOP_MS); /* a failed one is on its way out: its status */
  pid = -1;
  if (rc < 0 && status >= 0) {
    size_t used = strlen(why);
    if (WIFEXITED(status))
      snprintf(why + used, len - used, " (it exited with status %d)", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
      snprintf(why + used, len - used, " (killed by signal %d, %s)", WTERMSIG(status),
               strsignal(WTERMSIG(status)));
  }

out:
  if (pid > 0)
    reap(pid, 0);
  if (ipc >= 0)
    close(ipc);
  while (n-- > 0)
    if (fds[n] >= 0)
      close(fds[n]);
  log_free(log);
  return rc;
}
