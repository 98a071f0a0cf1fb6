#!/usr/bin/env python3
"""Sites (issue 17) over HTTP/1.1 and HTTP/2 (curl --http1.1 and --http2-prior-knowledge), one
answer path for both: virtual hosts by Host / :authority (case, port, wildcard of one label,
the first site as default), headers per site, path prefix and extension (not on errors),
error pages with the original status (a missing page gives the built-in body, HEAD no body),
precompressed siblings by Accept-Encoding (q-values, ties, Vary, ETag per coding, ranges and
conditionals on the encoded bytes, identity;q=0 and *;q=0 giving 406), SPA fallback (not for
paths with an extension unless fallback_extensions). Each case runs on both protocols and
must give the same status, fields and body."""
import gzip, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

MODES = [("h1", ["--http1.1"], "1.1"), ("h2c", ["--http2-prior-knowledge"], "2")]
HTML = b"<html>" + b"hello site a " * 300 + b"</html>\n"
GZ = gzip.compress(HTML)
BR = b"pretend-brotli-bytes:" + bytes(range(256)) * 4  # served as is: only its name matters


class Ctx:
    pass


X = Ctx()


def get(mode, host, path, args=()):
    name, margs, version = mode
    code, ver, headers, body = curl(
        "http://%s:%d%s" % (host, X.port, path),
        ["--connect-to", "::127.0.0.1:%d" % X.port] + margs + list(args),
        what="%s %s%s" % (name, host, path))
    expect_eq(ver, version, "%s: HTTP version" % name)
    return code, headers, body


def both(host, path, args=()):
    """The same request over h1 and h2c: same status, fields (but Date) and body."""
    out = [get(m, host, path, args) for m in MODES]
    (c1, h1, b1), (c2, h2, b2) = out
    expect_eq(c2, c1, "%s%s status h2 vs h1" % (host, path))
    if "--head" not in args:  # curl writes the head as the "body" of a HEAD
        expect_eq(b2, b1, "%s%s body h2 vs h1" % (host, path))
    for k in set(h1) | set(h2):
        if k in ("date", "connection", "keep-alive"):
            continue
        expect_eq(h2.get(k), h1.get(k), "%s%s field %s h2 vs h1" % (host, path, k))
    return out[0]


def case_vhosts(s):
    expect_eq(both("a.test", "/who.txt")[2], b"site a\n", "a.test")
    expect_eq(both("B.TEST", "/who.txt")[2], b"site b\n", "B.TEST (case)")
    expect_eq(both("b.test.", "/who.txt")[2], b"site b\n", "b.test. (trailing dot)")
    expect_eq(both("www.b.test", "/who.txt")[2], b"site b\n", "www.b.test (wildcard)")
    # one label only: x.y.b.test is no *.b.test, and an unknown host gets the first site
    expect_eq(both("x.y.b.test", "/who.txt")[2], b"site a\n", "x.y.b.test")
    expect_eq(both("other.test", "/who.txt")[2], b"site a\n", "unknown host: default")
    expect_eq(both("127.0.0.1", "/who.txt")[2], b"site a\n", "address: default")
    # the port is no part of the name (curl sends a.test:PORT)
    r = request(s.port, "/who.txt", headers={"Host": "b.test:1234"})
    expect_eq(r.body, b"site b\n", "Host with a port")
    # a file of one site is not found in the other, and the cache keeps them apart
    expect_eq(both("b.test", "/only-a.txt")[0], 404, "only-a on b")
    expect_eq(both("a.test", "/only-a.txt")[0], 200, "only-a on a")


def case_headers(s):
    c, h, _ = both("a.test", "/assets/app.js")
    expect_eq(c, 200, "asset")
    expect_eq(h.get("cache-control"), "max-age=31536000, immutable", "asset Cache-Control")
    expect_eq(h.get("strict-transport-security"), "max-age=63072000", "site-wide HSTS")
    c, h, _ = both("a.test", "/page.html")
    expect_eq(h.get("cache-control"), "no-cache", "*.html Cache-Control")
    expect_eq(h.get("x-frame-options"), "DENY", "*.html X-Frame-Options")
    c, h, _ = both("a.test", "/")  # the index's extension
    expect_eq(h.get("cache-control"), "no-cache", "/ (index.html) Cache-Control")
    c, h, _ = both("a.test", "/who.txt")
    expect("cache-control" not in h, "who.txt has no Cache-Control: %r" % h)
    c, h, _ = both("a.test", "/missing.js")
    expect_eq(c, 404, "404")
    expect("strict-transport-security" not in h, "no site header on a 404: %r" % h)
    c, h, _ = both("a.test", "/assets/app.js", ["-H", "If-None-Match: " + h.get("etag", "x")])
    c, h, _ = both("b.test", "/who.txt")
    expect("strict-transport-security" not in h, "b has none of a's headers")


