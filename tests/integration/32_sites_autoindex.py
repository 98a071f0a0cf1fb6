#!/usr/bin/env python3
"""autoindex = true over HTTP/1.1 and HTTP/2: a folder without its index is listed in HTML
(names HTML-escaped, links percent-encoded, directories first then by name, sizes and dates,
hidden files left out) or JSON (Accept: application/json); a folder with its index serves the
index; a site without autoindex answers 403. A folder of 100,000 entries is read on the pool:
its listing shows the first 10,000 with a note, and while it is made another request is
answered at once (the loop never stalls)."""
import json, os, re, socket, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

MODES = [("h1", ["--http1.1"], "1.1"), ("h2c", ["--http2-prior-knowledge"], "2")]


class Ctx:
    pass


X = Ctx()


def get(mode, host, path, args=()):
    name, margs, version = mode
    code, ver, headers, body = curl(
        "http://%s:%d%s" % (host, X.port, path),
        ["--connect-to", "::127.0.0.1:%d" % X.port] + margs + list(args), timeout=30,
        what="%s %s" % (name, path))
    expect_eq(ver, version, name + " version")
    return code, headers, body


def each(host, path, args=()):
    out = [get(m, host, path, args) for m in MODES]
    expect_eq(out[1][0], out[0][0], path + " status h2 vs h1")
    if "--head" not in args:  # curl writes a HEAD's head where the body would go
        expect_eq(out[1][2], out[0][2], path + " body h2 vs h1")
    expect_eq(out[1][1].get("content-type"), out[0][1].get("content-type"), "type h2 vs h1")
    return out[0]


def case_html(s):
    c, h, b = each("a.test", "/list/")
    expect_eq(c, 200, "listing status")
    expect_eq(h.get("content-type"), "text/html; charset=utf-8", "listing type")
    t = b.decode()
    expect("Index of /list/" in t, "title")
    expect("<script>" not in t and "&lt;script&gt;x.txt" in t, "names escaped")
    expect('href="%3Cscript%3Ex.txt"' in t, "links percent-encoded: %s" % t)
    expect('href="a%20b&amp;c.txt">a b&amp;c.txt</a>' in t, "space and & in a link")
    expect('href="./a:b.txt"' in t, "a ':' cannot make a scheme")
    expect(".hidden" not in t, "hidden files left out")
    names = re.findall(r'<a href="[^"]*">([^<]*)</a>', t)
    expect_eq(names, ["../", "sub/", "&lt;script&gt;x.txt", "a b&amp;c.txt", "a:b.txt",
                      "z.txt"], "order: directories first, then by name")
    expect(re.search(r"z\.txt</a>\s+\w{3}, \d\d \w{3} \d{4} [\d:]{8} GMT\s+12345\n", t),
           "date and size of z.txt")
    c, h, b = each("a.test", "/list/", ["--head"])
    expect_eq(c, 200, "HEAD listing")


def case_json(s):
    c, h, b = each("a.test", "/list/", ["-H", "Accept: application/json"])
    expect_eq(h.get("content-type"), "application/json", "json type")
    v = json.loads(b)
    expect_eq([e["name"] for e in v], ["sub", "<script>x.txt", "a b&c.txt", "a:b.txt", "z.txt"],
              "json names")
    expect_eq(v[0]["type"], "directory", "sub is a directory")
    expect_eq(v[-1]["size"], 12345, "z.txt size")
    expect("mtime" in v[-1], "mtime")


def case_index_and_off(s):
    c, h, b = each("a.test", "/withindex/")
    expect_eq(b, b"<p>index</p>", "the index wins over a listing")
    c, h, b = each("b.test", "/list/")
    expect_eq(c, 403, "no autoindex: 403")


def case_big_folder(s):
    t0 = time.monotonic()
    result = {}

    def listing():
        result["r"] = get(MODES[0], "a.test", "/big/")
        result["t"] = time.monotonic()
    th = threading.Thread(target=listing)
    th.start()
    # while the pool reads 100,000 entries, the loop answers others at once
    worst = 0.0
    n = 0
    while th.is_alive() or n < 3:
        t1 = time.monotonic()
        r = request(s.port, "/small.txt", headers={"Host": "a.test"})
        worst = max(worst, time.monotonic() - t1)
        expect_eq(r.status, 200, "small file during the listing")
        n += 1
        if time.monotonic() - t0 > 30:
            break
    th.join(40)
    c, h, b = result["r"]
    expect_eq(c, 200, "big listing")
    t = b.decode()
    expect_eq(t.count("<a href="), 10001, "10,000 entries and ../")
    expect("90000 more entries are not shown" in t, "the note")
    expect("f000000.txt" in t and "f009999.txt" in t and "f010000.txt" not in t, "the first")
    print("  listing of 100,000: %.2fs; %d other requests meanwhile, slowest %.3fs"
          % (result["t"] - t0, n, worst), flush=True)
    expect(worst < 1.0, "another request took %.3fs during the listing" % worst)


def main():
    s = Server(files={"list/z.txt": b"z" * 12345, "list/<script>x.txt": b"x",
                      "list/a b&c.txt": b"", "list/a:b.txt": b"", "list/.hidden": b"h",
                      "list/sub/f": b"", "withindex/index.html": b"<p>index</p>",
                      "small.txt": b"small"})
    remove_at_exit(s)
    big = os.path.join(s.root, "big")
    os.mkdir(big)
    for i in range(100000):
        os.close(os.open(os.path.join(big, "f%06d.txt" % i), os.O_CREAT | os.O_WRONLY, 0o644))
    s.write_conf({"sites": '( { names = ["a.test"]; root = "www"; autoindex = true; },'
                           '  { names = ["b.test"]; root = "www"; } )'})
    with s:
        X.port = s.port
        res = run_cases(s, [case_html, case_json, case_index_and_off, case_big_folder])
    finish([res])


if __name__ == "__main__":
    main()
