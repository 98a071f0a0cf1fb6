/* The event loop (see loop.h): libuv >= 1.45 phase order (pending, poll, check, close,
 * timers) with libevent used only to wait for descriptors and signals. Timers live in our own
 * (deadline, seq) min-heap so equal deadlines fire in start order. Runs on the one thread that
 * owns the loop, in every process (supervisor and workers); nothing here is thread-safe. */
#include "loop.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/timerfd.h>

#include <event2/event.h>

#define LAG_SAMPLES 1024
#define PENDING_BUDGET_DEFAULT 64
/* The farthest the poll phase's timerfd is armed: a timer further away than a day costs one
 * spurious wake-up a day. */
#define POLL_ARM_MAX_MS (24u * 3600u * 1000u)

enum { H_ACTIVE = 1, H_REF = 2, H_CLOSING = 4, H_CLOSED = 8 };
enum { T_TIMER = 1, T_IMMEDIATE, T_IO, T_SIGNAL };

struct loop_s {
  struct event_base *base;
  /* Bounds the poll phase's wait: a timerfd armed at the nearest timer's deadline, on the
   * precise monotonic clock, instead of a libevent timeout. libevent (without its precise
   * flag, which costs a timerfd_settime per dispatch, busy ones included) reads
   * CLOCK_MONOTONIC_COARSE: after epoll_wait ends on time, that clock (4 ms steps at HZ=250)
   * may not have reached the deadline, so libevent waits again and a timer fires up to 4 ms
   * late. The watched timerfd also keeps event_base_loop from returning at once when no
   * descriptor is watched. */
  int tfd;
  struct event *tfd_ev;
  uint64_t tfd_armed; /* loop ms it is armed at; 0: disarmed, or it fired */
  uint64_t now;             /* ms, CLOCK_MONOTONIC, cached */
  uint64_t now_us;          /* the same reading in us */
  uint64_t iterations;
  int stop_flag;
  uint64_t dispatched;   /* io and signal callbacks run: tells a poll that found events */
  int time_stale;        /* the poll may have slept: `now` predates its callbacks */
  uint64_t idle_max_ns;  /* idle polling's ceiling; 0: never poll before sleeping */
  uint64_t idle_poll_ns; /* its current window, adapted to the sleeps seen */

  /* timers: min-heap on (deadline, seq) */
  loop_timer_t **heap;
  size_t heap_len;
  size_t heap_cap;
  uint64_t timer_seq;

  /* immediates: circular lists through sentinels, so a stop unlinks in O(1) from whichever
   * list (queued, or the check phase's snapshot) holds the handle */
  loop_immediate_t im_queue;
  loop_immediate_t im_running;

  loop_pending_t *pend_head;
  loop_pending_t *pend_tail;
  size_t pend_count;
  unsigned pend_budget;

  loop_handle_t *closing; /* pushed at the head: the close phase runs them LIFO */

  unsigned refs[LOOP_REF_KINDS];
  unsigned refs_total;

  double lag[LAG_SAMPLES]; /* ms late, ring */
  size_t lag_count;
  size_t lag_pos;
};

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (q == NULL) {
    fprintf(stderr, "evcluster: out of memory (%zu bytes)\n", n);
    abort();
  }
  return q;
}

uint64_t loop_hrtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void loop_update_time(loop_t *loop) {
  uint64_t ns = loop_hrtime_ns();
  loop->now = ns / 1000000u;
  loop->now_us = ns / 1000u;
}

uint64_t loop_now(const loop_t *loop) {
  return loop->now;
}

uint64_t loop_now_us(const loop_t *loop) {
  return loop->now_us;
}

uint64_t loop_iterations(const loop_t *loop) {
  return loop->iterations;
}

/* ---- refs ------------------------------------------------------------------------------ */
/* Invariant: refs[kind] counts handles with H_ACTIVE and H_REF; a closing handle is never
 * active (loop_close stops it and every start refuses a closing handle). */
static void refs_add(loop_t *loop, unsigned kind) {
  loop->refs[kind]++;
  loop->refs_total++;
}

