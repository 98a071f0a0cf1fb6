"""Recycling by request count under load: two workers with recycle.max_requests = 300 and
jitter 0.5, clients on fresh connections and on keep-alive ones (which retry a request only
when their reused idle connection was closed before any response byte, as on a reload).
Workers are replaced in turn: each replacement is ready before its old worker drains, one
recycle at a time, zero failed requests, the thresholds spread over 300..450, and status
counts the recycles under "requests". A reload afterwards works as before, and the new
generation's workers recycle in their turn."""
import os, re, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from evtest import *
from admintest import admin_settings, admin_port, metrics_text, parse_metrics

MAX, JITTER, WANT = 300, 0.5, 6
s = Server(workers=2, files={"index.html": "x" * 1000},
           settings=admin_settings({"health": "{ interval = 0.2; misses = 5; }",
                                    "recycle": "{ max_requests = %d; jitter = %s; }"
                                    % (MAX, JITTER)}))
BEGIN_RE = re.compile(r"recycle: worker (\d+) \(slot (\d+), generation 1\) has served (\d+) "
                      r"requests, its threshold (\d+) \(recycle\.max_requests = 300")
END_RE = re.compile(r"recycle: worker (\d+) ready, worker (\d+) drains \(by requests")
try:
    s.start()
    first = sup_workers(s)
    events = []  # ("begin", old, slot, served, threshold) / ("end", new, old), in log order
    with Load(s.port, fresh=1, keepalive=2) as load:
        deadline = time.monotonic() + 25
        while sum(1 for e in events if e[0] == "end") < WANT:
            m = s.wait_log(r"recycle: worker", max(0.1, deadline - time.monotonic()))
            line = s.log[-1]
            b, e = BEGIN_RE.search(line), END_RE.search(line)
            if b:
                events.append(("begin",) + tuple(int(x) for x in b.groups()))
            elif e:
                events.append(("end", int(e.group(1)), int(e.group(2))))
            else:
                fail("unexpected recycle line: %s" % line)
    errors, counts = load.errors, load.counts
    check(not errors, "%d failures, first: %r" % (len(errors), errors[:5]))
    print("counts: %r" % counts)
    # one at a time: begin, end, begin, end... and each end names the worker its begin did
    for i, ev in enumerate(events):
        check(ev[0] == ("begin" if i % 2 == 0 else "end"), "recycles alternate: %r" % events)
        if ev[0] == "end":
            check(ev[2] == events[i - 1][1], "the drained worker is the one due: %r" % events)
    begins = [e for e in events if e[0] == "begin"]
    thresholds = [e[4] for e in begins]
    check(all(MAX <= t < MAX * (1 + JITTER) for t in thresholds), "thresholds in range: %r"
          % thresholds)
    check(all(e[3] >= e[4] for e in begins), "due only past the threshold: %r" % begins)
    check(len(set(thresholds)) >= 3, "jitter spreads the thresholds: %r" % thresholds)
    # in turn: both slots were recycled, and both of the first workers were replaced
    check(set(e[2] for e in begins) == {0, 1}, "both slots recycled: %r" % begins)
    replaced = set(e[1] for e in begins)
    check(set(first) <= replaced, "the first workers %r were replaced: %r" % (first, begins))
    st = sup_status(s)
    check(st["supervisor"]["recycled"]["requests"] >= WANT, "status counts: %r"
          % st["supervisor"]["recycled"])
    check(st["supervisor"]["recycled"]["rss"] == 0, "none by memory")
    m, _ = parse_metrics(metrics_text(admin_port(s)))
    check(m.get('evcluster_worker_recycles_total{reason="requests"}') ==
          st["supervisor"]["recycled"]["requests"] and
          m.get('evcluster_worker_recycles_total{reason="rss"}') == 0,
          "/metrics counts the recycles as status does: %r" %
          {k: v for k, v in m.items() if "recycles" in k})
    running = [w for w in st["workers"] if w["state"] == "running"]
    check(len(running) == 2, "two workers running: %r" % st["workers"])
    check(all(MAX <= w["recycle_at_requests"] < MAX * (1 + JITTER) for w in running),
          "each worker has its threshold: %r" % running)
    r = s.cli("status")
    check(re.search(r"recycled: 0 by memory, \d+ by requests", r.stdout), "status text: %r"
          % r.stdout)
    sup_wait(lambda: not any(pid_alive(p) for p in replaced), 10, "replaced workers exited")

    # a reload behaves as before, and the new generation's workers recycle in their turn
    check(s.cli("-s", "reload").returncode == 0, "reload")
    check(int(s.wait_log(READY_RE, 10).group(1)) == 2, "generation 2 ready")
    c = Conn(s.port)
    deadline = time.monotonic() + 15
    while not any(re.search(r"has served \d+ requests.*\n?", l) and "generation 2)" in l
                  for l in drain_log(s)):
        check(time.monotonic() < deadline, "a generation 2 worker recycled within 15 s")
        r = roundtrip(c, "GET", "/index.html")
        check(r.status == 200, "request: %r" % r)
        if r.header("connection", "").lower() == "close":
            c.close()
            c = Conn(s.port)
    c.close()
finally:
    s.stop()
print("ok")
