#!/usr/bin/env python3
"""systemd integration without systemd. sd_notify: the test is the service manager (its own
NOTIFY_SOCKET, a Unix datagram socket) and checks the messages and their order: READY=1 once
the first generation is ready; RELOADING=1 with a MONOTONIC_USEC of CLOCK_MONOTONIC, then
READY=1, on a reload; the same on a failed reload, with STATUS= saying it failed; STOPPING=1
on a graceful stop; STATUS= lines; WATCHDOG=1 at half of WATCHDOG_USEC. Socket activation,
under the real `systemd-socket-activate`: a passed listener that matches a configured address
is adopted (not re-bound) and serves, a configured address nothing passed is bound as
before, a passed socket matching nothing is logged and closed, and the admin listener can be
passed too. A binary upgrade is a reload to systemd (same pid, RELOADING=1, READY=1), and
only the supervisor's pid ever sends (NotifyAccess=main)."""
import os, shutil, socket, struct, subprocess, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from admintest import *


class Manager:
    """A service manager's end of NOTIFY_SOCKET: collects every datagram."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        # the sender's pid with every datagram, as systemd checks it for NotifyAccess=main
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.msgs = []
        self.pids = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(12))
            except OSError:
                return
            fields = dict(l.split("=", 1) for l in data.decode().split("\n") if "=" in l)
            with self.lock:
                for level, kind, cred in anc:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                        self.pids.add(struct.unpack("iII", cred[:12])[0])
                self.msgs.append((time.monotonic(), fields))

    def states(self):
        """The state messages in order (READY, RELOADING, STOPPING), with their fields."""
        with self.lock:
            return [f for _, f in self.msgs
                    if "READY" in f or "RELOADING" in f or "STOPPING" in f]

    def count(self, key):
        with self.lock:
            return sum(1 for _, f in self.msgs if key in f)

    def statuses(self):
        with self.lock:
            return [f["STATUS"] for _, f in self.msgs if "STATUS" in f]


def kinds(states):
    return [("READY" if "READY" in f else "RELOADING" if "RELOADING" in f else "STOPPING")
            for f in states]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- sd_notify --------------------------------------------------------------------------
s = Server(workers=2, files={"a.txt": b"hello\n"})
mgr = Manager(os.path.join(s.dir, "notify.sock"))
os.environ["NOTIFY_SOCKET"] = os.path.join(s.dir, "notify.sock")
os.environ["WATCHDOG_USEC"] = "400000"
try:
    s.start()
    del os.environ["NOTIFY_SOCKET"]
    del os.environ["WATCHDOG_USEC"]
    sup_wait(lambda: kinds(mgr.states()) == ["READY"], 5, "READY=1 after the first generation")
    check("generation 1, 2 workers" in mgr.states()[0].get("STATUS", ""),
          "READY's STATUS names the generation and workers: %r" % mgr.states()[0])
    # the watchdog: every 200 ms while serving
    n0 = mgr.count("WATCHDOG")
    sup_wait(lambda: mgr.count("WATCHDOG") >= n0 + 3, 3, "WATCHDOG=1 keeps coming")

    for i in range(3):
        check(request(s.port, "/a.txt").status == 200, "GET")
    sup_wait(lambda: any("3 requests" in st for st in mgr.statuses()), 5,
             "a STATUS= line with the request count")

    t_before = time.monotonic()
    r = s.cli("-s", "reload")
    check(r.returncode == 0, "reload: %r" % r.stderr)
    sup_wait(lambda: kinds(mgr.states()) == ["READY", "RELOADING", "READY"], 5,
             "RELOADING=1 then READY=1 on a reload: %r" % mgr.states())
    rel = mgr.states()[1]
    usec = int(rel.get("MONOTONIC_USEC", "0"))
    check(t_before * 1e6 - 1000 <= usec <= time.monotonic() * 1e6,
          "MONOTONIC_USEC is CLOCK_MONOTONIC at the reload: %d vs %.0f" % (usec, t_before * 1e6))

    conf = open(s.conf).read()
    with open(s.conf, "w") as f:
        f.write(conf + "workers = oops;\n")
    r = s.cli("-s", "reload")
    check(r.returncode == 1, "a broken config fails the reload")
    with open(s.conf, "w") as f:
        f.write(conf)
    sup_wait(lambda: kinds(mgr.states()) == ["READY", "RELOADING", "READY", "RELOADING",
                                             "READY"], 5,
             "RELOADING=1 then READY=1 on a failed reload: %r" % mgr.states())
    st = mgr.states()[4].get("STATUS", "")
    check("reload failed" in st and "serves on" in st, "STATUS= says the reload failed: %r" % st)
    check(request(s.port, "/a.txt").status == 200, "the old generation serves on")

    # a binary upgrade is a reload to systemd: same pid, RELOADING=1 then READY=1
    r = s.cli("-s", "upgrade")
    check(r.returncode == 0, "upgrade: %r" % r.stderr)
    sup_wait(lambda: len(mgr.states()) == 7, 5, "two more messages: %r" % mgr.states())
    check(kinds(mgr.states())[5:] == ["RELOADING", "READY"], "RELOADING=1, READY=1 on an upgrade")
    check("MONOTONIC_USEC" in mgr.states()[5], "with MONOTONIC_USEC")
    n0 = mgr.count("WATCHDOG")
    sup_wait(lambda: mgr.count("WATCHDOG") >= n0 + 2, 3, "WATCHDOG=1 after the upgrade too")

    r = s.cli("-s", "quit")
    check(r.returncode == 0, "quit")
    check(s.wait_exit(15) == 0, "exit 0")
    sup_wait(lambda: kinds(mgr.states())[-1:] == ["STOPPING"], 5, "STOPPING=1 on shutdown")
    check(kinds(mgr.states()) == ["READY", "RELOADING", "READY", "RELOADING", "READY",
                                  "RELOADING", "READY", "STOPPING"],
          "the whole sequence: %r" % kinds(mgr.states()))
    check(mgr.pids == {s.proc.pid}, "only the supervisor's pid sends (NotifyAccess=main), "
          "before and after the upgrade: %r vs %d" % (mgr.pids, s.proc.pid))
finally:
    os.environ.pop("NOTIFY_SOCKET", None)
    os.environ.pop("WATCHDOG_USEC", None)
    s.stop()

# Without systemd (no NOTIFY_SOCKET, no LISTEN_FDS) nothing changes: every other suite runs so.

# ---- socket activation ------------------------------------------------------------------
tool = shutil.which("systemd-socket-activate")
check(tool, "systemd-socket-activate not found (scripts/deps.sh installs systemd)")
p_passed, p_bound, p_stray, p_admin = free_port(), free_port(), free_port(), free_port()


class Activated(Server):
    def start(self, timeout=10):
        self.proc = subprocess.Popen(
            [tool, "-l", "127.0.0.1:%d" % p_passed, "-l", "127.0.0.1:%d" % p_stray,
             "-l", "127.0.0.1:%d" % p_admin, EVCLUSTER, "-c", self.conf],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=self.dir)
        threading.Thread(target=self._reader, daemon=True).start()
        self.wait_log("Listening on 127.0.0.1:%d" % p_admin, timeout)
        return self


a = Activated(workers=2, files={"a.txt": b"hello\n"},
              settings={"listen": '["127.0.0.1:%d", "127.0.0.1:%d"]' % (p_passed, p_bound),
                        "admin": '{ listen = "127.0.0.1:%d"; }' % p_admin})
try:
    a.start()
    # systemd-socket-activate execs the server on the first connection, in its own pid
    r = request(p_passed, "/a.txt")
    check(r.status == 200 and r.body == b"hello\n", "served through the passed socket: %r" % r)
    a.wait_log(READY_RE, 10)
    log = "\n".join(a.log)
    check("listening on 127.0.0.1:%d (fd 3, handed over: not re-bound)" % p_passed in log,
          "the passed listener is adopted, not re-bound:\n" + log)
    check("listening on 127.0.0.1:%d (fd " % p_bound in log and
          "127.0.0.1:%d (fd" % p_bound in log and
          "%d (fd 3" % p_bound not in log, "the address nothing passed is bound")
    check("admin listener on 127.0.0.1:%d (fd 5, handed over: not re-bound)" % p_admin in log,
          "the admin listener is adopted:\n" + log)
    check("(fd 4, 127.0.0.1:%d) matches no configured address: closed" % p_stray in log,
          "the stray socket is logged and closed:\n" + log)
    check(request(p_bound, "/a.txt").status == 200, "served on the bound address")
    check(admin_get(p_admin, "/healthz")[0] == 200, "/healthz on the passed admin socket")
    try:
        socket.create_connection(("127.0.0.1", p_stray), timeout=2).close()
        fail("the stray socket still accepts")
    except ConnectionRefusedError:
        pass
    st = sup_status(a)
    check(st and st["supervisor"]["pid"] == a.proc.pid, "the supervisor is the activated pid")
    a.signal(signal.SIGTERM)
    check(a.wait_exit(15) == 0, "exit 0")
    print("ok: notify sequence and socket activation")
finally:
    a.stop()
