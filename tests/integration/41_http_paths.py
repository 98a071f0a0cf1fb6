#!/usr/bin/env python3
"""Request targets to files: percent-decoding, dot-segments, merged slashes, queries ignored;
traversal never escapes the root (a secret file sits next to it); symlinks out of the root are
refused (403), symlinks inside it are served; directories redirect to a trailing slash and
serve their index (config key index) or 403; missing files 404."""
import os, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from urllib.parse import urlsplit

SECRET = b"TOP-SECRET-do-not-serve\n"
FILES = {
    "index.html": b"root index\n",
    "a b.txt": b"space file\n",
    "x.txt": b"x text\n",
    "sub/index.html": b"sub index\n",
    "sub/x": b"sub x\n",
    "sub/start.html": b"sub start\n",
    "noindex/file.txt": b"in noindex\n",
}


def get(s, path, **kw):
    return request(s.port, path, **kw)


def expect_serves(s, path, body):
    r = get(s, path)
    expect_eq((r.status, r.body), (200, body), "GET %s" % path)


def test_plain(s):
    expect_serves(s, "/x.txt", FILES["x.txt"])
    expect_serves(s, "/sub/x", FILES["sub/x"])


def test_percent_decoding(s):
    expect_serves(s, "/a%20b.txt", FILES["a b.txt"])
    expect_serves(s, "/x%2etxt", FILES["x.txt"])
    expect_serves(s, "/%73ub/%78", FILES["sub/x"])


def test_dot_segments(s):
    expect_serves(s, "/sub/../index.html", FILES["index.html"])
    expect_serves(s, "/sub/./x", FILES["sub/x"])
    expect_serves(s, "/./sub/nothing/../x", FILES["sub/x"])


def test_repeated_slashes(s):
    expect_serves(s, "//sub///x", FILES["sub/x"])
    expect_serves(s, "/sub//index.html", FILES["sub/index.html"])


def test_query_ignored(s):
    expect_serves(s, "/x.txt?v=1", FILES["x.txt"])
    expect_serves(s, "/x.txt?a=/../secret&b=%00", FILES["x.txt"])


def test_traversal_never_escapes(s):
    for t in ("/../secret", "/%2e%2e/secret", "/..%2fsecret", "/%2e%2e%2fsecret",
              "/sub/../../secret", "/sub/..%2f..%2fsecret", "/./../www/../secret",
              "/..%5csecret", "/x.txt%00", "/x.txt%00.html", "/%00", "/sub%00/x",
              "/../www/x.txt/../../secret"):
        r = get(s, t)
        expect(r.status in (400, 404), "GET %s: expected 400 or 404, got %d" % (t, r.status))
        expect(SECRET not in r.body, "GET %s served the file outside the root!" % t)


def test_symlink_outside_root_403(s):
    for t in ("/out-abs", "/out-rel"):
        r = get(s, t)
        expect_eq(r.status, 403, "GET %s (symlink to a file outside the root)" % t)
        expect(SECRET not in r.body, "GET %s served the file outside the root!" % t)
    # A symlinked directory that leads out: refused too (never the file).
    r = get(s, "/outdir/secret")
    expect(r.status in (403, 404), "GET /outdir/secret: expected 403 (or 404), got %d" % r.status)
    expect(SECRET not in r.body, "GET /outdir/secret served the file outside the root!")


def test_symlink_to_fifo_outside_never_opened(s):
    """A symlink to a FIFO outside the root: refused without opening it. An open for reading
    would release a writer blocked on it (opening a device out there could do worse)."""
    fifo = os.path.join(s.dir, "pipe")
    os.mkfifo(fifo)
    os.symlink(fifo, os.path.join(s.root, "to-fifo"))
    writer = subprocess.Popen([sys.executable, "-c", "open(%r, 'wb')" % fifo])
    try:
        def blocked():  # the writer waits in the FIFO's open for a reader
            try:
                with open("/proc/%d/wchan" % writer.pid) as f:
                    return f.read().strip() == "wait_for_partner"
            except OSError:
                return False
        expect(wait_for(blocked, 5), "the writer never blocked on the FIFO")
        r = get(s, "/to-fifo")
        expect_eq(r.status, 403, "GET /to-fifo (a FIFO outside the root)")
        # the open would have come before the answer: a released writer exits at once
        expect(wait_for(lambda: writer.poll() is not None, 0.5) is False,
               "the server opened the FIFO outside the root (its writer was released)")
    finally:
        writer.kill()
        writer.wait()


