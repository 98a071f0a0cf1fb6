"""Reload under load: clients keep requesting (a new connection per request, and keep-alive
connections that retry a request only when their reused idle connection was closed before
any response byte) while the config is reloaded 10 times: zero failures, and afterwards every
worker belongs to the newest generation."""
import os, sys, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from evtest import *

s = Server(workers=2, files={"index.html": "x" * 1000})
try:
    s.start()
    stop = threading.Event()
    errors, counts = [], {"fresh": 0, "keepalive": 0, "retried": 0}
    lock = threading.Lock()

    def fresh():
        while not stop.is_set():
            try:
                r = request(s.port, "/index.html")
                if r.status != 200 or len(r.body) != 1000:
                    raise ValueError(repr(r))
                with lock:
                    counts["fresh"] += 1
            except Exception as e:
                errors.append("fresh: %r" % e)

    def keepalive():
        c = None
        while not stop.is_set():
            reused = c is not None
            try:
                if c is None:
                    c = Conn(s.port)
                c.send("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
                r = c.read_response()
            except (EOFError, ConnectionResetError, BrokenPipeError) as e:
                # allowed only on a reused connection with no response byte yet: the
                # server closed it as idle (drain); a client retries such a request
                if not reused or c.buf:
                    errors.append("keepalive: %r" % e)
                c.close()
                c = None
                with lock:
                    counts["retried"] += 1
                continue
            except Exception as e:
                errors.append("keepalive: %r" % e)
                c = None
                continue
            if r.status != 200 or len(r.body) != 1000:
                errors.append("keepalive: %r" % r)
            with lock:
                counts["keepalive"] += 1
            if r.header("connection", "").lower() == "close":
                c.close()
                c = None
        if c:
            c.close()

    threads = [threading.Thread(target=fn) for fn in (fresh, fresh, keepalive, keepalive)]
    for t in threads:
        t.start()
    try:
        for i in range(10):
            r = s.cli("-s", "reload")
            check(r.returncode == 0, "reload %d: %r" % (i + 1, r))
            m = s.wait_log(READY_RE, 10)
            check(int(m.group(1)) == i + 2, "generation %d ready" % (i + 2))
            time.sleep(0.1)  # let traffic reach the new generation between reloads
    finally:
        stop.set()
        for t in threads:
            t.join()
    check(not errors, "%d failures, first: %r" % (len(errors), errors[:5]))
    check(counts["fresh"] > 50 and counts["keepalive"] > 50, "load was applied: %r" % counts)
    sup_wait(lambda: all(w["generation"] == 11 for w in (sup_status(s) or {"workers": [0]})["workers"]),
             15, "only generation 11 workers left")
    check(len(sup_workers(s)) == 2, "two workers")
    print("counts: %r" % counts)
finally:
    s.stop()
print("ok")