static void refs_sub(loop_t *loop, unsigned kind) {
  assert(loop->refs[kind] > 0 && loop->refs_total > 0);
  loop->refs[kind]--;
  loop->refs_total--;
}

static void handle_init(loop_t *loop, loop_handle_t *h, uint8_t type, unsigned kind) {
  h->loop = loop;
  h->close_cb = NULL;
  h->next_closing = NULL;
  h->type = type;
  h->kind = (uint8_t)kind;
  h->flags = H_REF;
}

static void handle_start(loop_handle_t *h) {
  if (h->flags & H_ACTIVE)
    return;
  h->flags |= H_ACTIVE;
  if (h->flags & H_REF)
    refs_add(h->loop, h->kind);
}

static void handle_stop(loop_handle_t *h) {
  if (!(h->flags & H_ACTIVE))
    return;
  h->flags &= (uint8_t)~H_ACTIVE;
  if (h->flags & H_REF)
    refs_sub(h->loop, h->kind);
}

void loop_ref(loop_handle_t *h) {
  if (h->flags & H_REF)
    return;
  h->flags |= H_REF;
  if (h->flags & H_ACTIVE)
    refs_add(h->loop, h->kind);
}

void loop_unref(loop_handle_t *h) {
  if (!(h->flags & H_REF))
    return;
  h->flags &= (uint8_t)~H_REF;
  if (h->flags & H_ACTIVE)
    refs_sub(h->loop, h->kind);
}

int loop_has_ref(const loop_handle_t *h) {
  return (h->flags & H_REF) != 0;
}
int loop_is_active(const loop_handle_t *h) {
  return (h->flags & H_ACTIVE) != 0;
}
int loop_is_closing(const loop_handle_t *h) {
  return (h->flags & (H_CLOSING | H_CLOSED)) != 0;
}

void loop_req_ref(loop_t *loop, enum loop_ref_kind kind) {
  assert((unsigned)kind < LOOP_REF_KINDS);
  refs_add(loop, kind);
}

void loop_req_unref(loop_t *loop, enum loop_ref_kind kind) {
  assert((unsigned)kind < LOOP_REF_KINDS);
  refs_sub(loop, kind);
}

unsigned loop_refs(const loop_t *loop, unsigned counts[LOOP_REF_KINDS]) {
  if (counts != NULL)
    memcpy(counts, loop->refs, sizeof(loop->refs));
  return loop->refs_total;
}

const char *loop_ref_kind_name(enum loop_ref_kind kind) {
  /* the keys of "refs" in status --json */
  static const char *const names[LOOP_REF_KINDS] = {
      "listeners", "connections", "timers", "pool_jobs", "ipc", "signals", "immediates", "other",
  };
  return (unsigned)kind < LOOP_REF_KINDS ? names[kind] : "unknown";
}

int loop_alive(const loop_t *loop) {
  return loop->refs_total > 0 || loop->pend_head != NULL || loop->closing != NULL;
}

/* ---- timer heap ------------------------------------------------------------------------ */
static int timer_less(const loop_timer_t *a, const loop_timer_t *b) {
  return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_set(loop_t *loop, size_t i, loop_timer_t *t) {
  loop->heap[i] = t;
  t->heap_index = i;
}

static void heap_up(loop_t *loop, size_t i) {
  loop_timer_t *t = loop->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!timer_less(t, loop->heap[parent]))
      break;
    heap_set(loop, i, loop->heap[parent]);
    i = parent;
  }
  heap_set(loop, i, t);
}

static void heap_down(loop_t *loop, size_t i) {
  loop_timer_t *t = loop->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= loop->heap_len)
      break;
    if (c + 1 < loop->heap_len && timer_less(loop->heap[c + 1], loop->heap[c]))
      c++;
    if (!timer_less(loop->heap[c], t))
      break;
    heap_set(loop, i, loop->heap[c]);
    i = c;
  }
  heap_set(loop, i, t);
}

/* Restores heap order around i after its key changed either way. */
static void heap_fix(loop_t *loop, size_t i) {
  if (i > 0 && timer_less(loop->heap[i], loop->heap[(i - 1) / 2]))
    heap_up(loop, i);
  else
    heap_down(loop, i);
}

