/* Binary upgrade (see upgrade.h): the hand-over's text form, the check of the new binary and
 * the execve. Runs in the supervisor. The text is "v1;key=value;..." with one L= per
 * listener and one W= per worker; it is written and read by the same program (two builds of
 * it), and a value that does not parse makes the new image refuse to start rather than guess. */
#define _GNU_SOURCE /* close_range, pipe2 */
#include "upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trial.h" /* SUP_TRIAL_ENV only: no link dependency */

#define TAG "v1"

extern char **environ;

void sup_handover_add_listener(struct sup_handover *h, const char *text, int fd) {
  h->listeners = sup_xrealloc(h->listeners, (h->n_listeners + 1) * sizeof(*h->listeners));
  h->listeners[h->n_listeners].text = sup_xstrdup(text);
  h->listeners[h->n_listeners].fd = fd;
  h->n_listeners++;
}

void sup_handover_add_worker(struct sup_handover *h, const struct sup_up_worker *w) {
  h->workers = sup_xrealloc(h->workers, (h->n_workers + 1) * sizeof(*h->workers));
  h->workers[h->n_workers++] = *w;
}

void sup_handover_free(struct sup_handover *h) {
  for (unsigned i = 0; i < h->n_listeners; i++)
    free(h->listeners[i].text);
  free(h->listeners);
  free(h->workers);
  free(h->admin_text);
  free(h->version);
  free(h->exe);
  free(h->ctl_path);
  free(h->pid_file);
  free(h->metrics);
  memset(h, 0, sizeof(*h));
  h->ctl_fd = h->req_fd = h->admin_fd = -1;
}

static void hex(struct sup_buf *b, const void *p, size_t n) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    sup_buf_printf(b, "%02x", c[i]);
}

void sup_handover_encode(const struct sup_handover *h, struct sup_buf *b) {
  sup_buf_printf(b, TAG ";ctl=%d;req=%d;admin=%d;gen=%u;next=%u;wall=%.3f;ver=%s;m=%s", h->ctl_fd,
                 h->req_fd, h->admin_fd, h->active_gen, h->next_gen, h->started_wall,
                 h->version ? h->version : "", h->metrics ? h->metrics : "");
  if (h->admin_text)
    sup_buf_printf(b, ";A=%s", h->admin_text);
  const char *paths[3] = {h->exe, h->ctl_path, h->pid_file};
  const char keys[3] = {'X', 'C', 'P'};
  for (int i = 0; i < 3; i++) {
    if (!paths[i])
      continue;
    sup_buf_printf(b, ";%c=", keys[i]); /* a path may hold any byte but NUL: hex */
    hex(b, paths[i], strlen(paths[i]));
  }
  if (h->has_tickets) {
    sup_buf_printf(b, ";K=");
    hex(b, &h->tickets, sizeof(h->tickets));
  }
  for (unsigned i = 0; i < h->n_listeners; i++)
    sup_buf_printf(b, ";L=%s,%d", h->listeners[i].text, h->listeners[i].fd);
  for (unsigned i = 0; i < h->n_workers; i++) {
    const struct sup_up_worker *w = &h->workers[i];
    sup_buf_printf(b, ";W=%ld,%d,%u,%u,%llu,%llu,%u,", (long)w->pid, w->fd, w->slot, w->generation,
                   (unsigned long long)w->seq, (unsigned long long)w->answered, w->flags);
    hex(b, &w->stats, sizeof(w->stats));
  }
}

static int unhex(const char *s, size_t len, void *out, size_t n) {
  unsigned char *o = out;
  if (len != 2 * n)
    return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1)
      return -1;
    o[i] = (unsigned char)v;
  }
  return 0;
}

