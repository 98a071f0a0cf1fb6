#!/usr/bin/env python3
"""PROXY protocol on listeners with proxy_protocol = true: a v1 line (TCP4, TCP6, UNKNOWN) or
a v2 header (with TLVs, sent whole or in pieces) comes first and names the client, whose
address the access log and the error log's lines about the connection then show; v2 LOCAL (a
balancer's own health check) keeps the socket's address; garbage, a broken v2 header and one
too long are closed and logged; a header that stalls is cut by the header timeout; on a TLS
listener the header comes before the handshake. A listener without the option never parses
one: a client sending a PROXY line there gets an error (501: PROXY is no method) and its
forged address is logged nowhere;
neither is a second header after the first. The real HAProxy (TCP mode, send-proxy-v2) in
front of the TLS listener: the client's own address is logged."""
import os, re, shutil, socket, ssl, struct, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from tlscerts import *

SMALL = b"hello behind a balancer\n"
BIG = 8 * 1024 * 1024
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
WAIT = 5


class Ctx:
    pass


X = Ctx()


def v2(cmd=1, fam=0x11, addrs=None, tlvs=b""):
    """A v2 header: cmd 1 PROXY / 0 LOCAL; fam 0x11 TCP4, 0x21 TCP6, 0x00 UNSPEC."""
    body = (addrs or b"") + tlvs
    return V2_SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body)) + body


def v2_tcp4(src, dst="10.0.0.1", sport=40000, dport=80, tlvs=b"", cmd=1):
    addrs = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return v2(cmd, 0x11, addrs, tlvs)


def tlv(t, value):
    return bytes([t]) + struct.pack("!H", len(value)) + value


def log_text():
    try:
        with open(X.alog, "rb") as f:
            return f.read().decode("latin-1")
    except FileNotFoundError:
        return ""


def access_addr(marker):
    """The address field of the access-log line whose request contains marker."""
    def find():
        for line in log_text().split("\n"):
            if marker in line:
                return line.split(" ", 1)[0]
        return None
    a = wait_for(find, WAIT)
    expect(a, "no access log line for %r within %ds; log:\n%s" % (marker, WAIT, log_text()[-1500:]))
    return a


def error_line(s, pattern):
    """Waits for an error-log line matching pattern; returns it or fails the case."""
    rx = re.compile(pattern)

    def find():
        for line in drain_lines(s):
            if rx.search(line):
                return line
        return None
    line = wait_for(find, WAIT)
    expect(line, "no error log line matching %r; log:\n%s" % (pattern, "\n".join(s.log[-15:])))
    return line


def get(conn_bytes_first, marker, port=None, extra=b""):
    """Sends conn_bytes_first, then a request for /small.txt?marker; returns the response."""
    c = Conn(port or X.proxy_port)
    try:
        c.send(conn_bytes_first + http_req(path="/small.txt?" + marker) + extra)
        return c.read_response()
    finally:
        c.close()


