#!/usr/bin/env python3
"""user/group: started as root, the supervisor binds and keeps root (it opens new listeners on
reload), while every worker runs as the configured user and group and still serves. Logs in a
root-owned folder (the /var/log layout) work for the workers, across a rotation too; a root
the user cannot open stops the server at start (exit 1, the reason logged) instead of
respawning workers that never answer. Skipped (with a message, counted as passed) when the
test does not run as root."""
import os, pwd, grp, re, signal, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *


def ids(pid):
    """(real uid, effective uid, real gid, effective gid) of a process, from /proc."""
    uid = gid = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                uid = [int(x) for x in line.split()[1:3]]
            elif line.startswith("Gid:"):
                gid = [int(x) for x in line.split()[1:3]]
    return uid + gid


def main():
    if os.geteuid() != 0:
        print("not root: nothing to drop; skipped")
        print("1 passed, 0 failed")
        return
    nobody = pwd.getpwnam("nobody")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    s = remove_at_exit(Server(files={"index.html": "<p>dropped</p>\n"},
                              settings={"user": '"nobody"', "group": '"%s"' % group}, workers=2))
    # mkdtemp makes 0700 folders: let the unprivileged workers in.
    for d in (s.dir, s.root):
        os.chmod(d, 0o755)
    os.chmod(os.path.join(s.root, "index.html"), 0o644)
    with s:
        workers = sup_wait(lambda: sup_workers(s), 10, "status lists the workers")
        check(len(workers) == 2, "expected 2 workers, got %r" % workers)
        for pid in workers:
            got = ids(pid)
            check(got == [nobody.pw_uid] * 2 + [nobody.pw_gid] * 2,
                  "worker %d runs as uid/gid %r, not nobody's %d/%d"
                  % (pid, got, nobody.pw_uid, nobody.pw_gid))
        check(ids(s.proc.pid)[:2] == [0, 0], "the supervisor gave up root")
        r = request(s.port, "/")
        check(r.status == 200 and r.body == b"<p>dropped</p>\n", "a dropped worker serves: %r" % r)
    passed = 3 + root_owned_logs(nobody) + unreadable_root(nobody)
    print("%d passed, 0 failed" % passed)


def file_has(path, text):
    try:
        with open(path, "rb") as f:
            return text in f.read()
    except FileNotFoundError:
        return False


def root_owned_logs(nobody):
    """Both logs in a folder only root may write to: the supervisor creates the files and
    hands them to the user, at start and when a rotation made them go."""
    s = remove_at_exit(Server(files={"a.txt": "a\n"},
                              settings={"user": '"nobody"', "access_log": '"logs/access.log"',
                                        "error_log": '"logs/error.log"'}))
    for d in (s.dir, s.root):
        os.chmod(d, 0o755)
    os.chmod(os.path.join(s.root, "a.txt"), 0o644)
    logs = os.path.join(s.dir, "logs")
    os.mkdir(logs, 0o755)  # root's, as /var/log/evcluster is
    access, error = os.path.join(logs, "access.log"), os.path.join(logs, "error.log")
    # The error log is the file: the ready line is not on stdout, so wait for it there.
    s.proc = subprocess.Popen([EVCLUSTER, "-c", s.conf], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True, cwd=s.dir)
    try:
        sup_wait(lambda: file_has(error, b"ready: generation 1"), 10, "ready in the error log")
        s.port = int(re.search(rb"listening on 127\.0\.0\.1:(\d+)",
                               open(error, "rb").read()).group(1))
        check(os.stat(access).st_uid == nobody.pw_uid, "the access log is the user's")
        r = request(s.port, "/a.txt?first")
        check(r.status == 200, "a worker with root-owned logs serves: %r" % r)
        sup_wait(lambda: file_has(access, b"GET /a.txt?first"), 10, "the request in the access log")
        os.rename(access, access + ".1")
        s.signal(signal.SIGUSR1)
        sup_wait(lambda: os.path.exists(access), 10, "a new access log after the rotation")
        check(os.stat(access).st_uid == nobody.pw_uid, "the new access log is the user's")
        # the supervisor's line and the worker's: a request the worker took before it read
        # the supervisor's message would still go to the old file
        sup_wait(lambda: open(error, "rb").read().count(b"logs reopened") >= 2, 10,
                 "the worker's reopen logged")
        r = request(s.port, "/a.txt?second")
        check(r.status == 200, "serving after the rotation: %r" % r)
        sup_wait(lambda: file_has(access, b"GET /a.txt?second"), 10,
                 "the request in the new access log")
        check(not file_has(access + ".1", b"?second"), "nothing written to the rotated file")
        s.signal(signal.SIGQUIT)
        check(s.proc.wait(15) == 0, "exit 0 after QUIT")
        check(file_has(error, b"worker 0: exiting after"), "the worker logs to the file too")
    finally:
        s._kill()
        s.proc.wait(10)
    return 4


def unreadable_root(nobody):
    """A root only root may open: the worker cannot start, and neither does the server."""
    s = remove_at_exit(Server(files={"a.txt": "a\n"}, settings={"user": '"nobody"'}))
    os.chmod(s.dir, 0o755)
    os.chmod(s.root, 0o700)
    r = s.cli("-t")
    check(r.returncode == 1 and "user nobody cannot open it" in r.stderr,
          "-t checks the root as the user: %r" % (r,))
    try:
        r = subprocess.run([EVCLUSTER, "-c", s.conf], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=20, cwd=s.dir)
    except subprocess.TimeoutExpired:
        fail("a server whose workers cannot open the root still runs after 20 s")
    out = r.stdout + r.stderr
    check(r.returncode == 1, "exit 1 when no worker can start, got %d:\n%s" % (r.returncode, out))
    check("cannot open the root" in out and "before it was ready: cannot start" in out,
          "the reason is logged:\n%s" % out)
    check(not os.path.exists(os.path.join(s.dir, "evcluster.pid")), "no pid file left")
    return 3


if __name__ == "__main__":
    main()
