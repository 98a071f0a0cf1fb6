/* Static-file lookups on the pool: a request's path becomes an open descriptor and its
 * metadata (and, for a small file, its bytes) without the loop thread touching the file
 * system. The root confines every lookup: openat2(RESOLVE_BENEATH) where the kernel has it,
 * a /proc/self/fd check where it does not or where an absolute symlink points back inside. */
#ifndef EVC_SFILE_H
#define EVC_SFILE_H

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>

#include "pool.h"

/* Small files are read on the pool and sent with their headers in one write; larger ones go
 * out with sendfile, which reads the file and so runs on the pool too (or on the loop when
 * the pages are in memory). Up to 64 KiB, one writev from memory beat a header write plus
 * cachestat plus sendfile, measured side by side: 3% more requests/s at 64 KiB and 12% less
 * server CPU per request (2026-11-26; again 6% in a later run, and still 2.6% with the
 * cachestat left out). This holds although a loopback client copies sendfile's page-cache
 * pages more cheaply than our fresh copies (3.8% of its CPU against 8.8%). Larger files stay
 * with sendfile: the copy grows with the file, the syscalls do not. */
#define SFILE_SMALL_MAX (64 * 1024)
/* A small file at least this large keeps its descriptor beside its bytes (fcache.h): a plain
 * connection sends it with sendfile, which copies nothing, where a writev from memory copies
 * every byte into the kernel (64 KiB: a third of the worker's time per answer, measured);
 * below it the copy is cheaper than sendfile's page references and residency check. */
#define SFILE_SENDFILE_MIN (16 * 1024)
/* At most this much per sendfile job: one large download holds a pool thread only so long. */
#define SFILE_CHUNK (2 * 1024 * 1024)

/* Per worker, immutable once made: pool threads read it without a lock. */
typedef struct sfile_ctx sfile_ctx_t;

enum sfile_result {
  SFILE_OK = 0,        /* fd and st set (body too for a small file) */
  SFILE_NOT_FOUND,     /* 404 */
  SFILE_FORBIDDEN,     /* 403: outside the root through a symlink, not a regular file */
  SFILE_NO_INDEX,      /* 403, or a listing (autoindex): a directory without its index */
  SFILE_REDIRECT,      /* 301: a directory named without its trailing slash */
  SFILE_BUSY,          /* 503: out of descriptors or memory for now; try again later */
  SFILE_ERROR,         /* 500: anything else (errno in err) */
};

/* One lookup, embedded in the request that needs it. The loop thread fills path and
 * trailing_slash, submits, and owns everything again once done has run: close fd and free
 * body (sfile_op_release does both). */
struct sfile_op {
  pool_job_t job;
  const sfile_ctx_t *ctx;
  int trailing_slash;
  int want_siblings; /* look for path.br, path.zst, path.gz beside the file found */
  /* results */
  unsigned siblings; /* bit (1 << enum http_coding) per sibling found, a regular file */
  enum sfile_result result;
  int err;
  int fd;
  struct stat st;
  char *body; /* malloc'd bytes of a small file (st.st_size of them), or NULL */
  /* last: the fields above share cache lines, not one each across 4 KiB */
  char path[PATH_MAX]; /* below the root, no leading '/': "" is the root itself */
};

/* root: absolute path; 0 or -errno. */
int sfile_ctx_new(const char *root, const char *index, int allow_symlinks_outside,
                  sfile_ctx_t **out);
void sfile_ctx_free(sfile_ctx_t *ctx);
/* Runs the lookup on a pool thread, then done on the loop thread. 0 or -errno from
 * pool_submit. */
int sfile_submit(pool_t *pool, struct sfile_op *op, pool_done_fn done);
/* sendfile(sock, fd) on a pool thread: the kernel may have to read the file from disk, and
 * the loop never waits for a disk. The socket is non-blocking: the job sends until len is
 * out or the socket is full. While it runs, the loop must neither write to sock nor close
 * it. */
struct sfile_send {
  pool_job_t job;
  int sock;
  int fd;
  off_t off;  /* advanced by what was sent */
  size_t len;
  size_t sent; /* result */
  int err;     /* result: 0, -EAGAIN (socket full), or -errno; -EIO if the file shrank */
};
int sfile_send_submit(pool_t *pool, struct sfile_send *snd, pool_done_fn done);
/* pread of [off, off+len) of fd into buf on a pool thread, for a transport that cannot use
 * sendfile (TLS): the loop then sends the bytes. got < len only when the file ended early. */
struct sfile_read {
  pool_job_t job;
  int fd;
  off_t off;
  char *buf;
  size_t len;
  size_t got; /* result */
  int err;    /* result: 0 or -errno */
};
int sfile_read_submit(pool_t *pool, struct sfile_read *rd, pool_done_fn done);
/* 1 if every page of [off, off+len) of fd is in the page cache (cachestat, Linux >= 6.5), so
 * that a sendfile of it copies from memory and cannot wait for the disk; 0 if not;
 * -ENOSYS where the kernel cannot tell (then always use the pool). Does no I/O: safe on the
 * loop thread. */
int sfile_resident(int fd, off_t off, size_t len);
void sfile_op_release(struct sfile_op *op);
/* Opens the folder path (below the root, confined as lookups are) for reading its entries;
 * the fd or -errno. Pool threads only: it may wait for the disk. */
int sfile_open_dir(const sfile_ctx_t *c, const char *path);

#endif