def case_v1_tcp4(s):
    r = get(b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 80\r\n", "v1tcp4")
    expect_eq((r.status, r.body), (200, SMALL), "answer behind a v1 header")
    expect_eq(access_addr("v1tcp4"), "203.0.113.7", "access log address")


def case_v1_tcp6(s):
    r = get(b"PROXY TCP6 2001:db8::7 2001:db8::1 51000 443\r\n", "v1tcp6")
    expect_eq(r.status, 200, "status")
    expect_eq(access_addr("v1tcp6"), "2001:db8::7", "access log address")


def case_v1_unknown_keeps_peer(s):
    r = get(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", "v1unknown")
    expect_eq(r.status, 200, "status")
    expect_eq(access_addr("v1unknown"), "127.0.0.1", "UNKNOWN keeps the socket's address")


def case_v2_tlvs(s):
    tlvs = (tlv(0x01, b"h2") + tlv(0x02, b"www.example") + tlv(0x05, b"\x01" * 40) +
            tlv(0x04, b"") + tlv(0xE0, os.urandom(300)))
    r = get(v2_tcp4("198.51.100.9", tlvs=tlvs), "v2tlvs")
    expect_eq((r.status, r.body), (200, SMALL), "answer behind a v2 header with TLVs")
    expect_eq(access_addr("v2tlvs"), "198.51.100.9", "access log address")


def case_v2_tcp6(s):
    addrs = (socket.inet_pton(socket.AF_INET6, "2001:db8::99") +
             socket.inet_pton(socket.AF_INET6, "2001:db8::1") + struct.pack("!HH", 1234, 80))
    r = get(v2(1, 0x21, addrs), "v2tcp6")
    expect_eq(r.status, 200, "status")
    expect_eq(access_addr("v2tcp6"), "2001:db8::99", "access log address")


def case_v2_in_pieces(s):
    """The header arrives in four segments, the request after it: nothing is lost, nothing
    past the header is taken early, and the worker does not spin on the partial bytes."""
    h = v2_tcp4("192.0.2.44", tlvs=tlv(0x02, b"pieces.example"))
    c = Conn(X.proxy_port)
    try:
        for piece in (h[:3], h[3:14], h[14:20], h[20:]):
            c.send(piece)
            time.sleep(0.05)  # separate segments (TCP_NODELAY), not a wait for an event
        c.send(http_req(path="/small.txt?pieces"))
        r = c.read_response()
        expect_eq((r.status, r.body), (200, SMALL), "answer")
        # keep-alive: the next request on the connection keeps the client's address
        r = roundtrip(c, path="/small.txt?pieces2")
        expect_eq(r.status, 200, "second request")
    finally:
        c.close()
    expect_eq(access_addr("pieces"), "192.0.2.44", "address")
    expect_eq(access_addr("pieces2"), "192.0.2.44", "address of the keep-alive request")


def case_v2_local_keeps_peer(s):
    r = get(v2(0, 0x00), "v2local")
    expect_eq(r.status, 200, "status")
    expect_eq(access_addr("v2local"), "127.0.0.1", "LOCAL keeps the socket's address")
    # LOCAL with an address block (the proxy's own) is ignored all the same
    r = get(v2_tcp4("203.0.113.250", cmd=0), "v2local2")
    expect_eq(r.status, 200, "status")
    expect_eq(access_addr("v2local2"), "127.0.0.1", "LOCAL's addresses are not the client's")


def closed_without_answer(data, port=None):
    c = Conn(port or X.proxy_port)
    try:
        c.send(data)
        c.sock.settimeout(WAIT)
        got = b""
        try:
            while True:
                chunk = c.sock.recv(4096)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
        return got
    finally:
        c.close()


def case_garbage_closed_and_logged(s):
    got = closed_without_answer(http_req(path="/small.txt?noheader"))
    expect_eq(got, b"", "a request without a PROXY header gets no answer")
    error_line(s, r"client 127\.0\.0\.1: invalid PROXY protocol header, closing")
    # a v1 line with a forged-looking but malformed address
    got = closed_without_answer(b"PROXY TCP4 999.1.1.1 10.0.0.1 1 2\r\n" + http_req())
    expect_eq(got, b"", "a malformed v1 line gets no answer")
    # v2 whose TLVs overrun the header
    good = v2_tcp4("203.0.113.8")
    bad = V2_SIG + b"\x21\x11" + struct.pack("!H", 12 + 3) + good[16:28] + b"\x01\x00\x09"
    got = closed_without_answer(bad + http_req(path="/small.txt?badtlv"))
    expect_eq(got, b"", "a v2 header with broken TLVs gets no answer")
    got = closed_without_answer(V2_SIG + b"\x21\x11\xea\x60" + b"\x00" * 64)
    expect_eq(got, b"", "a v2 header of 60000 bytes gets no answer")
    error_line(s, r"client 127\.0\.0\.1: PROXY protocol header too long, closing")
    expect("203.0.113.8" not in log_text(), "a broken header's address reached the access log")


def case_stall_cut_by_header_timeout(s):
    c = Conn(X.proxy_port)
    try:
        c.send(b"PROXY TCP4 203.0.113.")
        t = time_until_closed(c, 6)
    finally:
        c.close()
    expect(t is not None, "a stalled PROXY header was not cut within 6 s")
    expect(0.7 <= t <= 4.0, "cut after %.2fs; header timeout is 1 s" % t)
    error_line(s, r"client 127\.0\.0\.1: no PROXY protocol header in time, closing")


def case_error_log_shows_client(s):
    """The send timeout's line names the client of the header, not the balancer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", X.proxy_port))
    try:
        sock.sendall(b"PROXY TCP4 203.0.113.77 10.0.0.1 5000 80\r\n" + http_req(path="/big.bin"))
        error_line(s, r"client 203\.0\.113\.77: send timeout, closing")
    finally:
        sock.close()


def case_tls_behind_proxy(s):
    for hdr, want, marker in ((v2_tcp4("192.0.2.201", tlvs=tlv(0x01, b"http/1.1")),
                               "192.0.2.201", "tlsv2"),
                              (b"PROXY TCP4 192.0.2.202 10.0.0.1 5 443\r\n", "192.0.2.202",
                               "tlsv1")):
        raw = connect(X.tls_port)
        raw.sendall(hdr)
        sock = client_context(X.ca).wrap_socket(raw, server_hostname="localhost")
        try:
            sock.sendall(http_req(path="/small.txt?" + marker, headers={"Connection": "close"}))
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            sock.close()
        expect(data.startswith(b"HTTP/1.1 200") and data.endswith(SMALL),
               "HTTPS answer behind PROXY: %r" % data[:80])
        line = wait_for(lambda: [l for l in log_text().split("\n") if marker in l], WAIT)
        expect(line and line[0].startswith(want + " "), "TLS access log line: %r" % line)
        expect("TLSv1." in line[0], "the line names the TLS version: %r" % line[0])
    # a TLS client that skips the header is closed, not handshaken
    raw = connect(X.tls_port)
    try:
        with expect_raises_ssl():
            client_context(X.ca).wrap_socket(raw, server_hostname="localhost")
    finally:
        raw.close()
    error_line(s, r"client 127\.0\.0\.1: invalid PROXY protocol header, closing")


def case_tls_through_haproxy(s):
    """The real HAProxy in TCP mode with send-proxy-v2 in front of the TLS listener (it may
    send the header and the ClientHello in one segment): the client, on 127.0.0.9, is logged."""
    expect(shutil.which("haproxy"), "haproxy is not installed (scripts/deps.sh installs it)")
    port = free_port()
    cfg = os.path.join(s.dir, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write("defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n"
                "    timeout server 5s\nfrontend tls\n    bind 127.0.0.1:%d\n"
                "    default_backend evcluster\nbackend evcluster\n"
                "    server s1 127.0.0.1:%d send-proxy-v2\n" % (port, X.tls_port))
    hp = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        def up():
            try:
                connect(port, 1).close()
                return True
            except OSError:
                return False
        expect(wait_for(up, 10), "haproxy does not listen")
        for i in range(3):
            raw = connect(port, addr="127.0.0.1", source="127.0.0.9")
            sock = client_context(X.ca).wrap_socket(raw, server_hostname="localhost")
            try:
                sock.sendall(http_req(path="/small.txt?viahaproxy%d" % i,
                                      headers={"Connection": "close"}))
                data = b""
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            finally:
                sock.close()
            expect(data.startswith(b"HTTP/1.1 200") and data.endswith(SMALL),
                   "HTTPS through HAProxy: %r" % data[:80])
            expect_eq(access_addr("viahaproxy%d" % i), "127.0.0.9", "address through HAProxy")
    finally:
        hp.kill()
        hp.wait()


class expect_raises_ssl:
    def __enter__(self):
        return self

    def __exit__(self, typ, val, tb):
        expect(typ is not None and issubclass(typ, (ssl.SSLError, ConnectionError, OSError)),
               "a TLS handshake without a PROXY header succeeded")
        return True


def case_plain_listener_never_parses(s):
    """The forged-address protection: a listener without the option treats a PROXY line as
    a (bad) request line: 400, the socket's address in the log, the forged one nowhere."""
    c = Conn(X.plain_port)
    try:
        c.send(b"PROXY TCP4 203.0.113.66 10.0.0.1 1 80\r\n" +
               http_req(path="/small.txt?forged"))
        r = c.read_response()
    finally:
        c.close()
    # "PROXY" is a method the server does not implement: 501, as for any other unknown one
    expect(r.status in (400, 501), "a PROXY line on a plain listener: %r" % r)
    r = request(X.plain_port, "/small.txt?plainok")
    expect_eq(r.status, 200, "the plain listener serves")
    expect_eq(access_addr("plainok"), "127.0.0.1", "plain listener's address")
    expect("203.0.113.66" not in log_text(), "a forged address reached the access log")
    expect(not any("203.0.113.66" in l for l in drain_lines(s)),
           "a forged address reached the error log")


def case_second_header_is_not_trusted(s):
    """Only the first header of a connection counts: a client behind the balancer that sends
    its own PROXY line gets a 400 logged under the balancer-given address."""
    c = Conn(X.proxy_port)
    try:
        c.send(v2_tcp4("192.0.2.50") + b"PROXY TCP4 203.0.113.99 10.0.0.1 1 80\r\n" +
               http_req(path="/small.txt?second"))
        r = c.read_response()
    finally:
        c.close()
    expect(r.status in (400, 501), "a second PROXY header: %r" % r)
    expect(wait_for(lambda: "192.0.2.50 " in log_text(), WAIT), "the 400 is logged for the "
           "balancer-given address")
    expect("203.0.113.99" not in log_text(), "the second header's address was taken")


def case_reload_moves_the_option(s):
    """A reload that swaps the option between two addresses: the new generation's workers
    follow their config (the listening sockets are the same: listeners are keyed by their
    address text, hence fixed ports here)."""
    plain, proxied = X.plain_port, X.proxy_port
    conf = open(s.conf).read()
    conf = conf.replace('"127.0.0.1:%d"' % plain,
                        '{ address = "127.0.0.1:%d"; proxy_protocol = true; }' % plain)
    conf = conf.replace('{ address = "127.0.0.1:%d"; proxy_protocol = true; }' % proxied,
                        '"127.0.0.1:%d"' % proxied, 1)
    expect(conf != open(s.conf).read(), "config not rewritten")
    with open(s.conf, "w") as f:
        f.write(conf)
    r = s.cli("-s", "reload")
    expect_eq(r.returncode, 0, "reload (%s)" % r.stderr)
    r = request(proxied, "/small.txt?nowplain")
    expect_eq(r.status, 200, "plain request to the listener that lost the option")
    r = get(b"PROXY TCP4 192.0.2.123 10.0.0.1 1 80\r\n", "nowproxied", port=plain)
    expect_eq(r.status, 200, "PROXY request to the listener that got the option")
    expect_eq(access_addr("nowproxied"), "192.0.2.123", "address after the reload")
    expect_eq(access_addr("nowplain"), "127.0.0.1", "address on the plain one")


def main():
    s = remove_at_exit(Server(files={"small.txt": SMALL, "big.bin": b"\x07" * BIG}))
    certs = os.path.join(s.dir, "certs")
    os.mkdir(certs)
    X.ca = make_ca(certs)
    cert, key = make_cert(certs, "site", ["DNS:localhost", "IP:127.0.0.1"])
    s.write_conf(tls_settings([(cert, key)], listen=(
        '( "127.0.0.1:%d", { address = "127.0.0.1:%d"; proxy_protocol = true; }, '
        '{ address = "127.0.0.1:%d"; tls = true; proxy_protocol = true; } )'
        % (free_port(), free_port(), free_port()))))
    s.write_conf({"access_log": '"access.log"',
                  "timeouts": "{ graceful = 5.0; keepalive = 5.0; header = 1.0; send = 1.0; }"})
    X.alog = os.path.join(s.dir, "access.log")
    with s:
        X.plain_port, X.proxy_port, X.tls_port = listen_ports(s)
        res = run_cases(s, [
            
            case_v1_tcp4, case_v1_tcp6, case_v1_unknown_keeps_peer, case_v2_tlvs, case_v2_tcp6,
            case_v2_in_pieces, case_v2_local_keeps_peer, case_garbage_closed_and_logged,
            case_stall_cut_by_header_timeout, case_error_log_shows_client, case_tls_behind_proxy, case_tls_through_haproxy,
            case_plain_listener_never_parses, case_second_header_is_not_trusted,
            case_reload_moves_the_option])
    finish([res])


if __name__ == "__main__":
    main()