static void heap_insert(loop_t *loop, loop_timer_t *t) {
  if (loop->heap_len == loop->heap_cap) {
    loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
    loop->heap = xrealloc(loop->heap, loop->heap_cap * sizeof(*loop->heap));
  }
  heap_set(loop, loop->heap_len++, t);
  heap_up(loop, loop->heap_len - 1);
}

static void heap_remove(loop_t *loop, loop_timer_t *t) {
  size_t i = t->heap_index;
  loop_timer_t *last = loop->heap[--loop->heap_len];
  t->heap_index = SIZE_MAX;
  if (last != t) {
    heap_set(loop, i, last);
    heap_fix(loop, i);
  }
}

/* ---- timers ---------------------------------------------------------------------------- */
int loop_timer_init(loop_t *loop, loop_timer_t *t) {
  handle_init(loop, &t->h, T_TIMER, LOOP_REF_TIMER);
  t->cb = NULL;
  t->deadline = 0;
  t->repeat = 0;
  t->seq = 0;
  t->heap_index = SIZE_MAX;
  return 0;
}

/* (Re)arms t at loop time + timeout with a fresh seq: a restarted timer orders after every
 * timer started before it with the same deadline. */
static void timer_schedule(loop_timer_t *t, uint64_t timeout_ms) {
  loop_t *loop = t->h.loop;
  t->deadline = loop->now + timeout_ms < loop->now ? UINT64_MAX : loop->now + timeout_ms;
  t->seq = loop->timer_seq++;
  if (t->heap_index == SIZE_MAX) {
    heap_insert(loop, t);
    handle_start(&t->h);
  } else {
    heap_fix(loop, t->heap_index);
  }
}

int loop_timer_start(loop_timer_t *t, loop_timer_cb cb, uint64_t timeout_ms, uint64_t repeat_ms) {
  int rc = 0;
  if (cb == NULL || loop_is_closing(&t->h)) {
    rc = -EINVAL;
    goto out;
  }
  t->cb = cb;
  t->repeat = repeat_ms;
  timer_schedule(t, timeout_ms);
out:
  return rc;
}

int loop_timer_stop(loop_timer_t *t) {
  if (t->heap_index != SIZE_MAX)
    heap_remove(t->h.loop, t);
  handle_stop(&t->h);
  return 0;
}

int loop_timer_again(loop_timer_t *t) {
  int rc = 0;
  if (t->cb == NULL) {
    rc = -EINVAL;
    goto out;
  }
  if (t->repeat != 0) /* as uv_timer_again: a one-shot timer is left as it is */
    rc = loop_timer_start(t, t->cb, t->repeat, t->repeat);
out:
  return rc;
}

uint64_t loop_timer_due(const loop_timer_t *t) {
  return t->deadline;
}

void loop_timer_set_repeat(loop_timer_t *t, uint64_t repeat_ms) {
  t->repeat = repeat_ms;
}

static void lag_record(loop_t *loop, uint64_t deadline) {
  double late = (double)loop_hrtime_ns() / 1e6 - (double)deadline;
  loop->lag[loop->lag_pos] = late;
  loop->lag_pos = (loop->lag_pos + 1) % LAG_SAMPLES;
  if (loop->lag_count < LAG_SAMPLES)
    loop->lag_count++;
}

/* Runs every timer due at loop->now, in (deadline, seq) order, each at most once.
 * Equivalent to libuv's "collect the due timers into a ready list, then run them", without
 * the list: a timer (re)started during this phase gets seq >= seq_end and a deadline >= now,
 * so it orders after every timer that was due when the phase began; the first heap minimum
 * that is not due or was started during the phase ends the phase. A timer stopped by an
 * earlier callback has left the heap and so does not fire. */
static void run_timers(loop_t *loop) {
  uint64_t now = loop->now;
  uint64_t seq_end = loop->timer_seq;
  while (loop->heap_len > 0) {
    loop_timer_t *t = loop->heap[0];
    if (t->deadline > now || t->seq >= seq_end)
      break;
    lag_record(loop, t->deadline);
    if (t->repeat != 0)
      timer_schedule(t, t->repeat);
    else
      loop_timer_stop(t);
    t->cb(t);
  }
}

