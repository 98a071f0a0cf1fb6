#!/usr/bin/env python3
"""Response headers: Date (IMF-fixdate, now), Server: evcluster, Content-Type by extension
(built-in table, overridable with mime_types), Content-Length, Last-Modified (the file's
mtime), ETag (strong, quoted, changes with the file), Accept-Ranges: bytes."""
import os, time, sys, calendar
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from email.utils import parsedate_to_datetime

IMF_RE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|"
                    r"Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")
MTIME = calendar.timegm((2020, 1, 2, 3, 4, 5))
MTIME_HTTP = "Thu, 02 Jan 2020 03:04:05 GMT"
FILES = {
    "index.html": b"<p>hi</p>\n", "style.css": b"p{}\n", "app.js": b"let a=1;\n",
    "data.json": b'{"a":1}\n', "img.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>\n",
    "pic.png": b"\x89PNG\r\n\x1a\n", "blob.qqzz": b"\x00\x01\x02", "noext": b"plain bytes",
    "note.txt": b"custom type\n", "UPPER.HTML": b"<p>upper</p>\n", "etag.bin": b"v1",
}


def imf_close_to_now(value, what):
    expect(value is not None, what + " missing")
    expect(IMF_RE.match(value), "%s %r is not an IMF-fixdate" % (what, value))
    t = parsedate_to_datetime(value).timestamp()
    expect(abs(t - time.time()) < 5, "%s %r is not the current time" % (what, value))


def test_date(s):
    imf_close_to_now(request(s.port, "/index.html").header("date"), "Date (200)")
    imf_close_to_now(request(s.port, "/missing").header("date"), "Date (404)")


def test_server(s):
    for path in ("/index.html", "/missing"):
        v = request(s.port, path).header("server")
        expect(v == "evcluster" or (v or "").startswith("evcluster/"),
               "GET %s: Server header %r, expected evcluster" % (path, v))


def test_content_types(s):
    want = {
        "/index.html": lambda v: v == "text/html; charset=utf-8",
        "/UPPER.HTML": lambda v: v == "text/html; charset=utf-8",
        "/style.css": lambda v: v.split(";")[0] == "text/css",
        "/app.js": lambda v: v.split(";")[0] in ("text/javascript", "application/javascript"),
        "/data.json": lambda v: v.split(";")[0] == "application/json",
        "/img.svg": lambda v: v.split(";")[0] == "image/svg+xml",
        "/pic.png": lambda v: v == "image/png",
        "/blob.qqzz": lambda v: v == "application/octet-stream",
        "/noext": lambda v: v == "application/octet-stream",
        "/note.txt": lambda v: v == "text/x-custom",   # mime_types override from the config
    }
    bad = []
    for path, ok in want.items():
        v = request(s.port, path).header("content-type") or ""
        if not ok(v):
            bad.append("%s: %r" % (path, v))
    expect(not bad, "wrong Content-Type: " + "; ".join(bad))


def test_content_length(s):
    for name, data in FILES.items():
        r = request(s.port, "/" + name)
        expect_eq((r.header("content-length"), r.body), (str(len(data)), data), "GET /" + name)


def test_last_modified(s):
    r = request(s.port, "/index.html")
    expect_eq(r.header("last-modified"), MTIME_HTTP, "Last-Modified of a file with a set mtime")


def test_accept_ranges(s):
    expect_eq(request(s.port, "/index.html").header("accept-ranges"), "bytes", "Accept-Ranges")


CACHE_VALID = 1.0  # seconds: the worker's open-file cache validity


def test_etag(s):
    e1 = request(s.port, "/etag.bin").header("etag")
    expect(e1 is not None, "no ETag")
    expect(re.match(r'^"[\x21\x23-\x7e]*"$', e1), "ETag %r is not a strong quoted tag" % e1)
    expect_eq(request(s.port, "/etag.bin").header("etag"), e1, "ETag of an unchanged file")
    other = request(s.port, "/index.html").header("etag")
    expect(other != e1, "two different files share the ETag %r" % e1)
    path = s.write_file("etag.bin", b"version two")
    os.utime(path, (MTIME + 100, MTIME + 100))
    # The worker caches open files for CACHE_VALID seconds: the change must show within that.
    changed = time.monotonic()
    while True:
        r = request(s.port, "/etag.bin")
        if r.body == b"version two" or time.monotonic() - changed > CACHE_VALID + 0.5:
            break
        time.sleep(0.05)  # polling a condition with a deadline, not synchronisation
    expect_eq(r.body, b"version two", "body within %.1f s after the file changed" % CACHE_VALID)
    expect(r.header("etag") != e1, "ETag %r did not change with the file" % e1)


def main():
    s = remove_at_exit(Server(settings={"mime_types": '{ txt = "text/x-custom"; }'},
                              files=FILES))
    for name in FILES:
        os.utime(os.path.join(s.root, name), (MTIME, MTIME))
    with s:
        res = run_cases(s, [test_date, test_server, test_content_types, test_content_length,
                            test_last_modified, test_accept_ranges, test_etag])
    finish([res])


if __name__ == "__main__":
    main()
