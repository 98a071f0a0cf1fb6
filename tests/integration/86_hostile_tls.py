#!/usr/bin/env python3
"""Hostile TLS clients: a handshake slowloris (a ClientHello trickled a byte at a time, and a
full ClientHello whose sender never finishes the handshake) is cut at timeouts.header from
the accept, however often it sends; a connection that completes the handshake and never
sends a request is cut the same way; one that asks for a large file and reads nothing is cut
at timeouts.send; garbage instead of a ClientHello is closed at once. A
normal HTTPS client is served meanwhile, and the failures are counted in status."""
import os, selectors, ssl, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from tlscerts import *

HEADER_T = 1.0
SEND_T = 1.0
SLACK = 1.0
N = 40


def client_hello(ca):
    """The bytes of a real ClientHello, from Python's ssl with memory BIOs."""
    ctx = client_context(ca)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def closed_within(socks, limit):
    """Waits for every socket to be closed by the server; returns each one's close time
    (time.monotonic(); None when it stayed open past limit)."""
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    when = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    while len(when) < len(socks) and time.monotonic() - t0 < limit:
        for key, _ in sel.select(0.05):
            try:
                data = key.fileobj.recv(65536)
            except (ConnectionResetError, BlockingIOError):
                data = b"" if not isinstance(sys.exc_info()[1], BlockingIOError) else None
            if data == b"":
                when[key.fileobj] = time.monotonic()
                sel.unregister(key.fileobj)
    sel.close()
    return [when.get(s) for s in socks]


def main():
    d = tempfile.mkdtemp(prefix="evc-tlshost-")
    ca = make_ca(d)
    cert = make_cert(d, "a", ["DNS:localhost", "IP:127.0.0.1"])
    settings = tls_settings([cert])
    settings["timeouts"] = "{ graceful = 10.0; keepalive = 5.0; header = %.1f; send = %.1f; }" \
        % (HEADER_T, SEND_T)
    s = remove_at_exit(Server(files={"index.html": "hi\n", "big.bin": os.urandom(8 << 20)},
                              settings=settings, workers=1))
    results = []

    def report(ok, what):
        print("%s %s" % ("ok  " if ok else "FAIL", what), flush=True)
        results.append(bool(ok))

    with s:
        hello = client_hello(ca)
        # 1. a ClientHello trickled a byte every 0.1 s, and a full one never followed up
        t_conn = time.monotonic()
        trickle = [connect(s.port) for _ in range(N)]
        stall = [connect(s.port) for _ in range(N)]
        t_conn_end = time.monotonic()
        for c in stall:
            c.sendall(hello)
        t0 = time.monotonic()
        served = []
        i = 0
        while time.monotonic() - t0 < HEADER_T - 0.2:
            for c in trickle:
                try:
                    c.send(hello[i:i + 1])
                except OSError:
                    pass
            i += 1
            c = TlsConn(s.port, ca)
            t = time.monotonic()
            r = roundtrip(c, path="/index.html", host="localhost")
            served.append((r.status, time.monotonic() - t))
            c.close()
            time.sleep(0.1)
        times = closed_within(trickle + stall, HEADER_T + SLACK + 1)
        late = [t for t in times if t is None or t - t_conn > HEADER_T + SLACK]
        early = [t for t in times if t is not None and t - t_conn_end < HEADER_T - 0.05]
        report(not late and not early,
               "%d handshake slowloris connections cut at the header timeout (%.1f s): %d late, "
               "%d early" % (len(times), HEADER_T, len(late), len(early)))
        # the median also catches the answer that waits for a delayed ACK of the session
        # ticket (Nagle: 40 ms), which TCP_NODELAY on TLS connections prevents
        lat = sorted(dt for _, dt in served)
        report(served and all(st == 200 and dt < 0.5 for st, dt in served) and
               lat[len(lat) // 2] < 0.025,
               "a normal client served meanwhile, median %.1f ms: %r" %
               (lat[len(lat) // 2] * 1000 if lat else -1, served[:5]))
        for c in trickle + stall:
            c.close()

        # 2. a handshake done, no request: the same header timeout
        c = TlsConn(s.port, ca)
        t = time.monotonic()
        closed = c.closed_by_peer(HEADER_T + SLACK + 1)
        dt = time.monotonic() - t
        report(closed and dt < HEADER_T + SLACK, "an idle TLS connection cut after %.2f s" % dt)
        c.close()

        # 2b. a TLS client that asks for 8 MiB and reads nothing: cut at the send timeout
        def open_conns():
            st = sup_status(s)
            return sum(w["connections"] for w in st["workers"]) if st else -1
        c = TlsConn(s.port, ca)
        c.send(http_req(path="/big.bin", host="localhost"))
        t = time.monotonic()
        seen = wait_for(lambda: open_conns() >= 1, 3)  # status shows it (pongs every 0.5 s)
        gone = wait_for(lambda: open_conns() == 0, SEND_T + SLACK + 2)
        dt = time.monotonic() - t
        report(seen and gone and SEND_T - 0.1 < dt < SEND_T + SLACK + 1,
               "a TLS client that reads nothing is cut at the send timeout (%.2f s)" % dt)
        c.close()

        # 3. garbage instead of a ClientHello: closed at once, nothing answered
        for junk in (os.urandom(600), b"\x16\x03\x01\x00\x05garbagegarbage" * 10,
                     b"\x16\x03\x03\xff\xff" + os.urandom(100), b"\x00" * 64):
            responses, closed, rest = exchange(s.port, junk, timeout=HEADER_T * 0.8)
            report(closed and not responses and not rest.startswith(b"HTTP"),
                   "garbage %r... closed before the header timeout" % junk[:6])
        c = TlsConn(s.port, ca)
        report(roundtrip(c, path="/index.html", host="localhost").status == 200,
               "still serving")
        c.close()
        fails = wait_for(lambda: sum(w["tls"]["failed"] for w in sup_status(s)["workers"]) >= 4
                         and True, 5)
        report(fails, "handshake failures counted in status")
    print("%d passed, %d failed" % (results.count(True), results.count(False)))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
