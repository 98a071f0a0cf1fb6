"""Respawn: a SIGKILLed worker is replaced within 1 s while the other keeps its pid; a slot
whose workers keep failing at start-up (their access log's folder was deleted) backs off with
growing delays and the supervisor stays up; once the folder is back the slot recovers."""
import os, re, shutil, signal, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from evtest import *

s = Server(workers=2, files={"index.html": "hi\n"})
logdir = os.path.join(s.dir, "logs")
os.mkdir(logdir)
s.write_conf({"access_log": '"logs/access.log"'})
try:
    s.start()
    before = sup_workers(s, state="running")
    check(len(before) == 2, "two running workers: %r" % before)
    victim, other = before
    t0 = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    m = s.wait_log(r"worker (\d+) \(slot \d+, generation 1\) ready", 5)
    took = time.monotonic() - t0
    check(took < 1.0, "replacement ready after %.2fs (limit 1s)" % took)
    new = int(m.group(1))
    check(new not in before, "a new pid")
    after = sup_workers(s, state="running")
    check(sorted(after) == sorted([other, new]), "other worker untouched: %r" % after)
    check(any(re.search(r"worker %d .*killed by signal 9" % victim, l) for l in s.log),
          "the death is logged with its signal")

    # crash loop: new workers cannot open their access log and exit 1 at start-up
    shutil.rmtree(logdir)
    os.kill(new, signal.SIGKILL)
    delays = []
    deadline = time.monotonic() + 15
    while len(delays) < 4 and time.monotonic() < deadline:
        m = s.wait_log(r"respawning slot \d+ of generation 1 in (\d+) ms", 15)
        delays.append(int(m.group(1)))
    check(len(delays) >= 4, "at least 4 delayed respawns: %r" % delays)
    check(all(b > a for a, b in zip(delays, delays[1:])), "delays grow: %r" % delays)
    check(delays[0] >= 100, "first delay >= 100 ms: %r" % delays)
    # the slot waiting out its back-off (the last delay is 800 ms or more) is in the status
    r = s.cli("status")
    check(re.search(r"slot \d+ of generation 1: no worker, respawn in \d+\.\d s", r.stdout),
          "status shows the slot in back-off:\n%s" % r.stdout)
    check(any(re.search(r"exited with status 1", l) for l in s.log), "start-up failures logged")
    check(s.proc.poll() is None, "supervisor still running")
    check(other in sup_workers(s), "the healthy worker still runs")

    # the cause goes away: the slot recovers on its own
    os.mkdir(logdir)
    s.wait_log(r"worker \d+ \(slot \d+, generation 1\) ready", 15)
    sup_wait(lambda: len(sup_workers(s, state="running")) == 2, 5, "two running workers again")
    r = request(s.port, "/index.html")
    check(r.status == 200 and r.body == b"hi\n", "serving after recovery: %r" % r)
finally:
    s.stop()
print("ok")
