#!/usr/bin/env python3
"""A reload that fails after some of its new workers were ready: those may already hold
connections, so they drain (every transfer they took completes) while the worker that never
became ready is killed, and the old generation keeps serving. One of two new workers is held
in start-up by the slowfs shim (EVC_SLOWFS_ONCE: the worker that takes the trigger file
sleeps in its first look at the root); the test kills it, which fails the reload."""
import hashlib, os, signal, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

BIG = 8 * 1024 * 1024  # more than both socket buffers: the transfer stays open while unread
BODY = bytes(range(256)) * (BIG // 256)
MAX_CONNS = 16


def worker(s, pid):
    for w in (sup_status(s) or {"workers": []})["workers"]:
        if w["pid"] == pid:
            return w
    return None


def main():
    slowfs = slowfs_helpers()
    s = remove_at_exit(Server(workers=1, files={"big.bin": BODY, "a.txt": "old\n"}))
    trigger = os.path.join(s.dir, "hang.trigger")
    s.start(env={"LD_PRELOAD": slowfs.preload_value(slowfs.shim_path(s.dir)),
                 "EVC_SLOWFS_MS": "60000", "EVC_SLOWFS_MARK": s.root,
                 "EVC_SLOWFS_ONCE": trigger})
    conns = []
    try:
        old = sup_workers(s, generation=1)
        check(len(old) == 1, "one old worker: %r" % old)
        open(trigger, "w").close()
        s.write_conf({"workers": "2"})
        s.signal(signal.SIGHUP)
        ready = sup_wait(lambda: sup_workers(s, generation=2, state="running"), 10,
                         "one new worker ready")
        hung = sup_wait(lambda: sup_workers(s, generation=2, state="starting"), 10,
                        "one new worker held in start-up")
        check(os.path.exists(trigger + ".taken"), "the held worker took the trigger")
        new = ready[0]
        # Transfers until the ready new worker holds one (old and new accept on one socket).
        # Each reads its head and stops: the rest waits in the server's send path.
        def new_worker_busy():
            if len(conns) < MAX_CONNS:
                c = Conn(s.port)
                c.send(http_req("GET", "/big.bin"))
                head = read_head(c)
                check(head.status == 200, "GET /big.bin during the reload: %r" % head.status)
                conns.append(c)
            w = worker(s, new)
            return w and w["connections"] >= 1
        sup_wait(new_worker_busy, 15, "the ready new worker holding a transfer")
        os.kill(hung[0], signal.SIGKILL)
        s.wait_log(r"reload failed: generation 2 lost worker %d" % hung[0], 10)
        for i, c in enumerate(conns):
            h = hashlib.sha256()
            read_body_hashed(c, BIG, h)
            check(h.digest() == hashlib.sha256(BODY).digest(),
                  "transfer %d of %d complete after the failed reload" % (i + 1, len(conns)))
        check(not any(re.search(r"worker %d .*killing" % new, l) for l in s.log),
              "the ready new worker was killed:\n%s" % "\n".join(s.log[-20:]))
        sup_wait(lambda: not pid_alive(new), 15, "the ready new worker drained and exited")
        check(sup_workers(s, generation=1) == old, "the old worker kept")
        r = request(s.port, "/a.txt")
        check(r.status == 200 and r.body == b"old\n", "the old generation serves: %r" % r)
        print("%d passed, 0 failed" % (6 + len(conns)))
    finally:
        for c in conns:
            c.close()
        s.stop()


if __name__ == "__main__":
    main()
