#!/usr/bin/env python3
"""The admin listener against hostile clients. Garbage (binary bytes, bad request lines,
unknown versions, an oversized head, a body) gets 400, 405 or 431 and a close, never a hang
or a crash. Slowloris: clients that trickle a byte at a time fill the admin's connection
limit; one more gets 503 at once, each trickler is cut within the admin's read deadline
(5 s, whatever it sends), and meanwhile the supervisor keeps serving the CLI, the workers
keep serving and keep answering health pings (none is killed). Afterwards /healthz is 200."""
import os, random, socket, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from admintest import *

MAX_CLIENTS = 16   # ADMIN_MAX_CLIENTS
READ_LIMIT = 5.0   # ADMIN_READ_MS


def exchange_raw(port, data, timeout=5.0):
    """Sends data; returns (status or None, closed within timeout)."""
    c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got, closed = send_and_drain(c, data, timeout)
    status = None
    if got.startswith(b"HTTP/1.1 "):
        status = int(got[9:12])
    return status, closed


s = Server(workers=1, files={"a.txt": b"hello\n"}, settings=admin_settings())
try:
    s.start()
    port = admin_port(s)
    worker = sup_workers(s)
    rnd = random.Random(87)
    cases = [
        (b"\x00\x01\x02garbage\r\n\r\n", (400,)),
        (b"GET /healthz HTTP/9.9\r\n\r\n", (400,)),
        (b"GET\r\n\r\n", (400,)),
        (b"GET /healthz\r\n\r\n", (400,)),
        (b"GET healthz HTTP/1.1\r\n\r\n", (400,)),
        (b"GET  /healthz HTTP/1.1\r\n\r\n", (400,)),
        (b"G\x7fT /healthz HTTP/1.1\r\n\r\n", (400,)),
        (b"GET /healthz HTTP/1.1\r\nX: a\x00b\r\n\r\n", (400,)),
        (b"BREW /healthz HTTP/1.1\r\n\r\n", (405,)),
        (b"A" * 5000, (431,)),
        (b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 5000 + b"\r\n\r\n", (431,)),
        (b"GET /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", (200,)),
        (b"GET /healthz HTTP/1.0\n\n", (200,)),
        (bytes(rnd.getrandbits(8) for _ in range(65536)), (400, 431, None)),
        (b"", (None,)),
    ]
    for data, want in cases:
        st, closed = exchange_raw(port, data)
        check(st in want, "%r...: status %r, want %r" % (data[:30], st, want))
        check(closed or data == b"", "%r...: the connection is closed after the answer" % data[:30])
    check(admin_get(port, "/healthz")[0] == 200, "/healthz after the garbage")

    # slowloris: fill the admin's client limit with tricklers
    stop = threading.Event()
    cut = []

    def trickle():
        c = socket.create_connection(("127.0.0.1", port), timeout=1)
        t0 = time.monotonic()
        msg = b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 1000
        try:
            for b in msg:
                if stop.is_set():
                    return
                c.send(bytes([b]))
                time.sleep(0.2)
                try:
                    if c.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b"":
                        break
                except (BlockingIOError, socket.timeout):
                    pass
        except (BrokenPipeError, ConnectionResetError):
            pass
        cut.append(time.monotonic() - t0)
        c.close()

    threads = [threading.Thread(target=trickle) for _ in range(MAX_CLIENTS)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # let every trickler be accepted (they send at once)
    t0 = time.monotonic()
    st, closed = exchange_raw(port, b"GET /healthz HTTP/1.1\r\n\r\n", timeout=3)
    check(st == 503 and closed, "one client over the limit gets 503 at once: %r" % st)
    r = s.cli("status", timeout=5)
    check(r.returncode == 0 and time.monotonic() - t0 < 3, "the CLI is served during slowloris")
    check(request(s.port, "/a.txt").status == 200, "workers serve during slowloris")
    for t in threads:
        t.join(READ_LIMIT + 5)
    stop.set()
    check(len(cut) == MAX_CLIENTS, "every trickler was cut (%d of %d)" % (len(cut), MAX_CLIENTS))
    check(max(cut) < READ_LIMIT + 2, "cut within the read deadline: %.1f s" % max(cut))
    check(admin_get(port, "/healthz")[0] == 200, "/healthz after slowloris")
    check(sup_workers(s) == worker, "no worker was killed or replaced meanwhile")
    print("ok: %d tricklers cut after %.1f-%.1f s" % (len(cut), min(cut), max(cut)))
finally:
    s.stop()
