#!/usr/bin/env python3
"""HTTP/2 basics with the real clients: nghttp and h2load over h2c (prior knowledge) and TLS
(ALPN h2), zero failed streams; our HPACK encoder's blocks decode, repeat as indexed
fields, and follow the client's table size; over TLS a DATA frame fills one record; the preface sent a byte at a time is still h2 and a request
that merely starts with "P" stays HTTP/1.1; SETTINGS carry h2_max_concurrent_streams and
max_header_bytes; one large download beside twenty small files does not starve them;
cached bodies, sent from the cache entry rather than copied, arrive intact through a full
socket; idle connections hold no output buffer; a file truncated while it is sent from the
worker's mapping, over h2c or TLS, closes its connection and nothing else, and a large
file's pages do not stay in the worker's resident memory;
status --json counts h2 connections and streams; the keep-alive, header and send timeouts
hold for h2 connections; http2 = false turns h2c and ALPN h2 off."""
import json, os, re, socket, struct, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from tlscerts import *
from h2raw import *

INDEX = b"<p>index</p>\n"
SMALL = {"s%d.txt" % i: (b"small %d\n" % i) * (1 + 50 * i) for i in range(20)}
BIG = os.urandom(24 * 1024 * 1024)
# in the file cache's memory (up to 64 KiB), each with DATA frames long enough to be sent
# from the cache entry where they lie
CACHED = {"c%d.bin" % i: os.urandom(n) for i, n in enumerate((4096, 20000, 40000, 65536))}


class Ctx:
    pass


X = Ctx()


def run(cmd, timeout=60):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def case_nghttp(s):
    urls = ["http://127.0.0.1:%d/%s" % (X.plain, n) for n in ("index.html", "s1.txt", "nope")]
    r = run(["nghttp", "-nv"] + urls)
    expect_eq(r.returncode, 0, "nghttp exit (%s)" % r.stderr[-300:])
    statuses = re.findall(r"recv \(stream_id=\d+\) :status: (\d+)", r.stdout)
    expect_eq(sorted(statuses), ["200", "200", "404"], "statuses")
    r = run(["nghttp", "-nv", "https://localhost:%d/index.html" % X.tls])
    expect(":status: 200" in r.stdout and "h2" in r.stdout, "over TLS: %s" % r.stdout[-300:])


def case_header_blocks(s):
    """Response header blocks are our HPACK encoder's: nghttp's decoder (nghttp2's, strict)
    reads every one back; a file asked again gets a block of one byte a field (every field
    indexed; nghttp2's own encoder sent the etag and length as literals, 33 bytes); and the
    client's table size is followed: 0 (nothing indexed), 256, and 100 then 4096 in one
    SETTINGS (two size updates), where a missing or late update is a decoding error."""
    # (nghttp asks each URL once: the repeats differ by their query)
    paths = ["index.html", "s1.txt", "index.html?2", "nope", "s1.txt?2", "index.html?3", "c0.bin"]
    urls = ["http://127.0.0.1:%d/%s" % (X.plain, p) for p in paths]
    for sizes in ([], ["-c", "0"], ["-c", "256"], ["-c", "100", "-c", "4096"]):
        r = run(["nghttp", "-nv"] + sizes + urls)
        expect_eq(r.returncode, 0, "nghttp %s exit (%s)" % (sizes, r.stderr[-300:] + r.stdout[-300:]))
        statuses = re.findall(r"recv \(stream_id=\d+\) :status: (\d+)", r.stdout)
        expect_eq(sorted(statuses), ["200"] * 6 + ["404"], "statuses with %s" % sizes)
        etags = re.findall(r"recv \(stream_id=\d+\) etag: (\S+)", r.stdout)
        expect_eq(len(etags), 6, "etags with %s" % sizes)
        lengths = [int(n) for n in re.findall(r"recv HEADERS frame <length=(\d+)", r.stdout)]
        expect_eq(len(lengths), 7, "HEADERS frames with %s" % sizes)
        if not sizes:
            # the third index.html (and the second s1.txt) are all indexed: 8 fields
            expect(min(lengths) <= 8, "a repeated answer's block: %r" % lengths)
        if sizes == ["-c", "0"]:
            expect(min(lengths) > 40, "no table, no indexing: %r" % lengths)
    for size in ("0", "256"):
        h2load("http://127.0.0.1:%d/index.html" % X.plain, ["--header-table-size=" + size])


