#!/usr/bin/env python3
"""Huge numbers and hostile bytes: a Range past 2^64 or with hundreds of parts is ignored or
clamped (200/206); a Content-Length or chunk size past 2^64 is a 400; an overlong header line
and thousands of tiny headers over max_header_bytes are a 431 (under it: served); NUL bytes in
the request line or a header value are a 400; invalid UTF-8 and control characters in a path
get a clear 4xx, never a 5xx; the same worker serves throughout; and the access log holds no
raw control byte or 0xff, only \\xHH escapes."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

MAX_HEADER = 4096
RBIN = bytes(range(256)) * 4   # 1024 bytes for the Range cases
FILES = {"a.txt": b"file a\n", "r.bin": RBIN, "dir/x.txt": b"x\n"}


def one(s, data, what, timeout=3.0):
    """Exactly one response to raw bytes (the connection may stay open); returns it."""
    rs, _, rest = exchange(s.port, data, timeout=timeout)
    expect(len(rs) >= 1, "%s: no response (leftover %r)" % (what, rest[:80]))
    return rs[0]


def expect_range_ok(r, what):
    """200 with the whole file, or a 206 whose body matches its Content-Range."""
    expect(r.status in (200, 206), "%s: status %d, expected 200 or 206" % (what, r.status))
    if r.status == 200:
        expect_eq(r.body, RBIN, what + ": 200 body")
        return
    cr = r.header("content-range", "")
    m = re.match(r"bytes (\d+)-(\d+)/(\d+)$", cr)
    expect(m is not None, "%s: 206 with Content-Range %r" % (what, cr))
    a, b, n = map(int, m.groups())
    expect(n == len(RBIN) and a <= b < n, "%s: Content-Range %r" % (what, cr))
    expect_eq(r.body, RBIN[a:b + 1], what + ": 206 body")


def test_range_past_2_64(s):
    for v in ("bytes=0-99999999999999999999999", "bytes=99999999999999999999999-",
              "bytes=-99999999999999999999999", "bytes=18446744073709551615-",
              "bytes=0-18446744073709551615", "bytes=18446744073709551616-0"):
        r = request(s.port, "/r.bin", headers={"Range": v})
        if r.status == 416:  # a start past the end is unsatisfiable: a valid answer too
            expect(v.startswith("bytes=1") or v.startswith("bytes=9"), "%s: 416" % v)
            continue
        expect_range_ok(r, "Range: " + v)


def test_range_hundreds_of_parts(s):
    shapes = {
        "500 disjoint": ",".join("%d-%d" % (2 * i, 2 * i) for i in range(500)),
        "400 overlapping": ",".join("0-%d" % i for i in range(400)),
        "300 open": ",".join(["0-"] * 300),
        "300 suffixes": ",".join(["-1"] * 300),
        "empty elements": "," * 1000 + "0-1",
    }
    for what, spec in shapes.items():
        r = request(s.port, "/r.bin", headers={"Range": "bytes=" + spec})
        expect_range_ok(r, "Range with " + what)


def test_content_length_past_2_64(s):
    for v in (b"99999999999999999999999", b"18446744073709551616", b"18446744073709551615"):
        rs, closed, _ = exchange(s.port, b"GET /a.txt HTTP/1.1\r\nHost: a\r\nContent-Length: "
                                 + v + b"\r\n\r\nhello")
        st = [r.status for r in rs]
        if v == b"18446744073709551615":
            # fits in 64 bits: a 400, or the head answered and the body awaited/refused
            expect(st in ([400], [200]), "Content-Length: 2^64-1: got %r" % st)
            continue
        expect_eq(st, [400], "Content-Length: %s" % v.decode())
        expect(closed, "Content-Length: %s: connection left open" % v.decode())


def test_chunk_size_past_2_64(s):
    for size in (b"ffffffffffffffffffff", b"10000000000000000", b"1" + b"0" * 40):
        rs, closed, _ = exchange(s.port, b"GET /a.txt HTTP/1.1\r\nHost: a\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n" + size + b"\r\nhello\r\n")
        st = [r.status for r in rs]
        # The head may be answered before the body is read; the body must then be refused.
        expect(st in ([400], [200, 400]), "chunk size %s: got %r" % (size.decode(), st))
        expect(closed, "chunk size %s: connection left open" % size.decode())


def test_overlong_header_line(s):
    for n in (MAX_HEADER, MAX_HEADER * 4, 100000):
        r = one(s, http_req("GET", "/a.txt", {"X-Long": "v" * n}), "header of %d bytes" % n)
        expect_eq(r.status, 431, "one header line of %d bytes" % n)
    r = one(s, http_req("GET", "/a.txt", {"X-" + "n" * MAX_HEADER: "v"}), "long header name")
    expect_eq(r.status, 431, "a header name of %d bytes" % MAX_HEADER)


def test_thousands_of_tiny_headers(s):
    under = [("Connection", "close")] + [("a", "b")] * ((MAX_HEADER - 200) // 6)  # 6 bytes each
    r = one(s, http_req("GET", "/a.txt", under), "%d tiny headers" % len(under))
    expect_eq((r.status, r.body), (200, FILES["a.txt"]),
              "%d tiny headers within max_header_bytes" % len(under))
    for n in (MAX_HEADER // 6 + 50, 5000):
        r = one(s, http_req("GET", "/a.txt", [("a", "b")] * n), "%d tiny headers" % n)
        expect_eq(r.status, 431, "%d tiny headers over max_header_bytes" % n)
    r = one(s, http_req("GET", "/a.txt", [("x%d" % i, "") for i in range(3000)]),
            "3000 empty headers")
    expect_eq(r.status, 431, "3000 empty headers over max_header_bytes")


def test_nul_bytes(s):
    for what, data in (("in the path", b"GET /a\x00.txt HTTP/1.1\r\nHost: a\r\n\r\n"),
                       ("in the method", b"G\x00ET /a.txt HTTP/1.1\r\nHost: a\r\n\r\n"),
                       ("in the version", b"GET /a.txt HTTP/1.\x001\r\nHost: a\r\n\r\n"),
                       ("in a header value", b"GET /a.txt HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n"),
                       ("in the Host value", b"GET /a.txt HTTP/1.1\r\nHost: a\x00\r\n\r\n"),
                       ("in a header name", b"GET /a.txt HTTP/1.1\r\nHost: a\r\nX\x00Y: b\r\n\r\n")):
        rs, closed, _ = exchange(s.port, data)
        expect_eq([r.status for r in rs], [400], "NUL byte " + what)
        expect(closed, "NUL byte %s: connection left open after the 400" % what)


BAD_PATHS = [b"/%C0%AF", b"/%C0%AFa.txt", b"/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
             b"/a.txt%C0", b"/%FF%FE", b"/%ED%A0%80", b"/\xff", b"/a\xffb.txt", b"/\xc0\xaf",
             b"/%01", b"/a%01.txt", b"/%00", b"/a.txt%00.html", b"/%0d%0aX-Injected:%20yes",
             b"/%1b[31m", b"/%7f", b"/\x01", b"/a\x7f.txt", b"/dir/%2e%2e/%2e%2e/etc/passwd",
             b"/" + b"%ff" * 300]


def test_bad_bytes_in_paths(s):
    for path in BAD_PATHS:
        rs, closed, rest = exchange(s.port, b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n"
                                    b"Connection: close\r\n\r\n")
        expect(len(rs) == 1, "GET %r: no response (closed %s, leftover %r)"
               % (path[:40], closed, rest[:60]))
        st = rs[0].status
        expect(400 <= st < 500, "GET %r: status %d, expected a 4xx" % (path[:40], st))
        expect(b"root:" not in rs[0].body, "GET %r: served /etc/passwd" % path[:40])
        expect("x-injected" not in rs[0].headers, "GET %r: header injected" % path[:40])


def test_same_worker_still_serving(s):
    expect_eq(only_worker(s), s.first_worker, "worker pid after the hostile requests")
    r = request(s.port, "/a.txt")
    expect_eq((r.status, r.body), (200, FILES["a.txt"]), "a normal request afterwards")


def test_access_log_escaped(s):
    """Every byte of the log is printable ASCII or a newline; the bad paths show escaped."""
    path = os.path.join(s.dir, "access.log")
    marker = "/log-end-%d" % os.getpid()
    request(s.port, marker)  # the last line: once it is there, the earlier ones are too

    def read_when_done():
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        return data if marker.encode() in data else None
    data = wait_for(read_when_done, 8)
    expect(data is not None, "access log has no line for %s within 8 s" % marker)
    bad = sorted({c for c in data if c != 0x0a and not 0x20 <= c <= 0x7e})
    expect(not bad, "raw bytes %r in the access log" % [hex(c) for c in bad])
    lines = data.split(b"\n")
    expect(any(b"\\xff" in l or b"\\xFF" in l for l in lines),
           "the raw 0xff request does not show escaped as \\xff in the log")
    expect(not any(l.startswith(b"X-Injected") for l in lines), "a forged log line")


def main():
    settings = {"access_log": '"access.log"',
                "limits": "{ max_connections = 1000; max_header_bytes = %d; "
                          "keepalive_requests = 100; }" % MAX_HEADER}
    with remove_at_exit(Server(settings=settings, files=FILES)) as s:
        s.first_worker = only_worker(s)
        results = [run_cases(s, [
            test_range_past_2_64, test_range_hundreds_of_parts, test_content_length_past_2_64,
            test_chunk_size_past_2_64, test_overlong_header_line, test_thousands_of_tiny_headers,
            test_nul_bytes, test_bad_bytes_in_paths, test_same_worker_still_serving,
            test_access_log_escaped])]
    finish(results)


if __name__ == "__main__":
    main()