def case_error_pages(s):
    c, h, b = both("a.test", "/nope")
    expect_eq(c, 404, "error page status")
    expect_eq(b, b"<p>custom 404</p>\n", "error page body")
    expect_eq(h.get("content-length"), str(len(b)), "error page length")
    c, h, b = both("a.test", "/nope", ["--head"])
    expect_eq(c, 404, "HEAD error page status")
    expect_eq(h.get("content-length"), "18", "HEAD error page length")
    c, h, b = both("a.test", "/nope", ["-X", "POST"])
    expect_eq(c, 405, "405")
    expect_eq(h.get("allow"), "GET, HEAD", "405 Allow kept with the page")
    expect_eq(b, b"<p>custom 405</p>\n", "405 page")
    # the 403 page does not exist: the built-in body, no loop
    c, h, b = both("a.test", "/noindex/")
    expect_eq(c, 403, "403 with a missing page")
    expect(b"403 Forbidden" in b, "built-in 403 body: %r" % b[:80])
    # d.test's 404 page is a folder: the built-in body, no loop
    c, h, b = both("d.test", "/x/nope.txt")
    expect(c == 404 and b"404 Not Found" in b, "a folder as the page: built-in 404 %r" % b[:60])
    # b.test has no pages (and a fallback, which takes no path with an extension)
    c, h, b = both("b.test", "/nope.txt")
    expect(c == 404 and b"404 Not Found" in b, "b's built-in 404")
    # 416 keeps its Content-Range with a page
    c, h, b = both("a.test", "/who.txt", ["-H", "Range: bytes=500-"])
    expect_eq(c, 416, "416")
    expect_eq(h.get("content-range"), "bytes */7", "416 Content-Range")
    expect_eq(b, b"<p>custom 416</p>\n", "416 page")


def case_precompressed(s):
    c, h, b = both("a.test", "/big.html", ["-H", "Accept-Encoding: gzip, br"])
    expect_eq(c, 200, "br")
    expect_eq(h.get("content-encoding"), "br", "tie goes to br")
    expect_eq(b, BR, "the .br sibling's bytes")
    expect_eq(h.get("content-type"), "text/html; charset=utf-8", "the file's type")
    expect_eq(h.get("vary"), "Accept-Encoding", "Vary")
    etag_br = h["etag"]
    expect(etag_br.endswith('-br"'), "br ETag: %s" % etag_br)
    c, h, b = both("a.test", "/big.html", ["-H", "Accept-Encoding: br;q=0.5, gzip"])
    expect_eq(h.get("content-encoding"), "gzip", "client prefers gzip")
    expect_eq(gzip.decompress(b), HTML, "gzip sibling")
    etag_gz = h["etag"]
    expect(etag_gz.endswith('-gz"') and etag_gz != etag_br, "gz ETag: %s" % etag_gz)
    c, h, b = both("a.test", "/big.html")
    expect_eq(b, HTML, "no Accept-Encoding: identity")
    expect("content-encoding" not in h, "identity has no Content-Encoding")
    expect_eq(h.get("vary"), "Accept-Encoding", "Vary on identity too")
    expect(h["etag"] not in (etag_br, etag_gz), "identity ETag differs")
    # conditionals and ranges on the encoded representation
    c, h, b = both("a.test", "/big.html", ["-H", "Accept-Encoding: gzip",
                                           "-H", "If-None-Match: " + etag_gz])
    expect_eq(c, 304, "304 by the gzip ETag")
    c, h, b = both("a.test", "/big.html", ["-H", "Accept-Encoding: br",
                                           "-H", "If-None-Match: " + etag_gz])
    expect_eq(c, 200, "the gzip ETag does not match br")
    c, h, b = both("a.test", "/big.html", ["-H", "Accept-Encoding: gzip", "-r", "10-19"])
    expect_eq(c, 206, "range of the encoded bytes")
    expect_eq(b, GZ[10:20], "encoded bytes 10-19")
    expect_eq(h.get("content-range"), "bytes 10-19/%d" % len(GZ), "Content-Range of gz")
    # nothing acceptable: 406; identity allowed: the file
    c, h, b = both("a.test", "/big.html", ["-H", "Accept-Encoding: identity;q=0"])
    expect_eq(c, 406, "identity;q=0 without a coding")
    c, h, b = both("a.test", "/big.html", ["-H", "Accept-Encoding: deflate, *;q=0"])
    expect_eq(c, 406, "*;q=0 and only deflate")
    c, h, b = both("a.test", "/big.html", ["-H", "Accept-Encoding: identity;q=1, *;q=0"])
    expect(c == 200 and b == HTML, "identity;q=1, *;q=0: identity")
    c, h, b = both("a.test", "/big.html", ["-H", "Accept-Encoding: zstd, gzip;q=0.9"])
    expect_eq((h.get("content-encoding"), b), ("zstd", b"zstd bytes"), "the .zst sibling")
    expect(h["etag"].endswith('-zst"'), "zst ETag %s" % h["etag"])
    c, h, b = both("a.test", "/who.txt", ["-H", "Accept-Encoding: gzip"])
    expect(c == 200 and "vary" not in h, "a file without siblings has no Vary: %r" % h)
    # b.test has no compression: the .gz is never used
    c, h, b = both("b.test", "/big.html", ["-H", "Accept-Encoding: gzip"])
    expect(c == 200 and "content-encoding" not in h, "b: no compression")


