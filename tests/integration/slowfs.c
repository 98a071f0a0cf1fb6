/* slowfs: an LD_PRELOAD shim for the integration tests (49_http_slowfs) that makes a disk slow
 * for some paths only. Every open/stat-family call on a path containing EVC_SLOWFS_MARK
 * (default "slow"), and every read/stat/sendfile call on a descriptor opened on such a path,
 * sleeps EVC_SLOWFS_MS milliseconds (default 1000) before doing the real call. With
 * EVC_SLOWFS_LOG set, each delayed call first appends "call target pid=P tid=T\n" to that
 * file, so a test can wait for "the slow work has started" instead of sleeping, and see which
 * thread did it (tid == pid: the process's main thread, the worker's loop). With
 * EVC_SLOWFS_SEND_MAX=N, send() on a TCP socket takes at most N bytes a call: a client whose
 * socket drains in pieces, so that what the server sends that way must wait for writability
 * and resume. With EVC_SLOWFS_ONCE=FILE, a marked call is slow only in a forked child of the
 * process the shim was loaded into (a worker, not the supervisor) and only if it is the one
 * that takes FILE (renames it to FILE.taken): one stuck worker, chosen when the test creates
 * FILE. With EVC_SLOWFS_FAIL_MARK=M, an open through syscall() (openat2, as the server looks
 * files up) of a path containing M fails with EIO: a disk that breaks. With
 * EVC_SLOWFS_FAIL_OPEN=M, open() of a path containing M fails with EACCES in forked children
 * of the process the shim was loaded into only (workers, not their supervisor): a build whose
 * workers cannot start (63_upgrade). Runs inside the server. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SLOWFS_MAX_FD 65536

/* Descriptors opened on marked paths. Written by whichever thread opens or closes them;
 * byte-sized atomics, so the pool threads of the server can race freely. */
static _Atomic unsigned char slow_fds[SLOWFS_MAX_FD];

static void *real(const char *name) {
  void *p = dlsym(RTLD_NEXT, name);
  if (!p) {
    fprintf(stderr, "slowfs: dlsym(%s) failed\n", name);
    abort();
  }
  return p;
}