def case_frames_fill_records(s):
    """Over TLS a DATA frame with its 9-byte header fills one 16 KiB record exactly (16,375
    bytes of payload), so four frames are one 64 KiB batch of whole records; over h2c frames
    take the client's whole 16 KiB."""
    for url, want in (("https://localhost:%d/two.bin" % X.tls, 16384 - 9),
                      ("http://127.0.0.1:%d/two.bin" % X.plain, 16384)):
        r = run(["nghttp", "-nv", url])
        expect_eq(r.returncode, 0, "nghttp %s exit (%s)" % (url, r.stderr[-300:]))
        sizes = [int(n) for n in re.findall(r"recv DATA frame <length=(\d+)", r.stdout)]
        expect_eq(sum(sizes), 2 * 1024 * 1024, "body bytes over %s" % url)
        expect_eq(max(sizes), want, "largest DATA frame over %s" % url)


def h2load(url, extra=()):
    r = run(["h2load", "-n", "3000", "-c", "4", "-m", "32"] + list(extra) + [url], timeout=90)
    expect_eq(r.returncode, 0, "h2load exit (%s)" % r.stderr[-300:])
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed,"
                  r" (\d+) errored", r.stdout)
    expect(m, "h2load output: %s" % r.stdout[-500:])
    expect_eq((m.group(3), m.group(4), m.group(5)), ("3000", "0", "0"), "succeeded, failed, errored")
    expect("3000 2xx" in r.stdout, "status codes: %s" % r.stdout[-300:])


def case_h2load_h2c(s):
    h2load("http://127.0.0.1:%d/index.html" % X.plain)


def case_h2load_tls(s):
    h2load("https://127.0.0.1:%d/s5.txt" % X.tls)


def case_preface_split_and_p(s):
    # the preface a byte at a time, then SETTINGS and a request
    sock = socket.create_connection(("127.0.0.1", X.plain), timeout=5)
    for b in PREFACE:
        sock.sendall(bytes([b]))
        time.sleep(0.002)
    sock.sendall(settings() + frame(HEADERS, END_HEADERS | END_STREAM, 1,
                                    request_block("/index.html")))
    conn = H2Conn.__new__(H2Conn)
    conn.sock, conn.buf = sock, b""
    bodies, order, resets, goaway = conn.responses([1], timeout=5)
    expect(order == [1] and bodies[1] == INDEX, "h2 after a split preface: %r" %
           ((bodies, order, resets, goaway),))
    sock.close()
    # "POST" starts like "PRI": still HTTP/1.1
    r = request(X.plain, "/index.html", method="POST")
    expect_eq(r.status, 405, "POST over h1")
    r = request(X.plain, "/index.html", method="PUT")
    expect_eq(r.status, 405, "PUT over h1")


def case_settings(s):
    c = H2Conn(X.plain)
    frames, f = c.frames_until(lambda f: f.type == SETTINGS and not f.flags & ACK, 5)
    expect(f is not None, "no SETTINGS")
    pairs = dict(struct.unpack(">HI", f.payload[i:i + 6]) for i in range(0, len(f.payload), 6))
    expect_eq(pairs.get(S_MAX_CONCURRENT_STREAMS), 128, "MAX_CONCURRENT_STREAMS (default)")
    expect_eq(pairs.get(S_MAX_HEADER_LIST_SIZE), 8192, "MAX_HEADER_LIST_SIZE")
    c.close()


def case_fairness(s):
    """The big file is under way (its first DATA frame is in) when twenty small files are
    asked for on the same connection: every one of them ends before the big one does. The
    client keeps a 1 MiB window and gives back what it reads, as browsers do (with an open
    window the 24 MiB would be in the kernel's socket buffers before the requests arrive);
    the small files are in the file cache first, so the test times the scheduling, not the
    pool's lookups."""
    for n in SMALL:
        expect_eq(request(X.plain, "/" + n).status, 200, "warm " + n)
    c = H2Conn(X.plain, window=1 << 20, refill=True)
    big = c.request("/big.bin")
    first, _ = c.frames_until(lambda f: f.type == DATA and f.sid == big, 5)
    got = [f.payload for f in first if f.type == DATA and f.sid == big]
    expect(got, "the big download started")
    smalls = [c.request("/" + n) for n in sorted(SMALL)]
    bodies, order, resets, goaway = c.responses([big] + smalls, timeout=30)
    expect_eq(len(order), 21, "every stream ended (resets %r, goaway %r)" % (resets, goaway))
    expect_eq(order[-1], big, "the big download ends last: %r" % order)
    expect(b"".join(got) + bodies[big] == BIG, "big body intact")
    for sid, n in zip(smalls, sorted(SMALL)):
        expect(bodies[sid] == SMALL[n], "body of %s" % n)
    c.close()