static int parse_field(struct sup_handover *h, char *f) {
  char *eq = strchr(f, '=');
  if (!eq)
    return -1;
  *eq = '\0';
  const char *k = f, *v = eq + 1;
  int n = 0;
  if (strcmp(k, "ctl") == 0)
    return sscanf(v, "%d%n", &h->ctl_fd, &n) == 1 && !v[n] ? 0 : -1;
  if (strcmp(k, "req") == 0)
    return sscanf(v, "%d%n", &h->req_fd, &n) == 1 && !v[n] ? 0 : -1;
  if (strcmp(k, "admin") == 0)
    return sscanf(v, "%d%n", &h->admin_fd, &n) == 1 && !v[n] ? 0 : -1;
  if (strcmp(k, "gen") == 0)
    return sscanf(v, "%u%n", &h->active_gen, &n) == 1 && !v[n] ? 0 : -1;
  if (strcmp(k, "next") == 0)
    return sscanf(v, "%u%n", &h->next_gen, &n) == 1 && !v[n] ? 0 : -1;
  if (strcmp(k, "wall") == 0)
    return sscanf(v, "%lf%n", &h->started_wall, &n) == 1 && !v[n] ? 0 : -1;
  if (strcmp(k, "ver") == 0) {
    free(h->version);
    h->version = sup_xstrdup(v);
    return 0;
  }
  if (strcmp(k, "m") == 0) {
    free(h->metrics);
    h->metrics = sup_xstrdup(v);
    return 0;
  }
  if (strcmp(k, "A") == 0) {
    free(h->admin_text);
    h->admin_text = sup_xstrdup(v);
    return 0;
  }
  char **path = strcmp(k, "X") == 0   ? &h->exe
                : strcmp(k, "C") == 0 ? &h->ctl_path
                : strcmp(k, "P") == 0 ? &h->pid_file
                                      : NULL;
  if (path) {
    size_t len = strlen(v);
    if (len == 0 || len % 2)
      return -1;
    char *p = sup_xcalloc(len / 2 + 1, 1);
    if (unhex(v, len, p, len / 2) < 0 || strlen(p) != len / 2) {
      free(p);
      return -1;
    }
    free(*path);
    *path = p;
    return 0;
  }
  if (strcmp(k, "K") == 0) {
    if (unhex(v, strlen(v), &h->tickets, sizeof(h->tickets)) < 0 ||
        (h->tickets.n_keys != 1 && h->tickets.n_keys != 2))
      return -1;
    h->has_tickets = 1;
    return 0;
  }
  if (strcmp(k, "L") == 0) {
    char *comma = strrchr(v, ',');
    int fd;
    if (!comma || comma == v || sscanf(comma + 1, "%d%n", &fd, &n) != 1 || comma[1 + n] || fd < 0)
      return -1;
    *comma = '\0';
    sup_handover_add_listener(h, v, fd);
    return 0;
  }
  if (strcmp(k, "W") == 0) {
    struct sup_up_worker w;
    long pid;
    unsigned long long seq, answered;
    memset(&w, 0, sizeof(w));
    if (sscanf(v, "%ld,%d,%u,%u,%llu,%llu,%u,%n", &pid, &w.fd, &w.slot, &w.generation, &seq,
               &answered, &w.flags, &n) != 7 ||
        n == 0 || pid <= 0 || w.fd < 0)
      return -1;
    /* Stats in another layout (a binary whose ipc_stats differs) are not a reason to refuse
     * the hand-over: that would leave nobody supervising the workers. They are unknown
     * until the worker's next answer; the totals of the metrics come in their own line. */
    if (unhex(v + n, strlen(v + n), &w.stats, sizeof(w.stats)) < 0)
      memset(&w.stats, 0, sizeof(w.stats));
    w.pid = (pid_t)pid;
    w.seq = seq;
    w.answered = answered;
    sup_handover_add_worker(h, &w);
    return 0;
  }
  return -1;
}

int sup_handover_decode(const char *s, struct sup_handover *h) {
  memset(h, 0, sizeof(*h));
  h->ctl_fd = h->req_fd = h->admin_fd = -1;
  char *copy = sup_xstrdup(s), *save = NULL;
  int rc = 0;
  char *f = strtok_r(copy, ";", &save);
  if (!f || strcmp(f, TAG) != 0)
    rc = -EINVAL;
  while (rc == 0 && (f = strtok_r(NULL, ";", &save)))
    if (parse_field(h, f) < 0)
      rc = -EINVAL;
  if (rc == 0 && (h->ctl_fd < 0 || h->active_gen == 0 || h->next_gen < h->active_gen))
    rc = -EINVAL;
  free(copy);
  if (rc < 0)
    sup_handover_free(h);
  return rc;
}