def case_fallback(s):
    c, h, b = both("b.test", "/app/route/42")
    expect_eq(c, 200, "fallback status")
    expect_eq(b, b"<p>spa</p>\n", "fallback body")
    c, h, b = both("b.test", "/missing.js")
    expect_eq(c, 404, "an extension is not the app's")
    c, h, b = both("b.test", "/who.txt")
    expect_eq(b, b"site b\n", "files still served")
    c, h, b = both("c.test", "/missing.js")
    expect(c == 200 and b == b"<p>spa c</p>\n", "fallback_extensions = true")


def main():
    s = Server(files={"who.txt": b"site a\n", "only-a.txt": b"a", "index.html": b"<p>a</p>\n",
                      "assets/app.js": b"js", "page.html": b"<p>page</p>\n",
                      "err/404.html": b"<p>custom 404</p>\n", "err/405.html": b"<p>custom 405</p>\n",
                      "err/416.html": b"<p>custom 416</p>\n", "noindex/x.txt": b"x",
                      "big.html": HTML, "big.html.gz": GZ, "big.html.br": BR,
                      "big.html.zst": b"zstd bytes"})
    remove_at_exit(s)
    for site, files in (("b", {"who.txt": b"site b\n", "spa.html": b"<p>spa</p>\n",
                               "big.html": HTML, "big.html.gz": GZ}),
                        ("c", {"spa.html": b"<p>spa c</p>\n", "errdir/x": b""})):
        for name, data in files.items():
            p = os.path.join(s.dir, site, name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
    s.write_conf({"sites": """(
  { names = ["a.test"]; root = "www";
    headers = ( { set = { Strict-Transport-Security = "max-age=63072000"; }; },
                { match = "/assets/"; set = { Cache-Control = "max-age=31536000, immutable"; }; },
                { match = "*.html"; set = { Cache-Control = "no-cache"; X-Frame-Options = "DENY"; }; } );
    error_pages = ( { codes = [404]; page = "/err/404.html"; },
                    { codes = [405]; page = "/err/405.html"; },
                    { codes = [416]; page = "/err/416.html"; },
                    { codes = [403]; page = "/err/403.html"; } );
    compression = { precompressed = true; }; },
  { names = ["b.test", "*.b.test"]; root = "b"; fallback = "/spa.html"; },
  { names = ["c.test"]; root = "c"; fallback = "/spa.html"; fallback_extensions = true; },
  { names = ["d.test"]; root = "c"; error_pages = ( { codes = [404]; page = "/errdir"; } ); }
)"""})
    with s:
        X.port = s.port
        res = run_cases(s, [case_vhosts, case_headers, case_error_pages, case_precompressed,
                            case_fallback])
    finish([res])


if __name__ == "__main__":
    main()
