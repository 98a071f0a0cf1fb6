"""The CLI and the control socket: -h/-v, usage errors (exit 2, top's too), status (table and
JSON schema of design.md, CPU and RSS, recycle counters), -s reopen, TTIN/TTOU, a stopped cluster (exit 1), and malformed,
oversized or unknown control requests answered with an error without harming the server."""
import json, os, signal, socket, subprocess, sys
sys.path.insert(0, os.path.dirname(__file__))
from evtest import *


def run(*args):
    return subprocess.run([EVCLUSTER] + list(args), capture_output=True, text=True, timeout=15)


r = run("-h")
check(r.returncode == 0 and "-s reload" in r.stdout and "status" in r.stdout and
      " top " in r.stdout, "-h: %r" % (r,))
r = run("-v")
check(r.returncode == 0 and r.stdout.startswith("evcluster "), "-v: %r" % (r,))
for bad in (["-x"], ["status"], ["-c"], ["-c", "x.conf", "-s", "restart"],
            ["-c", "x.conf", "frobnicate"], ["-c", "x.conf", "status", "--yaml"],
            ["-c", "x.conf", "top", "-x"], ["-c", "x.conf", "top", "-d", "0"], ["top"],
            ["-c", "x.conf", "-t", "top"]):
    r = run(*bad)
    check(r.returncode == 2 and r.stderr, "usage error for %r: %r" % (bad, r))

s = Server(workers=2)
try:
    # not running yet: status and -s fail with exit 1 and a message
    r = s.cli("status")
    check(r.returncode == 1 and "not running" in r.stderr, "status when stopped: %r" % (r,))
    r = s.cli("-s", "reload")
    check(r.returncode == 1 and r.stderr, "reload when stopped: %r" % (r,))
    r = s.cli("top", "-n", "1")
    check(r.returncode == 1 and "not running" in r.stderr and not r.stdout,
          "piped top when stopped: %r" % (r,))

    s.start()
    st = sup_status(s)
    check(st is not None, "status --json works")
    sv = st["supervisor"]
    check(sv["pid"] == s.proc.pid, "supervisor pid")
    check(sv["generation"] == 1, "generation 1")
    check(sv["config"] == os.path.realpath(s.conf), "config path %r" % sv["config"])
    check(isinstance(sv["uptime_s"], float) and sv["uptime_s"] >= 0, "uptime_s")
    check(len(st["workers"]) == 2, "two workers listed")
    sup_wait(lambda: all(w["refs"]["total"] > 0 for w in sup_status(s)["workers"]), 5,
             "every worker answered a ping")
    for w in sup_status(s)["workers"]:
        for k, t in (("pid", int), ("generation", int), ("state", str), ("uptime_s", float),
                     ("connections", int), ("requests", int), ("refs", dict),
                     ("loop_lag_ms", dict), ("pool", dict)):
            check(isinstance(w.get(k), t), "worker %s is %s: %r" % (k, t.__name__, w))
        check(w["state"] == "running", "state running: %r" % w)
        check(pid_alive(w["pid"]), "listed worker pid is alive")
        for k in ("total", "listeners", "connections", "pool_jobs", "timers"):
            check(isinstance(w["refs"].get(k), int), "refs.%s" % k)
        check(w["refs"]["listeners"] == 1, "one listener ref per worker: %r" % w["refs"])
        for k in ("p50", "p99", "max"):
            check(isinstance(w["loop_lag_ms"].get(k), float), "loop_lag_ms.%s" % k)
        for k in ("threads", "queued", "running"):
            check(isinstance(w["pool"].get(k), int), "pool.%s" % k)
        check(w["pool"]["threads"] >= 1, "pool threads reported")
        check(isinstance(w["rss_kb"], int) and w["rss_kb"] > 0, "rss_kb: %r" % w)
        check(w["cpu_pct"] is None or isinstance(w["cpu_pct"], float), "cpu_pct: %r" % w)
        check(w["recycle_at_requests"] == 0 and w["replacing"] is False, "recycle off: %r" % w)
    sv = sup_status(s)["supervisor"]
    check(sv["rss_kb"] > 0 and (sv["cpu_pct"] is None or isinstance(sv["cpu_pct"], float)),
          "supervisor cpu_pct and rss_kb: %r" % sv)
    check(sv["recycled"] == {"rss": 0, "requests": 0, "failed": 0, "in_progress": False},
          "recycled counters: %r" % sv)

    r = s.cli("status")
    check(r.returncode == 0 and "generation 1" in r.stdout, "status table: %r" % (r,))
    check("CPU%" in r.stdout and "RSS_MiB" in r.stdout and
          "recycled: 0 by memory, 0 by requests" in r.stdout, "status table figures: %r" % (r,))
    for pid in sup_workers(s):
        check(str(pid) in r.stdout and "running" in r.stdout, "table lists worker %d" % pid)

    r = s.cli("-s", "reopen")
    check(r.returncode == 0, "-s reopen: %r" % (r,))
    s.wait_log(r"logs reopened", 5)

    # TTIN / TTOU: one worker more, one fewer
    s.signal(signal.SIGTTIN)
    sup_wait(lambda: len(sup_workers(s, state="running")) == 3, 5, "TTIN: 3 running workers")
    # (one signal at a time: two pending TTOUs would merge into one)
    s.signal(signal.SIGTTOU)
    sup_wait(lambda: len(sup_workers(s)) == 2, 10, "TTOU: 2 workers left")
    s.signal(signal.SIGTTOU)
    sup_wait(lambda: len(sup_workers(s)) == 1, 10, "TTOU again: 1 worker left")
    s.signal(signal.SIGTTOU)  # never below one
    s.wait_log(r"generation 1: 1 workers? \(one fewer\)", 5)
    s.wait_log(r"SIGTTOU: generation 1 keeps its last worker", 5)
    check(len(sup_workers(s)) == 1, "TTOU at one worker keeps one")

    # the control socket protocol: errors for what is not a request
    sock_path = os.path.join(s.dir, "evcluster.sock")

    def raw(data, shut=True):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(10)
        c.connect(sock_path)
        c.sendall(data)
        if shut:
            c.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                k = c.recv(65536)
            except ConnectionResetError:
                break
            if not k:
                break
            out += k
        c.close()
        return out.decode(errors="replace")

    check(raw(b"frobnicate\n").startswith("error\nunknown command"), "unknown command")
    check(raw(b"x" * 100000).startswith("error\nrequest too long"), "oversized request")
    check(raw(b"status\x00\x01\n").startswith("error\nmalformed"), "binary request")
    check(raw(b"status").startswith("error\nincomplete"), "request without newline")
    check(raw(b"").startswith("error"), "empty request")
    check(raw(b"status\n").startswith("ok\n"), "status over the raw protocol")
    check(raw(b"status json\r\n").startswith("ok\n{"), "CRLF accepted")
    # a client that connects and says nothing does not block others
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    idle.connect(sock_path)
    check(s.cli("status").returncode == 0, "status while an idle client is connected")
    idle.close()
    check(s.proc.poll() is None, "supervisor survived the bad requests")

    r = s.cli("-s", "stop")
    check(r.returncode == 0, "-s stop acknowledged: %r" % (r,))
    check(s.wait_exit(10) == 0, "exit 0 after stop")
finally:
    s.stop()
print("ok")
