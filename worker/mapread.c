/* See mapread.h. The fault is caught with a sigsetjmp taken before each copy and a handler
 * that jumps back to it when the faulting address lies in the copy's source. The recovery
 * point is thread-local state of this module only: a signal handler has no other way to
 * find it, and SIGBUS is delivered to the thread that faulted. sigsetjmp does not save the
 * signal mask (that would be a system call per copy, the cost this module saves): the
 * handler runs with SA_NODEFER, so SIGBUS is not left blocked after the jump, and a later
 * fault is caught again. */
#define _GNU_SOURCE
#include "mapread.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

struct recovery {
  sigjmp_buf *env;  /* set while a copy runs, else NULL */
  uintptr_t lo, hi; /* its source */
};

static __thread struct recovery rec;

static void on_bus(int sig, siginfo_t *si, void *uctx) {
  (void)uctx;
  uintptr_t a = (uintptr_t)si->si_addr;
  /* si_code > 0: a fault the kernel raised, whose si_addr means something (kill -BUS
   * fills the same bytes with a pid and a uid) */
  if (rec.env && si->si_code > 0 && a >= rec.lo && a < rec.hi)
    siglongjmp(*rec.env, 1);
  /* Not ours: the default action (a core dump), as without this handler, for a fault and
   * for a SIGBUS sent by kill alike (returning would ignore the latter). */
  signal(sig, SIG_DFL);
  raise(sig);
}

int mapread_init(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = on_bus;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  return sigaction(SIGBUS, &sa, NULL) < 0 ? -errno : 0;
}

int mapread_copy(void *dst, const void *src, size_t len) {
  sigjmp_buf env;
  if (sigsetjmp(env, 0)) {
    rec.env = NULL;
    return -EFAULT;
  }
  rec.lo = (uintptr_t)src;
  rec.hi = (uintptr_t)src + len;
  rec.env = &env;
  /* the handler must see the range set before the copy's first load, and the copy done
   * before the range is cleared: a compiler fence (the handler runs on this thread) */
  atomic_signal_fence(memory_order_seq_cst);
  memcpy(dst, src, len);
  atomic_signal_fence(memory_order_seq_cst);
  rec.env = NULL;
  return 0;
}