/* Declares and resolves (once) real_NAME, a pointer of the given function-pointer type. */
#define REAL(type, name)                                                                           \
  static __typeof__(type) real_##name;                                                             \
  if (!real_##name)                                                                                \
  real_##name = (__typeof__(type))real(#name)

/* The settings, read once when the shim is loaded: a server may clear its environment later
 * (nginx's workers do), and getenv() is not safe against a concurrent setenv(). */
static char cfg_mark[256] = "slow";
static char cfg_log[4096];
static long cfg_ms = 1000;
static long cfg_send_max; /* 0: send() untouched */
static char cfg_once[4096];
static char cfg_fail[256];
static char cfg_fail_open[4096];
static long cfg_pid; /* the process the shim was loaded into */

__attribute__((constructor)) static void slowfs_init(void) {
  const char *v = getenv("EVC_SLOWFS_MARK");
  if (v && *v)
    snprintf(cfg_mark, sizeof cfg_mark, "%s", v);
  v = getenv("EVC_SLOWFS_LOG");
  if (v)
    snprintf(cfg_log, sizeof cfg_log, "%s", v);
  v = getenv("EVC_SLOWFS_MS");
  if (v)
    cfg_ms = strtol(v, NULL, 10);
  v = getenv("EVC_SLOWFS_SEND_MAX");
  if (v)
    cfg_send_max = strtol(v, NULL, 10);
  v = getenv("EVC_SLOWFS_FAIL_MARK");
  if (v)
    snprintf(cfg_fail, sizeof cfg_fail, "%s", v);
  v = getenv("EVC_SLOWFS_FAIL_OPEN");
  if (v)
    snprintf(cfg_fail_open, sizeof cfg_fail_open, "%s", v);
  v = getenv("EVC_SLOWFS_ONCE");
  if (v)
    snprintf(cfg_once, sizeof cfg_once, "%s", v);
  cfg_pid = getpid();
}

static int is_slow_path(const char *path) {
  return path && strstr(path, cfg_mark) != NULL;
}

/* 1 for the "" of an AT_EMPTY_PATH call (glibc marks path nonnull, so test it out of line). */
static int is_empty_path(const char *path) {
  return path == NULL || *path == '\0';
}

static int is_slow_fd(int fd) {
  return fd >= 0 && fd < SLOWFS_MAX_FD && slow_fds[fd];
}

static void mark_fd(int fd, int slow) {
  if (fd >= 0 && fd < SLOWFS_MAX_FD)
    slow_fds[fd] = (unsigned char)slow;
}

/* The C library's syscall(), bypassing this shim's own wrapper below (no recursion). */
static long raw_syscall(long n, long a, long b, long c, long d) {
  static __typeof__(long (*)(long, ...)) fn;
  if (!fn)
    fn = (__typeof__(long (*)(long, ...)))real("syscall");
  return fn(n, a, b, c, d);
}

/* Logs the call (raw syscalls only: the shim must not recurse) and sleeps. errno is kept. */
static void delay(const char *call, const char *path, int fd) {
  int saved = errno;
  if (*cfg_once) {
    char taken[sizeof cfg_once + 8];
    snprintf(taken, sizeof taken, "%s.taken", cfg_once);
    if (raw_syscall(SYS_getpid, 0, 0, 0, 0) == cfg_pid ||
        raw_syscall(SYS_renameat, AT_FDCWD, (long)cfg_once, AT_FDCWD, (long)taken) < 0) {
      errno = saved;
      return;
    }
  }
  const char *log = cfg_log;
  if (*log) {
    char line[4200];
    long pid = raw_syscall(SYS_getpid, 0, 0, 0, 0), tid = raw_syscall(SYS_gettid, 0, 0, 0, 0);
    int n = path ? snprintf(line, sizeof line, "%s %s pid=%ld tid=%ld\n", call, path, pid, tid)
                 : snprintf(line, sizeof line, "%s fd=%d pid=%ld tid=%ld\n", call, fd, pid, tid);
    int lfd = (int)raw_syscall(SYS_openat, AT_FDCWD, (long)log,
                               O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (lfd >= 0) {
      if (n > (int)sizeof line - 1)
        n = (int)sizeof line - 1;
      if (raw_syscall(SYS_write, lfd, (long)line, n, 0) < 0) { /* best effort */
      }
      raw_syscall(SYS_close, lfd, 0, 0, 0);
    }
  }
  long ms = cfg_ms;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
  errno = saved;
}

static mode_t open_mode(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

static int after_open(int fd, int slow) {
  if (fd >= 0)
    mark_fd(fd, slow);
  return fd;
}

/* EVC_SLOWFS_FAIL_OPEN: 1 if this open must fail (a marked path, in a forked child). */
static int fail_open(const char *path) {
  return *cfg_fail_open && path && strstr(path, cfg_fail_open) &&
         raw_syscall(SYS_getpid, 0, 0, 0, 0) != cfg_pid;
}

/* ---- opens ---- */

int open(const char *path, int flags, ...) {
  REAL(int (*)(const char *, int, ...), open);
  va_list ap;
  va_start(ap, flags);
  mode_t mode = open_mode(flags, ap);
  va_end(ap);
  if (fail_open(path)) {
    errno = EACCES;
    return -1;
  }
  int slow = is_slow_path(path);
  if (slow)
    delay("open", path, -1);
  return after_open(real_open(path, flags, mode), slow);
}

int open64(const char *path, int flags, ...) {
  REAL(int (*)(const char *, int, ...), open64);
  va_list ap;
  va_start(ap, flags);
  mode_t mode = open_mode(flags, ap);
  va_end(ap);
  if (fail_open(path)) {
    errno = EACCES;
    return -1;
  }
  int slow = is_slow_path(path);
  if (slow)
    delay("open64", path, -1);
  return after_open(real_open64(path, flags, mode), slow);
}

int openat(int dirfd, const char *path, int flags, ...) {
  REAL(int (*)(int, const char *, int, ...), openat);
  va_list ap;
  va_start(ap, flags);
  mode_t mode = open_mode(flags, ap);
  va_end(ap);
  int slow = is_slow_path(path);
  if (slow)
    delay("openat", path, -1);
  return after_open(real_openat(dirfd, path, flags, mode), slow);
}

int openat64(int dirfd, const char *path, int flags, ...) {
  REAL(int (*)(int, const char *, int, ...), openat64);
  va_list ap;
  va_start(ap, flags);
  mode_t mode = open_mode(flags, ap);
  va_end(ap);
  int slow = is_slow_path(path);
  if (slow)
    delay("openat64", path, -1);
  return after_open(real_openat64(dirfd, path, flags, mode), slow);
}

/* _FORTIFY_SOURCE builds call these when the flags are not constant. */
int __open_2(const char *path, int flags) {
  REAL(int (*)(const char *, int), __open_2);
  int slow = is_slow_path(path);
  if (slow)
    delay("open", path, -1);
  return after_open(real___open_2(path, flags), slow);
}

int __open64_2(const char *path, int flags) {
  REAL(int (*)(const char *, int), __open64_2);
  int slow = is_slow_path(path);
  if (slow)
    delay("open64", path, -1);
  return after_open(real___open64_2(path, flags), slow);
}

int __openat_2(int dirfd, const char *path, int flags) {
  REAL(int (*)(int, const char *, int), __openat_2);
  int slow = is_slow_path(path);
  if (slow)
    delay("openat", path, -1);
  return after_open(real___openat_2(dirfd, path, flags), slow);
}

int __openat64_2(int dirfd, const char *path, int flags) {
  REAL(int (*)(int, const char *, int), __openat64_2);
  int slow = is_slow_path(path);
  if (slow)
    delay("openat64", path, -1);
  return after_open(real___openat64_2(dirfd, path, flags), slow);
}

int close(int fd) {
  REAL(int (*)(int), close);
  mark_fd(fd, 0);
  return real_close(fd);
}

/* ---- stats by path ---- */

#define PATH_STAT(name, stype)                                                                     \
  int name(const char *path, struct stype *st) {                                                   \
    REAL(int (*)(const char *, struct stype *), name);                                             \
    if (is_slow_path(path))                                                                        \
      delay(#name, path, -1);                                                                      \
    return real_##name(path, st);                                                                  \
  }

PATH_STAT(stat, stat)
PATH_STAT(stat64, stat64)
PATH_STAT(lstat, stat)
PATH_STAT(lstat64, stat64)

/* fstatat with an empty path and AT_EMPTY_PATH is an fstat of dirfd. */
#define AT_STAT(name, stype)                                                                       \
  int name(int dirfd, const char *path, struct stype *st, int flags) {                             \
    REAL(int (*)(int, const char *, struct stype *, int), name);                                   \
    if (is_slow_path(path) ||                                                                      \
        ((flags & AT_EMPTY_PATH) && is_empty_path(path) && is_slow_fd(dirfd)))                     \
      delay(#name, is_empty_path(path) ? NULL : path, dirfd);                                      \
    return real_##name(dirfd, path, st, flags);                                                    \
  }

AT_STAT(fstatat, stat)
AT_STAT(fstatat64, stat64)

/* Not a glibc function on most versions (it is the syscall's name), but cheap to cover. */
int newfstatat(int dirfd, const char *path, struct stat *st, int flags) {
  return fstatat(dirfd, path, st, flags);
}

int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *stx) {
  REAL(int (*)(int, const char *, int, unsigned int, struct statx *), statx);
  if (is_slow_path(path) || ((flags & AT_EMPTY_PATH) && is_empty_path(path) && is_slow_fd(dirfd)))
    delay("statx", is_empty_path(path) ? NULL : path, dirfd);
  return real_statx(dirfd, path, flags, mask, stx);
}

/* glibc before 2.33 routed stat() through these. */
#define XSTAT(name, stype)                                                                         \
  int name(int ver, const char *path, struct stype *st) {                                          \
    REAL(int (*)(int, const char *, struct stype *), name);                                        \
    if (is_slow_path(path))                                                                        \
      delay(#name, path, -1);                                                                      \
    return real_##name(ver, path, st);                                                             \
  }

XSTAT(__xstat, stat)
XSTAT(__xstat64, stat64)
XSTAT(__lxstat, stat)
XSTAT(__lxstat64, stat64)

/* ---- calls on descriptors opened on slow paths ---- */

#define FD_STAT(name, stype)                                                                       \
  int name(int fd, struct stype *st) {                                                             \
    REAL(int (*)(int, struct stype *), name);                                                      \
    if (is_slow_fd(fd))                                                                            \
      delay(#name, NULL, fd);                                                                      \
    return real_##name(fd, st);                                                                    \
  }

FD_STAT(fstat, stat)
FD_STAT(fstat64, stat64)

int __fxstat(int ver, int fd, struct stat *st) {
  REAL(int (*)(int, int, struct stat *), __fxstat);
  if (is_slow_fd(fd))
    delay("__fxstat", NULL, fd);
  return real___fxstat(ver, fd, st);
}

int __fxstat64(int ver, int fd, struct stat64 *st) {
  REAL(int (*)(int, int, struct stat64 *), __fxstat64);
  if (is_slow_fd(fd))
    delay("__fxstat64", NULL, fd);
  return real___fxstat64(ver, fd, st);
}

ssize_t read(int fd, void *buf, size_t n) {
  REAL(ssize_t(*)(int, void *, size_t), read);
  if (is_slow_fd(fd))
    delay("read", NULL, fd);
  return real_read(fd, buf, n);
}

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen) {
  REAL(ssize_t(*)(int, void *, size_t, size_t), __read_chk);
  if (is_slow_fd(fd))
    delay("read", NULL, fd);
  return real___read_chk(fd, buf, n, buflen);
}

ssize_t pread(int fd, void *buf, size_t n, off_t off) {
  REAL(ssize_t(*)(int, void *, size_t, off_t), pread);
  if (is_slow_fd(fd))
    delay("pread", NULL, fd);
  return real_pread(fd, buf, n, off);
}

ssize_t pread64(int fd, void *buf, size_t n, off64_t off) {
  REAL(ssize_t(*)(int, void *, size_t, off64_t), pread64);
  if (is_slow_fd(fd))
    delay("pread64", NULL, fd);
  return real_pread64(fd, buf, n, off);
}

ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen) {
  REAL(ssize_t(*)(int, void *, size_t, off_t, size_t), __pread_chk);
  if (is_slow_fd(fd))
    delay("pread", NULL, fd);
  return real___pread_chk(fd, buf, n, off, buflen);
}

ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen) {
  REAL(ssize_t(*)(int, void *, size_t, off64_t, size_t), __pread64_chk);
  if (is_slow_fd(fd))
    delay("pread64", NULL, fd);
  return real___pread64_chk(fd, buf, n, off, buflen);
}

ssize_t readv(int fd, const struct iovec *iov, int cnt) {
  REAL(ssize_t(*)(int, const struct iovec *, int), readv);
  if (is_slow_fd(fd))
    delay("readv", NULL, fd);
  return real_readv(fd, iov, cnt);
}

ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off) {
  REAL(ssize_t(*)(int, const struct iovec *, int, off_t), preadv);
  if (is_slow_fd(fd))
    delay("preadv", NULL, fd);
  return real_preadv(fd, iov, cnt, off);
}

ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off64_t off) {
  REAL(ssize_t(*)(int, const struct iovec *, int, off64_t), preadv64);
  if (is_slow_fd(fd))
    delay("preadv64", NULL, fd);
  return real_preadv64(fd, iov, cnt, off);
}

ssize_t sendfile(int out_fd, int in_fd, off_t *off, size_t n) {
  REAL(ssize_t(*)(int, int, off_t *, size_t), sendfile);
  if (is_slow_fd(in_fd))
    delay("sendfile", NULL, in_fd);
  return real_sendfile(out_fd, in_fd, off, n);
}

ssize_t sendfile64(int out_fd, int in_fd, off64_t *off, size_t n) {
  REAL(ssize_t(*)(int, int, off64_t *, size_t), sendfile64);
  if (is_slow_fd(in_fd))
    delay("sendfile64", NULL, in_fd);
  return real_sendfile64(out_fd, in_fd, off, n);
}

/* ---- a socket that drains in pieces ---- */

static int is_tcp(int fd) {
  int domain = 0;
  socklen_t len = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0)
    return 0;
  return domain == AF_INET || domain == AF_INET6;
}

