/* The file-I/O thread pool of one process: N threads, a bounded FIFO queue, work on a pool
 * thread, done on the loop thread in the poll phase (from the watcher of the pool's eventfd,
 * as libuv runs uv__work_done: before that iteration's check phase). Created after fork,
 * inside the worker. Pool threads block all signals and never touch the loop or any loop
 * object. */
#ifndef EVC_POOL_H
#define EVC_POOL_H

#include "loop.h"

typedef struct pool_s pool_t;
typedef struct pool_job_s pool_job_t;

/* Runs on a pool thread. May touch only the job and memory the job owns. */
typedef void (*pool_work_fn)(pool_job_t *job);
/* Runs on the loop thread, in the poll phase that first sees the job finished (completion
 * order; FIFO with one thread). status: 0, or -ECANCELED when the job was cancelled before a
 * thread took it (work did not run). */
typedef void (*pool_done_fn)(pool_job_t *job, int status);

/* Embedded by the caller (no allocation per job). Must stay valid from pool_submit() until
 * done has run. */
struct pool_job_s {
  void *data; /* public: the owner's */
  /* private */
  pool_t *pool;
  pool_work_fn work;
  pool_done_fn done;
  pool_job_t *next;
  pool_job_t *prev; /* the queue is doubly linked: pool_cancel unlinks in O(1) */
  int state;
  int status;
};

struct pool_stats {
  unsigned threads;
  unsigned queued;  /* submitted, not yet taken by a thread */
  unsigned running; /* taken, work not finished */
};

#define POOL_DEFAULT_THREADS 4
#define POOL_DEFAULT_MAX_QUEUED 65536

/* 0 or -errno. threads >= 1. max_queued bounds the queue: pool_submit() beyond it fails
 * with -EAGAIN (overflow is an error, never a hang). */
int pool_new(loop_t *loop, unsigned threads, unsigned max_queued, pool_t **out);
/* Holds a loop ref (LOOP_REF_POOL_JOB) from now until done has run. Loop thread only. */
int pool_submit(pool_t *pool, pool_job_t *job, pool_work_fn work, pool_done_fn done);
/* 0 if the job was still queued: it will not run, and done gets -ECANCELED in a later poll
 * phase, after the completions already waiting (as uv_cancel), never from inside this call.
 * -EBUSY if a thread has it, it has finished, or it was cancelled. Loop thread only. */
int pool_cancel(pool_job_t *job);
void pool_stats(const pool_t *pool, struct pool_stats *out);
/* Joins every thread (running jobs finish their work first), then runs done, on the calling
 * thread, for each job not yet delivered: -ECANCELED for the queued, 0 for the finished.
 * Loop thread only, never from a done callback. The eventfd watcher is closed with
 * loop_close(): its memory goes in the next close phase, or in loop_free(). NULL: no-op. */
void pool_free(pool_t *pool);

#endif
