"""Recycling by memory. One worker; its idle RSS is read from status, then a reload sets
recycle.max_rss_mb a few MiB above it. Real traffic raises it: 400 distinct 60 KiB files, each
kept in the worker's file cache (small files are cached whole). The worker goes over the limit
and is replaced (the replacement READY before it drains), requests keep succeeding throughout,
status counts one recycle under "rss", and the fresh worker, back at its baseline, is not
recycled again. Then a limit below the baseline (1 MiB): the log says so once, and over 3 s
(15 health intervals) no worker is replaced: no respawn loop. Last, a limit a fresh worker
reaches within seconds under traffic that keeps growing it: recycling backs off (said once for
the episode that began when the first worker too came due within seconds of its start), and
no worker is replaced for the 4.5 s after a recycle."""
import os, re, sys, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from evtest import *

N, SIZE, HEADROOM_MB = 400, 60 * 1024, 8
files = {"f%03d.bin" % i: bytes([i % 251]) * SIZE for i in range(N)}
files["index.html"] = "hello\n"
s = Server(workers=1, files=files, settings={"health": "{ interval = 0.2; misses = 5; }"})


def log_wait(pattern, since, timeout):
    """A line matching pattern among those logged since index `since` (drain_log reads on)."""
    deadline = time.monotonic() + timeout
    while True:
        for line in drain_log(s)[since:]:
            m = re.search(pattern, line)
            if m:
                return m
        check(time.monotonic() < deadline, "no log line %r within %ss" % (pattern, timeout))
        time.sleep(0.05)


