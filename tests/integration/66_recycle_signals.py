"""A recycle in progress meets TTOU and TTIN. The slowfs shim holds a replacement in its
start-up (EVC_SLOWFS_ONCE: the worker that takes the trigger file sleeps in its first look at
the root), which leaves time to act while it starts. Meanwhile the worker being replaced keeps
its slot and serves: requests succeed. TTOU that removes the slot being recycled cancels the
recycle: the replacement is killed, the old worker drains as TTOU says and no one is
respawned for the slot. TTIN during a recycle adds its worker beside it, and the recycle
completes once its replacement is ready. A worker that dies while its replacement starts
hands its slot to the replacement (no respawn beside it). status counts what happened."""
import os, signal, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

slowfs = slowfs_helpers()
s = remove_at_exit(Server(workers=2, files={"index.html": "hello\n"},
                          settings={"health": "{ interval = 0.2; misses = 50; }",
                                    "recycle": "{ max_requests = 30; jitter = 0.0; }"}))
trigger = os.path.join(s.dir, "hold.trigger")
s.start(env={"LD_PRELOAD": slowfs.preload_value(slowfs.shim_path(s.dir)),
             "EVC_SLOWFS_MS": "5000", "EVC_SLOWFS_MARK": s.root, "EVC_SLOWFS_ONCE": trigger})


def by_slot(generation=1):
    st = sup_status(s)
    return {w["slot"]: w for w in st["workers"]
            if w["generation"] == generation and not w["replacing"]
            and w["state"] == "running"}, st


def replacing():
    st = sup_status(s)
    return [w for w in st["workers"] if w["replacing"]]


def load_until(pattern, timeout=10):
    """Fresh requests, each must succeed, until a log line matches."""
    deadline = time.monotonic() + timeout
    seen = len(drain_log(s))  # only lines logged from now on
    while True:
        r = request(s.port, "/index.html")
        check(r.status == 200, "request: %r" % r)
        log = drain_log(s)
        for line in log[seen:]:
            m = re.search(pattern, line)
            if m:
                return m
        seen = len(log)
        check(time.monotonic() < deadline, "no %r within %ss" % (pattern, timeout))


try:
    slots, _ = by_slot()
    w0, w1 = slots[0]["pid"], slots[1]["pid"]
    # slot 1's worker alone takes the load (slot 0's is stopped: one accept queue), so it is
    # the one due, and its replacement is held in start-up by the trigger
    os.kill(w0, signal.SIGSTOP)
    open(trigger, "w").close()
    load_until(r"recycle: worker %d \(slot 1, generation 1\) has served" % w1)
    spare = sup_wait(replacing, 5, "the replacement listed")[0]
    check(spare["state"] == "starting" and spare["slot"] == 1, "replacement: %r" % spare)
    check(os.path.exists(trigger + ".taken"), "the replacement is the one held")
    os.kill(w0, signal.SIGCONT)
    slots, st = by_slot()
    check(slots[1]["pid"] == w1, "the old worker keeps its slot, running: %r" % st["workers"])
    for i in range(20):  # capacity is kept: both old workers serve
        check(request(s.port, "/index.html").status == 200, "request during the recycle")

    # TTOU removes slot 1: the recycle is cancelled
    s.signal(signal.SIGTTOU)
    s.wait_log(r"recycle of worker %d abandoned: SIGTTOU removed its slot" % w1, 5)
    sup_wait(lambda: not pid_alive(spare["pid"]), 5, "the replacement is gone")
    sup_wait(lambda: not pid_alive(w1), 10, "the old worker drained and exited")
    st = sup_status(s)
    check([w["pid"] for w in st["workers"]] == [w0], "slot 0 alone: %r" % st["workers"])
    check(st["supervisor"]["recycled"]["failed"] == 1 and
          st["supervisor"]["recycled"]["requests"] == 0, "counts: %r" % st["supervisor"])

    # slot 0's worker is due next; TTIN while its replacement is held
    os.rename(trigger + ".taken", trigger)
    load_until(r"recycle: worker %d \(slot 0, generation 1\) has served" % w0)
    spare = sup_wait(replacing, 5, "the second replacement listed")[0]
    s.signal(signal.SIGTTIN)
    s.wait_log(r"generation 1: 2 workers \(one more\)", 5)
    m = s.wait_log(r"recycle: worker (\d+) ready, worker (\d+) drains \(by requests", 10)
    check(int(m.group(1)) == spare["pid"] and int(m.group(2)) == w0, "the recycle completes: %s"
          % m.group(0))
    sup_wait(lambda: not pid_alive(w0), 10, "the recycled worker exited")
    slots, st = by_slot()
    check(sorted(slots) == [0, 1] and slots[0]["pid"] == spare["pid"],
          "slot 0 its replacement, slot 1 TTIN's: %r" % st["workers"])
    check(len(st["workers"]) == 2, "nothing else: %r" % st["workers"])
    check(st["supervisor"]["recycled"]["requests"] == 1, "counts: %r" % st["supervisor"])

    # the worker being replaced dies while its replacement is held: the replacement takes
    # its slot, nobody is respawned for it
    os.rename(trigger + ".taken", trigger)
    m = load_until(r"recycle: worker (\d+) \(slot (\d+), generation 1\) has served \d+ "
                   r"requests, its threshold 30 ")
    victim, slot = int(m.group(1)), int(m.group(2))
    spare = sup_wait(replacing, 5, "the third replacement listed")[0]
    os.kill(victim, signal.SIGKILL)
    s.wait_log(r"recycle of worker %d abandoned: it died first; its replacement takes the slot"
               % victim, 5)
    sup_wait(lambda: (lambda sl: slot in sl and sl[slot]["pid"] == spare["pid"])(by_slot()[0]),
             10, "the replacement runs in slot %d" % slot)
    st = sup_status(s)
    # (the other slot's worker, past its threshold too, may have its own recycle under way)
    check(len([w for w in st["workers"] if not w["replacing"]]) == 2,
          "two workers, no respawn beside it: %r" % st["workers"])
    check(not any("respawning slot %d" % slot in l for l in drain_log(s)), "no respawn")
    check(st["supervisor"]["recycled"]["failed"] == 2, "counts: %r" % st["supervisor"])
finally:
    s.stop()
print("ok")
