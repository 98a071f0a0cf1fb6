/* The file-I/O thread pool (see pool.h), one per worker process, created after fork.
 * Pool threads run only `work` and the queue/done bookkeeping under the mutex; every other
 * function runs on the loop thread. Finished (and cancelled) jobs travel back through one
 * eventfd watched by the loop, whose callback runs their `done` right there in the poll
 * phase, as libuv's uv__work_done does from its async watcher. */
#include "pool.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* job->state. Every change but FINISHED -> IDLE happens under the mutex (threads race with
 * pool_cancel for a queued job); FINISHED -> IDLE on the loop thread, as done is called. */
enum {
  JOB_IDLE = 0,
  JOB_QUEUED,   /* in pool->q_head list */
  JOB_RUNNING,  /* a thread runs work */
  JOB_FINISHED, /* in pool->done_head list (work ran, or cancelled): done runs at the next
                 * poll that sees the eventfd */
};

struct pool_s {
  loop_t *loop;
  loop_io_t *io; /* watches efd; heap-allocated, freed by its close callback */
  int efd;
  pthread_t *threads;
  unsigned nthreads; /* created, to join */
  unsigned max_queued;

  /* everything below is guarded by mu */
  pthread_mutex_t mu;
  pthread_cond_t cv;  /* a job was queued, or stop */
  pool_job_t *q_head; /* FIFO, doubly linked through next/prev */
  pool_job_t *q_tail;
  pool_job_t *done_head; /* FIFO of finished and cancelled jobs, linked through next */
  pool_job_t *done_tail;
  unsigned queued;
  unsigned running;
  int stop;
};

/* ---- queue (callers hold mu) ----------------------------------------------------------- */
static void queue_append(pool_t *pool, pool_job_t *job) {
  job->next = NULL;
  job->prev = pool->q_tail;
  if (pool->q_tail != NULL)
    pool->q_tail->next = job;
  else
    pool->q_head = job;
  pool->q_tail = job;
  pool->queued++;
}

static void queue_unlink(pool_t *pool, pool_job_t *job) {
  if (job->prev != NULL)
    job->prev->next = job->next;
  else
    pool->q_head = job->next;
  if (job->next != NULL)
    job->next->prev = job->prev;
  else
    pool->q_tail = job->prev;
  job->next = NULL;
  job->prev = NULL;
  pool->queued--;
}

/* Appends to the done list; 1 if the list was empty, and so the loop must be woken. Only
 * the push onto an empty list wakes the loop: the loop reads the eventfd before it takes the
 * list, so a job pushed after that take always finds the list empty. */
static int done_append(pool_t *pool, pool_job_t *job) {
  int was_empty = pool->done_head == NULL;
  job->state = JOB_FINISHED;
  job->next = NULL;
  if (was_empty)
    pool->done_head = job;
  else
    pool->done_tail->next = job;
  pool->done_tail = job;
  return was_empty;
}

/* ---- pool threads ---------------------------------------------------------------------- */
static void wake_loop(pool_t *pool) {
  uint64_t one = 1;
  ssize_t n;
  do {
    n = write(pool->efd, &one, sizeof(one));
  } while (n < 0 && errno == EINTR);
  /* EAGAIN: the counter is saturated, so the loop is woken anyway */
}

static void *pool_thread(void *arg) {
  pool_t *pool = arg;
  for (;;) {
    pool_job_t *job;
    int was_empty;

    pthread_mutex_lock(&pool->mu);
    while (!pool->stop && pool->q_head == NULL)
      pthread_cond_wait(&pool->cv, &pool->mu);
    if (pool->stop) { /* queued jobs stay: pool_free cancels them */
      pthread_mutex_unlock(&pool->mu);
      break;
    }
    job = pool->q_head;
    queue_unlink(pool, job);
    job->state = JOB_RUNNING;
    pool->running++;
    pthread_mutex_unlock(&pool->mu);

    job->work(job);

    pthread_mutex_lock(&pool->mu);
    pool->running--;
    was_empty = done_append(pool, job);
    pthread_mutex_unlock(&pool->mu);
    if (was_empty)
      wake_loop(pool);
  }
  return NULL;
}

