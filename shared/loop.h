/* The event loop every evcluster process runs: Node.js (libuv >= 1.45) phase order on top of
 * libevent. One iteration: pending -> poll -> check -> close -> timers; timers also run once
 * before the first iteration. A loop lives while something ref'd is active, a pending callback
 * waits, or a handle is closing. Single-threaded: only the thread that runs the loop may call
 * any function here (pool threads wake the loop through their own descriptor, see pool.h). */
#ifndef EVC_LOOP_H
#define EVC_LOOP_H

#include <stddef.h>
#include <stdint.h>

typedef struct loop_s loop_t;

/* What a ref is held by; `status` reports live refs by these kinds. */
enum loop_ref_kind {
  LOOP_REF_LISTENER = 0,
  LOOP_REF_CONNECTION,
  LOOP_REF_TIMER,
  LOOP_REF_POOL_JOB,
  LOOP_REF_IPC,
  LOOP_REF_SIGNAL,
  LOOP_REF_IMMEDIATE,
  LOOP_REF_OTHER,
  LOOP_REF_KINDS
};

enum loop_run_mode {
  LOOP_RUN_DEFAULT = 0, /* until nothing keeps the loop alive, or loop_stop() */
  LOOP_RUN_ONCE,        /* one iteration, blocking in poll if nothing is pending */
  LOOP_RUN_NOWAIT       /* one iteration, poll does not block */
};

/* Every handle type starts with this struct; a pointer to a timer, io, signal or immediate
 * handle may be cast to loop_handle_t * (and back, in callbacks).
 * Ownership: the caller owns the memory of every handle. After loop_close() it may only be
 * released in the close callback or after it has run. */
typedef struct loop_handle_s loop_handle_t;
typedef void (*loop_close_cb)(loop_handle_t *h);

struct loop_handle_s {
  void *data; /* public: the owner's */
  /* private */
  loop_t *loop;
  loop_close_cb close_cb;
  loop_handle_t *next_closing;
  uint8_t type;
  uint8_t kind;  /* enum loop_ref_kind */
  uint8_t flags; /* active, ref'd, closing, closed */
};

/* ---- timers ---------------------------------------------------------------------------- */
typedef struct loop_timer_s loop_timer_t;
typedef void (*loop_timer_cb)(loop_timer_t *t);

struct loop_timer_s {
  loop_handle_t h;
  /* private */
  loop_timer_cb cb;
  uint64_t deadline; /* ms, loop clock */
  uint64_t repeat;   /* ms, 0: one-shot */
  uint64_t seq;      /* start order: ties on deadline fire in this order */
  size_t heap_index; /* SIZE_MAX when not in the heap */
};

/* Timers fire in (deadline, start sequence) order; due timers are collected before any runs,
 * so a 0 ms timer started from a timer callback fires in the next iteration. */
int loop_timer_init(loop_t *loop, loop_timer_t *t);
int loop_timer_start(loop_timer_t *t, loop_timer_cb cb, uint64_t timeout_ms, uint64_t repeat_ms);
int loop_timer_stop(loop_timer_t *t);
/* Restart with the repeat interval; -EINVAL if the timer was never started. */
int loop_timer_again(loop_timer_t *t);
void loop_timer_set_repeat(loop_timer_t *t, uint64_t repeat_ms);
/* When an active timer fires, in loop ms (meaningless while it is stopped). */
uint64_t loop_timer_due(const loop_timer_t *t);

/* ---- immediates (check phase) ---------------------------------------------------------- */
typedef struct loop_immediate_s loop_immediate_t;
typedef void (*loop_immediate_cb)(loop_immediate_t *im);

struct loop_immediate_s {
  loop_handle_t h;
  /* private */
  loop_immediate_cb cb;
  loop_immediate_t *next;
  loop_immediate_t *prev;
};

/* An immediate runs once, in the next check phase (the queue is snapshotted first: one
 * started during check runs in the following iteration). Starting an already started
 * immediate does nothing. */
int loop_immediate_init(loop_t *loop, loop_immediate_t *im);
int loop_immediate_start(loop_immediate_t *im, loop_immediate_cb cb);
int loop_immediate_stop(loop_immediate_t *im);

/* ---- I/O watchers (poll phase, level-triggered) ---------------------------------------- */
enum { LOOP_READ = 1, LOOP_WRITE = 2 };

typedef struct loop_io_s loop_io_t;
typedef void (*loop_io_cb)(loop_io_t *io, int events);

struct loop_io_s {
  loop_handle_t h;
  int fd; /* read-only; the owner closes it, after loop_close() */
  /* private */
  int events;
  loop_io_cb cb;
  struct event *ev;  /* read interest; created on first use */
  struct event *wev; /* write interest: one event per direction, so adding or dropping one
                      * direction is a single epoll_ctl(MOD) instead of DEL + ADD */
};