def case_cached_bodies(s):
    """120 streams of cached files (4 to 64 KiB) asked for at once, 4.4 MiB: more than the
    socket takes, so the worker's writes stop part-way through a body and resume from there
    while the cache entries stay held. Every body arrives whole and in order."""
    names = sorted(CACHED)
    for n in names:
        expect_eq(request(X.plain, "/" + n).status, 200, "warm " + n)
    c = H2Conn(X.plain)
    sids = {c.request("/" + names[i % len(names)]): names[i % len(names)] for i in range(120)}
    bodies, order, resets, goaway = c.responses(list(sids), timeout=30)
    expect_eq(len(order), 120, "every stream ended (resets %r, goaway %r)" % (resets, goaway))
    for sid, n in sids.items():
        expect(bodies[sid] == CACHED[n], "body of %s on stream %d" % (n, sid))
    c.close()


def case_many_large_streams(s):
    """128 streams of a 2 MiB file over 2 connections whose windows are wide open (h2load's
    are 1 GiB): all complete, and the worker's peak memory grows by far less than what the
    windows would let it buffer (per connection at most 16 file buffers of 64 KiB and one
    output buffer of 96 KiB and a frame: nghttp2 would otherwise hand us every frame the
    windows allow in one call)."""
    pid = only_worker(s)
    before = proc_status_kib(pid, "VmHWM")
    r = run(["h2load", "-n", "256", "-c", "2", "-m", "64",
             "http://127.0.0.1:%d/two.bin" % X.plain], timeout=90)
    m = re.search(r"(\d+) succeeded, (\d+) failed", r.stdout)
    expect(m and m.group(1) == "256", "h2load: %s" % r.stdout[-400:])
    grown = proc_status_kib(pid, "VmHWM") - before
    expect(grown < 32 * 1024, "peak memory grew by %d KiB" % grown)


def case_idle_connections_hold_no_output_buffer(s):
    """Connections that downloaded 2 MiB and went idle hold no output buffer: it went back to
    the worker when its bytes were out. 100 of them grow the worker's resident memory by
    less than 30 KiB each: about 20 KiB, the session's own state (143 KiB each when every
    connection kept its own buffer)."""
    pid = only_worker(s)
    first = H2Conn(X.plain)
    first.responses([first.request("/two.bin")])  # the worker's own buffers are made
    before = proc_status_kib(pid, "VmRSS")
    conns = [first]
    try:
        for _ in range(100):
            c = H2Conn(X.plain)
            bodies, order, _, _ = c.responses([c.request("/two.bin")], timeout=30)
            expect(order and len(bodies[order[0]]) == 2 * 1024 * 1024,
                   "a download did not complete")
            conns.append(c)
        grown = (proc_status_kib(pid, "VmRSS") - before) / 100.0
        if not sanitized():  # ASan keeps what was freed resident for a while
            expect(grown < 30, "each idle connection kept %.1f KiB" % grown)
    finally:
        for c in conns:
            c.close()


def tls_h2(window=(1 << 31) - 1):
    """An H2Conn over TLS with ALPN h2."""
    raw = socket.create_connection(("127.0.0.1", X.tls), timeout=10)
    ctx = client_context(X.ca, alpn=["h2"])
    return H2Conn(sock=ctx.wrap_socket(raw, server_hostname="localhost"), window=window)


