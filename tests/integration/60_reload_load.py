"""Reload under load: clients keep requesting (a new connection per request, and keep-alive
connections that retry a request only when their reused idle connection was closed before
any response byte) while the config is reloaded 10 times: zero failures, and afterwards every
worker belongs to the newest generation."""
import os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from evtest import *

s = Server(workers=2, files={"index.html": "x" * 1000})
try:
    s.start()
    with Load(s.port, fresh=2, keepalive=2) as load:
        for i in range(10):
            r = s.cli("-s", "reload")
            check(r.returncode == 0, "reload %d: %r" % (i + 1, r))
            m = s.wait_log(READY_RE, 10)
            check(int(m.group(1)) == i + 2, "generation %d ready" % (i + 2))
            time.sleep(0.1)  # let traffic reach the new generation between reloads
    errors, counts = load.errors, load.counts
    check(not errors, "%d failures, first: %r" % (len(errors), errors[:5]))
    check(counts["fresh"] > 50 and counts["keepalive"] > 50, "load was applied: %r" % counts)
    sup_wait(lambda: all(w["generation"] == 11 for w in (sup_status(s) or {"workers": [0]})["workers"]),
             15, "only generation 11 workers left")
    check(len(sup_workers(s)) == 2, "two workers")
    print("counts: %r" % counts)
finally:
    s.stop()
print("ok")
