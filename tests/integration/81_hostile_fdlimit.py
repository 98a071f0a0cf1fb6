#!/usr/bin/env python3
"""At the descriptor limit: the server runs with RLIMIT_NOFILE = 64 and more clients connect
than it has descriptors. Its one worker neither spins on the listener (its CPU time over 2 s at
the limit stays low) nor dies (the same pid serves afterwards), and it serves again within a
couple of seconds once the extra clients leave; twice in a row."""
import errno, os, resource, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

NOFILE = 64
CLIENTS = 150          # well over NOFILE: the rest waits in the listen backlog
WINDOW = 2.0           # seconds at the limit over which CPU time is measured
MAX_CPU = 0.5          # ... and the most the worker may burn in them
RECOVER = 2.5          # seconds to serve a new client once the extra ones left
FILES = {"a.txt": b"file a\n", "b.txt": b"file b, never asked for before the limit\n"}


def at_limit(pid):
    """The worker holds (about) as many descriptors as it may: the next accept fails."""
    return proc_fd_count(pid) >= NOFILE - 2


class LimitedServer(Server):
    """A Server whose processes start with RLIMIT_NOFILE = nofile (soft and hard)."""

    def __init__(self, nofile, **kw):
        super().__init__(**kw)
        self.nofile = nofile

    def start(self, timeout=10):
        n = self.nofile
        self.proc = subprocess.Popen(
            [EVCLUSTER, "-c", self.conf], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, cwd=self.dir,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)))
        threading.Thread(target=self._reader, daemon=True).start()
        m = self.wait_log(READY_RE, timeout)
        self.generation = int(m.group(1))
        self.port = int(m.group(3).split(",")[0].rsplit(":", 1)[1])
        return self


def flood(port, n):
    """n clients that connect and start a request (those the worker cannot accept stay
    queued). They send a first byte, as real clients do: the listener defers accept until
    data arrives (TCP_DEFER_ACCEPT), so silent connectors would only reach the worker late."""
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(b"G")
        except OSError as e:
            raise CaseFailed("connect: %s" % e)
        s.setblocking(False)
        socks.append(s)
    return socks


def at_limit_round(s, label):
    pid = s.worker
    socks = flood(s.port, CLIENTS)
    try:
        expect(wait_for(lambda: at_limit(pid), 5), "%s: the worker holds %d descriptors, not "
               "at the limit of %d" % (label, proc_fd_count(pid), NOFILE))
        # A measurement window, not a synchronisation: the worker stays at the limit for it.
        w0, s0, t0 = proc_cpu_seconds(pid), proc_cpu_seconds(s.proc.pid), time.monotonic()
        time.sleep(WINDOW)
        w1, s1, t1 = proc_cpu_seconds(pid), proc_cpu_seconds(s.proc.pid), time.monotonic()
        expect(pid_alive(pid), "%s: the worker died at the descriptor limit" % label)
        expect(w1 - w0 < MAX_CPU, "%s: the worker burnt %.2fs of CPU in %.1fs at the descriptor "
               "limit (it spins)" % (label, w1 - w0, t1 - t0))
        expect(s1 - s0 < MAX_CPU, "%s: the supervisor burnt %.2fs of CPU in %.1fs while its "
               "worker was at the descriptor limit" % (label, s1 - s0, t1 - t0))
    finally:
        for c in socks:
            c.close()
    # The extra clients left: a new one is served within RECOVER seconds.
    t0 = time.monotonic()
    deadline = t0 + RECOVER
    last = None
    while time.monotonic() < deadline:
        try:
            c = Conn(s.port, timeout=max(0.2, deadline - time.monotonic()))
            try:
                r = roundtrip(c, "GET", "/a.txt", {"Connection": "close"})
            finally:
                c.close()
            if r.status == 200 and r.body == FILES["a.txt"]:
                last = None
                break
            last = "status %d" % r.status
        except (OSError, EOFError) as e:
            last = "%s: %s" % (type(e).__name__, e)
        time.sleep(0.05)
    else:
        raise CaseFailed("%s: no 200 within %.1fs after the extra clients left (last: %s)"
                         % (label, RECOVER, last))
    expect(last is None, "%s: %s" % (label, last))
    expect_eq(only_worker(s), pid, "%s: worker pid after the limit" % label)


def test_first_time_at_limit(s):
    at_limit_round(s, "first round")


def test_second_time_at_limit(s):
    at_limit_round(s, "second round")


def test_keepalive_client_served_at_limit(s):
    """A client accepted before the limit keeps its connection and gets answers (from the
    cache or a clear error, never a hang) while new clients wait in the backlog."""
    c = Conn(s.port)
    socks = []
    try:
        expect_eq(roundtrip(c, "GET", "/a.txt").status, 200, "keep-alive client before the limit")
        socks = flood(s.port, CLIENTS)
        expect(wait_for(lambda: at_limit(s.worker), 5), "the worker holds %d descriptors, not "
               "at the limit of %d" % (proc_fd_count(s.worker), NOFILE))
        c.sock.settimeout(3)
        r = roundtrip(c, "GET", "/a.txt")
        expect(r.status in (200, 503), "keep-alive client at the descriptor limit, a cached "
               "file: status %d (expected 200, or 503)" % r.status)
        # A file not in the cache needs a descriptor the worker does not have: a 503 (try
        # again) or a 200 (a descriptor kept in reserve), not a 500 as if the server broke.
        r = roundtrip(c, "GET", "/b.txt")
        expect(r.status in (200, 503), "keep-alive client at the descriptor limit, a file not "
               "in the cache: status %d (expected 200, or 503)" % r.status)
    finally:
        for x in socks:
            x.close()
        c.close()
    r = wait_for(lambda: request(s.port, "/b.txt"), RECOVER)
    expect_eq((r.status, r.body), (200, FILES["b.txt"]), "a new client after the limit")


def main():
    settings = {
        "limits": "{ max_connections = 2000; max_header_bytes = 8192; keepalive_requests = 100; }",
        # long enough that no timeout frees a descriptor during the test: only leaving does
        "timeouts": "{ graceful = 5.0; keepalive = 20.0; header = 20.0; send = 20.0; }"}
    with remove_at_exit(LimitedServer(NOFILE, settings=settings, files=FILES)) as s:
        s.worker = only_worker(s)
        check(request(s.port, "/a.txt").status == 200, "a request before the flood")
        with open("/proc/%d/limits" % s.worker) as f:
            lim = [l for l in f if l.startswith("Max open files")]
        check(lim and lim[0].split()[3] == str(NOFILE), "worker limit: %r" % lim)
        results = [run_cases(s, [test_first_time_at_limit, test_second_time_at_limit,
                                 test_keepalive_client_served_at_limit])]
    finish(results)


if __name__ == "__main__":
    main()