/* kind says what the watcher's ref counts as (listener, connection, ipc, other). */
int loop_io_init(loop_t *loop, loop_io_t *io, int fd, enum loop_ref_kind kind);
/* Watch `events` (LOOP_READ | LOOP_WRITE), replacing the previous interest; 0 is a stop.
 * The same interest again costs nothing. A watcher ready both ways in one poll may be called
 * once per direction (a stop or close from the first call cancels the second). */
int loop_io_start(loop_io_t *io, int events, loop_io_cb cb);
int loop_io_stop(loop_io_t *io);

/* ---- signal watchers (poll phase) ------------------------------------------------------ */
typedef struct loop_signal_s loop_signal_t;
typedef void (*loop_signal_cb)(loop_signal_t *s, int signum);

struct loop_signal_s {
  loop_handle_t h;
  int signum; /* read-only */
  /* private */
  loop_signal_cb cb;
  struct event *ev;
};

int loop_signal_init(loop_t *loop, loop_signal_t *s);
int loop_signal_start(loop_signal_t *s, loop_signal_cb cb, int signum);
int loop_signal_stop(loop_signal_t *s);

/* ---- pending callbacks (pending phase) ------------------------------------------------- */
typedef struct loop_pending_s loop_pending_t;
typedef void (*loop_pending_cb)(loop_pending_t *p);

struct loop_pending_s {
  loop_pending_cb cb;
  loop_pending_t *next; /* private */
};

/* Defer cb to the pending phase (FIFO): for callbacks deferred on purpose, as libuv's pending
 * queue holds I/O callbacks it chose not to run in poll (pool completions do not come here:
 * they run in poll, see pool.h). At most the budget (default 64) run per iteration; the rest
 * wait, in order, for the next. A queued entry keeps the loop alive. The caller owns the
 * entry; it must stay valid until cb runs. */
void loop_pending_push(loop_t *loop, loop_pending_t *p, loop_pending_cb cb);
void loop_set_pending_budget(loop_t *loop, unsigned budget);
/* Idle polling: before the poll phase blocks, look for events without sleeping for up to a
 * window that adapts to the sleeps seen (the guest halt-polling algorithm of Linux's
 * cpuidle-haltpoll): a sleep shorter than max_us grows it, one longer shrinks it, so a loop
 * whose events come in quick succession does not pay a wake-up (an IPI, on a VM whose idle
 * CPUs halt) for each, and an idle or lightly loaded one does not poll at all. 0 (the
 * default) never polls. Semantics are unchanged: the same callbacks run in the same phases. */
void loop_set_idle_poll(loop_t *loop, unsigned max_us);
/* ---- handles in general ---------------------------------------------------------------- */
/* Stop the handle and run cb in the next close phase (close callbacks run LIFO, as Node
 * shows them; one closed from a close callback runs in the next iteration). cb may be NULL. */
void loop_close(loop_handle_t *h, loop_close_cb cb);
int loop_is_active(const loop_handle_t *h);
int loop_is_closing(const loop_handle_t *h);
/* An unref'd handle still fires but does not keep the loop alive. */
void loop_ref(loop_handle_t *h);
void loop_unref(loop_handle_t *h);
int loop_has_ref(const loop_handle_t *h);

/* A ref held by something that is not a handle (an in-flight pool job). */
void loop_req_ref(loop_t *loop, enum loop_ref_kind kind);
void loop_req_unref(loop_t *loop, enum loop_ref_kind kind);

/* ---- the loop -------------------------------------------------------------------------- */
/* 0 or -errno; *out owned by the caller, released with loop_free(). */
int loop_new(loop_t **out);
/* Frees the loop. Every handle must have been closed; close callbacks still waiting (closed
 * after the last loop run) run here rather than leak. NULL: no-op. */
void loop_free(loop_t *loop);
/* Returns 0 when the loop ended (nothing alive, or stopped), 1 in ONCE/NOWAIT mode when
 * something is still alive, or -errno when libevent failed. */
int loop_run(loop_t *loop, enum loop_run_mode mode);
/* Makes loop_run return after the current iteration. */
void loop_stop(loop_t *loop);
int loop_alive(const loop_t *loop);

/* The loop's clock in ms (monotonic), cached: updated before the timers phase and after
 * poll. */
uint64_t loop_now(const loop_t *loop);
/* The same cached reading in us: for durations measured as nginx and h2o measure theirs,
 * at the loop's turns, without a clock read per request. */
uint64_t loop_now_us(const loop_t *loop);
void loop_update_time(loop_t *loop);
/* Monotonic nanoseconds, uncached. */
uint64_t loop_hrtime_ns(void);

/* Live refs by kind (active ref'd handles and in-flight requests); returns the total. */
unsigned loop_refs(const loop_t *loop, unsigned counts[LOOP_REF_KINDS]);
const char *loop_ref_kind_name(enum loop_ref_kind kind);

/* Loop lag: how late timers fired, over the last 1024 firings, in ms. */
struct loop_lag {
  double p50_ms;
  double p99_ms;
  double max_ms;
};
void loop_lag(const loop_t *loop, struct loop_lag *out);
uint64_t loop_iterations(const loop_t *loop);

#endif