def large_file_pages_let_go(s, connect_h2):
    """big.bin (24 MiB, past FCACHE_MAP_KEEP) goes out from the worker's mapping of it, and
    the pages behind the download leave the worker's page tables as it goes: halfway, with
    the client's window spent (the worker waits), the worker's resident file pages (RssFile:
    not its heap, which a sanitizer's quarantine inflates) have grown by far less than the 12
    MiB sent (all of it if they stayed until the end); then the file arrives whole."""
    pid = only_worker(s)
    expect_eq(request(X.plain, "/big.bin", method="HEAD").status, 200, "warm")
    with open(os.path.join(s.root, "big.bin"), "rb") as f:
        f.read()  # resident: the mapping, not the pool, sends it
    before = proc_status_kib(pid, "RssFile")
    half = len(BIG) // 2
    c = connect_h2(window=half)
    sid = c.request("/big.bin")
    got = b""
    while len(got) < half:
        f = c.read_frame()
        expect(f is not None, "closed after %d bytes" % len(got))
        if f.type == DATA and f.sid == sid:
            got += f.payload
    grown = proc_status_kib(pid, "RssFile") - before
    expect(grown < 8 * 1024, "12 MiB into big.bin the worker holds %d KiB more of file pages"
           % grown)
    n = struct.pack(">I", len(BIG))
    c.send(frame(WINDOW_UPDATE, 0, 0, n) + frame(WINDOW_UPDATE, 0, sid, n))
    bodies, order, _, _ = c.responses([sid], timeout=30)
    expect(order and got + bodies[sid] == BIG, "big.bin arrived whole")
    c.close()


def case_large_file_pages_let_go(s):
    large_file_pages_let_go(s, lambda window: H2Conn(X.plain, window=window))


def case_large_file_pages_let_go_tls(s):
    large_file_pages_let_go(s, tls_h2)


def truncated_while_sent(s, name, connect_h2, log_re):
    """A large file truncated part-way through its download, whose resident pages go out from
    the worker's mapping of the file (fcache_map), where a plain read of the mapping would
    take SIGBUS: on h2c the kernel's copy (writev) fails with EFAULT, over TLS mapread_copy
    catches the fault. Either way the connection closes (or the stream is reset), what
    arrived is the file's true prefix, and the same worker goes on serving, the file's next
    version included."""
    pid = only_worker(s)
    path = os.path.join(s.root, name)
    data = os.urandom(4 * 1024 * 1024)
    with open(path, "wb") as f:
        f.write(data)
    expect_eq(request(X.plain, "/" + name).status, 200, "warm")  # cached and resident
    # 100,000 bytes of window: the worker stops inside the first 256 KiB it found resident,
    # and goes on from its mapping when the window opens
    c = connect_h2(window=100000)
    sid = c.request("/" + name)
    got = b""
    while len(got) < 100000:
        f = c.read_frame()
        if f is None:
            break
        if f.type == DATA and f.sid == sid:
            got += f.payload
    expect_eq(len(got), 100000, "the first window's bytes")
    os.truncate(path, 0)
    n = struct.pack(">I", 8 * 1024 * 1024)
    c.send(frame(WINDOW_UPDATE, 0, 0, n) + frame(WINDOW_UPDATE, 0, sid, n))
    bodies, order, resets, goaway = c.responses([sid], timeout=10)
    body = got + bodies[sid]
    expect(sid not in order, "a 4 MiB answer of a file truncated to nothing completed")
    expect(len(body) < len(data) and body == data[:len(body)],
           "%d bytes arrived, not the file's prefix" % len(body))
    expect(resets or closed_within(c, 5), "neither reset nor closed")
    s.wait_log(log_re, 5)  # from the mapping
    c.close()
    expect_eq(only_worker(s), pid, "the worker")
    with open(path, "wb") as f:
        f.write(b"again\n")
    r = wait_for(lambda: run(["curl", "-sS", "--http2-prior-knowledge",
                              "http://127.0.0.1:%d/%s" % (X.plain, name)]).stdout == "again\n"
                 or None, 10, interval=0.3)
    expect(r, "the file's next version is served")


def case_file_truncated_while_sent(s):
    truncated_while_sent(s, "shrink.bin", lambda window: H2Conn(X.plain, window=window),
                         r"h2: a file shrank while it was sent: closing")


def case_file_truncated_while_sent_tls(s):
    truncated_while_sent(s, "shrink-tls.bin", tls_h2,
                         r"h2 stream \d+: the file shrank while it was sent: closing")


