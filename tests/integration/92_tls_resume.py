#!/usr/bin/env python3
"""TLS session resumption across workers: the supervisor's ticket keys are shared by every
worker, so 20 reconnections with `openssl s_client -sess_in` to 2 workers resume (at least
19 of 20) for TLS 1.2 and 1.3, and a resumed TLS 1.3 connection gets a new ticket; a ticket from one generation resumes on the next after a
reload (other processes, the same keys); keys rotate (a ticket outlives one rotation, not
two); session_tickets = false gives no resumption."""
import os, re, signal, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from tlscerts import *


def resumed(port, ca, sess_in, sess_out, version):
    args = ["-CAfile", ca, "-servername", "localhost", "-" + version, "-sess_out", sess_out]
    if sess_in and os.path.exists(sess_in):  # no ticket, no session file
        args += ["-sess_in", sess_in]
    rc, out = s_client(port, args, CLOSE_REQ)
    if "HTTP/1.1 200" not in out:
        fail("no answer over TLS (%s): %s" % (version, out[-500:]))
    reused = bool(re.search(r"^Reused, ", out, re.M))
    if reused and version == "tls1_3" and "Post-Handshake New Session Ticket arrived" not in out:
        # TLS 1.3 clients use a ticket once: without a new one, wrk's next reconnection (it
        # offers its last session) was a full handshake, every other time
        fail("a resumed TLS 1.3 connection got no new ticket")
    return reused


def main():
    d = tempfile.mkdtemp(prefix="evc-tlsres-")
    ca = make_ca(d)
    cert = make_cert(d, "a", ["DNS:localhost", "IP:127.0.0.1"])
    results = []

    def report(ok, what):
        print("%s %s" % ("ok  " if ok else "FAIL", what), flush=True)
        results.append(bool(ok))

    s = remove_at_exit(Server(files={"index.html": "hi\n"},
                              settings=tls_settings([cert], "ticket_key_rotation = 3600.0;"),
                              workers=2))
    with s:
        sess = os.path.join(d, "sess")
        for v in ("tls1_2", "tls1_3"):
            resumed(s.port, ca, None, sess, v)
            n = sum(resumed(s.port, ca, sess, sess, v) for _ in range(20))
            report(n >= 19, "%s: %d of 20 reconnections resumed" % (v, n))
        def per_worker():
            st = sup_status(s)
            return [(w["pid"], w["tls"]["handshakes"], w["tls"]["resumed"]) for w in st["workers"]]
        per = wait_for(lambda: sum(p[2] for p in per_worker()) >= 38 and per_worker(), 5)
        report(per, "status counts the resumptions (pid, handshakes, resumed): %r" % per)
        # the next generation's workers (other processes) resume the old one's tickets
        for v in ("tls1_2", "tls1_3"):
            resumed(s.port, ca, None, sess + v, v)
        old = sup_workers(s, generation=1)
        s.signal(signal.SIGHUP)
        sup_wait(lambda: sup_workers(s, generation=2, state="running") and
                 not (set(sup_workers(s)) & set(old)), 20, "generation 2 alone")
        for v in ("tls1_2", "tls1_3"):
            report(resumed(s.port, ca, sess + v, sess + v + ".new", v),
                   "%s: a ticket of generation 1 resumes on generation 2" % v)

    # rotation: a ticket made just after a rotation resumes after the next one (its key is
    # the previous one then), not after a second
    s = remove_at_exit(Server(files={"index.html": "hi\n"},
                              settings=tls_settings([cert], "ticket_key_rotation = 1.5;"),
                              workers=2))
    rot = re.compile(r"TLS ticket keys rotated")
    with s:
        for v in ("tls1_2", "tls1_3"):
            t = os.path.join(d, "rot" + v)
            s.wait_log(rot, 10)
            resumed(s.port, ca, None, t, v)
            s.wait_log(rot, 10)
            report(resumed(s.port, ca, t, t + ".x", v), "%s: resumes after one rotation" % v)
            s.wait_log(rot, 10)
            report(not resumed(s.port, ca, t, t + ".x", v),
                   "%s: no resumption after two rotations" % v)

    s = remove_at_exit(Server(files={"index.html": "hi\n"},
                              settings=tls_settings([cert], "session_tickets = false;"),
                              workers=2))
    with s:
        for v in ("tls1_2", "tls1_3"):
            t = os.path.join(d, "off" + v)
            resumed(s.port, ca, None, t, v)
            n = sum(resumed(s.port, ca, t, t, v) for _ in range(5))
            report(n == 0, "%s with session_tickets = false: %d of 5 resumed" % (v, n))
    print("%d passed, %d failed" % (results.count(True), results.count(False)))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
