#!/usr/bin/env python3
"""Graceful drain of HTTP/2 connections: a reload (HUP) while h2load runs over h2c and TLS
loses no stream (h2load: 0 failed, 0 errored); a stream in the middle of a large answer when
the reload comes gets GOAWAY (the shutdown notice, then the last stream id) and still
completes byte for byte, and only then does the connection close; the same on QUIT."""
import os, re, signal, struct, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from tlscerts import *
from h2raw import *

INDEX = b"<p>index</p>\n"
BIG = os.urandom(4 * 1024 * 1024)


class Ctx:
    pass


X = Ctx()


def case_hup_under_h2load(s):
    """Two reloads while h2load runs over h2c and TLS. What must hold: no stream the server
    took is lost or reset: every request the access log shows was answered 200, no 499 (a
    stream cut before its answer), and h2load's succeeded streams are exactly the log's lines.
    h2load 1.52 cannot retry over HTTP/2: once a connection gets GOAWAY it counts the requests
    it had not sent yet on that connection as failed (Client::process_request_failure; its
    try_new_connection is for HTTP/1.1 only), whatever the server, so its "failed" is the
    count of requests never sent, and must equal total - succeeded."""
    log = os.path.join(s.dir, "access.log")
    before = count_lines(log)
    procs = []
    for url in ("http://127.0.0.1:%d/index.html" % X.plain,
                "https://127.0.0.1:%d/index.html" % X.tls):
        procs.append(subprocess.Popen(["h2load", "-n", "60000", "-c", "4", "-m", "16", url],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    gen = s.generation
    for i in range(2):
        time.sleep(0.3)  # h2load's connections are up and busy
        s.signal(signal.SIGHUP)
        m = s.wait_log(READY_RE, 15)
        gen = int(m.group(1))
    outs = [p.communicate(timeout=120)[0] for p in procs]
    succeeded = 0
    for out in outs:
        m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
        expect(m, "h2load output: %s" % out[-500:])
        total, done, ok, failed, errored, tmo = map(int, m.groups())
        expect_eq(ok + failed, total, "succeeded + failed")
        expect_eq(tmo, 0, "timeouts")
        expect(ok > 0, "h2load succeeded: %s" % out[-400:])
        succeeded += ok
    expect(gen >= 3, "two reloads happened")
    # One more reload: every worker that served h2load exits and says how many log lines it
    # dropped (the log drops lines rather than grow when its writes fall behind, as they do
    # when the machine is busy), so that lines + dropped must be h2load's succeeded exactly.
    s.signal(signal.SIGHUP)
    gen = int(s.wait_log(READY_RE, 15).group(1))
    sup_wait(lambda: all(w["generation"] == gen for w in (sup_status(s) or {"workers": [0]})[
        "workers"]), 20, "only generation %d left" % gen)
    dropped = sum(int(m.group(1)) for m in (re.search(r"(\d+) access log lines were dropped", l)
                                            for l in drain_log(s)) if m)

    def lines():
        with open(log) as f:
            return f.readlines()[before:]
    got = wait_for(lambda: (lambda l: l if len(l) + dropped >= succeeded else None)(lines()), 15)
    got = got or lines()
    bad = [l for l in got if '" 200 ' not in l]
    expect(not bad, "answers other than 200: %d, first %r" % (len(bad), bad[:2]))
    expect_eq(len(got) + dropped, succeeded,
              "access log lines (%d dropped) against h2load's succeeded streams" % dropped)


def count_lines(path):
    try:
        with open(path) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def drain_with(s, how):
    c = H2Conn(X.plain, window=65535)  # the big answer stops after 64 KiB until we open it
    sid = c.request("/big.bin")
    got = []
    frames, _ = c.frames_until(lambda f: f.type == DATA, 5)
    got += [f.payload for f in frames if f.type == DATA and f.sid == sid]
    how()
    frames, g = c.frames_until(lambda f: f.type == GOAWAY, 10)
    got += [f.payload for f in frames if f.type == DATA and f.sid == sid]
    expect(g is not None, "no GOAWAY on drain")
    expect_eq(g.goaway()[1], NO_ERROR, "GOAWAY code")
    # the final GOAWAY names our stream as processed
    frames, g2 = c.frames_until(lambda f: f.type == GOAWAY and f.goaway()[0] < (1 << 31) - 1, 5)
    got += [f.payload for f in frames if f.type == DATA and f.sid == sid]
    expect(g2 is not None and g2.goaway()[0] >= sid, "final GOAWAY with the last stream id: %r"
           % (g2 and g2.goaway(),))
    # now read the rest
    c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", (1 << 30))) +
           frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", (1 << 30))))
    bodies, order, resets, goaway = c.responses([sid], timeout=20)
    body = b"".join(got) + bodies[sid]
    expect(order == [sid] and not resets, "stream completed: order %r resets %r" % (order, resets))
    expect(body == BIG, "body intact (%d of %d bytes)" % (len(body), len(BIG)))
    expect(closed_within(c, 10), "connection closed after its last stream")
    c.close()


def case_stream_survives_hup(s):
    def hup():
        s.signal(signal.SIGHUP)
    drain_with(s, hup)
    s.wait_log(READY_RE, 15)


def case_stream_survives_quit(s):
    def quit():
        s.signal(signal.SIGQUIT)
    drain_with(s, quit)
    expect(s.wait_exit(20) == 0, "graceful stop exit status")


def main():
    d = tempfile.mkdtemp(prefix="evc-h2d-")
    X.ca = make_ca(d)
    pem, key = make_cert(d, "a", ["DNS:localhost", "IP:127.0.0.1"])
    listen = '( "127.0.0.1:%d", { address = "127.0.0.1:%d"; tls = true; } )' % (free_port(),
                                                                                 free_port())
    settings = tls_settings([(pem, key)], listen=listen)
    settings["access_log"] = '"access.log"'
    s = remove_at_exit(Server(files={"index.html": INDEX, "big.bin": BIG}, settings=settings,
                              workers=2))
    with s:
        X.plain, X.tls = listen_ports(s)
        res = run_cases(s, [case_hup_under_h2load, case_stream_survives_hup,
                            case_stream_survives_quit])
    finish([res])


if __name__ == "__main__":
    main()
