"""A recycled worker drains as on a reload, deadline included. One worker with
recycle.max_requests = 20 and timeouts.graceful = 1: a client starts a 16 MiB download and
stops reading; 20 more requests make the worker due; its replacement is ready before it gets
the drain, and serves at once; the old worker keeps the held download until the deadline,
then cuts it and exits (the download ends short), as a reload's drain would."""
import hashlib, os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from evtest import *

SIZE = 16 << 20
s = Server(workers=1, files={"index.html": "hello\n", "big.bin": os.urandom(1 << 20) * 16},
           settings={"health": "{ interval = 0.2; misses = 5; }",
                     "timeouts": "{ graceful = 1.0; keepalive = 5.0; header = 5.0; send = 10.0; }",
                     "recycle": "{ max_requests = 20; jitter = 0.0; }"})
try:
    s.start()
    old = sup_workers(s)[0]
    c = Conn(s.port, timeout=30)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.send("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    check(read_head(c).status == 200, "download started")
    for i in range(25):
        check(request(s.port, "/index.html").status == 200, "request %d" % i)
    m = s.wait_log(r"recycle: worker (\d+) ready, worker (\d+) drains \(by requests", 5)
    new, drained = int(m.group(1)), int(m.group(2))
    check(drained == old and new != old, "the one worker replaced: %s" % m.group(0))
    t0 = time.monotonic()
    check(request(s.port, "/index.html").status == 200, "the replacement serves at once")
    st = sup_status(s)
    olds = [w for w in st["workers"] if w["pid"] == old]
    check(olds and olds[0]["state"] == "draining" and olds[0]["refs"]["connections"] >= 1,
          "the old worker drains, held by the download: %r" % st["workers"])
    sup_wait(lambda: not pid_alive(old), 5, "the old worker exits after its deadline")
    took = time.monotonic() - t0
    check(0.5 <= took <= 3.5, "it went at the 1 s deadline (%.2f s)" % took)
    got = 0
    try:
        got = read_body_hashed(c, SIZE, hashlib.sha256())
    except (EOFError, ConnectionResetError):
        pass
    check(got < SIZE, "the held download was cut")
    c.close()
    check([w["pid"] for w in sup_status(s)["workers"]] == [new], "the replacement alone")
finally:
    s.stop()
print("ok")
