"""Health: a SIGSTOPped worker misses its pings and is SIGKILLed and replaced within
interval x misses + 1 s, while the other worker keeps serving every request. Pings start once
a worker is ready: one whose start-up is slower than interval x misses (a slow disk, made by
the slowfs shim) is not killed for it, and serves when it is ready."""
import os, re, signal, sys, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from evtest import *

INTERVAL, MISSES = 0.5, 3
s = Server(workers=2, files={"index.html": "hello\n"},
           settings={"health": "{ interval = %s; misses = %d; }" % (INTERVAL, MISSES)})
try:
    s.start()
    pids = sup_workers(s, state="running")
    check(len(pids) == 2, "two workers")
    stopped = pids[0]
    errors, served = [], [0]
    done = threading.Event()

    def load():
        while not done.is_set():
            try:
                r = request(s.port, "/index.html")
                if r.status != 200 or r.body != b"hello\n":
                    errors.append(repr(r))
                served[0] += 1
            except (OSError, EOFError) as e:
                errors.append(repr(e))

    # the stopped worker cannot accept; with a shared queue, the other takes the load
    os.kill(stopped, signal.SIGSTOP)
    t0 = time.monotonic()

    def missed():  # the MISSED column of the stopped worker's row in the status table
        for line in s.cli("status").stdout.splitlines():
            f = line.split()
            if f and f[0] == str(stopped):
                return int(f[-1]) >= 1
        return False
    sup_wait(missed, INTERVAL * MISSES, "status shows the stopped worker's missed pings")
    th = threading.Thread(target=load)
    th.start()
    try:
        m = s.wait_log(r"worker %d \(slot \d+, generation 1\) missed (\d+) pings, "
                       r"last answer (\d+\.\d) s ago: killing" % stopped, INTERVAL * MISSES + 2)
        killed_after = time.monotonic() - t0
        check(int(m.group(1)) == MISSES, "killed after %d misses" % MISSES)
        s.wait_log(r"worker (\d+) \(slot \d+, generation 1\) ready", 2)
        replaced_after = time.monotonic() - t0
    finally:
        done.set()
        th.join()
    limit = INTERVAL * MISSES + 1
    check(replaced_after <= limit, "replaced after %.2fs (limit %.1fs, killed at %.2fs)"
          % (replaced_after, limit, killed_after))
    check(not pid_alive(stopped), "the stopped worker is gone")
    now = sup_workers(s, state="running")
    check(len(now) == 2 and stopped not in now and pids[1] in now, "workers now %r" % now)
    check(not errors, "requests failed while one worker was stopped: %r" % errors[:5])
    check(served[0] > 0, "requests were served meanwhile")
finally:
    s.stop()

# A worker that needs 3 s to open the root (pings every 0.5 s, 3 missed kill): it comes up.
slowfs = slowfs_helpers()
SLOW_START = 3.0
s = remove_at_exit(Server(files={"index.html": "hello\n"},
                          settings={"health": "{ interval = %s; misses = %d; }"
                                    % (INTERVAL, MISSES)}))
trigger = os.path.join(s.dir, "slow.trigger")
open(trigger, "w").close()  # the first worker's first look at the root takes it and waits
try:
    t0 = time.monotonic()
    s.start(timeout=SLOW_START + 5,
            env={"LD_PRELOAD": slowfs.preload_value(slowfs.shim_path(s.dir)),
                 "EVC_SLOWFS_MS": str(int(SLOW_START * 1000)), "EVC_SLOWFS_MARK": s.root,
                 "EVC_SLOWFS_ONCE": trigger})
    took = time.monotonic() - t0
    check(not any("killing" in l or "missed" in l for l in s.log),
          "a slowly starting worker was killed:\n%s" % "\n".join(s.log))
    check(took >= SLOW_START - 0.5, "the worker's start-up was not slowed (%.2fs)" % took)
    check(len(sup_workers(s, state="running")) == 1, "the slow worker is the one running")
    r = request(s.port, "/index.html")
    check(r.status == 200 and r.body == b"hello\n", "it serves: %r" % r)
finally:
    s.stop()
print("ok")
