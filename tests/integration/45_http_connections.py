#!/usr/bin/env python3
"""Connections: HTTP/1.1 keep-alive by default; HTTP/1.0 closes unless Connection: keep-alive;
Connection: close honoured; pipelining answered in order; limits.keepalive_requests ends a
connection with Connection: close; request bodies on GET (Content-Length and chunked) are read
and discarded; no Host on HTTP/1.1 is a 400; CL+TE or two Content-Lengths: 400 and close."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

FILES = {"a.txt": b"file a\n", "b.txt": b"file b, longer\n", "c.txt": b"c" * 5000}
KEEPALIVE_REQUESTS = 5


def expect_file(r, name, what):
    expect_eq((r.status, r.body), (200, FILES[name]), "%s: GET /%s" % (what, name))


def conn_header(r):
    return (r.header("connection") or "").lower()


def test_keepalive_default(s):
    c = Conn(s.port)
    try:
        for name in ("a.txt", "b.txt", "c.txt"):
            r = roundtrip(c, "GET", "/" + name)
            expect_file(r, name, "HTTP/1.1 keep-alive")
            expect_eq(r.version, "HTTP/1.1", "response version")
            expect("close" not in conn_header(r), "Connection: close on a keep-alive request")
        expect(not c.closed_by_peer(0.3), "server closed an idle HTTP/1.1 connection at once")
    finally:
        c.close()


def test_http10_closes(s):
    c = Conn(s.port)
    try:
        r = roundtrip(c, "GET", "/a.txt", version="HTTP/1.0", host=None)
        expect_file(r, "a.txt", "HTTP/1.0")
        expect("keep-alive" not in conn_header(r), "HTTP/1.0 answered with keep-alive")
        expect(c.closed_by_peer(2), "HTTP/1.0 connection without keep-alive not closed")
    finally:
        c.close()


def test_http10_keepalive(s):
    c = Conn(s.port)
    try:
        for name in ("a.txt", "b.txt"):
            r = roundtrip(c, "GET", "/" + name, {"Connection": "keep-alive"}, version="HTTP/1.0")
            expect_file(r, name, "HTTP/1.0 keep-alive")
            expect_eq(conn_header(r), "keep-alive", "HTTP/1.0 keep-alive response Connection")
        expect(not c.closed_by_peer(0.3), "HTTP/1.0 keep-alive connection closed")
    finally:
        c.close()


def test_connection_close(s):
    c = Conn(s.port)
    try:
        r = roundtrip(c, "GET", "/a.txt", {"Connection": "close"})
        expect_file(r, "a.txt", "Connection: close")
        expect(c.closed_by_peer(2), "server did not close after Connection: close")
    finally:
        c.close()


def test_pipelining(s):
    c = Conn(s.port)
    try:
        order = ["a.txt", "c.txt", "HEAD c.txt", "b.txt"]  # < keepalive_requests
        data = b""
        for item in order:
            m, name = item.split(" ") if " " in item else ("GET", item)
            data += http_req(m, "/" + name)
        c.send(data)
        for item in order:
            if item.startswith("HEAD"):
                r = c.read_response(head=True)
                expect_eq((r.status, r.header("content-length")), (200, "5000"), "pipelined HEAD")
            else:
                expect_file(c.read_response(), item, "pipelined")
    finally:
        c.close()


def test_pipelined_answers_do_not_wait_for_an_unfinished_request(s):
    """Answers to pipelined requests may be gathered into one write, but never held for a
    request whose bytes have not all arrived: the client may wait for them first."""
    c = Conn(s.port, timeout=2)
    try:
        c.send(http_req("GET", "/a.txt") + http_req("GET", "/b.txt") + b"GET /c.txt HTTP/1.1\r\nHo")
        expect_file(c.read_response(), "a.txt", "first of a pipelined batch")
        expect_file(c.read_response(), "b.txt", "second, with a third still unfinished")
        c.send(b"st: 127.0.0.1\r\n\r\n")
        expect_file(c.read_response(), "c.txt", "the third, once complete")
    finally:
        c.close()
    # Many small answers in one batch, more than one gathering buffer holds (32 KiB), on a
    # server that allows that many requests per connection.
    big = Server(files=FILES, settings={"limits": "{ keepalive_requests = 1000; }"})
    with big:
        c = Conn(big.port, timeout=5)
        try:
            n = 200
            c.send(b"".join(http_req("GET", "/a.txt" if i % 2 else "/b.txt") for i in range(n)))
            for i in range(n):
                expect_file(c.read_response(), "a.txt" if i % 2 else "b.txt", "batched %d" % i)
        finally:
            c.close()


def test_answers_not_held_for_bytes_that_are_no_request(s):
    """An answer from memory (a cached file, an error page) may wait to share a write with the
    next pipelined answer, but only while a next request is coming: bytes after a request
    that look like one (a body holding CRLF CRLF, as every multipart form does; blank lines)
    must not hold it back. The client waits 2 s; the server's own timeouts are 5 s."""
    body = b"--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nvalue\r\n--B--\r\n"
    cases = [
        ("GET of a cached file with a body holding CRLF CRLF", "GET", 200,
         http_req("GET", "/a.txt", {"Content-Length": 7}, body=b"x\r\n\r\nyz"), b""),
        ("POST of a multipart form (405)", "POST", 405,
         http_req("POST", "/a.txt", {"Content-Type": "multipart/form-data; boundary=B",
                                     "Content-Length": len(body)}, body=body), b""),
        ("GET of a cached file followed by blank lines", "GET", 200,
         http_req("GET", "/a.txt") + b"\r\n\r\n", b""),
        ("POST whose body has only partly arrived (405)", "POST", 405,
         http_req("POST", "/a.txt", {"Content-Length": len(body)}, body=body[:50]), body[50:]),
    ]
    for what, method, status, data, rest in cases:
        c = Conn(s.port, timeout=2)
        try:
            expect_file(roundtrip(c, "GET", "/a.txt"), "a.txt", what + ": warm-up")
            c.send(data)
            try:
                r = c.read_response()
            except socket.timeout:
                raise CaseFailed("%s: no answer within 2 s" % what)
            expect_eq(r.status, status, what)
            if status == 200:
                expect_file(r, "a.txt", what)
            # In sync afterwards: the rest of the body, then a request on the same connection.
            c.send(rest + http_req("GET", "/b.txt"))
            expect_file(c.read_response(), "b.txt", what + ": the next request")
        finally:
            c.close()


