#!/usr/bin/env python3
"""Clients that never read a large response: each is cut at timeouts.send (the worker lets the
connection go, and the client, once it reads, finds the end of the stream well before the end
of the file), and memory stays bounded: 20 such clients each asking for a 50 MiB file do not
grow the worker's resident memory by more than 20 MiB. Both ways a file is sent are covered:
a sparse file (not in the page cache: sendfile on the pool) and one just written (its pages
cached: sendfile may run on the loop). A stalled client pins at most about 256 KiB of unsent
bytes in the kernel (TCP_NOTSENT_LOWAT on the listeners), not a whole send buffer."""
import os, re, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

BIG = 50 * 1024 * 1024
SEND_T = 1.5
SLACK = 1.5
N_CLIENTS = 20
MAX_GROWTH_KIB = 20 * 1024
FILES = {"a.txt": b"file a\n"}


def stalled_client(port, path="/big.bin"):
    """A socket with a small receive buffer that asks for path and then reads nothing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    sock.sendall(http_req("GET", path))
    return sock


def read_to_end(sock, timeout):
    """Reads everything until EOF or reset: (bytes read, True), or (bytes, False) if the
    stream is still open when timeout passes."""
    got, deadline = 0, time.monotonic() + timeout
    buf = bytearray(1 << 20)
    try:
        while time.monotonic() < deadline:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            n = sock.recv_into(buf)
            if not n:
                return got, True
            got += n
    except ConnectionResetError:
        return got, True
    except socket.timeout:
        pass
    return got, False


def one_stalled_client_cut(s, path):
    # The connections of earlier requests may still be closing (the worker lingers for the
    # client's FIN): counted in, the base would make this client look gone at once.
    expect(wait_for(lambda: proc_socket_count(s.worker) <= s.idle_sockets, 5, 0.02),
           "the worker's earlier connections closed")
    base = s.idle_sockets
    sock = stalled_client(s.port, path)
    t0 = time.monotonic()
    try:
        # The worker took the client: the answer has begun (a byte is all this client reads).
        sock.settimeout(2)
        try:
            first = sock.recv(1)
        except socket.timeout:
            first = b""
        expect(first == b"H", "the worker did not take the client (no answer within 2 s)")
        # The worker lets go of the connection (its socket) at the send timeout.
        gone = wait_for(lambda: proc_socket_count(s.worker) <= base, SEND_T + SLACK + 5, 0.02)
        t = time.monotonic() - t0
        expect(gone, "%s: a client that never reads still holds its connection after %.1fs "
               "(timeouts.send = %.1f)" % (path, t, SEND_T))
        expect(t <= SEND_T + SLACK, "%s: a client that never reads was cut after %.2fs, "
               "timeouts.send = %.1f" % (path, t, SEND_T))
        expect(t >= SEND_T - 0.3, "%s: a client that never reads was cut after %.2fs, before "
               "timeouts.send = %.1f" % (path, t, SEND_T))
        # The client's view: what was in flight, then the end of the stream (EOF or reset).
        got, closed = read_to_end(sock, 5)
        expect(closed, "%s: the socket sees no EOF or reset after the send timeout (%d bytes "
               "read)" % (path, got))
        expect(got < BIG, "%s: the whole file arrived (%d bytes) despite the stall" % (path, got))
    finally:
        sock.close()


def test_stalled_client_cut_uncached_file(s):
    one_stalled_client_cut(s, "/big.bin")


def test_stalled_client_cut_cached_file(s):
    one_stalled_client_cut(s, "/hot.bin")


UNSENT_MAX = 256 * 1024 + 128 * 1024  # the low-water mark plus one sendfile call's overshoot


def server_unsent(port):
    """{client port: unsent bytes} of the server's sockets on port, from ss (TCP_INFO)."""
    out = subprocess.run(["ss", "-tinH", "state", "established", "( sport = :%d )" % port],
                         capture_output=True, text=True, check=True).stdout
    unsent, client = {}, None
    for line in out.splitlines():
        m = re.search(r"127\.0\.0\.1:%d\s+127\.0\.0\.1:(\d+)" % port, line)
        if m:
            client = int(m.group(1))
            unsent[client] = 0
            continue
        m = re.search(r"\bnotsent:(\d+)", line)
        if m and client is not None:
            unsent[client] = int(m.group(1))
    return unsent


