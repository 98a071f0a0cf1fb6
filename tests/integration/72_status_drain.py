"""status during a drain: after a reload, the old generation's worker that still sends a
download is listed as draining with a connection ref; once that connection ends it is no
longer listed, and the new generation runs alone."""
import hashlib, os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from evtest import *

SIZE = 16 << 20
data = os.urandom(1 << 20) * 16
s = Server(workers=1, files={"big.bin": data})
try:
    s.start()
    old = sup_workers(s)
    c = Conn(s.port, timeout=30)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.send("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    head = read_head(c)
    check(head.status == 200, "head: %r" % head)

    r = s.cli("-s", "reload")
    check(r.returncode == 0, "reload: %r" % (r,))
    s.wait_log(READY_RE, 10)

    def old_draining():
        st = sup_status(s)
        ws = [w for w in st["workers"] if w["generation"] == 1]
        return ws and ws[0]["state"] == "draining" and ws[0]["refs"]["connections"] >= 1 and st
    st = sup_wait(old_draining, 5, "generation 1 listed draining with a connection ref")
    gens = sorted(set(w["generation"] for w in st["workers"]))
    check(gens == [1, 2], "both generations listed during the drain: %r" % gens)
    check(st["supervisor"]["generation"] == 2, "current generation 2")
    new = [w for w in st["workers"] if w["generation"] == 2]
    check(new and all(w["state"] == "running" for w in new), "generation 2 running: %r" % new)
    check(all(pid_alive(p) for p in old), "the old worker waits for its connection")

    h = hashlib.sha256()
    check(read_body_hashed(c, SIZE, h) == SIZE and h.hexdigest() == hashlib.sha256(data).hexdigest(),
          "the download completes intact")
    c.close()
    sup_wait(lambda: all(w["generation"] == 2 for w in sup_status(s)["workers"]), 10,
             "generation 1 no longer listed")
    sup_wait(lambda: not any(pid_alive(p) for p in old), 5, "old worker exited")
    s.wait_log(r"generation 1 gone", 5)
finally:
    s.stop()
print("ok")
