"""Graceful shutdown (QUIT): new connections are refused at once, a 64 MiB download in flight
(read slowly) completes whole, and the supervisor exits 0 when it is done. A client that stops
reading is cut at timeouts.graceful, and the supervisor still exits 0."""
import hashlib, os, signal, socket, sys, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from evtest import *

SIZE = 64 << 20
data = os.urandom(1 << 20) * 64
want = hashlib.sha256(data).hexdigest()


def refused_soon(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        except ConnectionResetError:
            # Completed in the backlog just as the last listener closed: the kernel resets
            # it. Not served either; keep polling until connects are refused outright.
            pass
        time.sleep(0.02)
    return False


s = Server(workers=2, files={"big.bin": data},
           settings={"timeouts": "{ graceful = 30.0; keepalive = 5.0; header = 5.0; send = 30.0; }"})
try:
    s.start()
    c = Conn(s.port, timeout=30)
    c.send("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    head = read_head(c)
    check(head.status == 200 and int(head.header("content-length")) == SIZE, "head: %r" % head)
    h = hashlib.sha256()
    progress = [0]
    result = {}

    def reader():
        try:
            result["n"] = read_body_hashed(c, SIZE, h, progress, rate=24 << 20)
        except Exception as e:
            result["err"] = e

    t = threading.Thread(target=reader)
    t.start()
    sup_wait(lambda: progress[0] > (4 << 20), 10, "download under way")
    s.signal(signal.SIGQUIT)
    t0 = time.monotonic()
    check(refused_soon(s.port, 1.0), "new connections refused within 1 s of QUIT")
    check(progress[0] < SIZE, "the download was still in flight when connections were refused")
    t.join(60)
    check("err" not in result, "download failed: %r" % result.get("err"))
    check(result.get("n") == SIZE and h.hexdigest() == want, "download complete and intact")
    check(s.wait_exit(15) == 0, "exit 0 after the download")
    print("quit drained %.1fs" % (time.monotonic() - t0))
    c.close()
finally:
    s.stop()

# a client that stops reading is cut at timeouts.graceful
G = 2.0
s = Server(workers=1, files={"big.bin": data},
           settings={"timeouts": "{ graceful = %s; keepalive = 5.0; header = 5.0; send = 30.0; }" % G})
try:
    s.start()
    c = Conn(s.port, timeout=30)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.send("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    head = read_head(c)
    check(head.status == 200, "head: %r" % head)
    s.signal(signal.SIGQUIT)
    t0 = time.monotonic()
    s.wait_log(r"draining", 5)
    status = s.wait_exit(G + 5)
    took = time.monotonic() - t0
    check(status == 0, "exit 0 after cutting the stuck client (got %r)" % status)
    check(G - 0.5 <= took <= G + 2.5, "exited %.2fs after QUIT (graceful %.1fs)" % (took, G))
    check(c.closed_by_peer(5), "the stuck connection was closed")
    c.close()
finally:
    s.stop()
print("ok")
