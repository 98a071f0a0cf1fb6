"""The workers never outlive their supervisor: after SIGKILL of the supervisor, every worker
is gone within 2 s (death signal, and EOF on the channel), and the port stops accepting."""
import os, signal, socket, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from evtest import *

s = Server(workers=3)
try:
    s.start()
    pids = sup_workers(s)
    check(len(pids) == 3, "three workers")
    os.kill(s.proc.pid, signal.SIGKILL)
    s.proc.wait()
    t0 = time.monotonic()
    deadline = t0 + 2.0
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.02)
    alive = [p for p in pids if pid_alive(p)]
    check(not alive, "workers still alive %.1fs after the supervisor died: %r"
          % (time.monotonic() - t0, alive))
    try:
        socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
        fail("the port still accepts connections")
    except ConnectionRefusedError:
        pass
finally:
    s.stop()
print("ok")
