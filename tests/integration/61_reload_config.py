"""Reload and the config: a bad file keeps every old worker, the errors (FILE:LINE) are in
the log and in `-s reload`'s stderr with a non-zero exit; a good reload (via -s reload and
via SIGHUP) starts a new generation that serves the new root, on the same port."""
import os, re, signal, sys
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

    # a new config whose workers cannot start: the reload fails, the old generation stays
    s.write_conf({"access_log": '"missing-dir/access.log"'})
    before = sup_workers(s)
    r = s.cli("-s", "reload")
    check(r.returncode == 1 and "reload failed" in r.stderr, "failing workers fail the reload: %r" % (r,))
    check(sup_workers(s) == before, "generation 3 kept")
    check(s.proc.poll() is None, "supervisor up")
finally:
    s.stop()
print("ok")