/* ---- the check and the execve ---------------------------------------------------------- */

static int executable(const char *p) {
  return access(p, X_OK) == 0;
}

char *sup_upgrade_binary_path(const char *argv0) {
  char cwd[PATH_MAX];
  struct sup_buf b = {0};
  if (!argv0 || !argv0[0])
    return NULL;
  if (strchr(argv0, '/')) {
    if (argv0[0] == '/')
      sup_buf_printf(&b, "%s", argv0);
    else if (getcwd(cwd, sizeof(cwd)))
      sup_buf_printf(&b, "%s/%s", cwd, argv0);
    if (b.p && executable(b.p))
      return b.p;
    sup_buf_free(&b);
    return NULL;
  }
  const char *path = getenv("PATH");
  if (!path)
    return NULL;
  char *copy = sup_xstrdup(path), *save = NULL;
  for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
    sup_buf_free(&b);
    memset(&b, 0, sizeof(b));
    if (dir[0] == '/')
      sup_buf_printf(&b, "%s/%s", dir, argv0);
    else if (getcwd(cwd, sizeof(cwd)))
      sup_buf_printf(&b, "%s/%s/%s", cwd, dir[0] ? dir : ".", argv0);
    if (b.p && executable(b.p)) {
      free(copy);
      return b.p;
    }
  }
  free(copy);
  sup_buf_free(&b);
  return NULL;
}

/* In the child: a clean slate for another program (signals as a fresh process has them). */
static void child_reset(void) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
}

int sup_upgrade_check_start(const char *exe, const char *conf, const char *held, pid_t *pid,
                            int *out_fd) {
  int p[2];
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
    return -errno;
  pid_t c = fork();
  if (c < 0) {
    int err = errno;
    close(p[0]);
    close(p[1]);
    return -err;
  }
  if (c == 0) {
    child_reset();
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0)
      dup2(null, 0);
    dup2(p[1], 1);
    dup2(p[1], 2);
    close_range(3, ~0U, 0);
    setenv(SUP_TRIAL_ENV, held, 1); /* a binary that knows it rehearses a worker too */
    char *argv[] = {(char *)exe, "-t", "-c", (char *)conf, NULL};
    execv(exe, argv);
    dprintf(2, "cannot execute %s: %s\n", exe, strerror(errno));
    _exit(127);
  }
  close(p[1]);
  *pid = c;
  *out_fd = p[0];
  return 0;
}

static void set_cloexec(int fd, int on) {
  if (fd < 0)
    return;
  int fl = fcntl(fd, F_GETFD);
  if (fl >= 0)
    fcntl(fd, F_SETFD, on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC);
}

static void keep_fds(const struct sup_handover *h, int keep) {
  set_cloexec(h->ctl_fd, !keep);
  set_cloexec(h->req_fd, !keep);
  set_cloexec(h->admin_fd, !keep);
  for (unsigned i = 0; i < h->n_listeners; i++)
    set_cloexec(h->listeners[i].fd, !keep);
  for (unsigned i = 0; i < h->n_workers; i++)
    set_cloexec(h->workers[i].fd, !keep);
}

int sup_upgrade_exec(const char *exe, const char *conf, const struct sup_handover *h) {
  struct sup_buf v = {0};
  sup_handover_encode(h, &v);
  keep_fds(h, 1);
  int rc = setenv(SUP_UPGRADE_ENV, v.p, 1) < 0 ? -errno : 0;
  if (rc == 0) {
    char *argv[] = {(char *)exe, "-c", (char *)conf, NULL};
    execve(exe, argv, environ);
    rc = -errno;
    unsetenv(SUP_UPGRADE_ENV);
  }
  keep_fds(h, 0);
  sup_buf_free(&v);
  return rc;
}
