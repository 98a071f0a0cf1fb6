#!/usr/bin/env python3
"""One table of HTTP behaviours run over HTTP/1.1 and HTTP/2, plain and TLS, with curl
(--http1.1, --http2-prior-knowledge, --http2 through ALPN): GET and HEAD, 404, 405 with Allow,
501, path rules, directory redirects with their query, index files, ranges and 416,
conditionals (304, 412, If-Range), MIME types, Date, ETag, Last-Modified, error bodies, a
large file from the pool byte for byte. Both sessions call one answer function: every case
must give the same status, the same header fields (Date's value aside) and the same body on
all four, and the access log has the request once per protocol ("GET /x HTTP/2.0")."""
import hashlib, os, re, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from tlscerts import *

INDEX = b"<p>index</p>\n"
BIG = os.urandom(3 * 1024 * 1024 + 77)
MID = os.urandom(100 * 1024 + 5)


class Ctx:
    pass


X = Ctx()

MODES = [  # name, tls, curl args, the HTTP version curl must report
    ("h1", False, ["--http1.1"], "1.1"),
    ("h2c", False, ["--http2-prior-knowledge"], "2"),
    ("h1-tls", True, ["--http1.1"], "1.1"),
    ("h2-tls", True, ["--http2"], "2"),
]


def fetch(mode, path, args=()):
    name, tls, margs, _ = mode
    url = ("https://localhost:%d%s" % (X.tls_port, path)) if tls else \
        ("http://127.0.0.1:%d%s" % (X.plain_port, path))
    return curl(url, ["--cacert", X.ca] + margs + list(args), what="%s %s" % (name, path))


def etag():
    return fetch(MODES[0], "/index.html")[2]["etag"]


def last_modified():
    return fetch(MODES[0], "/index.html")[2]["last-modified"]


def n(size):
    return str(size)


# name, path, curl args (a function, for values known only at run time), status, headers that
# must be there (a value, or None for "present"), headers that must not, the body (bytes, a
# function of the body, or None: not checked)
CASES = [
    ("get", "/index.html", [], 200,
     {"content-type": "text/html; charset=utf-8", "content-length": n(len(INDEX)),
      "accept-ranges": "bytes", "etag": None, "last-modified": None, "date": None}, [], INDEX),
    ("head", "/index.html", ["--head"], 200,
     {"content-length": n(len(INDEX)), "etag": None, "content-type": None}, [], None),
    ("not_found", "/nope.html", [], 404, {"content-type": "text/html; charset=utf-8"}, [],
     lambda b: b"404" in b),
    ("post_405", "/index.html", ["-X", "POST", "--data", "x=1"], 405, {"allow": "GET, HEAD"},
     [], lambda b: b"405" in b),
    ("options_405", "/index.html", ["-X", "OPTIONS"], 405, {"allow": "GET, HEAD"}, [], None),
    ("unknown_501", "/index.html", ["-X", "BREW"], 501, {}, [], lambda b: b"501" in b),
    ("dot_segments", "/a/../index.html", ["--path-as-is"], 200, {}, [], INDEX),
    ("above_root", "/../index.html", ["--path-as-is"], None, {}, [], None),
    ("nul_400", "/a%00b", [], 400, {}, [], lambda b: b"400" in b),
    ("dir_redirect", "/dir", [], 301, {"location": "/dir/"}, [], lambda b: b"301" in b),
    ("dir_redirect_query", "/dir?x=1&y=%41", [], 301, {"location": "/dir/?x=1&y=%41"}, [], None),
    ("index", "/dir/", [], 200, {"content-type": "text/html; charset=utf-8"}, [],
     b"<p>dir index</p>\n"),
    ("no_index_403", "/noindex/", [], 403, {}, [], None),
    ("symlink_outside_403", "/outside", [], 403, {}, [], None),
    ("range", "/index.html", ["-r", "2-5"], 206,
     {"content-range": "bytes 2-5/%d" % len(INDEX), "content-length": "4"}, [], INDEX[2:6]),
    ("range_suffix", "/index.html", ["-r", "-3"], 206,
     {"content-range": "bytes %d-%d/%d" % (len(INDEX) - 3, len(INDEX) - 1, len(INDEX))}, [],
     INDEX[-3:]),
    ("range_416", "/index.html", ["-r", "999999-"], 416,
     {"content-range": "bytes */%d" % len(INDEX)}, [], None),
    ("inm_304", "/index.html", lambda: ["-H", "If-None-Match: " + etag()], 304,
     {"etag": None}, ["content-length"], b""),
    ("ims_304", "/index.html", lambda: ["-H", "If-Modified-Since: " + last_modified()], 304,
     {}, [], b""),
    ("if_match_412", "/index.html", ["-H", 'If-Match: "nope"'], 412, {}, [], None),
    ("if_range_stale", "/index.html", ["-r", "0-1", "-H", 'If-Range: "old"'], 200,
     {"content-length": n(len(INDEX))}, ["content-range"], INDEX),
    ("if_range_fresh", "/index.html", lambda: ["-r", "0-1", "-H", "If-Range: " + etag()], 206,
     {"content-range": "bytes 0-1/%d" % len(INDEX)}, [], INDEX[:2]),
    ("mime_css", "/style.css", [], 200, {"content-type": "text/css; charset=utf-8"}, [], None),
    ("mime_json", "/data.json", [], 200, {"content-type": "application/json; charset=utf-8"}, [], None),
    ("mid_file", "/mid.bin", [], 200, {"content-length": n(len(MID))}, [], MID),
    ("big_file", "/big.bin", [], 200, {"content-length": n(len(BIG))}, [],
     lambda b: hashlib.sha256(b).digest() == hashlib.sha256(BIG).digest()),
    ("big_range", "/big.bin", ["-r", "1000000-2999999"], 206,
     {"content-range": "bytes 1000000-2999999/%d" % len(BIG)}, [], BIG[1000000:3000000]),
]