def test_expect_100_continue_closes(s):
    """A client that waits to be asked for its body (Expect: 100-continue) gets the final
    answer instead and never sends the body: the answer closes the connection, or the
    client's next request would be read as that body."""
    for method, status in (("GET", 200), ("POST", 405)):
        what = "%s with Expect: 100-continue and its body not sent" % method
        c = Conn(s.port, timeout=2)
        try:
            c.send(http_req(method, "/a.txt", {"Expect": "100-continue", "Content-Length": 10}))
            r = c.read_response()
            expect_eq((r.status, conn_header(r)), (status, "close"), what)
            expect(c.closed_by_peer(2), what + ": connection left open")
        finally:
            c.close()
    # Without a body there is nothing to wait for: the connection stays.
    c = Conn(s.port, timeout=2)
    try:
        r = roundtrip(c, "GET", "/a.txt", {"Expect": "100-continue"})
        expect_file(r, "a.txt", "GET with Expect and no body")
        expect("close" not in conn_header(r), "GET with Expect and no body closed")
    finally:
        c.close()


def test_idle_worker_sleeps(s):
    """Workers poll briefly for the next event before they sleep (idle_poll_us), but only
    while events come quickly: after a burst, an idle worker uses no CPU."""
    pids = sup_workers(s)
    c = Conn(s.port)
    try:
        for _ in range(KEEPALIVE_REQUESTS - 1):
            expect_file(roundtrip(c, "GET", "/a.txt"), "a.txt", "burst")
    finally:
        c.close()
    def ticks():  # utime + stime of the workers
        total = 0
        for p in pids:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total
    before = ticks()
    time.sleep(1.0)  # the quantity measured is the CPU used while nothing happens
    used = ticks() - before
    expect(used <= 5, "an idle worker used %d clock ticks in 1 s" % used)


def test_keepalive_requests_limit(s):
    c = Conn(s.port)
    try:
        for i in range(1, KEEPALIVE_REQUESTS + 1):
            r = roundtrip(c, "GET", "/a.txt")
            expect_file(r, "a.txt", "request %d of %d" % (i, KEEPALIVE_REQUESTS))
            if i < KEEPALIVE_REQUESTS:
                expect("close" not in conn_header(r), "request %d already says close" % i)
        expect_eq(conn_header(r), "close", "Connection header of request %d (the limit)" % i)
        expect(c.closed_by_peer(2), "socket still open after keepalive_requests responses")
    finally:
        c.close()


