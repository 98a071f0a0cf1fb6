/* Unit tests of the thread pool (shared/pool.c) with a real loop, one of each per test: FIFO
 * completion with one thread, many jobs on several threads each done exactly once on the
 * loop thread, done in the poll phase (before that iteration's immediates) for finished and
 * cancelled jobs, cancellation of queued jobs, pool_free with jobs queued, running, finished
 * and cancelled, the queue bound, and the ref a job holds on the loop. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"
#include "pool.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))
#define NJOBS_MAX 200

struct ctx;

/* A job and what happened to it. work writes only worked and worker (job-owned memory). */
struct tjob {
  pool_job_t job;
  struct ctx *c;
  int idx;
  int block;  /* work waits for a byte on c->gate[0] */
  int worked; /* written by work */
  int done;   /* done calls */
  int status;
  pthread_t worker;
  pthread_t done_thread;
};

struct ctx {
  loop_t *loop;
  pool_t *pool;
  struct tjob jobs[NJOBS_MAX];
  int order[NJOBS_MAX]; /* done order */
  int ndone;
  int gate[2]; /* a pipe that blocking jobs wait on */
};

static void ctx_init(struct ctx *c, unsigned threads, unsigned max_queued) {
  memset(c, 0, sizeof(*c));
  for (int i = 0; i < NJOBS_MAX; i++) {
    c->jobs[i].c = c;
    c->jobs[i].idx = i;
    c->jobs[i].status = 1; /* not a status done can give */
  }
  assert_int_equal(pipe(c->gate), 0);
  assert_int_equal(loop_new(&c->loop), 0);
  assert_int_equal(pool_new(c->loop, threads, max_queued, &c->pool), 0);
}

static void ctx_free(struct ctx *c) {
  if (c->pool != NULL)
    pool_free(c->pool);
  /* the eventfd watcher's close callback runs in the next close phase */
  assert_int_equal(loop_run(c->loop, LOOP_RUN_DEFAULT), 0);
  assert_int_equal(loop_refs(c->loop, NULL), 0);
  loop_free(c->loop);
  close(c->gate[0]);
  close(c->gate[1]);
}

static void work_fn(pool_job_t *job) {
  struct tjob *t = container_of(job, struct tjob, job);
  if (t->block) {
    char b;
    ssize_t n;
    do {
      n = read(t->c->gate[0], &b, 1);
    } while (n < 0 && errno == EINTR);
  }
  t->worker = pthread_self();
  t->worked++;
}

static void done_fn(pool_job_t *job, int status) {
  struct tjob *t = container_of(job, struct tjob, job);
  t->done++;
  t->status = status;
  t->done_thread = pthread_self();
  t->c->order[t->c->ndone++] = t->idx;
}

static void submit(struct ctx *c, int i) {
  assert_int_equal(pool_submit(c->pool, &c->jobs[i].job, work_fn, done_fn), 0);
}

