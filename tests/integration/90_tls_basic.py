#!/usr/bin/env python3
"""HTTPS: the HTTP behaviour of the plain suites over TLS (GET, HEAD, ranges, conditionals,
keep-alive, pipelining, a 5 MiB file byte for byte, also to a slow reader), with curl --cacert, openssl s_client and
Python's ssl; SNI picks the certificate (ECDSA and RSA), and for a name with both the client's
signature algorithms choose; TLS 1.0 and 1.1 are refused and
min_version TLSv1.3 refuses 1.2; ALPN answers http/1.1; a plain request on the TLS port gets a
400 in plain text; the access log and status show the protocol; redirect_https."""
import hashlib, os, re, socket, ssl, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from tlscerts import *

BIG = os.urandom(5 * 1024 * 1024 + 123)
SMALL = b"<p>hello over tls</p>\n"


def curl(args, timeout=20):
    # HTTP/1.1 over TLS is this suite's subject; h2 over TLS is 95's and 96's
    return subprocess.run(["curl", "-sS", "--http1.1", "--max-time", "15"] + args, capture_output=True,
                          timeout=timeout)


class Ctx:
    pass


X = Ctx()


def url(path="/", host="localhost"):
    return "https://%s:%d%s" % (host, X.tls_port, path)


def case_get_head(s):
    r = curl(["--cacert", X.ca, url("/index.html")])
    expect_eq(r.returncode, 0, "curl exit (%s)" % r.stderr)
    expect_eq(r.stdout, SMALL, "body")
    r = curl(["--cacert", X.ca, "-I", url("/index.html")])
    expect(b"HTTP/1.1 200" in r.stdout, "HEAD status: %r" % r.stdout[:80])
    expect(b"content-length: %d" % len(SMALL) in r.stdout.lower(), "HEAD length")
    r = curl(["--cacert", X.ca, "-o", "/dev/null", "-w", "%{http_code}", url("/nope")])
    expect_eq(r.stdout, b"404", "missing file")


def case_large_exact(s):
    r = curl(["--cacert", X.ca, url("/big.bin")], timeout=60)
    expect_eq(r.returncode, 0, "curl exit (%s)" % r.stderr)
    expect_eq(len(r.stdout), len(BIG), "length")
    expect(hashlib.sha256(r.stdout).digest() == hashlib.sha256(BIG).digest(), "bytes differ")
    # a range from the middle of the large file, and a small one
    r = curl(["--cacert", X.ca, "-r", "3000000-3999999", url("/big.bin")])
    expect(r.stdout == BIG[3000000:4000000], "large range")
    r = curl(["--cacert", X.ca, "-r", "5-9", url("/index.html")])
    expect_eq(r.stdout, SMALL[5:10], "small range")


