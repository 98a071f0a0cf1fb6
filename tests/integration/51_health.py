"""Health: a SIGSTOPped worker misses its pings and is SIGKILLed and replaced within
interval x misses + 1 s, while the other worker keeps serving every request."""
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
print("ok")
