/* Listening sockets of the supervisor process (see listen.h). A listener is keyed by its
 * normalised config text, so "127.0.0.1:0" keeps its kernel-chosen port across reloads. */
#define _GNU_SOURCE /* Linux interfaces: accept4, close_range, SO_PEERCRED, strsignal */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

struct sup_listener {
  char *text;      /* conf_listen_t.text */
  int fd;          /* -1 once closed */
  char bound[80];  /* as bound: the port the kernel chose for ":0" */
  unsigned users;  /* generations holding it */
  struct sup_listener *next;
};

/* A listening socket handed to us (systemd's LISTEN_FDS, or the previous binary of an
 * upgrade) and not claimed by a configured address yet. */
struct spare {
  int fd;
  char *text; /* an upgrade's: the config text it was opened for; NULL: match the address */
  struct spare *next;
};

struct sup_lset {
  log_t *log;
  struct sup_listener *head;
  struct spare *spares;
};

static int somaxconn(void) {
  int backlog = 511;
  FILE *f = fopen("/proc/sys/net/core/somaxconn", "re");
  if (f) {
    int v;
    if (fscanf(f, "%d", &v) == 1 && v > backlog)
      backlog = v;
    fclose(f);
  }
  return backlog;
}

static void listen_tune(int fd);

int sup_listen_open(const conf_listen_t *l, log_t *log) {
  int family = l->addr.ss_family;
  int one = 1;
  const char *call = "socket";
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    goto fail;
  call = "setsockopt(SO_REUSEADDR)";
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
    goto fail;
  call = "setsockopt(IPV6_V6ONLY)";
  if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
    goto fail;
  call = "bind";
  if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0)
    goto fail;
  call = "listen";
  if (listen(fd, somaxconn()) < 0)
    goto fail;
  listen_tune(fd);
  return fd;

fail:;
  int err = errno;
  log_msg(log, LOG_ERROR, "listen on %s: %s() failed: %s", l->text, call, strerror(err));
  if (fd >= 0)
    close(fd);
  return -err;
}

/* What every listener gets, ours or handed to us. */
static void listen_tune(int fd) {
  /* Wake a worker only once a request's first bytes are in (as h2o does by default): the
   * worker's read right after accept then finds them, and a client that connects and says
   * nothing costs nothing until it does (the kernel still hands it over after a few
   * seconds). Best effort: a kernel without it just wakes earlier. */
  int defer_s = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof(defer_s));
  /* Accepted sockets inherit this: a new connection's first request is not ACKed on its own
   * (quick-ack mode would), the answer that follows within microseconds carries the ACK. One
   * packet less per connection, processed on the client's side of a loopback run too. */
  int quick = 0;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &quick, sizeof(quick));
  /* Inherited too: a large file is handed to the kernel only as fast as the peer takes it
   * (the socket reports writable once less than this is left unsent). Without it a sendfile
   * fills the whole send buffer, and the rest goes out from the softirq of the ACKs, on the
   * client's CPU: on loopback that halved 1 MiB throughput and made it swing 2x from run to
   * run. 256 KiB still lets a 64 KiB answer leave in one call, and bounds what a slow
   * client pins in kernel memory. */
  int lowat = 256 * 1024;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
}

/* 1 if fd is a listening TCP socket bound to exactly l's address and port (port 0 in the
 * config matches nothing: the port it would get is not known). */
static int same_address(int fd, const conf_listen_t *l) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  int listening = 0, type = 0;
  socklen_t il = sizeof(int);
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 || ss.ss_family != l->addr.ss_family)
    return 0;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &il) < 0 || !listening)
    return 0;
  il = sizeof(int);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &il) < 0 || type != SOCK_STREAM)
    return 0;
  if (ss.ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
    const struct sockaddr_in *b = (const struct sockaddr_in *)&l->addr;
    return b->sin_port != 0 && a->sin_port == b->sin_port &&
           a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)&l->addr;
    return b->sin6_port != 0 && a->sin6_port == b->sin6_port &&
           memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
  }
  return 0;
}

void sup_lset_add_spare(sup_lset_t *set, int fd, const char *text) {
  struct spare *sp = sup_xcalloc(1, sizeof(*sp));
  sp->fd = fd;
  sp->text = text ? sup_xstrdup(text) : NULL;
  sp->next = set->spares;
  set->spares = sp;
}

int sup_lset_take_spare(sup_lset_t *set, const conf_listen_t *l) {
  for (struct spare **pp = &set->spares; *pp; pp = &(*pp)->next) {
    struct spare *sp = *pp;
    if (sp->text ? strcmp(sp->text, l->text) != 0 : !same_address(sp->fd, l))
      continue;
    int fd = sp->fd;
    *pp = sp->next;
    free(sp->text);
    free(sp);
    listen_tune(fd);
    return fd;
  }
  return -1;
}