def case_slow_reader_exact(s):
    """A reader with a small receive buffer that takes its bytes a little at a time: the
    server's batched TLS writes are taken by the socket in part, again and again, and what it
    held must follow in order. Two pipelined downloads on one connection, byte for byte."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    raw.settimeout(10)
    raw.connect(("127.0.0.1", X.tls_port))
    c = client_context(X.ca).wrap_socket(raw, server_hostname="localhost")
    try:
        req = b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n"
        c.sendall(req + req)
        want_head = b"content-length: %d\r\n" % len(BIG)
        got, reads = b"", 0
        deadline = time.monotonic() + 40
        total = None
        while total is None or len(got) < total:
            expect(time.monotonic() < deadline, "2 slow downloads took over 40 s (%d bytes)" % len(got))
            chunk = c.recv(16384)
            expect(chunk, "the server closed after %d bytes" % len(got))
            got += chunk
            reads += 1
            if reads % 16 == 0:
                time.sleep(0.002)  # a slow reader: the server's socket fills meanwhile
            if total is None and got.count(b"\r\n\r\n") >= 1:
                head_len = got.index(b"\r\n\r\n") + 4
                expect(want_head in got[:head_len].lower(), "first head: %r" % got[:head_len])
                total = 2 * (head_len + len(BIG))  # the same head twice (Date may tick: checked)
        h1 = got.index(b"\r\n\r\n") + 4
        expect(hashlib.sha256(got[h1:h1 + len(BIG)]).digest() == hashlib.sha256(BIG).digest(),
               "first body differs")
        rest = got[h1 + len(BIG):]
        h2 = rest.index(b"\r\n\r\n") + 4
        expect(rest.startswith(b"HTTP/1.1 200"), "second answer: %r" % rest[:40])
        expect(hashlib.sha256(rest[h2:h2 + len(BIG)]).digest() == hashlib.sha256(BIG).digest(),
               "second body differs")
    finally:
        c.close()


def case_conditionals(s):
    c = TlsConn(X.tls_port, X.ca)
    try:
        r = roundtrip(c, path="/index.html", host="localhost")
        expect_eq(r.status, 200, "status")
        etag = r.header("etag")
        r = roundtrip(c, path="/index.html", host="localhost", headers={"If-None-Match": etag})
        expect_eq(r.status, 304, "If-None-Match")
        r = roundtrip(c, path="/big.bin", host="localhost",
                      headers={"Range": "bytes=0-9", "If-Range": '"nope"'})
        expect_eq(r.status, 200, "If-Range mismatch gives the whole file")
        expect(r.body == BIG, "whole file after If-Range")
    finally:
        c.close()


def case_keepalive_pipelining(s):
    c = TlsConn(X.tls_port, X.ca)
    try:
        for i in range(5):  # keep-alive: one connection, one handshake
            r = roundtrip(c, path="/index.html", host="localhost")
            expect_eq(r.status, 200, "request %d" % i)
            expect_eq(r.body, SMALL, "body %d" % i)
        # pipelining: ten requests in one write, the large file among them
        reqs = b"".join(http_req(path=p, host="localhost")
                        for p in ["/index.html"] * 4 + ["/big.bin"] + ["/index.html"] * 5)
        c.send(reqs)
        for i in range(10):
            r = c.read_response()
            expect_eq(r.status, 200, "pipelined %d" % i)
            expect(r.body == (BIG if i == 4 else SMALL), "pipelined body %d" % i)
    finally:
        c.close()
    # curl re-uses the connection for two URLs
    r = curl(["--cacert", X.ca, "-v", url("/index.html"), url("/index.html")])
    expect(b"Re-using existing connection" in r.stderr or b"Reusing existing" in r.stderr,
           "curl did not keep the connection: %r" % r.stderr[-300:])


def case_sni(s):
    for name, cn, bits in (("a.test", "a.test", 256), ("b.test", "b.test", 2048),
                           ("unknown.test", "a.test", 256)):
        rc, out = s_client(X.tls_port, ["-servername", name, "-CAfile", X.ca], CLOSE_REQ)
        expect_eq(peer_cn(out), cn, "certificate for SNI %s" % name)
        expect("Server public key is %d bit" % bits in out, "key type (ECDSA P-256 or RSA "
               "2048) for %s" % name)
        expect("Verify return code: 0 (ok)" in out, "verification for %s" % name)
    r = curl(["--cacert", X.ca, "--resolve", "b.test:%d:127.0.0.1" % X.tls_port,
              "https://b.test:%d/index.html" % X.tls_port])
    expect_eq(r.stdout, SMALL, "curl to the RSA name")


def case_ecdsa_and_rsa_for_one_name(s):
    """c.test has an ECDSA and an RSA certificate: the client's signature algorithms choose."""
    for sigalgs, bits in ((None, 256), ("rsa_pss_rsae_sha256:RSA+SHA256", 2048),
                          ("ECDSA+SHA256", 256)):
        for v in ("-tls1_2", "-tls1_3"):
            args = ["-servername", "c.test", "-CAfile", X.ca, v]
            if sigalgs:
                args += ["-sigalgs", sigalgs]
            rc, out = s_client(X.tls_port, args, CLOSE_REQ)
            expect("Server public key is %d bit" % bits in out and "HTTP/1.1 200" in out,
                   "c.test %s with sigalgs %s: want %d bits: %s" % (v, sigalgs, bits, out[-300:]))
            expect("Verify return code: 0 (ok)" in out, "verified")


