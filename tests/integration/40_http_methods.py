#!/usr/bin/env python3
"""HTTP methods: GET and HEAD serve, HEAD without a body; every other method (POST, PUT,
DELETE, PATCH, OPTIONS) gets 405 with exactly "Allow: GET, HEAD" and the connection stays
usable; a method the parser does not know gets 501 (RFC 9110 9.1) and a close, bytes that are
no request line 400; an HTTP version other than 1.x gets 505."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

A_TXT = b"hello world\n"
INDEX = b"<!doctype html><title>index</title>\n"
ALLOW = {"GET", "HEAD"}


def allow_set(r):
    return {t.strip() for t in (r.header("allow") or "").split(",") if t.strip()}


def test_get(s):
    r = request(s.port, "/a.txt")
    expect_eq(r.status, 200, "GET /a.txt status")
    expect_eq(r.body, A_TXT, "GET /a.txt body")
    expect_eq(r.header("content-length"), str(len(A_TXT)), "GET /a.txt Content-Length")


def test_head_same_headers_no_body(s):
    get = request(s.port, "/a.txt")
    c = Conn(s.port)
    try:
        # HEAD then GET in one send: a body after the HEAD response would corrupt the second.
        c.send(http_req("HEAD", "/a.txt") + http_req("GET", "/index.html"))
        head = c.read_response(head=True)
        expect_eq(head.status, 200, "HEAD /a.txt status")
        for h in ("content-length", "content-type", "etag", "last-modified", "accept-ranges"):
            expect_eq(head.header(h), get.header(h), "HEAD vs GET header %s" % h)
        expect_eq(head.header("content-length"), str(len(A_TXT)), "HEAD Content-Length")
        nxt = c.read_response()
        expect_eq((nxt.status, nxt.body), (200, INDEX),
                  "GET after HEAD on the same connection (HEAD must not send a body)")
        c.sock.settimeout(0.3)
        try:
            extra = c.buf + c.sock.recv(65536)
        except socket.timeout:
            extra = c.buf
        expect_eq(extra, b"", "bytes after the two responses")
    finally:
        c.close()


def test_head_with_curl(s):
    out = subprocess.run(["curl", "-sS", "-I", "--max-time", "5",
                          "http://127.0.0.1:%d/a.txt" % s.port], capture_output=True, text=True)
    expect_eq(out.returncode, 0, "curl -I exit code (stderr %r)" % out.stderr)
    expect("content-length: %d" % len(A_TXT) in out.stdout.lower(),
           "curl -I output lacks Content-Length %d: %r" % (len(A_TXT), out.stdout))


def test_405_for_write_methods(s):
    for m in ("POST", "PUT", "DELETE", "PATCH"):
        body = b"x=1" if m in ("POST", "PUT", "PATCH") else b""
        hdrs = {"Content-Length": str(len(body))} if body else {}
        r = request(s.port, "/a.txt", method=m, headers=hdrs, body=body)
        expect_eq(r.status, 405, "%s /a.txt status" % m)
        expect_eq(r.header("allow"), "GET, HEAD", "%s /a.txt Allow header" % m)


def test_405_keeps_connection_usable(s):
    c = Conn(s.port)
    try:
        r = roundtrip(c, "POST", "/a.txt", {"Content-Length": "3"}, body=b"x=1")
        expect_eq(r.status, 405, "POST status")
        if r.header("connection", "").lower() != "close":
            r2 = roundtrip(c, "GET", "/a.txt")
            expect_eq((r2.status, r2.body), (200, A_TXT), "GET after 405 on one connection")
    finally:
        c.close()


def test_options(s):
    c = Conn(s.port)
    try:
        c.send(http_req("OPTIONS", "/a.txt") + http_req("GET", "/a.txt"))
        r = c.read_response()
        expect_eq(r.status, 405, "OPTIONS /a.txt status")
        expect_eq(allow_set(r), ALLOW, "OPTIONS Allow header %r" % r.header("allow"))
        r2 = c.read_response()
        expect_eq((r2.status, r2.body), (200, A_TXT), "GET after OPTIONS on one connection")
    finally:
        c.close()


def test_unknown_method_501_and_close(s):
    for m in ("FOO", "QUERY", "X-CUSTOM"):
        r, closed = raw_request(s.port, http_req(m, "/a.txt"))
        expect(r is not None, "%s: no response at all (connection closed without one)" % m)
        expect_eq(r.status, 501, "%s /a.txt status" % m)
        expect(closed, "%s: the server kept the connection open after the 501" % m)
    # not a method at all (a TLS handshake on the plain port): a bad request
    r, closed = raw_request(s.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 /\r\n\r\n")
    expect(r is not None and r.status == 400 and closed, "TLS bytes: %r, closed %r" % (r, closed))
    r, closed = raw_request(s.port, http_req("GET", "/a.txt", version="HTTP/2.0"))
    expect(r is not None and r.status == 505 and closed, "HTTP/2.0 request line: %r" % (r,))


def main():
    with remove_at_exit(Server(files={"a.txt": A_TXT, "index.html": INDEX})) as s:
        res = run_cases(s, [test_get, test_head_same_headers_no_body, test_head_with_curl,
                            test_405_for_write_methods, test_405_keeps_connection_usable,
                            test_options, test_unknown_method_501_and_close])
    finish([res])


if __name__ == "__main__":
    main()
