#!/usr/bin/env python3
"""The control socket against hostile local peers: it is mode 0600, so another user cannot
connect; even with the mode opened up, the supervisor refuses a peer that is neither root nor
its own user. Malformed requests (binary garbage, a 100 KiB line, an unknown command, an empty
line, a line without its newline) get an error reply or a closed connection, never a crash;
a client holding a half-written line does not block others and is dropped after a while; the
supervisor, its workers and `status` are all still there afterwards."""
import os, stat, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

NOBODY = 65534
FILES = {"a.txt": b"file a\n"}
IDLE_LIMIT = 12.0     # a client holding a half-written line is dropped within this


def ctl_path(s):
    return os.path.join(s.dir, "evcluster.sock")


def ctl_exchange(s, data, timeout=3.0, shut=False):
    """Sends data on a fresh control connection; returns (reply bytes, closed)."""
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    u.settimeout(timeout)
    try:
        u.connect(ctl_path(s))
    except BaseException:
        u.close()
        raise
    return send_and_drain(u, data, timeout, shut)


def as_nobody(path):
    """Connects to path and sends "status" as uid/gid nobody, in a forked child. Returns what
    happened: "EACCES", "ECONNREFUSED", or "reply:" and the bytes the supervisor sent."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        out = b"?"
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            u.settimeout(3)
            try:
                u.connect(path)
                try:
                    u.sendall(b"status\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
                data = b""
                try:
                    while True:
                        chunk = u.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                except (ConnectionResetError, socket.timeout):
                    pass
                out = b"reply:" + data
            except PermissionError:
                out = b"EACCES"
            except ConnectionRefusedError:
                out = b"ECONNREFUSED"
        except BaseException as e:
            out = ("error: %s: %s" % (type(e).__name__, e)).encode()
        os.write(wfd, out)
        os._exit(0)
    os.close(wfd)
    out = b""
    while True:
        chunk = os.read(rfd, 65536)
        if not chunk:
            break
        out += chunk
    os.close(rfd)
    os.waitpid(pid, 0)
    return out


def expect_refused(out, what):
    expect(not out.startswith(b"error:"), "%s: the test's child failed: %r" % (what, out))
    if out.startswith(b"reply:"):
        reply = out[len(b"reply:"):]
        expect(not reply.startswith(b"ok") and b"supervisor" not in reply
               and b"pid" not in reply, "%s: uid %d got an answer: %r" % (what, NOBODY, reply[:200]))
    else:
        expect(out in (b"EACCES", b"ECONNREFUSED"), "%s: %r" % (what, out))


def expect_sup_fine(s, what):
    expect(pid_alive(s.proc.pid) and s.proc.poll() is None, "%s: the supervisor died" % what)
    st = sup_status(s)
    expect(st is not None, "%s: `status` fails afterwards" % what)
    expect_eq(st["supervisor"]["pid"], s.proc.pid, "%s: supervisor pid in status" % what)
    expect_eq(sorted(w["pid"] for w in st["workers"]), s.workers, "%s: worker pids" % what)


def test_socket_mode_0600(s):
    st = os.stat(ctl_path(s))
    expect(stat.S_ISSOCK(st.st_mode), "%s is not a socket" % ctl_path(s))
    expect_eq(oct(stat.S_IMODE(st.st_mode)), oct(0o600), "control socket mode")
    expect_eq(st.st_uid, os.geteuid(), "control socket owner")


def test_other_user_cannot_connect(s):
    expect_refused(as_nobody(ctl_path(s)), "mode 0600")
    expect_sup_fine(s, "after a refused user")


def test_other_user_refused_by_credentials(s):
    """With the socket's mode opened up (a careless operator, a umask bug), the peer's
    credentials still decide: nobody gets an error or a closed connection, no status."""
    os.chmod(ctl_path(s), 0o666)
    try:
        out = as_nobody(ctl_path(s))
    finally:
        os.chmod(ctl_path(s), 0o600)
    expect(out.startswith(b"reply:"), "with mode 0666 uid %d could not even connect (%r): "
           "the test needs a traversable folder" % (NOBODY, out))
    expect_refused(out, "mode 0666")
    expect_sup_fine(s, "after a user refused by credentials")


MALFORMED = [
    ("binary garbage", b"\x00\xff\x01\x02garbage\xfe\n", False),
    ("binary garbage, no newline", bytes(range(256)) * 4, True),
    ("a 100 KiB line", b"status " + b"x" * (100 * 1024) + b"\n", False),
    ("a 100 KiB line without a newline", b"y" * (100 * 1024), False),
    ("an unknown command", b"frobnicate --all\n", False),
    ("an empty line", b"\n", False),
    ("a CR alone", b"\r\n", False),
    ("a command without its newline", b"status", True),
    ("nothing at all", b"", True),
    ("high bytes", b"st\xe4tus\n", False),
    ("a NUL inside", b"sta\x00tus\n", False),
    ("an escape sequence", b"\x1b[2J\x1b]0;pwned\x07\n", False),
    ("a long argument", b"status " + b"--json " * 200 + b"\n", False),
]


def test_malformed_requests(s):
    for what, data, shut in MALFORMED:
        reply, closed = ctl_exchange(s, data, shut=shut)
        expect(closed, "%s: the connection is neither answered nor closed within 3 s (%r)"
               % (what, reply[:80]))
        expect(reply == b"" or reply.startswith(b"error\n"),
               "%s: expected an error reply or a closed connection, got %r" % (what, reply[:120]))
        expect(pid_alive(s.proc.pid), "%s: the supervisor died" % what)
    expect_sup_fine(s, "after the malformed requests")


def test_several_requests_in_one_go(s):
    reply, closed = ctl_exchange(s, b"status\nstatus\nfrobnicate\n" + b"x" * 5000)
    expect(closed, "several requests in one write: connection not closed")
    expect(reply.count(b"\nok\n") + reply.startswith(b"ok\n") <= 1,
           "several requests in one write answered more than once: %r" % reply[:200])
    expect_sup_fine(s, "after several requests in one write")


def test_half_line_does_not_block(s):
    """A client that sends half a line and waits: `status` still works meanwhile, and the
    supervisor drops the silent client in the end."""
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    u.connect(ctl_path(s))
    try:
        u.sendall(b"stat")
        t0 = time.monotonic()
        r = s.cli("status", timeout=10)
        expect(r.returncode == 0, "status while a client holds half a line: %d %r"
               % (r.returncode, r.stdout + r.stderr))
        expect(time.monotonic() - t0 < 3, "status took %.1fs while a client held half a line"
               % (time.monotonic() - t0))
        u.settimeout(IDLE_LIMIT)
        try:
            data = u.recv(65536)
            while data:
                data = u.recv(65536)
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise CaseFailed("a client holding half a line is still connected after %.0fs"
                             % IDLE_LIMIT)
    finally:
        u.close()
    expect_sup_fine(s, "after a half-line client")


def test_many_idle_clients(s):
    """More idle clients than the supervisor serves at once: the extra ones are refused or
    wait; once they leave, `status` works again."""
    socks = []
    try:
        for _ in range(100):
            u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            u.settimeout(2)
            try:
                u.connect(ctl_path(s))
            except (BlockingIOError, ConnectionRefusedError, socket.timeout, OSError):
                u.close()
                break
            socks.append(u)
        expect(pid_alive(s.proc.pid), "the supervisor died under %d idle clients" % len(socks))
    finally:
        for u in socks:
            u.close()
    ok = wait_for(lambda: s.cli("status", timeout=10).returncode == 0, 3, 0.1)
    expect(ok, "status fails after %d idle clients left" % len(socks))
    expect_sup_fine(s, "after many idle clients")
    r = request(s.port, "/a.txt")
    expect_eq((r.status, r.body), (200, FILES["a.txt"]), "HTTP still served")


def main():
    s = remove_at_exit(Server(files=FILES, workers=2))
    # The folder must be traversable by others, or the folder and not the socket refuses them.
    os.chmod(s.dir, 0o711)
    with s:
        s.workers = sup_wait(lambda: (lambda p: p if len(p) == 2 else None)(
            sup_workers(s, state="running")), 10, "two running workers")
        results = [run_cases(s, [
            test_socket_mode_0600, test_other_user_cannot_connect,
            test_other_user_refused_by_credentials, test_malformed_requests,
            test_several_requests_in_one_go, test_half_line_does_not_block,
            test_many_idle_clients])]
    finish(results)


if __name__ == "__main__":
    main()
