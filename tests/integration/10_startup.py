"""Start-up: the ready line names the kernel-chosen port, the pid file and a 0600 control
socket exist while running and are gone after exit; -t says "configuration ok" or FILE:LINE,
and fails on a log it cannot open; a HUP that arrives while the config loads waits for the
supervisor instead of killing it; with a file error log, start-up errors reach stderr too;
a second supervisor on the same control socket is refused; a stale socket (supervisor
SIGKILLed) is replaced by the next start."""
import os, re, signal, stat, subprocess, sys
sys.path.insert(0, os.path.dirname(__file__))
from evtest import *


def restart(s):
    """Starts s again once the previous run's output reader has seen EOF (it would
    otherwise end the new run's line queue)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if s.lines.get(timeout=0.5) is None:
                break
        except queue.Empty:
            pass
    s.lines = queue.Queue()
    s.log = []
    return s.start()

s = Server(workers=2)
try:
    s.start()
    check(s.port and s.port != 0, "the ready line names the bound port, not 0")
    m = re.search(r"ready: generation 1, 2 workers, listening on 127\.0\.0\.1:(\d+)$",
                  "\n".join(s.log), re.M)
    check(m and int(m.group(1)) == s.port, "ready line format: %r" % s.log[-1:])
    pid_file = os.path.join(s.dir, "evcluster.pid")
    sock = os.path.join(s.dir, "evcluster.sock")
    with open(pid_file) as f:
        check(int(f.read().strip()) == s.proc.pid, "pid file holds the supervisor's pid")
    st = os.stat(sock)
    check(stat.S_ISSOCK(st.st_mode), "control socket is a socket")
    check(stat.S_IMODE(st.st_mode) == 0o600, "control socket mode %o" % stat.S_IMODE(st.st_mode))

    r = s.cli("-t")
    check(r.returncode == 0 and r.stdout.strip() == "configuration ok", "-t ok: %r" % (r,))

    # a second supervisor with the same control socket is refused, the first unharmed
    r = subprocess.run([EVCLUSTER, "-c", s.conf], capture_output=True, text=True, timeout=10)
    check(r.returncode != 0, "second supervisor refused (exit %d)" % r.returncode)
    check("another evcluster is running" in r.stdout + r.stderr, "refusal says why: %r" % r.stderr)
    check(s.proc.poll() is None and len(sup_workers(s)) == 2, "first supervisor still serving")
    check(os.path.exists(sock), "refused start did not remove the live socket")

    # graceful exit removes both files
    s.signal(signal.SIGQUIT)
    check(s.wait_exit(15) == 0, "exit 0 after QUIT")
    check(not os.path.exists(pid_file), "pid file removed at exit")
    check(not os.path.exists(sock), "control socket removed at exit")

    # a stale socket and pid file (supervisor SIGKILLed) do not stop the next start
    restart(s)
    os.kill(s.proc.pid, signal.SIGKILL)
    s.proc.wait()
    check(os.path.exists(sock), "SIGKILL leaves the socket behind")
    s.stop()
    restart(s)
    check(len(sup_workers(s)) == 2, "restarted over a stale control socket")
    s.stop()

    # -t with errors: exit 1, FILE:LINE naming the key, nothing started
    s.write_conf(raw='workers = 2;\nlisten = "127.0.0.1:0";\nroot = "www";\nworkerz = 3;\n')
    r = s.cli("-t")
    check(r.returncode == 1, "-t with an unknown key exits 1, got %d" % r.returncode)
    check(re.search(re.escape(s.conf) + r":4\b.*workerz", r.stderr),
          "-t names FILE:LINE and the key: %r" % r.stderr)
    check("configuration ok" not in r.stdout, "no ok on errors")
    # and the server itself refuses to start from it
    r = subprocess.run([EVCLUSTER, "-c", s.conf], capture_output=True, text=True, timeout=10)
    check(r.returncode == 1 and s.conf + ":4" in r.stderr, "start with a bad config: %r" % (r,))

    # -t opens the logs as a start would: one that cannot be opened fails it
    s.write_conf(raw='listen = "127.0.0.1:0";\nroot = "www";\n'
                     'access_log = "/proc/evc-no-such.log";\n')
    r = s.cli("-t")
    check(r.returncode == 1 and "access_log: cannot open /proc/evc-no-such.log" in r.stderr,
          "-t with a log it cannot open: %r" % (r,))
    s.write_conf()

    # with the error log in a file, why a start failed still reaches the terminal: a second
    # supervisor (same control socket, its error log a file) is refused
    restart(s)
    conf2 = os.path.join(s.dir, "second.conf")
    with open(conf2, "w") as f:
        f.write("".join("%s = %s;\n" % kv for kv in dict(s.settings, error_log='"err.log"').items()))
    r = subprocess.run([EVCLUSTER, "-c", conf2], capture_output=True, text=True, timeout=10)
    check(r.returncode == 1 and "another evcluster is running" in r.stderr,
          "a refused start says why on stderr too: %r" % (r,))
    check("another evcluster is running" in open(os.path.join(s.dir, "err.log")).read(),
          "and in its error log")
finally:
    s.stop()

# A HUP while the config is still loading (a slow root: the slowfs shim) is held until the
# supervisor can act on it: a reload then, not a silent death.
slowfs = slowfs_helpers()
s = Server(files={"index.html": "hi\n"})
slowlog = os.path.join(s.dir, "slowfs.log")
env = dict(os.environ, LD_PRELOAD=slowfs.preload_value(slowfs.shim_path(s.dir)),
           EVC_SLOWFS_MS="500", EVC_SLOWFS_MARK=s.root, EVC_SLOWFS_LOG=slowlog)
try:
    s.proc = subprocess.Popen([EVCLUSTER, "-c", s.conf], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True, cwd=s.dir, env=env)
    threading.Thread(target=s._reader, daemon=True).start()
    mine = "pid=%d " % s.proc.pid
    sup_wait(lambda: os.path.exists(slowlog) and mine in open(slowlog).read(), 10,
             "the supervisor looking at the (slow) root")
    check(not any("ready: generation" in l for l in drain_lines(s)), "not started yet")
    s.signal(signal.SIGHUP)
    s.wait_log(r"SIGHUP: reload", 20)
    m = s.wait_log(READY_RE, 20)
    check(s.proc.poll() is None, "the supervisor survived a HUP during start-up")
finally:
    s.stop()
print("ok")
