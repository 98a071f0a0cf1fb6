#!/usr/bin/env python3
"""File work runs on the pool: with a disk that is slow for some paths (the slowfs LD_PRELOAD
shim), three requests for slow files keep three pool threads busy while a request for a fast
file is still answered at once; the slow ones then complete correctly. A server that opens,
stats or reads on its loop thread stalls every connection and fails here. The shim also makes
send() take only a little at a time, for answers gathered from pipelined requests."""
import os, sys, shutil, glob
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

SLOW_MS = 700
SEND_MAX = 1000
FAST_LIMIT = 0.3
HERE = os.path.dirname(os.path.abspath(__file__))
FILES = {"slow-1.txt": b"first slow file\n" * 1000, "slow-2.txt": b"second slow file\n" * 3,
         "fast.txt": b"fast file\n",
         # Large enough to be sent from the file (not from memory) in more than one piece.
         "slow-big.bin": bytes(range(256)) * 2600,
         "slow-solo.txt": b"solo\n", "slow-shared.txt": b"shared by many\n" * 50,
         "slow-orphan.txt": b"its first client left\n",
         **{"slow-busy-%d.txt" % i: b"busy\n" for i in range(4)}}


def shim_path(workdir):
    """The built shim (EVC_SLOWFS, set by CMake) or one compiled here from slowfs.c."""
    p = os.environ.get("EVC_SLOWFS")
    if p and os.path.exists(p):
        return p
    build = os.environ.get("EVC_BUILD_DIR")
    if build:
        for cand in glob.glob(os.path.join(build, "tests", "integration", "slowfs*.so")):
            return cand
    out = os.path.join(workdir, "slowfs.so")
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    check(cc, "no C compiler to build slowfs.c and EVC_SLOWFS not set")
    r = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", out,
                        os.path.join(HERE, "slowfs.c"), "-ldl"], capture_output=True, text=True)
    check(r.returncode == 0, "building slowfs.c failed:\n" + r.stderr)
    return out


def preload_value(shim):
    """A sanitizer runtime must come first in LD_PRELOAD; the shim after it."""
    libs = []
    try:
        out = subprocess.run(["ldd", EVCLUSTER], capture_output=True, text=True).stdout
        for m in re.finditer(r"(lib[at]san\.so\S*) => (\S+)", out):
            libs.append(m.group(2))
    except OSError:
        pass
    return ":".join(libs + [shim])


def slow_env(workdir, ms, mark, log):
    """The environment that starts a server on the slow disk: calls on paths containing mark
    take ms, each logged to log."""
    return {"LD_PRELOAD": preload_value(shim_path(workdir)), "EVC_SLOWFS_MS": str(ms),
            "EVC_SLOWFS_MARK": mark, "EVC_SLOWFS_LOG": log}


def slow_log_paths(logfile):
    try:
        with open(logfile) as f:
            return {parts[1] for parts in (line.split() for line in f)
                    if len(parts) >= 2 and not parts[1].startswith("fd=")}
    except FileNotFoundError:
        return set()


def loop_thread_calls(logfile):
    """Delayed calls made by a process's main thread (the worker's loop): "call target" each."""
    try:
        with open(logfile) as f:
            out = []
            for line in f:
                kv = dict(p.split("=", 1) for p in line.split()[2:] if "=" in p)
                if kv.get("pid") and kv.get("pid") == kv.get("tid"):
                    out.append(" ".join(line.split()[:2]))
            return out
    except FileNotFoundError:
        return []


def fast_while(th, fetch_fast, report, limit_s=40):
    """Fresh small requests, one at a time, while thread th (a download from the slow disk)
    runs: fetch_fast() makes one and returns its body. Returns (how many, the slowest in s)."""
    worst, n, deadline = 0.0, 0, time.monotonic() + limit_s
    while th.is_alive() and time.monotonic() < deadline:
        t0 = time.monotonic()
        body = fetch_fast()
        worst = max(worst, time.monotonic() - t0)
        n += 1
        if body != b"fast\n":
            report(False, "fast request answered %r" % body)
        th.join(0.05)
    th.join(10)
    return n, worst


def report_pool_reads(logfile, name, report):
    """The slow file was read in pieces on the pool, and the loop thread made no slow call."""
    lines = open(logfile).readlines() if os.path.exists(logfile) else []
    reads = [l for l in lines if name in l or "fd=" in l]
    report(len(reads) >= 5, "the file was read in pieces on the pool (%d slow calls)"
           % len(reads))
    calls = loop_thread_calls(logfile)
    report(not calls, "the loop thread made no slow call: %r" % calls[:5])


