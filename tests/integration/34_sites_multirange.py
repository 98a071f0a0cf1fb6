#!/usr/bin/env python3
"""Several ranges in one request over HTTP/1.1 and HTTP/2: multipart/byteranges as nginx
frames it (each part with its Content-Type and Content-Range, the closing boundary), from a
small file in memory and from a large one read on the pool; overlapping and adjacent ranges
coalesced (one part: a plain 206); unsatisfiable ones dropped, none left: 416; more than 16
ranges: the whole file (200, nginx's max_ranges); HEAD gives the length only; ranges of a
compressed answer are ranges of the coded bytes."""
import gzip, os, re, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

MODES = [("h1", ["--http1.1"], "1.1"), ("h2c", ["--http2-prior-knowledge"], "2")]
SMALL = bytes(range(256)) * 16  # 4 KiB, in memory
BIG = os.urandom(3 * 1024 * 1024 + 11)  # read on the pool
PAGE = b"".join(b"<li>item %d</li>\n" % i for i in range(3000))


class Ctx:
    pass


X = Ctx()


def get(mode, path, args=()):
    name, margs, version = mode
    code, ver, headers, body = curl("http://127.0.0.1:%d%s" % (X.port, path),
                                    margs + list(args), what="%s %s" % (name, path))
    expect_eq(ver, version, name + " version")
    return code, headers, body


def parts(h, body):
    m = re.match(r"multipart/byteranges; boundary=(\S+)$", h.get("content-type", ""))
    expect(m, "multipart type: %r" % h.get("content-type"))
    b = m.group(1).encode()
    expect(body.endswith(b"\r\n--" + b + b"--\r\n"), "closing boundary")
    out = []
    for chunk in body.split(b"\r\n--" + b)[1:-1]:
        head, data = chunk.split(b"\r\n\r\n", 1)
        fields = dict(l.split(b": ", 1) for l in head.split(b"\r\n")[1:])
        s, e, size = re.match(rb"bytes (\d+)-(\d+)/(\d+)", fields[b"Content-Range"]).groups()
        out.append((int(s), int(e), int(size), fields[b"Content-Type"].decode(), data))
    return out


def each(path, args=()):
    res = [get(m, path, args) for m in MODES]
    c1, h1, b1 = res[0]
    c2, h2, b2 = res[1]
    expect_eq(c2, c1, "status h2 vs h1")
    expect_eq(h2.get("content-length"), h1.get("content-length"), "length h2 vs h1")
    return res


def case_small(s):
    for c, h, b in each("/small.bin", ["-r", "0-9,100-109,4000-"]):
        expect_eq(c, 206, "206")
        p = parts(h, b)
        expect_eq([(x[0], x[1]) for x in p], [(0, 9), (100, 109), (4000, 4095)], "parts")
        for s0, e0, size, ctype, data in p:
            expect_eq(size, len(SMALL), "size")
            expect_eq(ctype, "application/octet-stream", "part type")
            expect_eq(data, SMALL[s0:e0 + 1], "part bytes")
        expect_eq(int(h["content-length"]), len(b), "Content-Length")


def case_big(s):
    for c, h, b in each("/big.bin", ["-r", "5-14,2000000-2000099,-7"]):
        expect_eq(c, 206, "206 big")
        p = parts(h, b)
        expect_eq(len(p), 3, "three parts")
        for s0, e0, size, ctype, data in p:
            expect_eq(data, BIG[s0:e0 + 1], "big part %d-%d" % (s0, e0))


def case_coalesce_and_limits(s):
    for c, h, b in each("/small.bin", ["-r", "0-9,5-19,20-29"]):
        expect_eq(c, 206, "coalesced")
        expect_eq(h.get("content-range"), "bytes 0-29/4096", "one part")
        expect_eq(b, SMALL[:30], "coalesced bytes")
    for c, h, b in each("/small.bin", ["-r", "0-1,9000-9001,10-11"]):
        expect_eq(len(parts(h, b)), 2, "the unsatisfiable range is dropped")
    for c, h, b in each("/small.bin", ["-r", "9000-9001,9100-9200"]):
        expect_eq(c, 416, "none satisfiable")
    many = ",".join("%d-%d" % (i * 10, i * 10 + 1) for i in range(17))
    for c, h, b in each("/small.bin", ["-r", many]):
        expect_eq(c, 200, "17 ranges: the whole file")
        expect_eq(b, SMALL, "whole")
    sixteen = ",".join("%d-%d" % (i * 10, i * 10 + 1) for i in range(16))
    for c, h, b in each("/small.bin", ["-r", sixteen]):
        expect_eq(len(parts(h, b)), 16, "16 ranges: 16 parts")


def case_head(s):
    for mode in MODES:
        c, h, b = get(mode, "/small.bin", ["-r", "0-9,100-109"])
        c2, h2, _ = get(mode, "/small.bin", ["-r", "0-9,100-109", "--head"])
        expect_eq(c2, 206, "HEAD 206")
        expect_eq(h2.get("content-length"), str(len(b)), "HEAD length")


def case_coded(s):
    full = gzip.compress(PAGE)  # only for the type; the server's bytes are its own
    c, h, whole = get(MODES[0], "/page.html", ["-H", "Accept-Encoding: gzip"])
    expect_eq(gzip.decompress(whole), PAGE, "gzip whole")
    for c, h, b in each("/page.html", ["-H", "Accept-Encoding: gzip", "-r", "0-9,50-59"]):
        expect_eq(h.get("content-encoding"), "gzip", "coded multipart")
        p = parts(h, b)
        expect_eq([d for *_, d in p], [whole[0:10], whole[50:60]], "ranges of the coded bytes")
        expect_eq(p[0][3], "text/html; charset=utf-8", "part type of the file")
    del full


def main():
    s = Server(files={"small.bin": SMALL, "big.bin": BIG, "page.html": PAGE},
               settings={"compression": "{ on_the_fly = true; }"})
    remove_at_exit(s)
    with s:
        X.port = s.port
        res = run_cases(s, [case_small, case_big, case_coalesce_and_limits, case_head,
                            case_coded])
    finish([res])


if __name__ == "__main__":
    main()
