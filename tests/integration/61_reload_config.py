"""Reload and the config: a bad file keeps every old worker, the errors (FILE:LINE) are in
the log and in `-s reload`'s stderr with a non-zero exit; a good reload (via -s reload and
via SIGHUP) starts a new generation that serves the new root, on the same port."""
import os, re, signal, socket, subprocess, sys
sys.path.insert(0, os.path.dirname(__file__))
from evtest import *

s = Server(workers=2, files={"index.html": "old root\n"})
newroot = os.path.join(s.dir, "www2")
os.mkdir(newroot)
with open(os.path.join(newroot, "index.html"), "w") as f:
    f.write("new root\n")
try:
    s.start()
    r = request(s.port, "/index.html")
    check(r.status == 200 and r.body == b"old root\n", "old root served: %r" % r)
    old = sup_workers(s, state="running")
    check(len(old) == 2, "two workers")

    good = dict(s.settings)
    s.write_conf(raw="".join("%s = %s;\n" % kv for kv in good.items()) + "bogus_key = 1;\n")
    bad_line = len(good) + 1
    r = s.cli("-s", "reload")
    check(r.returncode == 1, "-s reload of a bad config exits 1 (got %d)" % r.returncode)
    where = "%s:%d" % (s.conf, bad_line)
    check(where in r.stderr and "bogus_key" in r.stderr, "stderr names %s: %r" % (where, r.stderr))
    s.wait_log(re.escape(where) + r".*bogus_key", 5)
    check(sup_workers(s, state="running") == old, "old workers kept")
    check(sup_status(s)["supervisor"]["generation"] == 1, "still generation 1")
    r = request(s.port, "/index.html")
    check(r.status == 200 and r.body == b"old root\n", "still serving the old root")

    # bad recycle values: each named at FILE:LINE with its key, nothing changes
    s.write_conf(raw="".join("%s = %s;\n" % kv for kv in good.items()) +
                 "recycle = {\n  max_rss_mb = -5;\n  jitter = 1.5;\n};\n")
    r = s.cli("-s", "reload")
    check(r.returncode == 1, "-s reload with bad recycle keys exits 1: %r" % (r,))
    for line, key in ((len(good) + 2, "recycle.max_rss_mb"), (len(good) + 3, "recycle.jitter")):
        check("%s:%d: %s" % (s.conf, line, key) in r.stderr, "stderr names %s at %d: %r"
              % (key, line, r.stderr))
    r = subprocess.run([EVCLUSTER, "-c", s.conf, "-t"], capture_output=True, text=True)
    check(r.returncode == 1 and "%s:%d: recycle.jitter: expected a number from 0 to 1, got 1.5"
          % (s.conf, len(good) + 3) in r.stderr, "-t names it too: %r" % (r,))
    check(sup_workers(s, state="running") == old, "old workers kept")

    # a good reload: new root, same port, new generation, old workers gone
    s.write_conf({"root": '"www2"'})
    r = s.cli("-s", "reload")
    check(r.returncode == 0, "-s reload of a good config exits 0: %r" % (r,))
    m = s.wait_log(READY_RE, 10)
    check(int(m.group(1)) == 2, "generation 2 ready")
    check(int(m.group(3).rsplit(":", 1)[1]) == s.port, "same port after reload")
    # an old worker may still take a connection queued before its DRAIN arrived: once the
    # old generation is gone, every answer must come from the new root
    sup_wait(lambda: not any(pid_alive(p) for p in old), 10, "old workers exit")
    r = request(s.port, "/index.html")
    check(r.status == 200 and r.body == b"new root\n", "new root served: %r" % r)
    st = sup_status(s)
    check(st["supervisor"]["generation"] == 2 and
          all(w["generation"] == 2 for w in st["workers"]), "only generation 2 listed: %r" % st)

    # SIGHUP does the same
    s.write_conf({"root": '"www"', "workers": "3"})
    gen2 = sup_workers(s)
    s.signal(signal.SIGHUP)
    m = s.wait_log(READY_RE, 10)
    check(int(m.group(1)) == 3 and int(m.group(2)) == 3, "HUP: generation 3 with 3 workers")
    sup_wait(lambda: not any(pid_alive(p) for p in gen2), 10, "generation 2 exits")
    r = request(s.port, "/index.html")
    check(r.status == 200 and r.body == b"old root\n", "root switched back")
    sup_wait(lambda: len(sup_workers(s)) == 3, 10, "three workers, only the new generation")

    # a config the supervisor refuses (the access log's folder is missing): nothing starts
    s.write_conf({"access_log": '"missing-dir/access.log"'})
    before = sup_workers(s)
    r = s.cli("-s", "reload")
    check(r.returncode == 1 and "reload failed" in r.stderr, "failing workers fail the reload: %r" % (r,))
    check(sup_workers(s) == before, "generation 3 kept")
    check(s.proc.poll() is None, "supervisor up")

    # workers that cannot start (the root is not readable by the user they run as): the
    # reload fails, the old generation stays. With one new worker (the default), its death
    # is both the failure and the end of its generation: the supervisor must stay up.
    if os.geteuid() == 0:
        private = os.path.join(s.dir, "private")
        os.makedirs(os.path.join(private, "www"))
        os.chmod(private, 0o700)
        os.chmod(s.dir, 0o755)
        for n in ("2", "1"):
            s.write_conf({"root": '"private/www"', "user": '"nobody"', "workers": n,
                          "access_log": '"off"'})
            r = s.cli("-s", "reload")
            check(r.returncode == 1 and "before it was ready" in r.stderr,
                  "%s new workers that cannot start fail the reload: %r" % (n, r))
            check(s.proc.poll() is None, "supervisor up after a failed %s-worker reload" % n)
            check(sup_workers(s) == before, "generation 3 kept")
            r = request(s.port, "/index.html")
            check(r.status == 200 and r.body == b"old root\n", "generation 3 still serves")
        del s.settings["user"]
        s.write_conf({"root": '"www"'})
        r = s.cli("-s", "reload")
        check(r.returncode == 0, "a good reload after the failed ones: %r" % (r,))
    else:
        print("not root: the failing-worker reloads are skipped")

    # a reload to another address: the old one refuses new connections at once, although
    # the old generation is still draining (a client reads a large answer very slowly)
    with open(os.path.join(s.dir, "www", "big.bin"), "wb") as f:
        f.write(b"B" * (8 << 20))
    slow = Conn(s.port)
    try:
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.send(http_req("GET", "/big.bin"))
        check(slow.sock.recv(100).startswith(b"HTTP/1.1 200"), "the slow download started")
        s.write_conf({"listen": '"127.0.0.2:0"', "access_log": '"off"'})
        r = s.cli("-s", "reload")
        check(r.returncode == 0, "reload to another address: %r" % (r,))
        m = s.wait_log(r"ready: generation \d+, \d+ workers?, listening on 127\.0\.0\.2:(\d+)", 10)
        newport = int(m.group(1))
        check(any(w["state"] == "draining" for w in sup_status(s)["workers"]),
              "the old generation is still draining")
        try:
            socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
            check(False, "the old address still accepts while its generation drains")
        except ConnectionRefusedError:
            pass
        k = socket.create_connection(("127.0.0.2", newport), timeout=5)
        try:
            k.sendall(http_req("GET", "/index.html", {"Connection": "close"}))
            check(k.recv(100).startswith(b"HTTP/1.1 200"), "the new address serves")
        finally:
            k.close()
    finally:
        slow.close()

    # error_log moved by a reload: the supervisor's own lines follow it (a reopen too)
    moved = os.path.join(s.dir, "moved.log")
    def moved_has(text):
        return os.path.exists(moved) and text in open(moved, "rb").read()
    s.write_conf({"error_log": '"moved.log"'})
    r = s.cli("-s", "reload")
    check(r.returncode == 0, "reload moving the error log: %r" % (r,))
    s.wait_log(r"error log continues in " + re.escape(moved), 10)
    sup_wait(lambda: moved_has(b"supervisor: error log moved here"), 10,
             "the supervisor writes to the new error log")
    r = s.cli("-s", "reopen")
    check(r.returncode == 0, "-s reopen: %r" % (r,))
    sup_wait(lambda: moved_has(b"supervisor: logs reopened"), 10,
             "a reopen reopens the new error log")

    # pid_file and control_socket moved by a reload: the CLI reads them from the config, so
    # the server must be found at the new ones (and not at the old ones any more)
    old_pid, old_sock = os.path.join(s.dir, "evcluster.pid"), os.path.join(s.dir, "evcluster.sock")
    new_pid, new_sock = os.path.join(s.dir, "moved.pid"), os.path.join(s.dir, "moved.sock")
    s.write_conf({"pid_file": '"moved.pid"', "control_socket": '"moved.sock"'})
    s.signal(signal.SIGHUP)
    sup_wait(lambda: moved_has(b"control socket moved to " + new_sock.encode()), 10,
             "the control socket moved")
    check(open(new_pid).read().strip() == str(s.proc.pid), "the new pid file holds the pid")
    check(not os.path.exists(old_pid) and not os.path.exists(old_sock),
          "the old pid file and control socket are gone")
    r = s.cli("status")
    check(r.returncode == 0 and "generation" in r.stdout,
          "status through the new control socket: %r" % (r,))
finally:
    s.stop()
print("ok")