def test_fast_while_slow_pending(s):
    targets = ["/slow-1.txt", "/slow-2.txt", "/slow-missing.txt"]
    conns = []
    try:
        for t in targets:
            c = Conn(s.port, timeout=20)
            c.send(http_req("GET", t))
            conns.append(c)
        t_sent = time.monotonic()
        # Wait until the shim reports a delayed call for each of the three paths: the slow
        # work is then in flight (on pool threads, if the server is right).
        want = {os.path.basename(t) for t in targets}
        seen = wait_for(lambda: {os.path.basename(p) for p in slow_log_paths(s.slowlog)} >= want
                        and True, 5, 0.01)
        expect(seen, "the shim saw no delayed call for all of %s within 5 s (seen: %s); is it "
               "preloaded?" % (sorted(want), sorted(slow_log_paths(s.slowlog))))
        for i in range(3):
            t0 = time.monotonic()
            r = request(s.port, "/fast.txt")
            dt = time.monotonic() - t0
            expect_eq((r.status, r.body), (200, FILES["fast.txt"]), "fast request %d" % i)
            expect(dt < FAST_LIMIT, "fast request %d took %.0f ms while 3 slow ones were pending "
                   "(limit %.0f ms): file work blocks the loop" % (i, dt * 1000, FAST_LIMIT * 1000))
        ready, _, _ = select.select([c.sock for c in conns], [], [], 0)
        expect(not ready and all(not c.buf for c in conns),
               "slow responses already arrived: the test proved nothing")
        results = [c.read_response() for c in conns]
        elapsed = time.monotonic() - t_sent
        expect_eq((results[0].status, results[0].body), (200, FILES["slow-1.txt"]), "slow-1.txt")
        expect_eq((results[1].status, results[1].body), (200, FILES["slow-2.txt"]), "slow-2.txt")
        expect_eq(results[2].status, 404, "slow-missing.txt")
        expect(elapsed >= SLOW_MS / 1000.0 * 0.9,
               "slow responses came after %.2fs: the shim did not slow them" % elapsed)
    finally:
        for c in conns:
            c.close()


def test_slow_then_fast_on_one_connection(s):
    # Keep-alive after a slow response: the connection still works and fast stays fast.
    c = Conn(s.port, timeout=20)
    try:
        r = roundtrip(c, "GET", "/slow-2.txt")
        expect_eq((r.status, r.body), (200, FILES["slow-2.txt"]), "slow-2.txt on keep-alive")
        t0 = time.monotonic()
        r = roundtrip(c, "GET", "/fast.txt")
        expect_eq(r.body, FILES["fast.txt"], "fast after slow on one connection")
        expect(time.monotonic() - t0 < FAST_LIMIT, "fast after slow took %.0f ms"
               % ((time.monotonic() - t0) * 1000))
    finally:
        c.close()


def test_fast_while_large_slow_file_sends(s):
    # Every read of the slow file's descriptor is slow, sendfile() included: a loop thread that
    # sends from the file itself waits for the disk, and the fast requests meanwhile with it.
    body = FILES["slow-big.bin"]
    got = {}

    def fetch():
        try:
            c = Conn(s.port, timeout=30)
            try:
                got["r"] = roundtrip(c, "GET", "/slow-big.bin")
            finally:
                c.close()
        except Exception as e:
            got["err"] = "%s: %s" % (type(e).__name__, e)
    th = threading.Thread(target=fetch, daemon=True)
    th.start()
    expect(wait_for(lambda: "slow-big.bin" in {os.path.basename(p)
                                               for p in slow_log_paths(s.slowlog)}, 5, 0.01),
           "the shim saw no delayed call for slow-big.bin within 5 s")
    worst, n, deadline = 0.0, 0, time.monotonic() + 20
    while th.is_alive() and time.monotonic() < deadline:
        t0 = time.monotonic()
        r = request(s.port, "/fast.txt")
        worst = max(worst, time.monotonic() - t0)
        n += 1
        expect_eq(r.body, FILES["fast.txt"], "fast request during the large slow one")
        th.join(0.05)
    th.join(10)
    expect("err" not in got, "large slow download failed: %s" % got.get("err"))
    r = got.get("r")
    expect(r is not None, "large slow download did not finish")
    expect_eq((r.status, len(r.body), r.body == body), (200, len(body), True), "slow-big.bin")
    expect(worst < FAST_LIMIT, "while a large slow file was being sent, a fast request took %.0f "
           "ms (%d fast requests; limit %.0f ms): the loop thread reads the file (sendfile?)"
           % (worst * 1000, n, FAST_LIMIT * 1000))