/* ---- immediates ------------------------------------------------------------------------ */
static void im_list_init(loop_immediate_t *sentinel) {
  sentinel->next = sentinel;
  sentinel->prev = sentinel;
}

static void im_unlink(loop_immediate_t *im) {
  im->prev->next = im->next;
  im->next->prev = im->prev;
  im->next = NULL;
  im->prev = NULL;
}

static void im_append(loop_immediate_t *sentinel, loop_immediate_t *im) {
  im->prev = sentinel->prev;
  im->next = sentinel;
  sentinel->prev->next = im;
  sentinel->prev = im;
}

int loop_immediate_init(loop_t *loop, loop_immediate_t *im) {
  handle_init(loop, &im->h, T_IMMEDIATE, LOOP_REF_IMMEDIATE);
  im->cb = NULL;
  im->next = NULL;
  im->prev = NULL;
  return 0;
}

int loop_immediate_start(loop_immediate_t *im, loop_immediate_cb cb) {
  int rc = 0;
  if (cb == NULL || loop_is_closing(&im->h)) {
    rc = -EINVAL;
    goto out;
  }
  if (loop_is_active(&im->h))
    goto out;
  im->cb = cb;
  im_append(&im->h.loop->im_queue, im);
  handle_start(&im->h);
out:
  return rc;
}

int loop_immediate_stop(loop_immediate_t *im) {
  if (loop_is_active(&im->h)) {
    im_unlink(im);
    handle_stop(&im->h);
  }
  return 0;
}

/* Check phase: only the immediates queued when it begins; one started by a callback waits
 * for the next iteration, after its siblings. */
static void run_check(loop_t *loop) {
  loop_immediate_t *run = &loop->im_running;
  loop_immediate_t *q = &loop->im_queue;
  if (q->next == q)
    return;
  run->next = q->next;
  run->prev = q->prev;
  run->next->prev = run;
  run->prev->next = run;
  im_list_init(q);
  while (run->next != run) {
    loop_immediate_t *im = run->next;
    im_unlink(im);
    handle_stop(&im->h);
    im->cb(im);
  }
}

/* ---- pending --------------------------------------------------------------------------- */
void loop_pending_push(loop_t *loop, loop_pending_t *p, loop_pending_cb cb) {
  p->cb = cb;
  p->next = NULL;
  if (loop->pend_tail != NULL)
    loop->pend_tail->next = p;
  else
    loop->pend_head = p;
  loop->pend_tail = p;
  loop->pend_count++;
}

void loop_set_pending_budget(loop_t *loop, unsigned budget) {
  loop->pend_budget = budget > 0 ? budget : 1;
}

void loop_set_idle_poll(loop_t *loop, unsigned max_us) {
  loop->idle_max_ns = (uint64_t)max_us * 1000;
  loop->idle_poll_ns = 0;
}

/* Runs at most the budget, and only entries queued before the phase began (as libuv takes
 * the whole queue): one pushed by a pending callback waits for the next iteration. */
static void run_pending(loop_t *loop) {
  size_t n = loop->pend_count < loop->pend_budget ? loop->pend_count : loop->pend_budget;
  while (n-- > 0 && loop->pend_head != NULL) {
    loop_pending_t *p = loop->pend_head;
    loop->pend_head = p->next;
    if (loop->pend_head == NULL)
      loop->pend_tail = NULL;
    loop->pend_count--;
    p->next = NULL;
    p->cb(p);
  }
}

/* ---- I/O watchers ---------------------------------------------------------------------- */
/* The first callback after the poll phase slept brings `now` up to date, as libuv does right
 * after epoll_wait: a deadline armed in an I/O callback (a connection's timeout) would
 * otherwise count from before the sleep and fire early by its length. */
static void poll_woke(loop_t *loop) {
  loop->dispatched++;
  if (loop->time_stale) {
    loop->time_stale = 0;
    loop_update_time(loop);
  }
}

