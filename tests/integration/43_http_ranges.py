#!/usr/bin/env python3
"""Byte ranges (RFC 9110 14): single ranges give 206 with Content-Range and exactly those
bytes (first-last, suffix, open, end clamped); unsatisfiable gives 416 with bytes */SIZE;
malformed Range is ignored (200 full); overlapping ranges are coalesced or answered in full;
HEAD with Range has the 206 headers and no body."""
import os, sys, random
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

DATA = bytes(random.Random(43).randrange(256) for _ in range(1000))
SIZE = len(DATA)
BIG = random.Random(4343).randbytes(3 * 1024 * 1024 + 17)
# Either side of the size up to which a file is held in memory (sfile.h, 64 KiB); above it
# the bytes go by sendfile. Both ways must give the same bytes.
EDGE = {"edge-%d.bin" % n: random.Random(n).randbytes(n) for n in (65535, 65536, 65537)}


def rng(s, value, path="/r.bin", method="GET"):
    c = Conn(s.port)
    try:
        return roundtrip(c, method, path, {"Range": value, "Connection": "close"})
    finally:
        c.close()


def expect_206(r, first, last, size, data, what):
    expect_eq(r.status, 206, what + " status")
    expect_eq(r.header("content-range"), "bytes %d-%d/%d" % (first, last, size),
              what + " Content-Range")
    expect_eq(r.header("content-length"), str(last - first + 1), what + " Content-Length")
    expect(r.body == data[first:last + 1], "%s: body differs from bytes %d-%d (got %d bytes)"
           % (what, first, last, len(r.body)))


def test_first_bytes(s):
    expect_206(rng(s, "bytes=0-9"), 0, 9, SIZE, DATA, "bytes=0-9")
    expect_206(rng(s, "bytes=100-100"), 100, 100, SIZE, DATA, "bytes=100-100")


def test_suffix(s):
    expect_206(rng(s, "bytes=-5"), SIZE - 5, SIZE - 1, SIZE, DATA, "bytes=-5")
    expect_206(rng(s, "bytes=-5000"), 0, SIZE - 1, SIZE, DATA, "bytes=-5000 (longer than file)")


def test_open(s):
    expect_206(rng(s, "bytes=5-"), 5, SIZE - 1, SIZE, DATA, "bytes=5-")
    expect_206(rng(s, "bytes=%d-" % (SIZE - 1)), SIZE - 1, SIZE - 1, SIZE, DATA, "last byte")


def test_end_clamped(s):
    expect_206(rng(s, "bytes=990-2000"), 990, SIZE - 1, SIZE, DATA, "bytes=990-2000")


def test_unsatisfiable_416(s):
    # a first byte past 2^64 - 1 is past the end too (nginx: 416), not a header to ignore
    for v in ("bytes=%d-" % SIZE, "bytes=%d-%d" % (SIZE + 10, SIZE + 20),
              "bytes=99999999999999999999999-"):
        r = rng(s, v)
        expect_eq(r.status, 416, v + " status")
        expect_eq(r.header("content-range"), "bytes */%d" % SIZE, v + " Content-Range")
        expect(DATA[:50] not in r.body, v + ": 416 carries the file")


def test_malformed_ignored(s):
    for v in ("bytes=abc", "bytes=5-1", "bytes=", "bytes=--5", "items=0-5", "bytes=0-9x",
              "bytes 0-9"):
        r = rng(s, v)
        expect_eq((r.status, len(r.body)), (200, SIZE), "malformed Range %r" % v)
        expect(r.body == DATA, "malformed Range %r: body is not the file" % v)
        expect(r.header("content-range") is None, "malformed Range %r has Content-Range" % v)


def test_overlapping(s):
    for v, first, last in (("bytes=0-9,5-14", 0, 14), ("bytes=5-14,0-9", 0, 14),
                           ("bytes=0-9,10-19", 0, 19)):
        r = rng(s, v)
        if r.status == 200:
            expect(r.body == DATA, "%s answered 200 without the full file" % v)
        else:
            expect_206(r, first, last, SIZE, DATA, v + " (coalesced)")


def test_head_with_range(s):
    c = Conn(s.port)
    try:
        c.send(http_req("HEAD", "/r.bin", {"Range": "bytes=0-9"}) + http_req("GET", "/ok.txt"))
        r = c.read_response(head=True)
        expect_eq(r.status, 206, "HEAD with Range status")
        expect_eq(r.header("content-range"), "bytes 0-9/%d" % SIZE, "HEAD Content-Range")
        expect_eq(r.header("content-length"), "10", "HEAD with Range Content-Length")
        r2 = c.read_response()
        expect_eq((r2.status, r2.body), (200, b"ok\n"), "GET after HEAD+Range (no body sent)")
    finally:
        c.close()


def test_ranges_on_keepalive(s):
    c = Conn(s.port)
    try:
        for v, first, last in (("bytes=0-0", 0, 0), ("bytes=-1", SIZE - 1, SIZE - 1)):
            expect_206(roundtrip(c, "GET", "/r.bin", {"Range": v}), first, last, SIZE, DATA, v)
        r = roundtrip(c, "GET", "/r.bin", {"Range": "bytes=%d-" % SIZE})
        expect_eq(r.status, 416, "416 on keep-alive")
        r = roundtrip(c, "GET", "/r.bin")
        expect_eq((r.status, r.body == DATA), (200, True), "full GET after a 416")
    finally:
        c.close()


def test_large_file_middle(s):
    first, last = 1000000, 2500000
    expect_206(rng(s, "bytes=%d-%d" % (first, last), "/big.bin"), first, last, len(BIG), BIG,
               "big.bin middle range")
    expect_206(rng(s, "bytes=-100", "/big.bin"), len(BIG) - 100, len(BIG) - 1, len(BIG), BIG,
               "big.bin suffix")


def test_memory_and_sendfile_edge(s):
    for name, data in sorted(EDGE.items()):
        size = len(data)
        c = Conn(s.port)
        try:
            r = roundtrip(c, "GET", "/" + name)
            expect_eq((r.status, r.header("content-length")), (200, str(size)), name + " full")
            expect(r.body == data, "%s: full body differs (%d bytes)" % (name, len(r.body)))
            r = roundtrip(c, "HEAD", "/" + name)  # same connection: no body may follow
            expect_eq((r.status, r.header("content-length"), r.body), (200, str(size), b""),
                      name + " HEAD")
            r = roundtrip(c, "GET", "/" + name, {"Range": "bytes=100-"})
            expect_206(r, 100, size - 1, size, data, name + " bytes=100-")
            r = roundtrip(c, "GET", "/" + name, {"Range": "bytes=-1"})
            expect_206(r, size - 1, size - 1, size, data, name + " last byte")
        finally:
            c.close()


def main():
    files = {"r.bin": DATA, "big.bin": BIG, "ok.txt": b"ok\n"}
    files.update(EDGE)
    with remove_at_exit(Server(files=files)) as s:
        res = run_cases(s, [test_first_bytes, test_suffix, test_open, test_end_clamped,
                            test_unsatisfiable_416, test_malformed_ignored, test_overlapping,
                            test_head_with_range, test_ranges_on_keepalive,
                            test_large_file_middle, test_memory_and_sendfile_edge])
    finish([res])


if __name__ == "__main__":
    main()