/* ---- loop thread ----------------------------------------------------------------------- */
/* The job's done, then the job's ref goes. */
static void pool_deliver(pool_job_t *job) {
  loop_t *loop = job->pool->loop; /* done may free the job */
  job->state = JOB_IDLE;
  job->done(job, job->status);
  loop_req_unref(loop, LOOP_REF_POOL_JOB);
}

/* Poll phase: every job finished before the list was taken gets its done now, in completion
 * order; one finishing (or cancelled) while these run lands on a fresh list, whose push
 * wakes the eventfd again, and waits for the next poll, as in uv__work_done. */
static void pool_on_wake(loop_io_t *io, int events) {
  pool_t *pool = io->h.data;
  pool_job_t *job;
  uint64_t count;
  ssize_t n;
  (void)events;
  do { /* reset the counter before taking the list: see pool_thread */
    n = read(pool->efd, &count, sizeof(count));
  } while (n < 0 && errno == EINTR);

  pthread_mutex_lock(&pool->mu);
  job = pool->done_head;
  pool->done_head = NULL;
  pool->done_tail = NULL;
  pthread_mutex_unlock(&pool->mu);

  while (job != NULL) {
    pool_job_t *next = job->next; /* done may free job */
    job->next = NULL;
    pool_deliver(job);
    job = next;
  }
}

static void pool_io_closed(loop_handle_t *h) {
  free(h);
}

/* Stops and joins the threads, releases everything but the jobs. */
static void pool_teardown(pool_t *pool) {
  pthread_mutex_lock(&pool->mu);
  pool->stop = 1;
  pthread_cond_broadcast(&pool->cv);
  pthread_mutex_unlock(&pool->mu);
  for (unsigned i = 0; i < pool->nthreads; i++)
    pthread_join(pool->threads[i], NULL);
  pool->nthreads = 0;
  if (pool->io != NULL)
    loop_close(&pool->io->h, pool_io_closed); /* stops watching now: efd may close */
  if (pool->efd >= 0)
    close(pool->efd);
  pthread_cond_destroy(&pool->cv);
  pthread_mutex_destroy(&pool->mu);
  free(pool->threads);
  free(pool);
}