static void io_ev_cb(evutil_socket_t fd, short what, void *arg) {
  loop_io_t *io = arg;
  int events = ((what & EV_READ) ? LOOP_READ : 0) | ((what & EV_WRITE) ? LOOP_WRITE : 0);
  (void)fd;
  poll_woke(io->h.loop);
  io->cb(io, events);
}

int loop_io_init(loop_t *loop, loop_io_t *io, int fd, enum loop_ref_kind kind) {
  int rc = 0;
  if (fd < 0 || (unsigned)kind >= LOOP_REF_KINDS) {
    rc = -EINVAL;
    goto out;
  }
  handle_init(loop, &io->h, T_IO, kind);
  io->fd = fd;
  io->events = 0;
  io->cb = NULL;
  io->ev = NULL;
  io->wev = NULL;
out:
  return rc;
}

static int ev_errno(void) {
  return errno > 0 ? -errno : -EIO;
}

/* Makes one direction's event pending or not; each call is at most one epoll_ctl. */
static int io_set_dir(loop_io_t *io, struct event **evp, short what, int on) {
  int rc = 0;
  if (on) {
    if (*evp == NULL) {
      *evp = event_new(io->h.loop->base, io->fd, (short)(what | EV_PERSIST), io_ev_cb, io);
      if (*evp == NULL) {
        rc = -ENOMEM;
        goto out;
      }
    }
    errno = 0;
    if (event_add(*evp, NULL) != 0)
      rc = ev_errno();
  } else if (*evp != NULL) {
    event_del(*evp);
  }
out:
  return rc;
}

int loop_io_start(loop_io_t *io, int events, loop_io_cb cb) {
  int rc = 0;
  events &= LOOP_READ | LOOP_WRITE;
  if (events == 0) {
    rc = loop_io_stop(io);
    goto out;
  }
  if (cb == NULL || loop_is_closing(&io->h)) {
    rc = -EINVAL;
    goto out;
  }
  io->cb = cb;
  if (events != io->events) {
    int changed = events ^ io->events;
    /* add before delete: the fd stays registered, so each change is one EPOLL_CTL_MOD */
    if ((changed & LOOP_READ) && (events & LOOP_READ))
      rc = io_set_dir(io, &io->ev, EV_READ, 1);
    if (rc == 0 && (changed & LOOP_WRITE) && (events & LOOP_WRITE))
      rc = io_set_dir(io, &io->wev, EV_WRITE, 1);
    if (rc != 0) {
      loop_io_stop(io);
      goto out;
    }
    if ((changed & LOOP_READ) && !(events & LOOP_READ))
      io_set_dir(io, &io->ev, EV_READ, 0);
    if ((changed & LOOP_WRITE) && !(events & LOOP_WRITE))
      io_set_dir(io, &io->wev, EV_WRITE, 0);
    io->events = events;
  }
  handle_start(&io->h);
out:
  return rc;
}

int loop_io_stop(loop_io_t *io) {
  if (io->ev != NULL)
    event_del(io->ev);
  if (io->wev != NULL)
    event_del(io->wev);
  io->events = 0;
  handle_stop(&io->h);
  return 0;
}

/* ---- signals --------------------------------------------------------------------------- */
static void signal_ev_cb(evutil_socket_t signum, short what, void *arg) {
  loop_signal_t *s = arg;
  (void)what;
  poll_woke(s->h.loop);
  s->cb(s, (int)signum);
}

int loop_signal_init(loop_t *loop, loop_signal_t *s) {
  handle_init(loop, &s->h, T_SIGNAL, LOOP_REF_SIGNAL);
  s->signum = 0;
  s->cb = NULL;
  s->ev = NULL;
  return 0;
}

