#!/usr/bin/env python3
"""Slowloris: 300 connections that trickle a request one byte at a time (half of them a
request line that never ends, half a header block that never ends) are all cut at
timeouts.header, counted from their first byte, however often they send; meanwhile one worker
keeps answering normal requests on fresh connections with their usual latency."""
import json, os, selectors, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

N_LINE, N_HEADERS = 150, 150
HEADER_T = 1.5
SLACK = 1.0           # a cut later than HEADER_T + SLACK after the first byte is a failure
EARLY = 0.01          # ... and one sooner than HEADER_T - EARLY fired early (the loop counts in ms)
BYTE_EVERY = 0.2      # each socket sends one byte this often
MEDIAN_MS, MAX_MS = 50, 200
FILES = {"a.txt": b"file a\n" * 100}


def attack(port, report):
    """Runs in a child process (so its Python work does not slow the measuring client down).
    Writes "connected" once every socket is open, then one JSON line: per socket its kind and
    the seconds from its first byte to the server's close (None: never closed)."""
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(N_LINE + N_HEADERS):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if i < N_LINE:
            kind, first, trickle = "line", b"G", b"ET /" + b"a" * 200
        else:
            kind, first, trickle = "headers", b"GET /a.txt HTTP/1.1\r\nHost: a\r\n", \
                                   b"X-a: b\r\n" * 40
        s.sendall(first)
        s.setblocking(False)
        st = {"sock": s, "kind": kind, "t0": time.monotonic(), "trickle": trickle, "pos": 0,
              "next": time.monotonic() + BYTE_EVERY * (1 + i % 10) / 10, "closed": None}
        socks.append(st)
        sel.register(s, selectors.EVENT_READ, st)
    os.write(report, b"connected\n")
    open_n = len(socks)
    deadline = time.monotonic() + HEADER_T + SLACK + 4

    def gone(st):
        nonlocal open_n
        st["closed"] = time.monotonic() - st["t0"]
        sel.unregister(st["sock"])
        st["sock"].close()
        open_n -= 1

    while open_n and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.02):
            st = key.data
            try:
                if not st["sock"].recv(65536):  # a 408 before the close is fine: read on
                    gone(st)
            except (ConnectionResetError, BrokenPipeError):
                gone(st)
            except BlockingIOError:
                pass
        now = time.monotonic()
        for st in socks:
            if st["closed"] is None and now >= st["next"]:
                try:
                    st["sock"].send(st["trickle"][st["pos"]:st["pos"] + 1])
                    st["pos"] = (st["pos"] + 1) % len(st["trickle"])
                except (ConnectionResetError, BrokenPipeError):
                    gone(st)
                except BlockingIOError:
                    pass
                st["next"] = now + BYTE_EVERY
    out = [{"kind": st["kind"], "closed": st["closed"]} for st in socks]
    os.write(report, (json.dumps(out) + "\n").encode())


def main():
    settings = {
        "limits": "{ max_connections = 2000; max_header_bytes = 8192; keepalive_requests = 100; }",
        "timeouts": "{ graceful = 5.0; keepalive = 5.0; header = %.1f; send = 10.0; }" % HEADER_T}
    passed, failed = 0, []

    def case(ok, msg):
        nonlocal passed
        if ok:
            passed += 1
            print("ok   " + msg, flush=True)
        else:
            failed.append(msg)
            print("FAIL " + msg, flush=True)

    with remove_at_exit(Server(settings=settings, files=FILES)) as s:
        pid = only_worker(s)
        for _ in range(5):  # warm: the file is in the cache before latencies are measured
            check(request(s.port, "/a.txt").status == 200, "warm-up request")
        base_fds = proc_fd_count(pid)
        rfd, wfd = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(rfd)
            code = 0
            try:
                attack(s.port, wfd)
            except BaseException as e:
                os.write(wfd, ("error %s: %s\n" % (type(e).__name__, e)).encode())
                code = 1
            os._exit(code)
        os.close(wfd)
        reader = os.fdopen(rfd, "rb")
        first = reader.readline().decode()
        check(first == "connected\n", "attacker: %r" % first)
        t_attack = time.monotonic()
        lat, errors, peak = [], [], 0
        # Normal clients, one after another on fresh connections, for the attack's duration.
        while time.monotonic() - t_attack < HEADER_T + 0.8:
            t0 = time.monotonic()
            try:
                r = request(s.port, "/a.txt")
                if r.status != 200 or r.body != FILES["a.txt"]:
                    errors.append("status %d, %d bytes" % (r.status, len(r.body)))
            except (OSError, EOFError) as e:
                errors.append("%s: %s" % (type(e).__name__, e))
            lat.append((time.monotonic() - t0) * 1000)
            # The slowloris sockets are the worker's (accepted, not waiting in the backlog).
            peak = max(peak, proc_fd_count(pid) - base_fds)
            time.sleep(0.01)
        result = reader.readline().decode()
        os.waitpid(child, 0)
        if not result.startswith("["):
            fail("attacker failed: %r" % result)
        socks = json.loads(result)
        lat.sort()
        median, worst = lat[len(lat) // 2], lat[-1]
        case(not errors, "normal requests during the attack all served (%d requests, errors %r)"
             % (len(lat), errors[:3]))
        case(len(lat) >= 10 and median < MEDIAN_MS and worst < MAX_MS,
             "normal request latency during the attack: median %.1f ms (< %d), max %.1f ms (< %d),"
             " %d requests" % (median, MEDIAN_MS, worst, MAX_MS, len(lat)))
        case(peak >= N_LINE + N_HEADERS,
             "the worker held the slowloris connections mid-attack (%d descriptors more than "
             "before)" % peak)
        for kind in ("line", "headers"):
            times = [x["closed"] for x in socks if x["kind"] == kind]
            never = sum(1 for t in times if t is None)
            closed = sorted(t for t in times if t is not None)
            case(never == 0 and closed and closed[-1] <= HEADER_T + SLACK,
                 "%d slowloris (%s) sockets cut within header + %.1fs: %d never cut, latest %s"
                 % (len(times), kind, SLACK, never, "%.2fs" % closed[-1] if closed else "-"))
            case(closed and closed[0] >= HEADER_T - EARLY,
                 "slowloris (%s) sockets cut at the header timeout, not before: earliest %s"
                 % (kind, "%.2fs" % closed[0] if closed else "-"))
        case(only_worker(s) == pid, "the same worker (pid %d) after the attack" % pid)
        left = wait_for(lambda: proc_fd_count(pid) <= base_fds, 3) or proc_fd_count(pid)
        case(left is True, "the worker's descriptors back to %d after the attack (now %s)"
             % (base_fds, proc_fd_count(pid)))
        if failed:
            print("server log (last lines):\n  " + "\n  ".join(drain_log(s)[-15:]), flush=True)
    print("%d passed, %d failed" % (passed, len(failed)), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