static void open_gate(struct ctx *c, int bytes) {
  for (int i = 0; i < bytes; i++)
    assert_int_equal(write(c->gate[1], "g", 1), 1);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* Waits (bounded) until the pool shows this many running and queued jobs. */
static void wait_stats(const struct ctx *c, unsigned running, unsigned queued) {
  struct pool_stats st;
  for (int i = 0; i < 5000; i++) {
    pool_stats(c->pool, &st);
    if (st.running == running && st.queued == queued)
      return;
    sleep_ms(1);
  }
  fail_msg("pool stats: running %u queued %u, want %u %u", st.running, st.queued, running, queued);
}

static void test_fifo_one_thread_done_on_loop_thread(void **state) {
  (void)state;
  struct ctx *c = malloc(sizeof(*c));
  ctx_init(c, 1, POOL_DEFAULT_MAX_QUEUED);
  struct pool_stats st;
  pool_stats(c->pool, &st);
  assert_int_equal(st.threads, 1);
  for (int i = 0; i < 50; i++)
    submit(c, i);
  assert_int_equal(loop_run(c->loop, LOOP_RUN_DEFAULT), 0);
  assert_int_equal(c->ndone, 50);
  for (int i = 0; i < 50; i++) {
    assert_int_equal(c->order[i], i);
    assert_int_equal(c->jobs[i].worked, 1);
    assert_int_equal(c->jobs[i].done, 1);
    assert_int_equal(c->jobs[i].status, 0);
    assert_true(pthread_equal(c->jobs[i].done_thread, pthread_self()));
    assert_false(pthread_equal(c->jobs[i].worker, pthread_self()));
  }
  ctx_free(c);
  free(c);
}

static void test_many_jobs_four_threads(void **state) {
  (void)state;
  struct ctx *c = malloc(sizeof(*c));
  ctx_init(c, 4, POOL_DEFAULT_MAX_QUEUED);
  for (int i = 0; i < NJOBS_MAX; i++)
    submit(c, i);
  unsigned counts[LOOP_REF_KINDS];
  assert_true(loop_refs(c->loop, counts) >= 1);
  assert_true(counts[LOOP_REF_POOL_JOB] <= NJOBS_MAX);
  assert_int_equal(counts[LOOP_REF_OTHER], 0); /* the eventfd watcher is unref'd */
  assert_int_equal(loop_run(c->loop, LOOP_RUN_DEFAULT), 0);
  assert_int_equal(c->ndone, NJOBS_MAX);
  for (int i = 0; i < NJOBS_MAX; i++) {
    assert_int_equal(c->jobs[i].worked, 1);
    assert_int_equal(c->jobs[i].done, 1);
    assert_int_equal(c->jobs[i].status, 0);
    assert_true(pthread_equal(c->jobs[i].done_thread, pthread_self()));
  }
  struct pool_stats st;
  pool_stats(c->pool, &st);
  assert_int_equal(st.threads, 4);
  assert_int_equal(st.queued, 0);
  assert_int_equal(st.running, 0);
  ctx_free(c);
  free(c);
}

/* A job keeps the loop alive until its done has run; the pool alone does not. */
static void test_job_keeps_loop_alive(void **state) {
  (void)state;
  struct ctx *c = malloc(sizeof(*c));
  unsigned counts[LOOP_REF_KINDS];
  ctx_init(c, 2, POOL_DEFAULT_MAX_QUEUED);
  assert_false(loop_alive(c->loop));
  assert_int_equal(loop_run(c->loop, LOOP_RUN_DEFAULT), 0); /* returns at once */
  c->jobs[0].block = 1;
  submit(c, 0);
  assert_int_equal(loop_refs(c->loop, counts), 1);
  assert_int_equal(counts[LOOP_REF_POOL_JOB], 1);
  assert_int_equal(loop_run(c->loop, LOOP_RUN_NOWAIT), 1);
  assert_int_equal(c->jobs[0].done, 0);
  open_gate(c, 1); /* the job finishes while the loop blocks in poll */
  assert_int_equal(loop_run(c->loop, LOOP_RUN_DEFAULT), 0);
  assert_int_equal(c->jobs[0].done, 1);
  assert_int_equal(loop_refs(c->loop, counts), 0);
  ctx_free(c);
  free(c);
}

static void test_cancel_queued(void **state) {
  (void)state;
  struct ctx *c = malloc(sizeof(*c));
  ctx_init(c, 1, POOL_DEFAULT_MAX_QUEUED);
  c->jobs[0].block = 1;
  for (int i = 0; i < 6; i++)
    submit(c, i);
  wait_stats(c, 1, 5); /* job 0 holds the only thread */
  assert_int_equal(pool_cancel(&c->jobs[0].job), -EBUSY);
  assert_int_equal(pool_cancel(&c->jobs[3].job), 0);
  assert_int_equal(pool_cancel(&c->jobs[1].job), 0);
  assert_int_equal(pool_cancel(&c->jobs[5].job), 0);
  assert_int_equal(pool_cancel(&c->jobs[5].job), -EBUSY); /* already cancelled */
  struct pool_stats st;
  pool_stats(c->pool, &st);
  assert_int_equal(st.queued, 2);
  open_gate(c, 1);
  assert_int_equal(loop_run(c->loop, LOOP_RUN_DEFAULT), 0);
  assert_int_equal(c->ndone, 6);
  for (int i = 0; i < 6; i++) {
    int cancelled = i == 1 || i == 3 || i == 5;
    assert_int_equal(c->jobs[i].done, 1);
    assert_int_equal(c->jobs[i].status, cancelled ? -ECANCELED : 0);
    assert_int_equal(c->jobs[i].worked, cancelled ? 0 : 1);
  }
  /* the cancelled ones are done first, in cancel order, in the first poll phase */
  assert_int_equal(c->order[0], 3);
  assert_int_equal(c->order[1], 1);
  assert_int_equal(c->order[2], 5);
  assert_int_equal(pool_cancel(&c->jobs[0].job), -EBUSY); /* finished */
  ctx_free(c);
  free(c);
}

static void test_max_queued(void **state) {
  (void)state;
  struct ctx *c = malloc(sizeof(*c));
  unsigned counts[LOOP_REF_KINDS];
  ctx_init(c, 1, 2);
  c->jobs[0].block = 1;
  submit(c, 0);
  wait_stats(c, 1, 0);
  submit(c, 1);
  submit(c, 2);
  assert_int_equal(pool_submit(c->pool, &c->jobs[3].job, work_fn, done_fn), -EAGAIN);
  assert_int_equal(pool_submit(c->pool, &c->jobs[3].job, NULL, done_fn), -EINVAL);
  loop_refs(c->loop, counts);
  assert_int_equal(counts[LOOP_REF_POOL_JOB], 3); /* a refused job holds no ref */
  open_gate(c, 1);
  assert_int_equal(loop_run(c->loop, LOOP_RUN_DEFAULT), 0);
  assert_int_equal(c->ndone, 3);
  assert_int_equal(c->jobs[3].done, 0);
  assert_int_equal(pool_new(c->loop, 0, 1, &c->pool), -EINVAL);
  assert_int_equal(pool_new(c->loop, 1, 0, &c->pool), -EINVAL);
  ctx_free(c);
  free(c);
}

struct opener {
  pthread_t thread;
  struct ctx *c;
  int bytes;
};

static void *open_gate_later(void *arg) {
  struct opener *o = arg;
  sleep_ms(50);
  for (int i = 0; i < o->bytes; i++)
    if (write(o->c->gate[1], "g", 1) != 1)
      break;
  return NULL;
}

/* pool_free with every kind of undelivered job: done once each, synchronously, in the order
 * they came back (finished, cancelled, finished while joining), then the queue, cancelled. */
static void test_free_with_jobs_in_flight(void **state) {
  (void)state;
  struct ctx *c = malloc(sizeof(*c));
  unsigned counts[LOOP_REF_KINDS];
  ctx_init(c, 2, POOL_DEFAULT_MAX_QUEUED);
  /* 0-3 finish at once; the loop never runs, so they wait in the done list */
  for (int i = 0; i < 4; i++)
    submit(c, i);
  wait_stats(c, 0, 0);
  /* 4 and 5 hold both threads; 6-9 wait in the queue, and 7 is cancelled */
  for (int i = 4; i < 10; i++) {
    c->jobs[i].block = i < 6;
    submit(c, i);
  }
  wait_stats(c, 2, 4);
  assert_int_equal(pool_cancel(&c->jobs[7].job), 0);
  assert_int_equal(c->ndone, 0); /* never from inside pool_cancel */
  /* 4 and 5 finish while pool_free joins */
  struct opener o = {.c = c, .bytes = 2};
  assert_int_equal(pthread_create(&o.thread, NULL, open_gate_later, &o), 0);
  pool_free(c->pool);
  c->pool = NULL;
  pthread_join(o.thread, NULL);
  assert_int_equal(c->ndone, 10);
  for (int i = 0; i < 10; i++) {
    int ran = i < 6;
    assert_int_equal(c->jobs[i].done, 1);
    assert_int_equal(c->jobs[i].status, ran ? 0 : -ECANCELED);
    assert_int_equal(c->jobs[i].worked, ran ? 1 : 0);
    assert_true(pthread_equal(c->jobs[i].done_thread, pthread_self()));
  }
  /* 0-3 in completion order (two threads: not necessarily submit order), 7, then 4 and 5,
   * then the cancelled queue in FIFO order */
  int seen = 0;
  for (int i = 0; i < 4; i++)
    seen |= 1 << c->order[i];
  assert_int_equal(seen, 0xf);
  assert_int_equal(c->order[4], 7);
  assert_true(c->order[5] >= 4 && c->order[5] <= 5 && c->order[6] >= 4 && c->order[6] <= 5);
  assert_int_equal(c->order[7], 6);
  assert_int_equal(c->order[8], 8);
  assert_int_equal(c->order[9], 9);
  loop_refs(c->loop, counts);
  assert_int_equal(counts[LOOP_REF_POOL_JOB], 0);
  assert_int_equal(loop_refs(c->loop, NULL), 0);
  ctx_free(c); /* runs the loop: nothing of the pool may run now */
  assert_int_equal(c->ndone, 10);
  free(c);
  pool_free(NULL);
}

/* issue 19: a finished job's done runs in the poll phase that sees it, before the immediates
 * of the same iteration (libuv's uv__work_done runs from its async watcher, in poll). It
 * fails on a pool that defers completions to the next iteration's pending phase. */
struct phase_ctx {
  struct ctx *c;
  loop_immediate_t im;
  char trace[64];
};

static struct phase_ctx *phase_of_done;

static void phase_done(pool_job_t *job, int status) {
  done_fn(job, status);
  strcat(phase_of_done->trace, status ? "cancelled " : "done ");
}

static void phase_immediate(loop_immediate_t *im) {
  struct phase_ctx *p = container_of(im, struct phase_ctx, im);
  strcat(p->trace, "immediate ");
}

static void test_done_in_poll_before_check(void **state) {
  (void)state;
  struct ctx *c = malloc(sizeof(*c));
  struct phase_ctx p = {.c = c};
  ctx_init(c, 1, POOL_DEFAULT_MAX_QUEUED);
  phase_of_done = &p;
  assert_int_equal(loop_immediate_init(c->loop, &p.im), 0);
  /* a finished job and an immediate started after it finished: job 1, queued behind job 0
   * on the one thread, running means the thread has already woken the loop for job 0 */
  assert_int_equal(pool_submit(c->pool, &c->jobs[0].job, work_fn, phase_done), 0);
  c->jobs[1].block = 1;
  submit(c, 1);
  wait_stats(c, 1, 0);
  assert_int_equal(loop_immediate_start(&p.im, phase_immediate), 0);
  assert_int_equal(loop_run(c->loop, LOOP_RUN_NOWAIT), 1); /* job 1 still holds the loop */
  assert_string_equal(p.trace, "done immediate ");
  /* a cancelled job goes the same way: done in the next poll, before that check */
  p.trace[0] = '\0';
  assert_int_equal(pool_submit(c->pool, &c->jobs[2].job, work_fn, phase_done), 0);
  wait_stats(c, 1, 1);
  assert_int_equal(pool_cancel(&c->jobs[2].job), 0);
  assert_string_equal(p.trace, ""); /* never from inside pool_cancel */
  assert_int_equal(loop_immediate_start(&p.im, phase_immediate), 0);
  assert_int_equal(loop_run(c->loop, LOOP_RUN_NOWAIT), 1); /* job 1 still holds the loop */
  assert_string_equal(p.trace, "cancelled immediate ");
  open_gate(c, 1);
  assert_int_equal(loop_run(c->loop, LOOP_RUN_DEFAULT), 0);
  assert_int_equal(c->ndone, 3);
  loop_close(&p.im.h, NULL);
  ctx_free(c);
  free(c);
}

/* A done callback may submit again, including the same job. */
static void done_resubmit(pool_job_t *job, int status) {
  struct tjob *t = container_of(job, struct tjob, job);
  done_fn(job, status);
  if (t->done < 5)
    assert_int_equal(pool_submit(t->c->pool, job, work_fn, done_resubmit), 0);
}

static void test_resubmit_from_done(void **state) {
  (void)state;
  struct ctx *c = malloc(sizeof(*c));
  ctx_init(c, 2, POOL_DEFAULT_MAX_QUEUED);
  assert_int_equal(pool_submit(c->pool, &c->jobs[0].job, work_fn, done_resubmit), 0);
  assert_int_equal(pool_submit(c->pool, &c->jobs[1].job, work_fn, done_resubmit), 0);
  assert_int_equal(loop_run(c->loop, LOOP_RUN_DEFAULT), 0);
  assert_int_equal(c->jobs[0].done, 5);
  assert_int_equal(c->jobs[0].worked, 5);
  assert_int_equal(c->jobs[1].done, 5);
  ctx_free(c);
  free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fifo_one_thread_done_on_loop_thread),
      cmocka_unit_test(test_many_jobs_four_threads),
      cmocka_unit_test(test_job_keeps_loop_alive),
      cmocka_unit_test(test_cancel_queued),
      cmocka_unit_test(test_max_queued),
      cmocka_unit_test(test_free_with_jobs_in_flight),
      cmocka_unit_test(test_done_in_poll_before_check),
      cmocka_unit_test(test_resubmit_from_done),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