def test_pipelined_slow_then_fast_in_order(s):
    # The fast file finishes first on the pool; its response must still wait for the slow one.
    c = Conn(s.port, timeout=20)
    try:
        c.send(http_req("GET", "/slow-2.txt") + http_req("GET", "/fast.txt")
               + http_req("HEAD", "/slow-1.txt") + http_req("GET", "/fast.txt"))
        r1, r2 = c.read_response(), c.read_response()
        r3, r4 = c.read_response(head=True), c.read_response()
        expect_eq((r1.status, r1.body), (200, FILES["slow-2.txt"]), "pipelined 1 (slow)")
        expect_eq((r2.status, r2.body), (200, FILES["fast.txt"]), "pipelined 2 (fast)")
        expect_eq((r3.status, r3.header("content-length")),
                  (200, str(len(FILES["slow-1.txt"]))), "pipelined 3 (slow HEAD)")
        expect_eq((r4.status, r4.body), (200, FILES["fast.txt"]), "pipelined 4 (fast)")
    finally:
        c.close()


def test_gathered_answers_drain_in_pieces(s):
    """Answers gathered for pipelined requests that no next request carries out (blank lines
    follow the last one) go out on their own. The shim lets each send() take SEND_MAX bytes,
    so they need several turns of the loop: all arrive, in order, and the connection then
    serves its next request."""
    c = Conn(s.port, timeout=5)
    try:
        expect_eq(roundtrip(c, "GET", "/fast.txt").status, 200, "warm-up (the file cached)")
        n = 30  # about 8 KB of answers: 8 sends or more
        c.send(http_req("GET", "/fast.txt") * n + b"\r\n\r\n")
        for i in range(n):
            r = c.read_response()
            expect_eq((r.status, r.body), (200, FILES["fast.txt"]), "gathered answer %d" % i)
        r = roundtrip(c, "GET", "/fast.txt")
        expect_eq((r.status, r.body), (200, FILES["fast.txt"]), "the next request")
    finally:
        c.close()


def path_calls(logfile, name):
    """Delayed calls the shim logged on a path ending in name (opens and stats by path)."""
    try:
        with open(logfile) as f:
            return sum(1 for line in f if len(line.split()) >= 2
                       and os.path.basename(line.split()[1]) == name)
    except FileNotFoundError:
        return 0


def fetch_all(conns):
    return [c.read_response() for c in conns]


def test_requests_for_one_file_share_its_lookup(s):
    # One lookup of a cold file, for reference: how many delayed calls by path it makes.
    t0 = time.monotonic()
    r = request(s.port, "/slow-solo.txt")
    solo = time.monotonic() - t0
    expect_eq((r.status, r.body), (200, FILES["slow-solo.txt"]), "slow-solo.txt")
    one = path_calls(s.slowlog, "slow-solo.txt")
    expect(one >= 1, "the shim logged no delayed call for slow-solo.txt")
    # Twelve clients ask for another cold file at once: one lookup serves them all. Without
    # sharing, each makes its own, and four threads take three times as long for twelve.
    conns = [Conn(s.port, timeout=30) for _ in range(12)]
    try:
        t0 = time.monotonic()
        for c in conns:
            c.send(http_req("GET", "/slow-shared.txt"))
        results = fetch_all(conns)
        elapsed = time.monotonic() - t0
    finally:
        for c in conns:
            c.close()
    for i, r in enumerate(results):
        expect_eq((r.status, r.body), (200, FILES["slow-shared.txt"]), "client %d" % i)
    calls = path_calls(s.slowlog, "slow-shared.txt")
    expect_eq(calls, one, "delayed calls by path for 12 concurrent requests of one file "
              "(one lookup makes %d)" % one)
    expect(elapsed < 1.5 * solo, "12 requests sharing one lookup took %.2f s, one alone "
           "%.2f s" % (elapsed, solo))