void sup_lset_drop_spares(sup_lset_t *set) {
  while (set->spares) {
    struct spare *sp = set->spares;
    char name[80] = "?";
    set->spares = sp->next;
    (void)sup_listen_name(sp->fd, name, sizeof(name));
    log_msg(set->log, LOG_WARN,
            "a listening socket passed to us (fd %d, %s) matches no "
            "configured address: closed",
            sp->fd, name);
    close(sp->fd);
    free(sp->text);
    free(sp);
  }
}

int sup_listen_name(int fd, char *buf, size_t len) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  char host[INET6_ADDRSTRLEN];
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
    return -errno;
  if (ss.ss_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
    snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
  } else if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
    snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
  } else {
    return -EAFNOSUPPORT;
  }
  return 0;
}

sup_lset_t *sup_lset_new(log_t *log) {
  sup_lset_t *set = sup_xcalloc(1, sizeof(*set));
  set->log = log;
  return set;
}

static struct sup_listener *find(sup_lset_t *set, const char *text) {
  for (struct sup_listener *l = set->head; l; l = l->next)
    if (strcmp(l->text, text) == 0)
      return l;
  return NULL;
}

static void unref(sup_lset_t *set, const char *text) {
  struct sup_listener **pp = &set->head;
  while (*pp && strcmp((*pp)->text, text) != 0)
    pp = &(*pp)->next;
  struct sup_listener *l = *pp;
  if (!l || l->users == 0)
    return;
  if (--l->users > 0)
    return;
  *pp = l->next;
  if (l->fd >= 0) {
    log_msg(set->log, LOG_INFO, "closed listener %s", l->bound);
    close(l->fd);
  }
  free(l->text);
  free(l);
}

int sup_lset_acquire(sup_lset_t *set, const conf_t *conf, int *fds) {
  size_t i;
  int rc = 0;
  for (i = 0; i < conf->n_listen; i++) {
    const conf_listen_t *cl = &conf->listen[i];
    struct sup_listener *l = find(set, cl->text);
    if (l && l->fd < 0) {
      rc = -EBADF; /* closed for shutdown: no new generation may start */
      goto fail;
    }
    if (!l) {
      int fd = sup_lset_take_spare(set, cl);
      int adopted = fd >= 0;
      if (!adopted)
        fd = sup_listen_open(cl, set->log);
      if (fd < 0) {
        rc = fd;
        goto fail;
      }
      l = sup_xcalloc(1, sizeof(*l));
      l->text = sup_xstrdup(cl->text);
      l->fd = fd;
      if (sup_listen_name(fd, l->bound, sizeof(l->bound)) < 0)
        snprintf(l->bound, sizeof(l->bound), "%s", cl->text);
      l->next = set->head;
      set->head = l;
      log_msg(set->log, LOG_INFO, "listening on %s (fd %d%s)", l->bound, fd,
              adopted ? ", handed over: not re-bound" : "");
    }
    l->users++;
    fds[i] = l->fd;
  }
  return 0;

fail:
  while (i-- > 0)
    unref(set, conf->listen[i].text);
  return rc;
}

void sup_lset_release(sup_lset_t *set, const conf_t *conf) {
  for (size_t i = 0; i < conf->n_listen; i++)
    unref(set, conf->listen[i].text);
}

void sup_lset_close_all(sup_lset_t *set) {
  for (struct sup_listener *l = set->head; l; l = l->next) {
    if (l->fd >= 0) {
      close(l->fd);
      l->fd = -1;
    }
  }
}

void sup_lset_describe(sup_lset_t *set, const conf_t *conf, char *buf, size_t len) {
  size_t off = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < conf->n_listen && off < len; i++) {
    struct sup_listener *l = find(set, conf->listen[i].text);
    int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
                     l ? l->bound : conf->listen[i].text);
    if (n < 0)
      break;
    off += (size_t)n;
  }
}

int sup_lset_fds(sup_lset_t *set, const char **texts, int *fds, size_t cap) {
  size_t n = 0;
  for (struct sup_listener *l = set->head; l && n < cap; l = l->next) {
    if (l->fd < 0)
      continue;
    texts[n] = l->text;
    fds[n++] = l->fd;
  }
  return (int)n;
}

void sup_lset_free(sup_lset_t *set) {
  if (!set)
    return;
  sup_lset_drop_spares(set);
  while (set->head) {
    struct sup_listener *l = set->head;
    set->head = l->next;
    if (l->fd >= 0)
      close(l->fd);
    free(l->text);
    free(l);
  }
  free(set);
}