def one_stalled_client_unsent(s, path):
    sock = stalled_client(s.port, path)
    try:
        me = sock.getsockname()[1]
        # Wait until the server's side has queued something and stops growing: the client's
        # window is full and what the worker still queued is all that is left unsent.
        last, stable, deadline = -1, 0, time.monotonic() + 4
        while time.monotonic() < deadline:
            now = server_unsent(s.port).get(me, -1)
            stable = stable + 1 if now == last and now > 0 else 0
            last = now
            if stable >= 5:
                break
            time.sleep(0.02)
        expect(last >= 0, "%s: the server's socket for the stalled client is not in ss" % path)
        expect(last > 0, "%s: nothing unsent for a stalled client: the test stalls nothing" % path)
        expect(last <= UNSENT_MAX, "%s: %d KiB unsent queued for a client that reads nothing "
               "(at most %d KiB expected)" % (path, last >> 10, UNSENT_MAX >> 10))
        print("     %s: %d KiB unsent for a stalled client" % (path, last >> 10), flush=True)
    finally:
        sock.close()


def test_unsent_bounded(s):
    base = proc_socket_count(s.worker)
    one_stalled_client_unsent(s, "/hot.bin")
    one_stalled_client_unsent(s, "/big.bin")
    # The clients closed with data unread: their reset ends the worker's side too.
    expect(wait_for(lambda: proc_socket_count(s.worker) <= base, SEND_T + SLACK, 0.02),
           "the worker still holds the stalled clients' connections after they closed")


def test_memory_bounded(s):
    pid = s.worker
    base_fds = proc_socket_count(pid)
    before = proc_rss_kib(pid)
    socks, peak = [], before
    t0 = time.monotonic()
    try:
        for i in range(N_CLIENTS):
            socks.append(stalled_client(s.port, "/big.bin" if i % 2 else "/hot.bin"))
            peak = max(peak, proc_rss_kib(pid))
        expect(wait_for(lambda: proc_socket_count(pid) >= base_fds + N_CLIENTS, 2, 0.01),
               "the worker did not take the %d clients (%d sockets, %d before)"
               % (N_CLIENTS, proc_socket_count(pid), base_fds))
        # Sample while the clients stall, until the worker has cut them all.
        deadline = time.monotonic() + SEND_T + SLACK + 3
        while time.monotonic() < deadline:
            peak = max(peak, proc_rss_kib(pid))
            if proc_socket_count(pid) <= base_fds:
                break
            time.sleep(0.02)
        t = time.monotonic() - t0
        expect(proc_socket_count(pid) <= base_fds, "%d stalled clients: connections still open "
               "after %.1fs (timeouts.send = %.1f)" % (N_CLIENTS, t, SEND_T))
        expect(peak - before <= MAX_GROWTH_KIB, "%d clients each stalled on a %d MiB file grew "
               "the worker's RSS by %d KiB (from %d KiB; at most %d allowed)"
               % (N_CLIENTS, BIG >> 20, peak - before, before, MAX_GROWTH_KIB))
        print("     RSS %d KiB before, %d KiB at most with %d stalled clients"
              % (before, peak, N_CLIENTS), flush=True)
        for i, sock in enumerate(socks):
            got, closed = read_to_end(sock, 2)
            expect(closed and got < BIG, "stalled client %d: closed %s after %d bytes"
                   % (i, closed, got))
    finally:
        for sock in socks:
            sock.close()


def test_still_serving(s):
    expect_eq(only_worker(s), s.worker, "worker pid after the stalled clients")
    r = request(s.port, "/a.txt")
    expect_eq((r.status, r.body), (200, FILES["a.txt"]), "a normal request afterwards")


def main():
    settings = {
        "limits": "{ max_connections = 1000; max_header_bytes = 8192; keepalive_requests = 100; }",
        "timeouts": "{ graceful = 5.0; keepalive = 5.0; header = 5.0; send = %.1f; }" % SEND_T}
    s = remove_at_exit(Server(settings=settings, files=FILES))
    with open(os.path.join(s.root, "big.bin"), "wb") as f:
        f.truncate(BIG)  # sparse: 50 MiB of zeros without writing them
    with open(os.path.join(s.root, "hot.bin"), "wb") as f:
        block = bytes(range(256)) * 4096
        for _ in range(BIG // len(block)):
            f.write(block)  # written: its pages are in the page cache
    with s:
        s.worker = only_worker(s)
        s.idle_sockets = proc_socket_count(s.worker)  # listener and channel, no client
        check(request(s.port, "/a.txt").status == 200, "a request before the stalled clients")
        results = [run_cases(s, [test_stalled_client_cut_uncached_file,
                                 test_stalled_client_cut_cached_file, test_unsent_bounded,
                                 test_memory_bounded,
                                 test_still_serving])]
    finish(results)


if __name__ == "__main__":
    main()
