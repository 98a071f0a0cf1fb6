#!/usr/bin/env python3
"""Sites with certificates of their own over HTTPS: each site's certificates (the format of
tls.certificates) join the server's, SNI picks the one for the name, and the site for the
request is the Host's (:authority's), over HTTP/1.1 and HTTP/2 through ALPN. A name no
certificate covers gets the default certificate (the first) and the default site. A request
without Host (HTTP/1.0) goes to the site SNI named; a Host beats SNI."""
import os, re, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from tlscerts import *


class Ctx:
    pass


X = Ctx()


def get(host, path, args):
    cmd = ["curl", "-sS", "-v", "--max-time", "20", "--cacert", X.ca,
           "--resolve", "%s:%d:127.0.0.1" % (host, X.port), "-w", "\n%{http_code} %{http_version}"] \
        + args + ["https://%s:%d%s" % (host, X.port, path)]
    r = subprocess.run(cmd, capture_output=True, timeout=30)
    expect(r.returncode == 0, "%s: curl: %s" % (host, r.stderr[-400:]))
    out = r.stdout.decode()
    body, status = out.rsplit("\n", 1)
    m = re.search(r"subject: CN=(\S+)", r.stderr.decode())
    return status, body, m.group(1) if m else None


def case_sni_and_site(s):
    for args, ver in ((["--http1.1"], "1.1"), (["--http2"], "2")):
        status, body, cn = get("a.test", "/who.txt", args)
        expect_eq((status, body, cn), ("200 " + ver, "site a", "a.test"), "a.test " + ver)
        status, body, cn = get("www.b.test", "/who.txt", args)
        expect_eq((status, body, cn), ("200 " + ver, "site b", "*.b.test"), "www.b.test " + ver)


def case_default(s):
    status, body, cn = get("localhost", "/who.txt", ["--http1.1", "-k"])
    expect_eq((body, cn), ("site a", "a.test"), "an unknown name: the first certificate, site")


def case_sni_without_host(s):
    # HTTP/1.0 needs no Host: the site is the one SNI named
    for name, want in (("www.b.test", "site b"), ("a.test", "site a"), ("nothing.test", "site a")):
        rc, out = s_client(X.port, ["-servername", name, "-CAfile", X.ca, "-quiet"],
                           b"GET /who.txt HTTP/1.0\r\n\r\n")
        expect("\r\n\r\n" + want in out, "SNI %s without Host: %r" % (name, out[-200:]))
    # a Host beats SNI
    rc, out = s_client(X.port, ["-servername", "www.b.test", "-CAfile", X.ca, "-quiet"],
                       b"GET /who.txt HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
    expect("\r\n\r\nsite a" in out, "Host a.test over SNI www.b.test: %r" % out[-200:])


def main():
    d = tempfile.mkdtemp(prefix="evc-sitetls-")
    X.ca = make_ca(d)
    a = make_cert(d, "a", ["DNS:a.test"])
    b = make_cert(d, "b", ["DNS:*.b.test", "DNS:b.test"])
    s = Server(files={"who.txt": b"site a"})
    remove_at_exit(s)
    os.makedirs(os.path.join(s.dir, "b"))
    with open(os.path.join(s.dir, "b", "who.txt"), "wb") as f:
        f.write(b"site b")
    s.write_conf({"listen": '( { address = "127.0.0.1:0"; tls = true; } )',
                  "sites": '( { names = ["a.test"]; root = "www";'
                           '    certificates = ( { cert = "%s"; key = "%s"; } ); },'
                           '  { names = ["b.test", "*.b.test"]; root = "b";'
                           '    certificates = ( { cert = "%s"; key = "%s"; } ); } )'
                           % (a[0], a[1], b[0], b[1])})
    with s:
        X.port = s.port
        res = run_cases(s, [case_sni_and_site, case_default, case_sni_without_host])
    finish([res])


if __name__ == "__main__":
    main()
