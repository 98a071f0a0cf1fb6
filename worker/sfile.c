/* Static-file lookups and sends (see sfile.h). sfile_work and send_work run on pool threads
 * and touch only their job and the immutable ctx; everything else runs on the worker's
 * loop. */
#define _GNU_SOURCE
#include "sfile.h"

#include "http_accept.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

struct sfile_ctx {
  int rootfd;
  char *root; /* realpath of the root, without trailing slash ("/" stays "/") */
  size_t root_len;
  char *index;
  int allow_outside;
};

int sfile_ctx_new(const char *root, const char *index, int allow_symlinks_outside,
                  sfile_ctx_t **out) {
  int rc = 0;
  sfile_ctx_t *c = calloc(1, sizeof(*c));
  if (!c)
    return -ENOMEM;
  c->rootfd = -1;
  c->root = realpath(root, NULL);
  c->index = strdup(index);
  if (!c->root || !c->index) {
    rc = c->root ? -ENOMEM : -errno;
    goto fail;
  }
  c->root_len = strlen(c->root);
  if (c->root_len == 1)
    c->root_len = 0; /* "/": every path is below it */
  c->rootfd = open(c->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (c->rootfd < 0) {
    rc = -errno;
    goto fail;
  }
  c->allow_outside = allow_symlinks_outside;
  *out = c;
  return 0;
fail:
  sfile_ctx_free(c);
  return rc;
}

void sfile_ctx_free(sfile_ctx_t *c) {
  if (!c)
    return;
  if (c->rootfd >= 0)
    close(c->rootfd);
  free(c->root);
  free(c->index);
  free(c);
}

/* 1 if the open descriptor's real path lies below the root. */
static int fd_inside_root(const sfile_ctx_t *c, int fd) {
  char link[64], real[PATH_MAX];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, real, sizeof(real) - 1);
  if (n < 0)
    return 0;
  real[n] = '\0';
  if ((size_t)n < c->root_len || memcmp(real, c->root, c->root_len) != 0)
    return 0;
  return real[c->root_len] == '/' || real[c->root_len] == '\0';
}