try:
    s.start()
    r = request(s.port, "/index.html")
    check(r.status == 200, "serving: %r" % r)

    def worker_rss():
        st = sup_status(s)
        ws = [w for w in st["workers"] if w["state"] == "running"]
        return ws[0]["rss_kb"] if len(ws) == 1 and ws[0]["rss_kb"] > 0 else None
    idle = sup_wait(worker_rss, 5, "the worker's RSS in status")
    limit = idle // 1024 + HEADROOM_MB
    print("idle rss %d KiB, limit %d MiB" % (idle, limit))
    s.write_conf({"recycle": "{ max_rss_mb = %d; }" % limit})
    check(s.cli("-s", "reload").returncode == 0, "reload")
    old = sup_wait(lambda: sup_workers(s, generation=2, state="running"), 10,
                   "generation 2 running")[0]
    sup_wait(lambda: sup_workers(s, generation=1) == [], 10, "generation 1 gone")

    errors = []
    stop = threading.Event()

    def background():  # requests during the recycle must not fail
        while not stop.is_set():
            try:
                r = request(s.port, "/index.html")
                if r.status != 200:
                    errors.append(repr(r))
            except Exception as e:
                errors.append(repr(e))
    t = threading.Thread(target=background)
    t.start()
    try:
        # until the recycle starts: the replacement must not be fed the same files
        c = Conn(s.port)
        seen = len(drain_log(s))
        for name in sorted(files):
            if name == "index.html":
                continue
            r = roundtrip(c, "GET", "/" + name)
            check(r.status == 200 and len(r.body) == SIZE, "%s: %r" % (name, r))
            if r.header("connection", "").lower() == "close":
                c.close()
                c = Conn(s.port)
            if any("starting its replacement" in l for l in drain_log(s)[seen:]):
                break
        c.close()
        m = log_wait(r"recycle: worker (\d+) \(slot 0, generation 2\) is resident ([\d.]+) MiB, "
                       r"above recycle\.max_rss_mb = %d \(([\d.]+) MiB at start-up" % limit, seen, 10)
        check(int(m.group(1)) == old, "the worker that grew is the one recycled")
        check(float(m.group(2)) > limit, "its figure is above the limit: %s" % m.group(0))
        m = log_wait(r"recycle: worker (\d+) ready, worker (\d+) drains \(by rss", seen, 10)
        new = int(m.group(1))
        check(int(m.group(2)) == old and new != old, "replacement %d for %d" % (new, old))
        sup_wait(lambda: not pid_alive(old), 10, "the recycled worker exited")
        time.sleep(0.3)  # background requests against the new worker alone
    finally:
        stop.set()
        t.join()
    check(not errors, "%d failed requests during the recycle, first: %r" % (len(errors), errors[:3]))
    st = sup_status(s)
    check(st["supervisor"]["recycled"] == {"rss": 1, "requests": 0, "failed": 0,
                                           "in_progress": False},
          "status counts one by rss: %r" % st["supervisor"]["recycled"])
    ws = st["workers"]
    check([w["pid"] for w in ws] == [new], "the replacement alone: %r" % ws)
    check(ws[0]["rss_kb"] < limit * 1024, "the replacement is below the limit: %r" % ws[0])
    check(st["supervisor"]["rss_kb"] > 0 and "cpu_pct" in st["supervisor"], "supervisor figures")

    # a limit below any worker's baseline: said once, never a replacement loop
    s.write_conf({"recycle": "{ max_rss_mb = 1; }"})
    check(s.cli("-s", "reload").returncode == 0, "reload")
    s.wait_log(r"recycle: worker (\d+) is resident [\d.]+ MiB at start-up, already above "
               r"recycle\.max_rss_mb = 1: the limit is below a worker's baseline", 10)
    w3 = sup_wait(lambda: sup_workers(s, generation=3, state="running"), 10, "generation 3")
    for i in range(60):  # keep it busy for 3 s (15 health intervals)
        request(s.port, "/f%03d.bin" % (i % N))
        time.sleep(0.05)
    check(sup_workers(s, generation=3) == w3, "no replacement: %r" % sup_workers(s))
    drain_log(s)
    check(not any("starting its replacement" in l for l in s.log if "generation 3" in l),
          "no recycle in generation 3")
    check(sum("below a worker's baseline" in l for l in s.log) == 1, "said once")
    check(sup_status(s)["supervisor"]["recycled"]["rss"] == 1, "count unchanged")

    # a limit a fresh worker reaches within seconds (traffic that never stops growing it):
    # recycling backs off instead of replacing workers back to back
    s.write_conf({"recycle": "{ max_rss_mb = %d; }" % limit})
    check(s.cli("-s", "reload").returncode == 0, "reload")
    sup_wait(lambda: sup_workers(s, generation=4, state="running"), 10, "generation 4")
    seen = len(drain_log(s))
    stop.clear()
    errors = []

    def feed():  # the files again and again, on keep-alive connections
        c, i = None, 0
        while not stop.is_set():
            try:
                c = c or Conn(s.port)
                r = roundtrip(c, "GET", "/f%03d.bin" % (i % N))
                if r.status != 200:
                    errors.append(repr(r))
                if r.header("connection", "").lower() == "close":
                    c.close()
                    c = None
            except (EOFError, ConnectionResetError, BrokenPipeError):
                c = None  # an idle connection closed by a drain: retried
            i += 1
        if c:
            c.close()
    t = threading.Thread(target=feed)
    t.start()
    try:
        # the first recycle in generation 4 comes within seconds of its worker's start: the
        # back-off (begun in the first part, where the worker also came due soon) doubles
        log_wait(r"\(slot 0, generation 4\) is resident [\d.]+ MiB, above .*starting its "
                 r"replacement", seen, 15)
        at = len(drain_log(s))
        time.sleep(4.5)  # the back-off is the event under test: nothing may start for >= 5 s
        begun = [l for l in drain_log(s)[at:] if "starting its replacement" in l]
        check(not begun, "no recycle within the back-off: %r" % begun)
        check(sup_status(s)["supervisor"]["rss_kb"] > 0, "the supervisor answers meanwhile")
    finally:
        stop.set()
        t.join()
    check(not errors, "failed requests while fed: %r" % errors[:3])
    backs = [l for l in drain_log(s) if "recycling backs off" in l]
    check(len(backs) == 1, "said once: %r" % backs)
finally:
    s.stop()
print("ok")
