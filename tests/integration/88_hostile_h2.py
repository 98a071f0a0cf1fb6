#!/usr/bin/env python3
"""Known HTTP/2 attacks, written frame by frame (h2raw.py), each against the defence that
stops it; every case names the side that defends (Debian 12's libnghttp2 1.52.0-1+deb12u3, or
evcluster's h2.c) and fails without that defence. After each attack a fresh connection is
still served: no attack costs another client its answer."""
import os, socket, struct, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from h2raw import *

INDEX = b"<p>index</p>\n"
BIG = os.urandom(1024 * 1024)
SEND_TIMEOUT = 1.5


def still_serves(s):
    c = H2Conn(s.port)
    sid = c.request("/index.html")
    bodies, order, resets, goaway = c.responses([sid], timeout=5)
    c.close()
    expect(order == [sid] and bodies[sid] == INDEX, "a fresh connection is served: %r" %
           ((bodies, order, resets, goaway),))


def goaway_of(c, timeout=10):
    frames, g = c.frames_until(lambda f: f.type == GOAWAY, timeout)
    return g.goaway() if g else None


def case_rapid_reset(s):
    """CVE-2023-44487. Defence: evcluster (h2.c, RESET_ALLOWANCE): the connection is closed
    with GOAWAY ENHANCE_YOUR_CALM once the streams the client reset before their answer
    outnumber the ones it let complete by 100. Debian's 1.52.0-1+deb12u1 backports a token
    bucket (1000 resets, then 33/s) that would not stop these 500; a 1.52 without the
    backport has nothing."""
    c = H2Conn(s.port)
    out = b""
    for i in range(500):
        sid = 1 + 2 * i
        out += frame(HEADERS, END_HEADERS | END_STREAM, sid, request_block("/index.html"))
        out += frame(RST_STREAM, 0, sid, struct.pack(">I", CANCEL))
    try:
        c.send(out)
    except OSError:
        pass
    g = goaway_of(c)
    expect(g is not None, "no GOAWAY after 500 resets")
    expect_eq(g[1], ENHANCE_YOUR_CALM, "GOAWAY code")
    expect(b"reset" in g[2], "debug data: %r" % g[2])
    expect(closed_within(c, 5), "connection closed")
    c.close()
    still_serves(s)


def case_continuation_bytes(s):
    """CVE-2024-27316 (a header block sent forever in CONTINUATION frames). Defence:
    evcluster (h2.c, on_begin_frame): a block whose encoded bytes pass max_header_bytes + 1 KiB
    ends the connection with GOAWAY ENHANCE_YOUR_CALM after its third frame, before HPACK
    decodes more. nghttp2 1.52 would decode it all (Debian's backport only counts frames, 8)."""
    c = H2Conn(s.port)
    junk = lambda i: hpack_literal("x-junk-%d" % i, "j" * 3900)
    c.send(frame(HEADERS, 0, 1, request_block("/index.html") + junk(0)))
    for i in range(1, 5):
        try:
            c.send(frame(CONTINUATION, 0, 1, junk(i)))
        except OSError:
            break
    g = goaway_of(c)
    expect(g is not None, "no GOAWAY for a 20 KB header block")
    expect_eq(g[1], ENHANCE_YOUR_CALM, "GOAWAY code")
    expect(b"header block" in g[2], "ours, not nghttp2's: %r" % g[2])
    expect(closed_within(c, 5), "connection closed")
    c.close()
    still_serves(s)


def case_continuation_frames(s):
    """CVE-2024-28182 (endless empty CONTINUATION frames). Defence: Debian's libnghttp2
    (1.52.0-1+deb12u2 backports 1.61's cap of 8 CONTINUATION frames: the session ends), and
    evcluster's own cap (16 frames, h2.c BLOCK_FRAMES) for a build without the backport."""
    c = H2Conn(s.port)
    c.send(frame(HEADERS, 0, 1, request_block("/index.html")))
    try:
        for i in range(2000):
            c.send(frame(CONTINUATION, 0, 1, b""))
    except OSError:
        pass
    expect(closed_within(c, 5), "connection not closed after 2000 empty CONTINUATIONs")
    c.close()
    still_serves(s)