def test_symlink_inside_root_served(s):
    expect_serves(s, "/in-rel", FILES["x.txt"])
    expect_serves(s, "/in-abs", FILES["x.txt"])


def expect_redirect(r, want, what):
    expect_eq(r.status, 301, what + " status")
    loc = r.header("location")
    expect(loc is not None, what + ": no Location header")
    u = urlsplit(loc)
    got = u.path + ("?" + u.query if u.query else "")
    expect(got == want and (not u.scheme or u.netloc.startswith("127.0.0.1")),
           "%s: Location %r, expected %r" % (what, loc, want))


def test_directory_redirect(s):
    expect_redirect(get(s, "/sub"), "/sub/", "GET /sub")
    expect_redirect(get(s, "/sub?a=1&b=2"), "/sub/?a=1&b=2", "GET /sub?a=1&b=2")
    expect_redirect(get(s, "/noindex"), "/noindex/", "GET /noindex")
    # Location is the resolved path, never the target as written: a target that starts
    # with "//" would otherwise send the client to another host ("//evil.example/..").
    for target in ("//evil.example/..%2fsub", "//evil.example/../sub", "/./sub", "/%73ub",
                   "http://127.0.0.1//evil.example/../sub"):
        r = get(s, target)
        expect_eq((r.status, r.header("location")), (301, "/sub/"), "GET %s" % target)
    expect_eq(get(s, "//evil.example/..%2fsub?q=1").header("location"), "/sub/?q=1",
              "the query is kept")
    # A long query (tracking parameters) is kept; beyond what a header can hold: 414.
    long_q = "?fbclid=" + "x" * 1500
    expect_redirect(get(s, "/sub" + long_q), "/sub/" + long_q, "GET /sub with a long query")
    expect_eq(get(s, "/sub?" + "x" * 3000).status, 414, "GET /sub with a 3000-byte query")


def test_directory_index(s):
    expect_serves(s, "/sub/", FILES["sub/index.html"])
    expect_serves(s, "/", FILES["index.html"])
    r = get(s, "/sub/")
    expect(r.header("content-type", "").startswith("text/html"),
           "GET /sub/ Content-Type %r (the index is html)" % r.header("content-type"))


def test_directory_without_index_403(s):
    r = get(s, "/noindex/")
    expect_eq(r.status, 403, "GET /noindex/ (no index file)")
    expect(b"file.txt" not in r.body, "GET /noindex/ lists the directory")


def test_missing_404(s):
    for t in ("/missing.txt", "/sub/missing", "/missing/dir/", "/x.txt/more"):
        r = get(s, t)
        expect(r.status == 404 or (t == "/x.txt/more" and r.status in (403, 404)),
               "GET %s: expected 404, got %d" % (t, r.status))


def test_index_config_key(s2):
    r = request(s2.port, "/sub/")
    expect_eq((r.status, r.body), (200, FILES["sub/start.html"]),
              "GET /sub/ with index = \"start.html\"")
    r = request(s2.port, "/")
    expect_eq(r.status, 403, "GET / with index = \"start.html\" and no /start.html")


def setup_links(s):
    secret = os.path.join(s.dir, "secret")          # next to the root, never servable
    with open(secret, "wb") as f:
        f.write(SECRET)
    outdir = os.path.join(s.dir, "outside")
    os.mkdir(outdir)
    with open(os.path.join(outdir, "secret"), "wb") as f:
        f.write(SECRET)
    os.symlink(secret, os.path.join(s.root, "out-abs"))
    os.symlink("../secret", os.path.join(s.root, "out-rel"))
    os.symlink(outdir, os.path.join(s.root, "outdir"))
    os.symlink("x.txt", os.path.join(s.root, "in-rel"))
    os.symlink(os.path.join(s.root, "x.txt"), os.path.join(s.root, "in-abs"))


def main():
    results = []
    s = remove_at_exit(Server(files=FILES))
    setup_links(s)
    with s:
        results.append(run_cases(s, [
            test_plain, test_percent_decoding, test_dot_segments, test_repeated_slashes,
            test_query_ignored, test_traversal_never_escapes, test_symlink_outside_root_403,
            test_symlink_to_fifo_outside_never_opened,
            test_symlink_inside_root_served, test_directory_redirect, test_directory_index,
            test_directory_without_index_403, test_missing_404]))
    with remove_at_exit(Server(settings={"index": '"start.html"'}, files=FILES)) as s2:
        results.append(run_cases(s2, [test_index_config_key]))
    finish(results)


if __name__ == "__main__":
    main()