def case_old_versions_refused(s):
    for v in ("-tls1", "-tls1_1"):
        rc, out = s_client(X.tls_port, [v, "-cipher", "DEFAULT@SECLEVEL=0"], CLOSE_REQ)
        expect(rc != 0 and "HTTP/1.1 200" not in out, "%s accepted" % v)
        expect("protocol version" in out or "no protocols available" in out or
               "unsupported protocol" in out, "%s: why? %s" % (v, out[-300:]))
    ctx = client_context(X.ca, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
    c = TlsConn(X.tls_port, X.ca, ctx=ctx)
    expect_eq(c.sock.version(), "TLSv1.2", "TLS 1.2 accepted")
    c.close()
    c = TlsConn(X.tls_port, X.ca)
    expect_eq(c.sock.version(), "TLSv1.3", "TLS 1.3 by default")
    c.close()


def case_alpn(s):
    # http2 = true (the default): h2 first when the client offers it
    rc, out = s_client(X.tls_port, ["-alpn", "h2,http/1.1", "-CAfile", X.ca], CLOSE_REQ)
    expect("ALPN protocol: h2" in out, "ALPN: %s" % out[-400:])
    rc, out = s_client(X.tls_port, ["-alpn", "http/1.1", "-CAfile", X.ca], CLOSE_REQ)
    expect("ALPN protocol: http/1.1" in out, "ALPN: %s" % out[-400:])
    expect("HTTP/1.1 200" in out, "answered over HTTP/1.1")
    rc, out = s_client(X.tls_port, ["-alpn", "spdy/3", "-CAfile", X.ca], CLOSE_REQ)
    expect("No ALPN negotiated" in out, "an unknown protocol is not chosen")
    expect("HTTP/1.1 200" in out, "still answered over HTTP/1.1")


def case_plain_on_tls_port(s):
    responses, closed, rest = exchange(X.tls_port, http_req(path="/index.html"), timeout=3)
    expect(closed, "the connection was not closed")
    expect_eq(len(responses), 1, "one plain answer")
    expect_eq(responses[0].status, 400, "status")
    expect(b"HTTPS" in responses[0].body, "says why: %r" % responses[0].body)


def case_log_and_status(s):
    log = os.path.join(s.dir, "access.log")
    def tls_lines():
        try:
            with open(log) as f:
                return [l for l in f if '"TLSv1.' in l]
        except FileNotFoundError:
            return []
    lines = wait_for(tls_lines, 5)
    expect(lines, "no access log line with the TLS field")
    expect(re.search(r'"TLSv1\.[23] [r.]"$', lines[-1].rstrip("\n")) is not None,
           "last field: %r" % lines[-1])
    # a plain request logs "-" in that field
    r = request(X.plain_port, "/index.html")
    expect_eq(r.status, 200, "plain request")
    def plain_line():
        with open(log) as f:
            return [l for l in f if l.rstrip("\n").endswith('"-"') and "GET /index.html" in l]
    expect(wait_for(plain_line, 5), "a plain line ends with \"-\"")
    st = sup_status(s)
    tls = [w["tls"] for w in st["workers"]]
    expect(sum(t["handshakes"] for t in tls) >= 10, "handshakes counted: %r" % tls)
    expect(sum(t["failed"] for t in tls) >= 1, "failures counted: %r" % tls)
    expect(all(t["body_path"] in ("buffer", "ktls") for t in tls), "body path: %r" % tls)


def case_redirect(s):
    r = request(X.redir_port, "/a/b?x=1", headers={"Host": "example.org:8080"})
    expect_eq(r.status, 301, "status")
    expect_eq(r.header("location"), "https://example.org:%d/a/b?x=1" % X.tls_port, "Location")
    for bad in ("evil.com/x", "a@b", "a b", "a\\b"):
        r = request(X.redir_port, "/", headers={"Host": bad})
        expect_eq(r.status, 400, "Host %r" % bad)
        expect(r.header("location") is None, "no Location for %r" % bad)
    # a CR or LF inside Host is refused by the parser before it gets here: never injected
    responses, closed, rest = exchange(X.redir_port,
                                       b"GET / HTTP/1.1\r\nHost: a\rSet-Cookie: x=1\r\n\r\n")
    expect(all(r.status == 400 and "set-cookie" not in r.headers for r in responses),
           "CR in Host: %r" % responses)


def case_min_version_13(s):
    s2 = Server(files={"index.html": SMALL},
                settings=tls_settings([(X.a_pem, X.a_key)], 'min_version = "TLSv1.3";'))
    with s2:
        port = s2.port
        ctx = client_context(X.ca, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
        try:
            TlsConn(port, X.ca, ctx=ctx).close()
            expect(False, "TLS 1.2 accepted with min_version TLSv1.3")
        except ssl.SSLError as e:
            expect("version" in str(e).lower(), "why: %s" % e)
        c = TlsConn(port, X.ca)
        expect_eq(c.sock.version(), "TLSv1.3", "1.3 accepted")
        expect_eq(roundtrip(c, path="/index.html", host="localhost").body, SMALL, "served")
        c.close()


def main():
    d = tempfile.mkdtemp(prefix="evc-tls-")
    X.ca = make_ca(d)
    X.a_pem, X.a_key = make_cert(d, "a", ["DNS:a.test", "DNS:localhost", "IP:127.0.0.1"])
    X.b_pem, X.b_key = make_cert(d, "b", ["DNS:b.test"], kind="rsa")
    c_ec = make_cert(d, "c_ec", ["DNS:c.test"])
    c_rsa = make_cert(d, "c_rsa", ["DNS:c.test"], kind="rsa")
    listen = ('( "127.0.0.1:%d", { address = "127.0.0.1:0"; tls = true; }, '
              '{ address = "127.0.0.1:%d"; redirect_https = true; } )' % (free_port(), free_port()))
    settings = tls_settings([(X.a_pem, X.a_key), (X.b_pem, X.b_key), c_rsa, c_ec], listen=listen)
    settings["access_log"] = '"access.log"'
    s = remove_at_exit(Server(files={"index.html": SMALL, "big.bin": BIG}, settings=settings,
                              workers=2))
    with s:
        X.plain_port, X.tls_port, X.redir_port = listen_ports(s)
        res = run_cases(s, [case_get_head, case_large_exact, case_slow_reader_exact,
                            case_conditionals,
                            case_keepalive_pipelining, case_sni, case_ecdsa_and_rsa_for_one_name,
                            case_old_versions_refused,
                            case_alpn, case_plain_on_tls_port, case_redirect,
                            case_log_and_status, case_min_version_13])
    finish([res])


if __name__ == "__main__":
    main()