/* Opens path below the root; returns the fd or -errno (-EXDEV: it would leave the root). */
static int open_beneath(const sfile_ctx_t *c, const char *path) {
  const int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  if (*path == '\0')
    path = ".";
  if (c->allow_outside) {
    int fd = openat(c->rootfd, path, flags);
    return fd < 0 ? -errno : fd;
  }
  struct open_how how = {.flags = flags, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
  int fd = (int)syscall(SYS_openat2, c->rootfd, path, &how, sizeof(how));
  if (fd >= 0)
    return fd;
  if (errno != EXDEV && errno != ENOSYS && errno != EPERM)
    return -errno;
  /* EXDEV: an absolute symlink (which RESOLVE_BENEATH refuses even when it points back
   * inside) or a real escape; ENOSYS/EPERM: no openat2 here (old kernel, seccomp). Find out
   * where the path leads with O_PATH, which opens nothing (opening a device or a FIFO out
   * there could act: arm a watchdog, release a writer, hang on a dead mount), and open for
   * reading only a file or folder found inside the root. */
  int where = openat(c->rootfd, path, O_PATH | O_CLOEXEC);
  if (where < 0)
    return -errno;
  struct stat st;
  if (!fd_inside_root(c, where)) {
    close(where);
    return -EXDEV;
  }
  if (fstat(where, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
    close(where);
    return -EACCES;
  }
  char self[64];
  snprintf(self, sizeof(self), "/proc/self/fd/%d", where);
  fd = open(self, flags);
  int err = errno;
  close(where);
  return fd < 0 ? -err : fd;
}

static enum sfile_result classify(int err) {
  switch (err) {
  case -ENOENT:
  case -ENOTDIR:
  case -ENAMETOOLONG:
    return SFILE_NOT_FOUND;
  case -EXDEV:
  case -EACCES:
  case -EPERM:
  case -ELOOP:
    return SFILE_FORBIDDEN;
  case -EMFILE:
  case -ENFILE:
  case -ENOMEM:
    return SFILE_BUSY;
  default:
    return SFILE_ERROR;
  }
}

static int read_all(int fd, char *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, buf + got, len - got, (off_t)got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      return -EIO; /* truncated under us: do not send a short body under a long length */
    got += (size_t)n;
  }
  return 0;
}

/* Precompressed siblings of the file found (op->path): path.br, path.zst, path.gz, regular
 * files below the root like the file itself. Looked for here, with the file, so that the
 * cache knows them for the entry's validity and a file without siblings costs no lookup more. */
static void find_siblings(const sfile_ctx_t *c, struct sfile_op *op) {
  size_t plen = strlen(op->path);
  char sib[PATH_MAX];
  for (int k = HTTP_CODING_IDENTITY + 1; k < HTTP_CODING_COUNT; k++) {
    const char *suf = http_coding_suffix((enum http_coding)k);
    size_t sl = strlen(suf);
    if (plen + sl >= sizeof(sib))
      continue;
    memcpy(sib, op->path, plen);
    memcpy(sib + plen, suf, sl + 1);
    int fd = open_beneath(c, sib);
    if (fd < 0)
      continue;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
      op->siblings |= 1u << k;
    close(fd);
  }
}

static void sfile_work(pool_job_t *job) {
  struct sfile_op *op = job->data;
  const sfile_ctx_t *c = op->ctx;
  int fd = open_beneath(c, op->path);
  if (fd < 0)
    goto fail_err;
  if (fstat(fd, &op->st) < 0) {
    fd = -errno;
    goto fail_err;
  }
  if (S_ISDIR(op->st.st_mode)) {
    close(fd);
    if (!op->trailing_slash) {
      op->result = SFILE_REDIRECT;
      return;
    }
    size_t plen = strlen(op->path);
    if (plen + strlen(c->index) + 1 > sizeof(op->path)) {
      op->result = SFILE_NOT_FOUND;
      return;
    }
    strcpy(op->path + plen, c->index);
    fd = open_beneath(c, op->path);
    if (fd == -ENOENT) { /* a directory without index: a listing, where the site has them */
      op->result = SFILE_NO_INDEX;
      return;
    }
    if (fd < 0)
      goto fail_err;
    if (fstat(fd, &op->st) < 0) {
      fd = -errno;
      goto fail_err;
    }
  }
  if (!S_ISREG(op->st.st_mode)) {
    close(fd);
    op->result = SFILE_FORBIDDEN;
    return;
  }
  if (op->st.st_size <= SFILE_SMALL_MAX) {
    op->body = malloc(op->st.st_size ? (size_t)op->st.st_size : 1);
    int rc = op->body ? read_all(fd, op->body, (size_t)op->st.st_size) : -ENOMEM;
    if (rc < 0) {
      free(op->body);
      op->body = NULL;
      close(fd);
      op->err = rc;
      op->result = SFILE_ERROR;
      return;
    }
  }
  op->siblings = 0;
  if (op->want_siblings)
    find_siblings(c, op);
  op->fd = fd;
  op->result = SFILE_OK;
  return;
fail_err:
  if (fd >= 0)
    close(fd);
  op->err = fd;
  op->result = classify(fd);
}

int sfile_open_dir(const sfile_ctx_t *c, const char *path) {
  int fd = open_beneath(c, path);
  struct stat st;
  if (fd < 0)
    return fd;
  int err = fstat(fd, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
  if (err < 0) {
    close(fd);
    return err;
  }
  return fd;
}

int sfile_submit(pool_t *pool, struct sfile_op *op, pool_done_fn done) {
  op->result = SFILE_ERROR;
  op->err = 0;
  op->fd = -1;
  op->body = NULL;
  op->siblings = 0;
  op->job.data = op;
  return pool_submit(pool, &op->job, sfile_work, done);
}

static void send_work(pool_job_t *job) {
  struct sfile_send *snd = job->data;
  snd->sent = 0;
  snd->err = 0;
  while (snd->sent < snd->len) {
    ssize_t n = sendfile(snd->sock, snd->fd, &snd->off, snd->len - snd->sent);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      snd->err = -errno;
      return;
    }
    if (n == 0) { /* the file shrank under us: the promised length cannot be kept */
      snd->err = -EIO;
      return;
    }
    snd->sent += (size_t)n;
  }
}

int sfile_send_submit(pool_t *pool, struct sfile_send *snd, pool_done_fn done) {
  snd->job.data = snd;
  return pool_submit(pool, &snd->job, send_work, done);
}

static void read_work(pool_job_t *job) {
  struct sfile_read *rd = job->data;
  rd->got = 0;
  rd->err = 0;
  while (rd->got < rd->len) {
    ssize_t n = pread(rd->fd, rd->buf + rd->got, rd->len - rd->got, rd->off + (off_t)rd->got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rd->err = -errno;
      return;
    }
    if (n == 0)
      return; /* the file shrank: the caller sees fewer bytes (none: it closes) */
    rd->got += (size_t)n;
  }
}

int sfile_read_submit(pool_t *pool, struct sfile_read *rd, pool_done_fn done) {
  rd->job.data = rd;
  return pool_submit(pool, &rd->job, read_work, done);
}

#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif

struct cachestat_range {
  uint64_t off;
  uint64_t len;
};

struct cachestat {
  uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

int sfile_resident(int fd, off_t off, size_t len) {
  struct cachestat_range range = {(uint64_t)off, len};
  struct cachestat cs;
  if (syscall(SYS_cachestat, fd, &range, &cs, 0) != 0)
    return errno == ENOSYS ? -ENOSYS : 0;
  uint64_t page = 4096;
  uint64_t pages = ((uint64_t)off + len + page - 1) / page - (uint64_t)off / page;
  return cs.nr_cache >= pages;
}

void sfile_op_release(struct sfile_op *op) {
  if (op->fd >= 0)
    close(op->fd);
  op->fd = -1;
  free(op->body);
  op->body = NULL;
}