def test_shared_lookup_survives_its_owner_leaving(s):
    # Four slow lookups take the four pool threads; the next lookup waits in the queue, and
    # requests for the same file wait for it. Its client leaves (the queued job is
    # cancelled): the others must still be answered, with one lookup among them.
    busy = [Conn(s.port, timeout=30) for _ in range(4)]
    owner = waiters = None
    try:
        for i, c in enumerate(busy):
            c.send(http_req("GET", "/slow-busy-%d.txt" % i))
        expect(wait_for(lambda: all(path_calls(s.slowlog, "slow-busy-%d.txt" % i)
                                    for i in range(4)), 5, 0.01),
               "the four slow lookups did not start")
        owner = Conn(s.port, timeout=30)
        owner.send(http_req("GET", "/slow-orphan.txt"))
        queued = lambda: [w["pool"]["queued"] for w in (sup_status(s) or {"workers": []})["workers"]]
        expect(wait_for(lambda: queued() == [1], 5, 0.02),
               "the owner's lookup is not queued (pool queued: %s)" % queued())
        waiters = [Conn(s.port, timeout=30) for _ in range(5)]
        for c in waiters:
            c.send(http_req("GET", "/slow-orphan.txt"))
        # Accepted in order and read at accept: once a later connection is answered, the
        # waiters' requests have been seen.
        r = request(s.port, "/fast.txt")
        expect_eq(r.status, 200, "fast request")
        owner.close()
        owner = None
        for i, r in enumerate(fetch_all(waiters)):
            expect_eq((r.status, r.body), (200, FILES["slow-orphan.txt"]), "waiter %d" % i)
        one = path_calls(s.slowlog, "slow-solo.txt")
        expect_eq(path_calls(s.slowlog, "slow-orphan.txt"), one,
                  "delayed calls by path for slow-orphan.txt (one lookup makes %d)" % one)
        for i, r in enumerate(fetch_all(busy)):
            expect_eq(r.status, 200, "busy %d" % i)
    finally:
        for c in busy + (waiters or []) + ([owner] if owner else []):
            c.close()


def test_loop_thread_never_touched_a_slow_file(s):
    # Runs last: every delayed call the earlier cases caused was made on a pool thread.
    expect(slow_log_paths(s.slowlog), "the shim logged no slow call at all")
    calls = loop_thread_calls(s.slowlog)
    expect(not calls, "the worker's loop thread made %d slow file calls itself: %s"
           % (len(calls), ", ".join(calls[:8])))


def test_failed_lookup_logs_the_path_escaped(s):
    """A disk error answers 500 and logs the lookup with the client's path, decoded: a %0A in
    it must stay inside that line (escaped), not start a forged line of its own."""
    forged = "2026-01-01T00:00:00.000Z [1] supervisor: FORGED"
    r = request(s.port, "/broken-x%0A" + forged.replace(" ", "%20"))
    expect_eq(r.status, 500, "a lookup the disk fails")
    m = s.wait_log(r"lookup of .*FORGED", 5)
    expect("\\x0a" in m.string.lower(), "the newline is escaped in the error log: %r" % m.string)
    expect(not any(l.startswith("2026-01-01") for l in drain_lines(s)),
           "the request path wrote a line of its own into the error log")


def cut_before_the_answer_logged_499():
    """A drain deadline that cuts a request whose lookup is still on the (slow) disk: the
    request gets an access log line all the same, with nginx's 499 and no bytes."""
    s = remove_at_exit(Server(settings={"access_log": '"access.log"', "timeouts":
                                        "{ graceful = 0.2; keepalive = 5.0; header = 5.0; send = 10.0; }"},
                              files={"slow-cut.txt": b"never sent\n"}))
    slowlog = os.path.join(s.dir, "slowfs.log")
    s.start(env=slow_env(s.dir, 3000, "slow-", slowlog))
    c = Conn(s.port)
    try:
        c.send(http_req("GET", "/slow-cut.txt?cut"))
        sup_wait(lambda: "slow-cut.txt" in read_text(slowlog), 5, "the lookup on the slow disk")
        s.signal(signal.SIGQUIT)
        check(s.wait_exit(15) == 0, "exit 0 after QUIT")
    finally:
        c.close()
        s.stop()
    line = next((l for l in read_text(os.path.join(s.dir, "access.log")).splitlines()
                 if "GET /slow-cut.txt?cut " in l), None)
    check(line and re.search(r'" 499 0 "', line),
          "a request cut before its answer logged as %r, expected 499 and 0 bytes" % line)


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def main():
    s = remove_at_exit(Server(settings={"pool_threads": "4"}, files=FILES, workers=1))
    s.slowlog = os.path.join(s.dir, "slowfs.log")
    env = dict(slow_env(s.dir, SLOW_MS, "slow-", s.slowlog),
               EVC_SLOWFS_SEND_MAX=str(SEND_MAX), EVC_SLOWFS_FAIL_MARK="broken-")
    s.start(env=env)
    try:
        res = run_cases(s, [test_fast_while_slow_pending, test_slow_then_fast_on_one_connection,
                            test_pipelined_slow_then_fast_in_order,
                            test_gathered_answers_drain_in_pieces,
                            test_fast_while_large_slow_file_sends,
                            test_requests_for_one_file_share_its_lookup,
                            test_shared_lookup_survives_its_owner_leaving,
                            test_loop_thread_never_touched_a_slow_file,
                            test_failed_lookup_logs_the_path_escaped])
    finally:
        s.stop()
    cut_before_the_answer_logged_499()
    finish([res])


if __name__ == "__main__":
    main()
