#!/usr/bin/env python3
"""compression.on_the_fly over HTTP/1.1 and HTTP/2: text files are compressed with brotli or
gzip by Accept-Encoding (curl --compressed and Python's gzip decode them to the original),
with Vary, an ETag per coding, 304 by the coded ETag, ranges of the coded bytes; small files
(min_size), other types and clients without Accept-Encoding get the file as it is;
identity;q=0 with nothing to offer is a 406. A file is compressed once per version: 40
concurrent requests for a new file cost one compression (status --json shows the cache's
memory, hits and compressions), and a changed file is compressed again."""
import gzip, hashlib, json, os, socket, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

MODES = [("h1", ["--http1.1"], "1.1"), ("h2c", ["--http2-prior-knowledge"], "2")]
PAGE = b"".join(b"<div class='row'>row %d of the page, some text to compress</div>\n" % i
                for i in range(1200))  # ~64 KiB of HTML
PAGE = PAGE[:65536]


class Ctx:
    pass


X = Ctx()


def get(mode, path, args=()):
    name, margs, version = mode
    code, ver, headers, body = curl("http://127.0.0.1:%d%s" % (X.port, path),
                                    margs + list(args), what="%s %s" % (name, path))
    expect_eq(ver, version, name + " version")
    return code, headers, body


def each(path, args=()):
    out = [get(m, path, args) for m in MODES]
    expect_eq(out[1][0], out[0][0], path + " status h2 vs h1")
    expect_eq(out[1][2], out[0][2], path + " body h2 vs h1")
    for k in ("content-encoding", "etag", "vary", "content-length", "content-range"):
        expect_eq(out[1][1].get(k), out[0][1].get(k), "%s %s h2 vs h1" % (path, k))
    return out[0]


def case_br(s):
    c, h, b = each("/page.html", ["-H", "Accept-Encoding: br"])
    expect_eq(c, 200, "br status")
    expect_eq(h.get("content-encoding"), "br", "br coding")
    expect_eq(h.get("vary"), "Accept-Encoding", "Vary")
    expect(h["etag"].endswith('-br"'), "br ETag %s" % h["etag"])
    expect(len(b) < len(PAGE) // 4, "br is small: %d" % len(b))
    expect_eq(h.get("content-length"), str(len(b)), "length of the coded bytes")
    c, h2, b2 = each("/page.html", ["--compressed"])  # curl asks for and decodes br/gzip
    expect_eq(b2, PAGE, "br decodes to the page")


def case_gzip(s):
    c, h, b = each("/page.html", ["-H", "Accept-Encoding: gzip"])
    expect_eq(h.get("content-encoding"), "gzip", "gzip coding")
    expect_eq(gzip.decompress(b), PAGE, "gzip decodes to the page")
    etag = h["etag"]
    expect(etag.endswith('-gz"'), "gz ETag %s" % etag)
    c, h, _ = each("/page.html", ["-H", "Accept-Encoding: gzip", "-H", "If-None-Match: " + etag])
    expect_eq(c, 304, "304 by the gzip ETag")
    c, h, r = each("/page.html", ["-H", "Accept-Encoding: gzip", "-r", "100-199"])
    expect_eq(c, 206, "range of the coded bytes")
    expect_eq(r, b[100:200], "bytes 100-199 of the gzip")
    expect_eq(h.get("content-range"), "bytes 100-199/%d" % len(b), "Content-Range")
    c, h, _ = each("/page.html", ["-H", "Accept-Encoding: br;q=0.3, gzip;q=0.9"])
    expect_eq(h.get("content-encoding"), "gzip", "the client's preference")


def case_identity(s):
    c, h, b = each("/page.html")
    expect(c == 200 and b == PAGE and "content-encoding" not in h, "no Accept-Encoding")
    expect_eq(h.get("vary"), "Accept-Encoding", "Vary on identity")
    c, h, b = each("/small.html", ["-H", "Accept-Encoding: br, gzip"])
    expect(b == b"<p>small</p>" and "content-encoding" not in h, "below min_size")
    c, h, b = each("/img.png", ["-H", "Accept-Encoding: br, gzip"])
    expect("content-encoding" not in h and "vary" not in h, "png is not compressed")
    c, h, b = each("/page.html", ["-H", "Accept-Encoding: identity;q=0, br"])
    expect_eq(h.get("content-encoding"), "br", "identity;q=0 with br")
    c, h, b = each("/img.png", ["-H", "Accept-Encoding: identity;q=0"])
    expect_eq(c, 406, "nothing acceptable: 406")


def zstats(s):
    """The compression cache's figures from a ping answered after this call began (the
    supervisor keeps each worker's last answer, sent every health.interval)."""
    t0 = time.monotonic()
    got = {}

    def fresh():
        w = sup_status(s)["workers"][0]
        got["z"] = w["compression"]
        return w["last_pong_s"] < time.monotonic() - t0
    expect(wait_for(fresh, 5), "a fresh status")
    return got["z"]


def case_once(s):
    body = PAGE.replace(b"row", b"ROW")
    s.write_file("fresh.html", body)
    before = zstats(s)["compressions"]
    results = []

    def one():
        try:
            r = request(s.port, "/fresh.html", headers={"Accept-Encoding": "gzip"})
            results.append((r.status, r.headers.get("content-encoding"), r.body))
        except OSError as e:
            results.append((0, str(e), b""))
    ts = [threading.Thread(target=one) for _ in range(40)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    expect_eq(len(results), 40, "answers")
    for st, ce, b in results:
        expect(st == 200 and ce == "gzip" and gzip.decompress(b) == body, "gzip answer %r" % st)
    z = zstats(s)
    expect_eq(z["compressions"] - before, 1, "40 concurrent requests, one compression")
    expect(z["hits"] > 0 and 0 < z["bytes"] <= z["max_bytes"], "cache figures %r" % z)
    print("  compression cache: %r" % z, flush=True)
    # a new version is a new key
    time.sleep(0.01)
    body2 = body + b"<p>more</p>\n"
    s.write_file("fresh.html", body2)
    os.utime(os.path.join(s.root, "fresh.html"), (time.time() + 5, time.time() + 5))

    def new_version():
        r = request(s.port, "/fresh.html", headers={"Accept-Encoding": "gzip"})
        return gzip.decompress(r.body) == body2
    expect(wait_for(new_version, 5), "the changed file is compressed again")
    expect_eq(zstats(s)["compressions"] - before, 2, "two versions, two compressions")


def main():
    s = Server(files={"page.html": PAGE, "small.html": b"<p>small</p>",
                      "img.png": b"\x89PNG" + bytes(2000)},
               settings={"compression": "{ on_the_fly = true; min_size = 256; cache_mb = 4; }"})
    remove_at_exit(s)
    with s:
        X.port = s.port
        res = run_cases(s, [case_br, case_gzip, case_identity, case_once])
    finish([res])


if __name__ == "__main__":
    main()