ssize_t send(int fd, const void *buf, size_t n, int flags) {
  REAL(ssize_t(*)(int, const void *, size_t, int), send);
  if (cfg_send_max > 0 && n > (size_t)cfg_send_max && is_tcp(fd))
    n = (size_t)cfg_send_max;
  return real_send(fd, buf, n, flags);
}

/* ---- raw syscall(): openat2 has no glibc wrapper, so servers call it this way ---- */

#define SLOWFS_SYS_CACHESTAT 451 /* x86_64 and most others; not in older headers */

struct slowfs_cachestat {
  unsigned long long nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

long syscall(long number, ...) {
  REAL(long (*)(long, ...), syscall);
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (int i = 0; i < 6; i++)
    a[i] = va_arg(ap, long); /* as glibc's own syscall() does */
  va_end(ap);
  /* cachestat(fd, range, out, flags): a slow disk's pages are never in memory, so a server
   * that asks before a sendfile on its loop thread must be told to go to its pool. */
  if (number == SLOWFS_SYS_CACHESTAT && is_slow_fd((int)a[0])) {
    memset((void *)a[2], 0, sizeof(struct slowfs_cachestat));
    return 0;
  }
  const char *path = NULL;
  int fd = -1, opens = 0;
  switch (number) {
#ifdef SYS_openat2
  case SYS_openat2:
#endif
  case SYS_openat:
  case SYS_newfstatat:
  case SYS_statx:
    path = (const char *)a[1];
    opens = number != SYS_newfstatat && number != SYS_statx;
    break;
#ifdef SYS_open
  case SYS_open:
  case SYS_stat:
  case SYS_lstat:
    path = (const char *)a[0];
    opens = number == SYS_open;
    break;
#endif
  case SYS_fstat:
  case SYS_read:
  case SYS_pread64:
  case SYS_readv:
  case SYS_preadv:
    fd = (int)a[0];
    break;
  case SYS_sendfile:
    fd = (int)a[1];
    break;
  case SYS_close:
    mark_fd((int)a[0], 0);
    break;
  default:
    break;
  }
  if (opens && path && *cfg_fail && strstr(path, cfg_fail)) {
    errno = EIO;
    return -1;
  }
  int slow = path ? is_slow_path(path) : is_slow_fd(fd);
  if (slow) {
    char name[32];
    snprintf(name, sizeof name, "syscall-%ld", number);
    delay(name, path, fd);
  }
  long r = real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
  if (opens && r >= 0)
    mark_fd((int)r, slow);
  return r;
}
