#!/usr/bin/env python3
"""The worker's open-file cache: a file asked for again within the cache's validity (1 s) is
answered without touching the file system (proved with the slowfs shim: the second request
for a slow file is fast), and a changed, deleted or replaced file is served fresh once the
validity has passed: never older than that. A small file of 16 KiB or more keeps its
descriptor beside its bytes (plain connections sendfile it)."""
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

VALID = 1.0  # the cache's validity in the worker
SLACK = 0.5
MID = os.urandom(40 * 1024 + 7)
FILES = {"a.txt": b"one\n", "gone.txt": b"here\n", "slow-c.txt": b"cached slow\n" * 10,
         "big.bin": b"B" * (200 * 1024), "mid.bin": MID, "small.bin": os.urandom(8 * 1024)}


def poll_until(fn, limit):
    """Polls fn() (a condition on a fresh request) until true or limit seconds pass; returns
    the seconds it took, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if fn():
            return time.monotonic() - t0
        time.sleep(0.02)  # polling a condition with a deadline, not synchronisation
    return None


def test_changed_file_fresh_within_validity(s):
    expect_eq(request(s.port, "/a.txt").body, b"one\n", "first answer")
    s.write_file("a.txt", b"two, longer\n")
    took = poll_until(lambda: request(s.port, "/a.txt").body == b"two, longer\n", VALID + SLACK)
    expect(took is not None, "changed file still served stale after %.1f s" % (VALID + SLACK))


def test_deleted_file_gone_within_validity(s):
    expect_eq(request(s.port, "/gone.txt").status, 200, "before delete")
    os.unlink(os.path.join(s.root, "gone.txt"))
    took = poll_until(lambda: request(s.port, "/gone.txt").status == 404, VALID + SLACK)
    expect(took is not None, "deleted file still served after %.1f s" % (VALID + SLACK))


def test_replaced_large_file(s):
    r = request(s.port, "/big.bin")
    expect_eq(len(r.body), 200 * 1024, "large file, first")
    tmp = os.path.join(s.root, "big.tmp")
    with open(tmp, "wb") as f:
        f.write(b"N" * 1000)
    os.rename(tmp, os.path.join(s.root, "big.bin"))  # an atomic deploy replaces the inode
    took = poll_until(lambda: request(s.port, "/big.bin").body == b"N" * 1000, VALID + SLACK)
    expect(took is not None, "replaced file still served old bytes after %.1f s" % (VALID + SLACK))


def test_midsize_file_keeps_its_descriptor(s):
    """A small file of 16 KiB or more is cached in memory and its descriptor kept: a plain
    connection sends it with sendfile (no copy into the kernel). One more open file in the
    worker after the first answer, none for an 8 KiB file; the bytes, a range and HEAD are
    those of the file, from the cache as on the first answer."""
    pid = only_worker(s)

    def settled():  # the requests' own sockets are closed by then
        n = proc_fd_count(pid)
        time.sleep(0.05)  # two equal counts 50 ms apart: polling for a steady value
        return n if proc_fd_count(pid) == n else None

    def steady():
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3:
            n = settled()
            if n is not None:
                return n
        fail("the worker's open files never settled")

    base = steady()
    expect_eq(request(s.port, "/small.bin").body, FILES["small.bin"], "8 KiB file")
    expect_eq(steady(), base, "an 8 KiB file keeps no descriptor")
    for i in range(2):  # a miss, then a hit
        expect(request(s.port, "/mid.bin").body == MID, "40 KiB file, request %d: bytes differ" % i)
    expect_eq(steady(), base + 1, "the 40 KiB file's descriptor is kept")
    r = request(s.port, "/mid.bin", headers={"Range": "bytes=1000-30999"})
    expect_eq(r.status, 206, "range status")
    expect(r.body == MID[1000:31000], "range bytes differ")
    r = request(s.port, "/mid.bin", method="HEAD")
    expect_eq((r.status, r.body, r.header("content-length")), (200, b"", str(len(MID))), "HEAD")


def main():
    slowfs = slowfs_helpers()
    s = remove_at_exit(Server(files=FILES))
    log = os.path.join(s.dir, "slowfs.log")
    s.start(env=slowfs.slow_env(s.dir, 600, "slow", log))

    def test_hit_does_not_touch_the_disk(srv):
        t0 = time.monotonic()
        expect_eq(request(srv.port, "/slow-c.txt").body, FILES["slow-c.txt"], "slow, first")
        first = time.monotonic() - t0
        expect(first >= 0.5, "the first request did not go to the (slow) disk: %.3f s" % first)
        t0 = time.monotonic()
        expect_eq(request(srv.port, "/slow-c.txt").body, FILES["slow-c.txt"], "slow, again")
        again = time.monotonic() - t0
        expect(again < 0.2, "a repeat within the validity went to the disk: %.3f s" % again)

    try:
        res = run_cases(s, [test_hit_does_not_touch_the_disk,
                            test_changed_file_fresh_within_validity,
                            test_deleted_file_gone_within_validity, test_replaced_large_file,
                            test_midsize_file_keeps_its_descriptor])
    finally:
        s.stop()
    finish([res])


if __name__ == "__main__":
    main()
