#!/usr/bin/env python3
"""user/group: started as root, the supervisor binds and keeps root (it opens new listeners on
reload), while every worker runs as the configured user and group and still serves. Skipped
(with a message, counted as passed) when the test does not run as root."""
import os, pwd, grp, sys
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
    print("3 passed, 0 failed")


if __name__ == "__main__":
    main()