def run_case(case):
    def fn(s):
        name, path, args, status, want, absent, body = case
        args = args() if callable(args) else args
        seen = {}
        for mode in MODES:
            code, version, headers, got = fetch(mode, path, args)
            expect_eq(version, mode[3], "%s: protocol" % mode[0])
            if status is not None:
                expect_eq(code, status, "%s: status" % mode[0])
            for k, v in want.items():
                expect(k in headers, "%s: no %s in %r" % (mode[0], k, headers))
                if v is not None:
                    expect_eq(headers[k], v, "%s: %s" % (mode[0], k))
            for k in absent:
                expect(k not in headers, "%s: %s present" % (mode[0], k))
            expect("connection" not in headers or mode[3] == "1.1",
                   "%s: Connection in HTTP/2" % mode[0])
            if isinstance(body, bytes):
                expect(got == body, "%s: body %r" % (mode[0], got[:60]))
            elif body is not None:
                expect(body(got), "%s: body %r" % (mode[0], got[:60]))
            fields = {k: v for k, v in headers.items() if k not in ("date", "connection",
                                                                     "keep-alive")}
            # --head writes the head as the body: compared above field by field instead
            seen[mode[0]] = (code, fields, hashlib.sha256(got).hexdigest() if "--head" not in
                             args else "-")
        first = seen[MODES[0][0]]
        for m, v in seen.items():
            expect(v == first, "%s differs from h1: %r against %r" % (m, v, first))
    fn.__name__ = "case_" + case[0]
    return fn


def case_access_log(s):
    def lines():
        drain_log(s)
        with open(os.path.join(s.dir, "access.log")) as f:
            return [l for l in f if '"GET /dir/ HTTP/' in l]
    got = wait_for(lambda: (lambda l: l if len(l) >= 4 else None)(lines()), 10)
    expect(got, "four access log lines for /dir/: %r" % lines())
    expect_eq(sum('"GET /dir/ HTTP/2.0" 200' in l for l in got), 2, "HTTP/2.0 lines")
    expect_eq(sum('"GET /dir/ HTTP/1.1" 200' in l for l in got), 2, "HTTP/1.1 lines")
    expect(all(re.search(r'"(TLSv1\.[23] [r.]|-)"$', l.rstrip("\n")) for l in got),
           "the TLS field: %r" % got)


def main():
    d = tempfile.mkdtemp(prefix="evc-h2t-")
    X.ca = make_ca(d)
    pem, key = make_cert(d, "a", ["DNS:localhost", "IP:127.0.0.1"])
    listen = '( "127.0.0.1:0", { address = "127.0.0.1:%d"; tls = true; } )' % free_port()
    settings = tls_settings([(pem, key)], listen=listen)
    settings["access_log"] = '"access.log"'
    s = remove_at_exit(Server(files={"index.html": INDEX, "dir/index.html": b"<p>dir index</p>\n",
                                     "noindex/x.txt": b"x", "style.css": b"a{}",
                                     "data.json": b"{}", "big.bin": BIG, "mid.bin": MID},
                              settings=settings))
    os.symlink("/etc/hostname", os.path.join(s.root, "outside"))
    with s:
        X.plain_port, X.tls_port = listen_ports(s)
        res = run_cases(s, [run_case(c) for c in CASES] + [case_access_log])
    finish([res])


if __name__ == "__main__":
    main()
