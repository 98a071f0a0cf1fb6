#!/usr/bin/env python3
"""Bodies over TLS never make the loop wait for the disk: on a slow disk (the slowfs shim of
49_http_slowfs: every call on a marked file sleeps, and cachestat says its pages are not in
memory), a large file goes out over TLS byte for byte through pool reads, fresh HTTPS
requests stay fast meanwhile, and the shim's log shows no slow call from the loop thread."""
import os, sys, tempfile, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from tlscerts import *

SLOW_MS = 300
FAST_LIMIT = 0.2  # a fast request that waited for one slow call of the loop would take 0.3 s
BIG = os.urandom(2 * 1024 * 1024 + 7)


def main():
    slowfs = slowfs_helpers()
    d = tempfile.mkdtemp(prefix="evc-tlsslow-")
    ca = make_ca(d)
    cert = make_cert(d, "a", ["DNS:localhost", "IP:127.0.0.1"])
    s = remove_at_exit(Server(settings=tls_settings([cert]), workers=1,
                              files={"slow-big.bin": BIG, "fast.txt": "fast\n"}))
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
                c = TlsConn(s.port, ca, timeout=60)
                got["r"] = roundtrip(c, path="/slow-big.bin", host="localhost")
                c.close()
            except Exception as e:  # reported below
                got["err"] = "%s: %s" % (type(e).__name__, e)
        th = threading.Thread(target=fetch, daemon=True)
        th.start()
        wait_for(lambda: "slow-big.bin" in {os.path.basename(p)
                                            for p in slowfs.slow_log_paths(slowlog)}, 5, 0.01)

        def fast():
            c = TlsConn(s.port, ca)
            r = roundtrip(c, path="/fast.txt", host="localhost")
            c.close()
            return r.body
        n, worst = slowfs.fast_while(th, fast, report)
        r = got.get("r")
        report(r is not None and r.status == 200 and r.body == BIG,
               "the slow 2 MiB file came over TLS byte for byte (%s)" %
               got.get("err", "%d bytes" % len(r.body) if r else "none"))
        report(n >= 3 and worst < FAST_LIMIT,
               "%d fresh HTTPS requests meanwhile, the slowest %.0f ms (limit %.0f)" %
               (n, worst * 1000, FAST_LIMIT * 1000))
        slowfs.report_pool_reads(slowlog, "slow-big.bin", report)
    finally:
        s.stop()
    print("%d passed, %d failed" % (results.count(True), results.count(False)))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
