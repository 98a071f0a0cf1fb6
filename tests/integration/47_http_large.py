#!/usr/bin/env python3
"""Large files: a 20 MiB file downloads intact (hash compared) with curl and over a raw socket;
two concurrent large downloads both complete while small requests on other connections are
still answered quickly."""
import os, sys, random, hashlib
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

SIZE = 20 * 1024 * 1024
BIG = random.Random(47).randbytes(SIZE)
BIG_SHA = hashlib.sha256(BIG).hexdigest()
SMALL = b"small and quick\n"


def test_curl_download(s):
    out = os.path.join(s.dir, "curl.out")
    p = subprocess.run(["curl", "-sS", "--http1.1", "--max-time", "20", "-o", out, "-w",
                        "%{http_code} %{size_download}", "http://127.0.0.1:%d/big.bin" % s.port],
                       capture_output=True, text=True)
    expect_eq(p.returncode, 0, "curl exit code (stderr %r)" % p.stderr)
    expect_eq(p.stdout, "200 %d" % SIZE, "curl status and size")
    with open(out, "rb") as f:
        expect_eq(hashlib.sha256(f.read()).hexdigest(), BIG_SHA, "sha256 of curl's download")
    os.unlink(out)


def test_raw_download(s):
    c = Conn(s.port, timeout=10)
    try:
        for i in range(2):   # twice on one keep-alive connection
            c.send(http_req("GET", "/big.bin"))
            r = read_head(c)
            expect_eq((r.status, r.header("content-length")), (200, str(SIZE)), "raw GET head")
            h = hashlib.sha256()
            read_body_hashed(c, SIZE, h)
            expect_eq(h.hexdigest(), BIG_SHA, "sha256 of raw download %d" % (i + 1))
        expect_eq(roundtrip(c, "GET", "/small.txt").body, SMALL, "small after two large")
    finally:
        c.close()


def test_pipelined_large_and_small(s):
    c = Conn(s.port, timeout=10)
    try:
        c.send(http_req("GET", "/big.bin") + http_req("GET", "/small.txt")
               + http_req("GET", "/big.bin", {"Range": "bytes=%d-" % (SIZE - 1000)})
               + http_req("GET", "/small.txt"))
        r = read_head(c)
        expect_eq((r.status, r.header("content-length")), (200, str(SIZE)), "pipelined large")
        h = hashlib.sha256()
        read_body_hashed(c, SIZE, h)
        expect_eq(h.hexdigest(), BIG_SHA, "sha256 of the pipelined large response")
        expect_eq(c.read_response().body, SMALL, "small after large, pipelined")
        r = c.read_response()
        expect_eq((r.status, r.body == BIG[-1000:]), (206, True), "range of large, pipelined")
        expect_eq(c.read_response().body, SMALL, "small after range, pipelined")
    finally:
        c.close()


def test_concurrent_downloads_and_small_requests(s):
    rate = 6 * 1024 * 1024        # slow readers: each download takes over 3 s
    progress = [[0], [0]]
    results = [None, None]
    started = [threading.Event(), threading.Event()]

    def download(i):
        try:
            c = Conn(s.port, timeout=15)
            try:
                c.send(http_req("GET", "/big.bin"))
                r = read_head(c)
                started[i].set()
                if r.status != 200:
                    results[i] = "status %d" % r.status
                    return
                h = hashlib.sha256()
                read_body_hashed(c, SIZE, h, progress[i], rate)
                results[i] = "ok" if h.hexdigest() == BIG_SHA else "sha256 mismatch"
            finally:
                c.close()
        except Exception as e:  # reported by the main thread
            results[i] = "%s: %s" % (type(e).__name__, e)
            started[i].set()

    threads = [threading.Thread(target=download, args=(i,), daemon=True) for i in range(2)]
    for t in threads:
        t.start()
    for e in started:
        expect(e.wait(10), "a large download did not start within 10 s")
    # A head is in before its body's first byte: on a fast host all twenty small requests
    # were done before either download had counted one, and the check below proved nothing.
    wait_for(lambda: all(p[0] > 0 for p in progress) or not all(r is None for r in results), 10,
             interval=0.001)
    latencies = []
    during = 0
    small = Conn(s.port)
    try:
        for i in range(10):
            t0 = time.monotonic()
            r = roundtrip(small, "GET", "/small.txt")
            latencies.append(time.monotonic() - t0)
            expect_eq((r.status, r.body), (200, SMALL), "small request %d" % i)
            if all(0 < p[0] < SIZE for p in progress):
                during += 1
            # A fresh connection each time too: accept must not wait behind the downloads.
            t0 = time.monotonic()
            r = request(s.port, "/small.txt")
            latencies.append(time.monotonic() - t0)
            expect_eq(r.body, SMALL, "small request on a new connection %d" % i)
    finally:
        small.close()
    for t in threads:
        t.join(30)
    expect(during > 0, "the downloads were not both in progress during the small requests "
           "(progress %r): the test proved nothing" % [p[0] for p in progress])
    expect_eq(results, ["ok", "ok"], "concurrent large downloads")
    expect(max(latencies) < 0.3, "small requests during large downloads took up to %.0f ms"
           % (max(latencies) * 1000))


def main():
    with remove_at_exit(Server(files={"big.bin": BIG, "small.txt": SMALL})) as s:
        res = run_cases(s, [test_curl_download, test_raw_download, test_pipelined_large_and_small,
                            test_concurrent_downloads_and_small_requests])
    finish([res])


if __name__ == "__main__":
    main()