def case_status_counts(s):
    c = H2Conn(X.plain, window=0)  # the answer waits for a window: the stream stays open
    c.request("/big.bin")
    c.frames_until(lambda f: f.type == HEADERS, 5)

    def counts():
        st = sup_status(s)
        h2 = [w.get("h2") for w in st["workers"]] if st else []
        tot = (sum(h["connections"] for h in h2 if h), sum(h["streams"] for h in h2 if h))
        return tot if tot[0] >= 1 and tot[1] >= 1 else None
    got = wait_for(counts, 5, interval=0.3)
    expect(got, "status --json counts the h2 connection and stream: %r" % sup_status(s))
    c.close()


def case_timeouts(s):
    """keepalive = 1, header = 1, send = 1.5 (the second server)."""
    with Server(files={"index.html": INDEX, "big.bin": BIG}, settings={
            "timeouts": "{ graceful = 5.0; keepalive = 1.0; header = 1.0; send = 1.5; }"}) as t:
        c = H2Conn(t.port)
        sid = c.request("/index.html")
        c.responses([sid], timeout=5)
        t0 = time.monotonic()
        frames, g = c.frames_until(lambda f: f.type == GOAWAY, 5)
        el = time.monotonic() - t0
        expect(g is not None and g.goaway()[1] == NO_ERROR, "idle: GOAWAY NO_ERROR")
        expect(0.7 <= el <= 3, "idle GOAWAY after %.2f s (keepalive 1)" % el)
        expect(closed_within(c, 3), "idle connection closed")
        c.close()
        # a header block that never ends
        c = H2Conn(t.port)
        c.auto_ack = False  # an ACK now would break into the header block
        c.send(frame(HEADERS, 0, 1, request_block("/index.html")))
        t0 = time.monotonic()
        expect(closed_within(c, 5), "header timeout")
        el = time.monotonic() - t0
        expect(0.7 <= el <= 3, "cut after %.2f s (header 1)" % el)
        c.close()


def case_http2_off(s):
    d = tempfile.mkdtemp(prefix="evc-h2b-")
    listen = '( "127.0.0.1:0", { address = "127.0.0.1:%d"; tls = true; } )' % free_port()
    settings = tls_settings([(X.pem, X.key)], listen=listen)
    settings["http2"] = "false"
    with Server(files={"index.html": INDEX}, settings=settings) as t:
        plain, tls = listen_ports(t)
        r = run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null",
                 "http://127.0.0.1:%d/index.html" % plain])
        expect(r.returncode != 0, "h2c accepted with http2 = false")
        r = run(["curl", "-sS", "--http2", "--cacert", X.ca, "-o", "/dev/null", "-w",
                 "%{http_version}", "https://localhost:%d/index.html" % tls])
        expect_eq(r.stdout, "1.1", "ALPN falls back to http/1.1")
        r = request(plain, "/index.html")
        expect_eq(r.status, 200, "h1 still served")


def main():
    d = tempfile.mkdtemp(prefix="evc-h2b-")
    X.ca = make_ca(d)
    X.pem, X.key = make_cert(d, "a", ["DNS:localhost", "IP:127.0.0.1"])
    listen = '( "127.0.0.1:0", { address = "127.0.0.1:%d"; tls = true; } )' % free_port()
    settings = tls_settings([(X.pem, X.key)], listen=listen)
    files = {"index.html": INDEX, "big.bin": BIG, "two.bin": os.urandom(2 * 1024 * 1024)}
    files.update(SMALL)
    files.update(CACHED)
    s = remove_at_exit(Server(files=files, settings=settings))
    with s:
        X.plain, X.tls = listen_ports(s)
        res = run_cases(s, [case_nghttp, case_header_blocks, case_frames_fill_records,
                            case_h2load_h2c, case_h2load_tls,
                            case_preface_split_and_p, case_settings, case_fairness,
                            case_cached_bodies,
                            case_many_large_streams,
                            case_idle_connections_hold_no_output_buffer,
                            case_file_truncated_while_sent,
                            case_file_truncated_while_sent_tls,
                            case_large_file_pages_let_go,
                            case_large_file_pages_let_go_tls,
                            case_status_counts, case_timeouts, case_http2_off])
    finish([res])


if __name__ == "__main__":
    main()