def flood(s, one, n):
    """Sends n copies of one frame without reading what comes back."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", s.port))
    c = H2Conn(sock=sock)
    batch = one * 1000
    t0 = time.monotonic()
    sent = 0
    try:
        sock.settimeout(2)
        while sent < n and time.monotonic() - t0 < 15:
            sock.sendall(batch)
            sent += 1000
    except OSError:  # reset, or the server stopped reading (a closed window: the same)
        pass
    return c, sent


def case_ping_flood(s):
    """PING flood (CVE-2019-9512). Defence: nghttp2 (max_outbound_ack, 1000 by default and set
    so in h2.c): a client that never reads the PING ACKs queued for it ends its session
    (NGHTTP2_ERR_FLOODED), and evcluster closes the connection."""
    c, sent = flood(s, frame(PING, 0, 0, b"12345678"), 400000)
    expect(closed_within(c, 10), "connection still open after %d PINGs" % sent)
    c.close()
    expect(wait_for(lambda: any("Flooding was detected" in l for l in drain_log(s)), 5),
           "the flood is logged")
    still_serves(s)


def case_settings_flood(s):
    """SETTINGS flood (CVE-2019-9515). Defence: nghttp2 (max_outbound_ack): SETTINGS ACKs
    queue as PING ACKs do."""
    c, sent = flood(s, settings(), 400000)
    expect(closed_within(c, 10), "connection still open after %d SETTINGS" % sent)
    c.close()
    still_serves(s)


def case_hpack_bomb(s):
    """A header list that decodes far past its encoded size: one 4000-byte field enters the
    dynamic table, then 60 one-byte references to it (240 KB decoded from 4 KB). Defence:
    evcluster (h2.c on_header counts the decoded list as RFC 9113 6.5.2 does, against
    max_header_bytes, as h1 bounds its header block): the stream is answered 431 and nothing
    past the limit is kept. nghttp2 1.52 does not enforce its own SETTINGS_MAX_HEADER_LIST_SIZE
    on what it receives. The next stream on the same connection is served."""
    c = H2Conn(s.port)
    block = request_block("/index.html") + hpack_literal("x-bomb", "b" * 4000, indexing=True)
    block += hpack_indexed(62) * 60
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
    bodies, order, resets, goaway = c.responses([1], timeout=5)
    expect(order == [1] and b"431" in bodies[1], "431 for the bomb: %r" %
           ((bodies, order, resets, goaway),))
    c.next_sid = 3
    sid = c.request("/index.html")
    bodies, order, resets, goaway = c.responses([sid], timeout=5)
    expect(order == [sid] and bodies[sid] == INDEX, "the next stream is served: %r" %
           ((bodies, order, resets, goaway),))
    c.close()


def case_zero_window(s):
    """A client that never opens its flow-control window (SETTINGS_INITIAL_WINDOW_SIZE 0),
    while it pings to look alive. Defence: evcluster (h2.c: the send timeout counts from the
    last DATA byte while an answer waits; nghttp2 has no timers): the connection is closed
    after timeouts.send (1.5 s here)."""
    c = H2Conn(s.port, window=0)
    t0 = time.monotonic()
    sid = c.request("/big.bin")
    closed, data = False, 0
    while time.monotonic() - t0 < SEND_TIMEOUT + 6:
        try:
            c.send(frame(PING, 0, 0, b"alive..."))
        except OSError:
            closed = True
            break
        frames, _ = c.frames_until(lambda f: False, 0.3)
        data += sum(len(f.payload) for f in frames if f.type == DATA)
        if c.sock.fileno() < 0 or closed_within(c, 0.01):
            closed = True
            break
    elapsed = time.monotonic() - t0
    expect(closed, "connection still open after %.1f s" % elapsed)
    expect(elapsed >= SEND_TIMEOUT - 0.2, "closed too early: %.2f s" % elapsed)
    expect_eq(data, 0, "DATA bytes sent into a zero window")
    c.close()
    still_serves(s)


def case_stream_id_backwards(s):
    """A stream id lower than one already used (RFC 9113 5.1.1), then one reused after its
    stream closed. Defence: nghttp2 (session_on_request_headers_received): a lower id never
    opened is decoded (HPACK stays in sync) and ignored, so nothing is answered out of order
    and the connection goes on; a reused id of a closed stream ends the connection with
    GOAWAY STREAM_CLOSED."""
    c = H2Conn(s.port)
    c.next_sid = 5
    c.request("/index.html")
    bodies, order, resets, goaway = c.responses([5], timeout=5)
    expect(order == [5] and bodies[5] == INDEX, "stream 5 served")
    c.next_sid = 3
    c.request("/index.html")   # lower than 5, never opened
    c.next_sid = 7
    c.request("/index.html")
    frames, _ = c.frames_until(lambda f: f.sid == 7 and f.flags & END_STREAM, 5)
    expect(any(f.sid == 7 and f.type == DATA and f.payload == INDEX for f in frames),
           "stream 7 served: %r" % frames)
    expect(not any(f.sid == 3 for f in frames), "stream 3 answered: %r" % frames)
    c.next_sid = 5
    c.request("/index.html")   # 5 again, closed
    g = goaway_of(c)
    expect(g is not None and g[1] == STREAM_CLOSED, "GOAWAY STREAM_CLOSED: %r" % (g,))
    expect(closed_within(c, 5), "connection closed")
    c.close()
    still_serves(s)


def main():
    t = SEND_TIMEOUT
    s = remove_at_exit(Server(files={"index.html": INDEX, "big.bin": BIG}, settings={
        "timeouts": "{ graceful = 10.0; keepalive = 5.0; header = 5.0; send = %.1f; }" % t}))
    with s:
        res = run_cases(s, [case_rapid_reset, case_continuation_bytes, case_continuation_frames,
                            case_ping_flood, case_settings_flood, case_hpack_bomb,
                            case_zero_window, case_stream_id_backwards])
    finish([res])


if __name__ == "__main__":
    main()