int pool_new(loop_t *loop, unsigned threads, unsigned max_queued, pool_t **out) {
  int rc = 0;
  pool_t *pool = NULL;
  loop_io_t *io = NULL;
  sigset_t all, old;

  if (threads == 0 || max_queued == 0) {
    rc = -EINVAL;
    goto out;
  }
  pool = calloc(1, sizeof(*pool));
  if (pool == NULL) {
    rc = -ENOMEM;
    goto out;
  }
  if (pthread_mutex_init(&pool->mu, NULL) != 0 || pthread_cond_init(&pool->cv, NULL) != 0) {
    /* only without memory, on Linux; destroying a default-initialised one is harmless */
    free(pool);
    pool = NULL;
    rc = -ENOMEM;
    goto out;
  }
  pool->loop = loop;
  pool->max_queued = max_queued;
  pool->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (pool->efd < 0) {
    rc = -errno;
    goto out;
  }
  pool->threads = calloc(threads, sizeof(*pool->threads));
  io = calloc(1, sizeof(*io));
  if (pool->threads == NULL || io == NULL) {
    free(io);
    rc = -ENOMEM;
    goto out;
  }
  rc = loop_io_init(loop, io, pool->efd, LOOP_REF_OTHER);
  if (rc != 0) {
    free(io);
    goto out;
  }
  pool->io = io; /* from here on, released by loop_close in pool_teardown */
  io->h.data = pool;
  loop_unref(&io->h); /* the watcher never keeps the loop alive: in-flight jobs do */
  rc = loop_io_start(io, LOOP_READ, pool_on_wake);
  if (rc != 0)
    goto out;

  /* Threads inherit the creator's mask: block everything so signals reach the loop thread,
   * which handles them through the loop. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  for (unsigned i = 0; i < threads && rc == 0; i++) {
    rc = -pthread_create(&pool->threads[i], NULL, pool_thread, pool);
    if (rc == 0)
      pool->nthreads++;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
out:
  if (rc != 0 && pool != NULL) {
    pool_teardown(pool);
    pool = NULL;
  }
  if (rc == 0)
    *out = pool;
  return rc;
}

int pool_submit(pool_t *pool, pool_job_t *job, pool_work_fn work, pool_done_fn done) {
  int rc = 0;
  if (work == NULL || done == NULL) {
    rc = -EINVAL;
    goto out;
  }
  job->pool = pool;
  job->work = work;
  job->done = done;
  job->status = 0;
  pthread_mutex_lock(&pool->mu);
  if (pool->stop) { /* from a done callback run by pool_free */
    rc = -ECANCELED;
  } else if (pool->queued >= pool->max_queued) {
    rc = -EAGAIN;
  } else {
    queue_append(pool, job);
    job->state = JOB_QUEUED;
    pthread_cond_signal(&pool->cv);
  }
  pthread_mutex_unlock(&pool->mu);
  if (rc == 0)
    loop_req_ref(pool->loop, LOOP_REF_POOL_JOB);
out:
  return rc;
}

int pool_cancel(pool_job_t *job) {
  pool_t *pool = job->pool;
  int rc = -EBUSY, was_empty = 0;
  pthread_mutex_lock(&pool->mu);
  /* while stopping, pool_free owns the queue and cancels every queued job itself */
  if (job->state == JOB_QUEUED && !pool->stop) {
    queue_unlink(pool, job);
    job->status = -ECANCELED;
    was_empty = done_append(pool, job);
    rc = 0;
  }
  pthread_mutex_unlock(&pool->mu);
  /* As uv_cancel: the cancelled job goes back the way finished ones do, so its done runs in
   * the poll phase after the completions already waiting, never from inside this call. */
  if (was_empty)
    wake_loop(pool);
  return rc;
}

void pool_stats(const pool_t *pool, struct pool_stats *out) {
  pthread_mutex_t *mu = (pthread_mutex_t *)&pool->mu; /* a const reader still locks */
  pthread_mutex_lock(mu);
  out->threads = pool->nthreads;
  out->queued = pool->queued;
  out->running = pool->running;
  pthread_mutex_unlock(mu);
}

/* Undelivered jobs get their done here: the finished and cancelled ones in completion order,
 * then the queued ones, cancelled. The lock is not held around done: it may call pool_stats
 * or pool_submit (which then fails with -ECANCELED). */
void pool_free(pool_t *pool) {
  pool_job_t *job;
  unsigned nthreads;

  if (pool == NULL)
    return;
  pthread_mutex_lock(&pool->mu);
  pool->stop = 1;
  pthread_cond_broadcast(&pool->cv);
  pthread_mutex_unlock(&pool->mu);
  nthreads = pool->nthreads;
  for (unsigned i = 0; i < nthreads; i++) /* running jobs finish their work first */
    pthread_join(pool->threads[i], NULL);
  pool->nthreads = 0;

  /* no pool thread is left: the lists below are the loop thread's alone */
  while ((job = pool->done_head) != NULL) {
    pool->done_head = job->next;
    job->next = NULL;
    pool_deliver(job);
  }
  pool->done_tail = NULL;
  while ((job = pool->q_head) != NULL) {
    queue_unlink(pool, job);
    job->status = -ECANCELED;
    pool_deliver(job);
  }
  pool_teardown(pool);
}