int loop_signal_start(loop_signal_t *s, loop_signal_cb cb, int signum) {
  int rc = 0;
  if (cb == NULL || signum <= 0 || loop_is_closing(&s->h)) {
    rc = -EINVAL;
    goto out;
  }
  s->cb = cb;
  if (loop_is_active(&s->h) && s->signum == signum)
    goto out;
  loop_signal_stop(s);
  if (s->ev == NULL) {
    s->ev = evsignal_new(s->h.loop->base, signum, signal_ev_cb, s);
    if (s->ev == NULL) {
      rc = -ENOMEM;
      goto out;
    }
  } else if (s->signum != signum && event_assign(s->ev, s->h.loop->base, signum,
                                                 EV_SIGNAL | EV_PERSIST, signal_ev_cb, s) != 0) {
    rc = -EINVAL;
    goto out;
  }
  s->signum = signum;
  errno = 0;
  if (event_add(s->ev, NULL) != 0) {
    rc = ev_errno();
    goto out;
  }
  handle_start(&s->h);
out:
  return rc;
}

int loop_signal_stop(loop_signal_t *s) {
  if (s->ev != NULL)
    event_del(s->ev);
  handle_stop(&s->h);
  return 0;
}

/* ---- close ----------------------------------------------------------------------------- */
void loop_close(loop_handle_t *h, loop_close_cb cb) {
  assert(!loop_is_closing(h) && "handle closed twice");
  switch (h->type) {
  case T_TIMER:
    loop_timer_stop((loop_timer_t *)h);
    break;
  case T_IMMEDIATE:
    loop_immediate_stop((loop_immediate_t *)h);
    break;
  case T_IO:
    loop_io_stop((loop_io_t *)h);
    break;
  case T_SIGNAL:
    loop_signal_stop((loop_signal_t *)h);
    break;
  default:
    assert(0 && "not a loop handle");
  }
  h->flags |= H_CLOSING;
  h->close_cb = cb;
  h->next_closing = h->loop->closing;
  h->loop->closing = h;
}

/* Takes the list first: a handle closed by a close callback runs in the next iteration. */
static void run_closing(loop_t *loop) {
  loop_handle_t *h = loop->closing;
  loop->closing = NULL;
  while (h != NULL) {
    loop_handle_t *next = h->next_closing; /* cb may free h */
    if (h->type == T_IO) {
      loop_io_t *io = (loop_io_t *)h;
      if (io->ev != NULL)
        event_free(io->ev);
      if (io->wev != NULL)
        event_free(io->wev);
      io->ev = NULL;
      io->wev = NULL;
    } else if (h->type == T_SIGNAL) {
      loop_signal_t *s = (loop_signal_t *)h;
      if (s->ev != NULL)
        event_free(s->ev);
      s->ev = NULL;
    }
    h->next_closing = NULL;
    h->flags = (uint8_t)((h->flags & ~H_CLOSING) | H_CLOSED);
    if (h->close_cb != NULL)
      h->close_cb(h);
    h = next;
  }
}

/* ---- poll ------------------------------------------------------------------------------ */
/* The timerfd fired: only ends event_base_loop(EVLOOP_ONCE); the timers phase does the rest. */
static void tfd_cb(evutil_socket_t fd, short what, void *arg) {
  loop_t *loop = arg;
  uint64_t expirations;
  ssize_t n;
  (void)what;
  do {
    n = read(fd, &expirations, sizeof(expirations));
  } while (n < 0 && errno == EINTR);
  loop->tfd_armed = 0;
  poll_woke(loop);
}

/* Arms the timerfd at the nearest timer's deadline (loop ms, absolute on CLOCK_MONOTONIC, the
 * loop's clock), unless it is already armed at or before it: an earlier wake-up than needed
 * only costs an iteration, and a busy loop whose timers keep moving later (keep-alive
 * deadlines) then rarely pays the syscall. 0 or -errno. */
