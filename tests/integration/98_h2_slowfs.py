#!/usr/bin/env python3
"""HTTP/2 bodies never make the loop wait for the disk: on a slow disk (the slowfs shim of
49_http_slowfs: every call on a marked file sleeps, and cachestat says its pages are not in
memory) a large file goes out over h2c through pool reads (its stream deferred while each
read is on the pool, resumed when it lands), byte for byte; a small file asked for on the
same connection behind it is answered at once, fresh h2c requests stay fast meanwhile, and
the shim's log shows no slow call from the loop thread."""
import os, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from h2raw import *

SLOW_MS = 300
FAST_LIMIT = 0.2  # a fast request that waited for one slow call of the loop would take 0.3 s
BIG = os.urandom(1024 * 1024 + 7)


def main():
    slowfs = slowfs_helpers()
    s = remove_at_exit(Server(workers=1, files={"slow-big.bin": BIG, "fast.txt": "fast\n"}))
    slowlog = os.path.join(s.dir, "slowfs.log")
    s.start(env=slowfs.slow_env(s.dir, SLOW_MS, "slow-", slowlog))
    results = []

    def report(ok, what):
        print("%s %s" % ("ok  " if ok else "FAIL", what), flush=True)
        results.append(bool(ok))

    try:
        got = {}

        def fetch():
            try:
                c = H2Conn(s.port, timeout=60)
                big = c.request("/slow-big.bin")
                # wait until its first bytes came (the lookup and a read are done), then ask
                # for a small file on the same connection: it must not wait behind the rest
                frames, _ = c.frames_until(lambda f: f.type == DATA and f.sid == big, 10)
                first = [f.payload for f in frames if f.type == DATA and f.sid == big]
                t0 = time.monotonic()
                fast = c.request("/fast.txt")
                frames, f = c.frames_until(lambda f: f.sid == fast and f.flags & END_STREAM, 5)
                got["beside"] = time.monotonic() - t0
                first += [f.payload for f in frames if f.type == DATA and f.sid == big]
                got["beside_body"] = b"".join(f.payload for f in frames
                                              if f.type == DATA and f.sid == fast)
                bodies, order, resets, goaway = c.responses([big], timeout=60)
                got["body"] = b"".join(first) + bodies[big]
                got["ended"] = order == [big]
                c.close()
            except Exception as e:  # reported below
                got["err"] = "%s: %s" % (type(e).__name__, e)
        th = threading.Thread(target=fetch, daemon=True)
        th.start()
        wait_for(lambda: "slow-big.bin" in {os.path.basename(p)
                                            for p in slowfs.slow_log_paths(slowlog)}, 5, 0.01)

        def fast():
            c = H2Conn(s.port)
            sid = c.request("/fast.txt")
            bodies, _, _, _ = c.responses([sid], timeout=5)
            c.close()
            return bodies[sid]
        n, worst = slowfs.fast_while(th, fast, report)
        report(got.get("ended") and got.get("body") == BIG,
               "the slow 1 MiB file came over h2c byte for byte (%s)" %
               got.get("err", "%d bytes" % len(got.get("body", b""))))
        report(got.get("beside_body") == b"fast\n" and got.get("beside", 9) < FAST_LIMIT,
               "a small file beside it on the same connection in %.0f ms" %
               (got.get("beside", 9) * 1000))
        report(n >= 3 and worst < FAST_LIMIT,
               "%d fresh h2c requests meanwhile, the slowest %.0f ms (limit %.0f)" %
               (n, worst * 1000, FAST_LIMIT * 1000))
        slowfs.report_pool_reads(slowlog, "slow-big.bin", report)
    finally:
        s.stop()
    print("%d passed, %d failed" % (results.count(True), results.count(False)))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
