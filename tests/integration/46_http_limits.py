#!/usr/bin/env python3
"""Limits and timeouts: oversized headers 431, oversized request line 414, garbage 400 and
close; the header, keep-alive and send timeouts close the connection on time; a worker serves
at most limits.max_connections connections and serves the next one when a slot frees."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

MAX_HEADER = 1024
HEADER_T, KEEPALIVE_T, SEND_T = 1.0, 2.0, 1.0
SLACK = 1.5
EARLY = 0.05  # a timeout may fire this much before its time (ms granularity, client lag), no more
BIG = 24 * 1024 * 1024   # more than the socket buffers of both ends can hold
FILES = {"a.txt": b"small file\n"}


def test_headers_under_limit_ok(s):
    pad = "p" * (MAX_HEADER - 300)
    r, _ = raw_request(s.port, http_req("GET", "/a.txt", {"X-Pad": pad, "Connection": "close"}))
    expect(r is not None, "request of %d header bytes: no response" % (len(pad) + 60))
    expect_eq((r.status, r.body), (200, FILES["a.txt"]), "headers just under max_header_bytes")


def test_headers_too_large_431(s):
    for what, hdrs in (("one large header", {"X-Big": "a" * (MAX_HEADER + 500)}),
                       ("many headers", [("X-H%02d" % i, "v" * 30) for i in range(50)])):
        r, _ = raw_request(s.port, http_req("GET", "/a.txt", hdrs))
        expect(r is not None, what + ": connection closed without a 431")
        expect_eq(r.status, 431, what + " beyond max_header_bytes")


def test_request_line_too_long_414(s):
    r, _ = raw_request(s.port, http_req("GET", "/" + "a" * (MAX_HEADER + 500)))
    expect(r is not None, "long request line: connection closed without a 414")
    expect_eq(r.status, 414, "request line longer than max_header_bytes")


def test_garbage_400_and_close(s):
    for what, data in (("binary", b"\x00\x01\x02garbage\xff\r\n\r\n"),
                       ("TLS hello",
                        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40),
                       ("bad version", b"GET / HTTX/1.1\r\nHost: x\r\n\r\n")):
        r, closed = raw_request(s.port, data)
        expect(r is not None, what + ": connection closed without a 400")
        expect_eq(r.status, 400, what + " garbage")
        expect(closed, what + ": connection left open after the 400")


def test_header_timeout(s):
    c = Conn(s.port)
    try:
        c.send(b"GET /a.t")
        t = time_until_closed(c, HEADER_T + 5)
        expect(t is not None, "half a request line: not closed within %.1fs" % (HEADER_T + 5))
        expect(HEADER_T - EARLY <= t <= HEADER_T + SLACK,
               "half a request line closed after %.2fs, expected about %.1fs" % (t, HEADER_T))
    finally:
        c.close()


def test_silent_connection_closed(s):
    c = Conn(s.port)
    try:
        t = time_until_closed(c, KEEPALIVE_T + 5)
        expect(t is not None, "a connection that sends nothing is never closed")
        expect(HEADER_T - EARLY <= t <= max(HEADER_T, KEEPALIVE_T) + SLACK,
               "silent connection closed after %.2fs" % t)
    finally:
        c.close()


def test_keepalive_timeout(s):
    c = Conn(s.port)
    try:
        r = roundtrip(c, "GET", "/a.txt")
        expect_eq(r.status, 200, "GET before idling")
        t = time_until_closed(c, KEEPALIVE_T + 5)
        expect(t is not None, "idle keep-alive connection not closed")
        expect(KEEPALIVE_T - EARLY <= t <= KEEPALIVE_T + SLACK,
               "idle keep-alive connection closed after %.2fs, timeouts.keepalive = %.1f"
               % (t, KEEPALIVE_T))
    finally:
        c.close()


def test_send_timeout(s):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", s.port))
    try:
        sock.sendall(http_req("GET", "/big.bin"))
        # The stimulus: a client that stops reading for longer than timeouts.send.
        time.sleep(SEND_T + SLACK)
        got, deadline, reset = 0, time.monotonic() + 20, False
        sock.settimeout(3)
        try:
            while time.monotonic() < deadline:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                got += len(chunk)
        except ConnectionResetError:
            reset = True
        except socket.timeout:
            raise CaseFailed("after the stall the server neither sent nor closed (%d bytes)" % got)
        expect(got < BIG, "the server sent the whole %d bytes to a client that stopped reading "
               "for %.1fs (timeouts.send = %.1f)" % (BIG, SEND_T + SLACK, SEND_T))
        expect(reset or got > 0, "nothing received at all")
    finally:
        sock.close()


def test_max_connections(s2):
    c1, c2 = Conn(s2.port), Conn(s2.port)
    c3 = None
    try:
        expect_eq(roundtrip(c1, "GET", "/a.txt").status, 200, "first connection")
        expect_eq(roundtrip(c2, "GET", "/a.txt").status, 200, "second connection")
        c3 = Conn(s2.port)
        c3.send(http_req("GET", "/a.txt"))
        c3.sock.settimeout(1.0)
        try:
            data = c3.sock.recv(65536)
            expect(data != b"", "third connection closed instead of waiting for a slot")
            raise CaseFailed("third connection served while max_connections = 2 are open: %r"
                             % data[:60])
        except socket.timeout:
            pass
        c1.close()
        c3.sock.settimeout(5)
        t0 = time.monotonic()
        r = c3.read_response()
        expect_eq((r.status, r.body), (200, FILES["a.txt"]), "third connection after one closed")
        expect(time.monotonic() - t0 < 2, "third connection served only after %.2fs"
               % (time.monotonic() - t0))
        expect_eq(roundtrip(c2, "GET", "/a.txt").status, 200, "second connection still served")
    finally:
        for c in (c1, c2, c3):
            if c:
                c.close()


def main():
    results = []
    settings = {
        "limits": "{ max_connections = 100; max_header_bytes = %d; keepalive_requests = 100; }"
                  % MAX_HEADER,
        "timeouts": "{ graceful = 5.0; keepalive = %.1f; header = %.1f; send = %.1f; }"
                    % (KEEPALIVE_T, HEADER_T, SEND_T)}
    s = remove_at_exit(Server(settings=settings, files=FILES))
    s.write_file("big.bin", b"\xab" * BIG)
    with s:
        results.append(run_cases(s, [
            test_headers_under_limit_ok, test_headers_too_large_431,
            test_request_line_too_long_414, test_garbage_400_and_close, test_header_timeout,
            test_silent_connection_closed, test_keepalive_timeout, test_send_timeout]))
    settings = {"limits": "{ max_connections = 2; max_header_bytes = 8192; "
                          "keepalive_requests = 100; }"}
    with remove_at_exit(Server(settings=settings, files=FILES)) as s2:
        results.append(run_cases(s2, [test_max_connections]))
    finish(results)


if __name__ == "__main__":
    main()