static int tfd_arm(loop_t *loop, uint64_t deadline) {
  int rc = 0;
  struct itimerspec its = {{0, 0}, {0, 0}};
  if (deadline - loop->now > POLL_ARM_MAX_MS)
    deadline = loop->now + POLL_ARM_MAX_MS;
  if (loop->tfd_armed != 0 && loop->tfd_armed <= deadline)
    goto out;
  its.it_value.tv_sec = (time_t)(deadline / 1000u);
  its.it_value.tv_nsec = (long)(deadline % 1000u) * 1000000L;
  if (timerfd_settime(loop->tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
    rc = -errno;
    goto out;
  }
  loop->tfd_armed = deadline;
out:
  return rc;
}

/* ms to wait in poll, or -1 to block. */
static int poll_timeout(const loop_t *loop) {
  int timeout = -1;
  if (loop->stop_flag || loop->pend_head != NULL || loop->im_queue.next != &loop->im_queue ||
      loop->closing != NULL || loop->refs_total == 0) {
    timeout = 0;
  } else if (loop->heap_len > 0) {
    uint64_t deadline = loop->heap[0]->deadline;
    uint64_t diff = deadline > loop->now ? deadline - loop->now : 0;
    timeout = diff > INT_MAX ? INT_MAX : (int)diff;
  }
  return timeout;
}

/* The first window after sleeps that idle polling would have spared (haltpoll's grow_start
 * scaled down), and the floor below which a shrinking window stops polling at all. */
#define IDLE_POLL_START_NS 10000u

/* Looks for events without sleeping for up to the current window (never past the poll
 * phase's timeout). 1 if some ran, 0 if none came, -EIO. */
static int idle_poll(loop_t *loop, int timeout) {
  uint64_t window = loop->idle_poll_ns;
  if (timeout > 0 && (uint64_t)timeout * 1000000u < window)
    window = (uint64_t)timeout * 1000000u;
  uint64_t start = loop_hrtime_ns(), seen = loop->dispatched;
  do {
    if (event_base_loop(loop->base, EVLOOP_ONCE | EVLOOP_NONBLOCK) < 0)
      return -EIO;
    if (loop->dispatched != seen)
      return 1;
  } while (loop_hrtime_ns() - start < window);
  return 0;
}

/* After a gap the window did not cover: one it would have covered had it been longer (but
 * not longer than the ceiling) grows it; one past the ceiling shrinks it, to nothing in the
 * end. So polling happens only where it has been paying. */
static void idle_poll_adapt(loop_t *loop, uint64_t gap_ns) {
  uint64_t w = loop->idle_poll_ns;
  if (gap_ns <= loop->idle_max_ns) {
    w = w ? w * 2 : IDLE_POLL_START_NS;
    loop->idle_poll_ns = w < loop->idle_max_ns ? w : loop->idle_max_ns;
  } else {
    w /= 2;
    loop->idle_poll_ns = w < IDLE_POLL_START_NS ? 0 : w;
  }
}

static int run_poll(loop_t *loop, int timeout) {
  int rc = 0;
  int flags = EVLOOP_ONCE;
  uint64_t idle_start = 0; /* the gap between events runs from here, polling included */
  loop->time_stale = 1;
  if (timeout != 0 && loop->idle_max_ns > 0) {
    idle_start = loop_hrtime_ns();
    if (loop->idle_poll_ns > 0) {
      int found = idle_poll(loop, timeout);
      if (found != 0) { /* the window covered the gap: it stays */
        rc = found < 0 ? found : 0;
        goto out;
      }
    }
  }
  if (timeout == 0) {
    flags |= EVLOOP_NONBLOCK;
  } else if (timeout > 0) { /* a timer bounds the wait: poll_timeout saw the heap's minimum */
    rc = tfd_arm(loop, loop->heap[0]->deadline);
    if (rc != 0)
      goto out;
  }
  if (event_base_loop(loop->base, flags) < 0)
    rc = -EIO;
  if (idle_start)
    idle_poll_adapt(loop, loop_hrtime_ns() - idle_start);
out:
  loop->time_stale = 0;
  loop_update_time(loop);
  return rc;
}

/* ---- the loop -------------------------------------------------------------------------- */

/* libevent prints its own warnings to stderr. One is expected and harmless here: a worker
 * forked from the supervisor makes a new base while the supervisor's (abandoned in the child,
 * never used again) still has signals, so the new base takes signal handling over. Drop that
 * one; pass everything else through. */
static void libevent_log(int severity, const char *msg) {
  if (severity == EVENT_LOG_WARN && strstr(msg, "Added a signal to event base") != NULL)
    return;
  fprintf(stderr, "[libevent] %s\n", msg);
}

int loop_new(loop_t **out) {
  int rc = 0;
  loop_t *loop = NULL;
  struct event_config *cfg = NULL;

  loop = calloc(1, sizeof(*loop));
  if (loop != NULL)
    loop->tfd = -1;
  cfg = event_config_new();
  if (loop == NULL || cfg == NULL) {
    rc = -ENOMEM;
    goto fail;
  }
  /* One thread per loop: no libevent locks. libevent keeps its coarse clock (its precise
   * one arms a timerfd on every dispatch): it times nothing here, the loop's timerfd does. */
  event_set_log_callback(libevent_log);
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  loop->base = event_base_new_with_config(cfg);
  if (loop->base == NULL) {
    rc = -ENOMEM;
    goto fail;
  }
  loop->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (loop->tfd < 0) {
    rc = -errno;
    goto fail;
  }
  loop->tfd_ev = event_new(loop->base, loop->tfd, EV_READ | EV_PERSIST, tfd_cb, loop);
  if (loop->tfd_ev == NULL) {
    rc = -ENOMEM;
    goto fail;
  }
  if (event_add(loop->tfd_ev, NULL) != 0) {
    rc = -EIO;
    goto fail;
  }
  im_list_init(&loop->im_queue);
  im_list_init(&loop->im_running);
  loop->pend_budget = PENDING_BUDGET_DEFAULT;
  loop_update_time(loop);
  *out = loop;
  loop = NULL;
fail:
  if (cfg != NULL)
    event_config_free(cfg);
  if (loop != NULL) {
    if (loop->tfd_ev != NULL)
      event_free(loop->tfd_ev);
    if (loop->base != NULL)
      event_base_free(loop->base);
    if (loop->tfd >= 0)
      close(loop->tfd);
    free(loop);
  }
  return rc;
}

void loop_free(loop_t *loop) {
  if (loop == NULL)
    return;
  /* Handles closed without a loop run after: run their close callbacks now rather than leak
   * their libevent events. */
  while (loop->closing != NULL)
    run_closing(loop);
  event_free(loop->tfd_ev);
  event_base_free(loop->base);
  close(loop->tfd);
  free(loop->heap);
  free(loop);
}

void loop_stop(loop_t *loop) {
  loop->stop_flag = 1;
}

/* The phases in order, as uv_run (libuv >= 1.45) has them; see loop.h. */
int loop_run(loop_t *loop, enum loop_run_mode mode) {
  int rc = 0;
  int alive = loop_alive(loop);

  if (!alive)
    loop_update_time(loop);
  /* DEFAULT runs due timers before the first iteration, as Node's startup does */
  if (mode == LOOP_RUN_DEFAULT && alive && !loop->stop_flag) {
    loop_update_time(loop);
    run_timers(loop);
  }
  while (alive && !loop->stop_flag) {
    /* ONCE blocks only if no pending callback ran: one iteration must make progress */
    int can_sleep = loop->pend_head == NULL;
    int timeout = 0;

    run_pending(loop);
    if (mode == LOOP_RUN_DEFAULT || (mode == LOOP_RUN_ONCE && can_sleep))
      timeout = poll_timeout(loop);
    loop->iterations++;
    rc = run_poll(loop, timeout);
    if (rc < 0)
      break;
    run_check(loop);
    run_closing(loop);
    loop_update_time(loop);
    run_timers(loop);

    alive = loop_alive(loop);
    if (mode != LOOP_RUN_DEFAULT)
      break;
  }
  loop->stop_flag = 0;
  if (rc == 0 && mode != LOOP_RUN_DEFAULT)
    rc = alive ? 1 : 0;
  return rc;
}

static int double_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

void loop_lag(const loop_t *loop, struct loop_lag *out) {
  double sorted[LAG_SAMPLES];
  size_t n = loop->lag_count;
  memset(out, 0, sizeof(*out));
  if (n == 0)
    return;
  memcpy(sorted, loop->lag, n * sizeof(double));
  /* sorting a copy is fine for a call made at most once a second */
  qsort(sorted, n, sizeof(double), double_cmp);
  out->p50_ms = sorted[(n - 1) * 50 / 100];
  out->p99_ms = sorted[(n - 1) * 99 / 100];
  out->max_ms = sorted[n - 1];
}