def test_keepalive_requests_limit_pipelined(s):
    c = Conn(s.port)
    try:
        c.send(http_req("GET", "/b.txt") * (KEEPALIVE_REQUESTS + 2))
        for i in range(KEEPALIVE_REQUESTS):
            r = c.read_response()
            expect_file(r, "b.txt", "pipelined request %d" % (i + 1))
        expect_eq(conn_header(r), "close", "last allowed pipelined response")
        c.sock.settimeout(2)
        try:
            c._fill()
            extra = c.buf
        except (EOFError, ConnectionResetError):
            extra = c.buf
        except socket.timeout:
            raise CaseFailed("connection still open 2 s after the keepalive_requests-th response")
        expect_eq(extra, b"", "bytes after the keepalive_requests-th response")
    finally:
        c.close()


def test_get_body_content_length(s):
    c = Conn(s.port)
    try:
        body = b"ignored body " * 10
        c.send(http_req("GET", "/a.txt", {"Content-Length": len(body)}, body=body)
               + http_req("GET", "/b.txt"))
        expect_file(c.read_response(), "a.txt", "GET with a body")
        expect_file(c.read_response(), "b.txt", "request after a GET with a body")
        # The body in pieces after the head (the server may answer before or after it).
        c.send(http_req("GET", "/a.txt", {"Content-Length": len(body)}))
        c.send(body[:7])
        c.send(body[7:] + http_req("GET", "/c.txt"))
        expect_file(c.read_response(), "a.txt", "GET whose body comes in pieces")
        expect_file(c.read_response(), "c.txt", "request after a body in pieces")
    finally:
        c.close()


def test_get_body_chunked(s):
    c = Conn(s.port)
    try:
        chunked = b"5\r\nhello\r\n1a\r\n" + b"z" * 26 + b"\r\n0\r\n\r\n"
        c.send(http_req("GET", "/a.txt", {"Transfer-Encoding": "chunked"}, body=chunked)
               + http_req("GET", "/b.txt"))
        expect_file(c.read_response(), "a.txt", "GET with a chunked body")
        expect_file(c.read_response(), "b.txt", "request after a chunked body")
    finally:
        c.close()


def test_http11_without_host_400(s):
    r, _ = raw_request(s.port, http_req("GET", "/a.txt", host=None))
    expect(r is not None, "HTTP/1.1 without Host: connection closed without a response")
    expect_eq(r.status, 400, "HTTP/1.1 without Host")
    r, _ = raw_request(s.port, http_req("GET", "/a.txt", host=None, version="HTTP/1.0"))
    expect_eq((r.status, r.body), (200, FILES["a.txt"]), "HTTP/1.0 without Host")


def test_smuggling_400_and_close(s):
    for what, hdrs in (
            ("Content-Length + Transfer-Encoding",
             [("Content-Length", "5"), ("Transfer-Encoding", "chunked")]),
            ("two different Content-Lengths", [("Content-Length", "5"), ("Content-Length", "6")])):
        r, closed = raw_request(s.port, http_req("GET", "/a.txt", hdrs, body=b"0\r\n\r\n")
                                + http_req("GET", "/b.txt"))
        expect(r is not None, what + ": connection closed without a 400")
        expect_eq(r.status, 400, what)
        expect(closed, what + ": connection left open after the 400")


def main():
    settings = {"limits": "{ max_connections = 100; max_header_bytes = 8192; "
                          "keepalive_requests = %d; }" % KEEPALIVE_REQUESTS}
    with remove_at_exit(Server(settings=settings, files=FILES)) as s:
        res = run_cases(s, [test_keepalive_default, test_http10_closes, test_http10_keepalive,
                            test_connection_close, test_pipelining,
                            test_pipelined_answers_do_not_wait_for_an_unfinished_request,
                            test_answers_not_held_for_bytes_that_are_no_request,
                            test_expect_100_continue_closes,
                            test_idle_worker_sleeps,
                            test_keepalive_requests_limit,
                            test_keepalive_requests_limit_pipelined, test_get_body_content_length,
                            test_get_body_chunked, test_http11_without_host_400,
                            test_smuggling_400_and_close])
    finish([res])


if __name__ == "__main__":
    main()
