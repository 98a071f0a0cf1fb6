"""The CLI and the control socket when things are not as they should be: a supervisor that does
not accept (the CLI and a second supervisor's start-up probe give up or refuse instead of
hanging in connect()), a control_socket path naming a file that is not a socket (refused, the
file left alone), a refused control client (the CLI prints the server's reason), and a config
that no longer loads (the CLI still finds the running server, or says it cannot tell)."""
import os, signal, socket, subprocess, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from evtest import *

CLI_TIMEOUT_S = 10  # main.c CALL_WAIT_S: status, quit, stop, reopen


def cli(conf, *args, timeout=30, cwd=None):
    return subprocess.run([EVCLUSTER, "-c", conf] + list(args), capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


# ---- ctl_connect_no_accept: a listener whose backlog is full never makes connect() wait
s = Server(settings={"control_socket": '"ctl.sock"'})
lsn, queued = None, []
try:
    path = os.path.join(s.dir, "ctl.sock")
    lsn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsn.bind(path)
    lsn.listen(0)  # never accepted: a stopped supervisor, or one swamped by clients
    while True:  # fill the backlog: the next connect() would block
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.setblocking(False)
        try:
            c.connect(path)
        except BlockingIOError:
            c.close()
            break
        queued.append(c)
        check(len(queued) < 100, "the backlog fills up")
    t0 = time.monotonic()
    status = subprocess.Popen([EVCLUSTER, "-c", s.conf, "status"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen([EVCLUSTER, "-c", s.conf], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = second.communicate(timeout=CLI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        second.kill()
        second.communicate()
        fail("a second supervisor hangs in its start-up probe of a full backlog")
    check(second.returncode != 0 and "another evcluster is running" in out,
          "a full backlog counts as a running supervisor: %r" % out)
    try:
        out, err = status.communicate(timeout=CLI_TIMEOUT_S + 5)
    except subprocess.TimeoutExpired:
        status.kill()
        status.communicate()
        fail("status hangs in connect() on a listener that does not accept")
    took = time.monotonic() - t0
    check(status.returncode == 1 and "no answer within" in err and path in err,
          "status against a listener that does not accept: rc %r, %r" % (status.returncode, err))
    check(CLI_TIMEOUT_S - 1 < took < CLI_TIMEOUT_S + 3, "gave up after its timeout: %.1f s" % took)
    check(os.path.exists(path), "the socket of the live listener is left alone")
finally:
    for c in queued:
        c.close()
    if lsn:
        lsn.close()

# ---- ctl_path_not_a_socket: a control_socket naming a regular file is refused, not unlinked
s = Server(settings={"control_socket": '"precious.txt"'})
precious = os.path.join(s.dir, "precious.txt")
with open(precious, "w") as f:
    f.write("precious data\n")
p = subprocess.Popen([EVCLUSTER, "-c", s.conf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     text=True, start_new_session=True, cwd=s.dir)
try:
    out, _ = p.communicate(timeout=10)
except subprocess.TimeoutExpired:
    os.killpg(p.pid, 9)
    p.communicate()
    out = None
check(out is not None, "the server refuses to start on a control_socket that is a regular file")
check(p.returncode != 0, "exit status non-zero: %r" % p.returncode)
check("exists and is not a socket" in out and precious in out, "the reason is named: %r" % out)
with open(precious) as f:
    check(f.read() == "precious data\n", "the file is intact")
check(not os.path.exists(os.path.join(s.dir, "evcluster.pid")), "no pid file left")

# ---- ctl_refused_client_reason: a refused client gets the server's reason, not a reset
s = Server()
idle = []
try:
    s.start()
    sock_path = os.path.join(s.dir, "evcluster.sock")
    for _ in range(64):  # ctl.c CTL_MAX_CLIENTS; each is closed after 5 s idle
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(sock_path)
        idle.append(c)
    time.sleep(0.3)  # every one accepted
    r = s.cli("status")
    check(r.returncode == 1 and "too many control clients" in r.stderr,
          "status while 64 clients are connected: %r" % (r,))

    # a plain client too: its request is already there when the server refuses it (the
    # supervisor is stopped while it connects and sends), and is read before the close, so
    # the client gets the reason and then EOF, not a reset
    s.signal(signal.SIGSTOP)
    try:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(5)
        c.connect(sock_path)
        c.sendall(b"status\n")
    finally:
        s.signal(signal.SIGCONT)
    out, end = b"", "eof"
    while True:
        try:
            k = c.recv(4096)
        except ConnectionResetError:
            end = "reset"
            break
        if not k:
            break
        out += k
    c.close()
    check(out == b"error\ntoo many control clients\n" and end == "eof",
          "a refused client gets the reason, then EOF: %r, %s" % (out, end))
    for c in idle:
        c.close()
    idle = []
    sup_wait(lambda: s.cli("status").returncode == 0, 5, "status works once they are gone")
finally:
    for c in idle:
        c.close()
    s.stop()

# ---- ctl_refused_cli_reset: the CLI prints an answer that a reset followed (a server that
# closes with the request unread, as this one did and others may)
s = Server()
lsn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    lsn.bind(os.path.join(s.dir, "evcluster.sock"))
    lsn.listen(1)
    cli_proc = subprocess.Popen([EVCLUSTER, "-c", s.conf, "status"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    lsn.settimeout(10)
    c, _ = lsn.accept()
    c.settimeout(10)
    c.recv(1, socket.MSG_PEEK)  # the request is there, and stays unread
    c.sendall(b"error\nbusy, go away\n")
    c.close()
    out, err = cli_proc.communicate(timeout=15)
    check(cli_proc.returncode == 1 and err == "busy, go away\n",
          "the CLI prints the answer a reset followed: rc %r, %r" % (cli_proc.returncode, err))
finally:
    lsn.close()

# ---- ctl_path_config_broken: a config that does not load still leads to the running server
s = Server(settings={"control_socket": '"ctl.sock"'})
try:
    s.start()
    good = open(s.conf).read()
    # a syntax error: the CLI cannot ask libconfig, the server reports the error
    s.write_conf(raw=good + "bogus = ;\n")
    r = s.cli("-s", "reload")
    check(r.returncode == 1 and "syntax error" in r.stderr and "not running" not in r.stderr,
          "reload with a syntax error reaches the server: %r" % (r,))
    s.wait_log(r"reload failed", 5)
    check(s.cli("status").returncode == 0, "status with a syntax error in the config")

    # control_socket set in an @include, the CLI run from another folder, a semantic error
    os.mkdir(os.path.join(s.dir, "inc"))
    with open(os.path.join(s.dir, "inc", "ctl.conf"), "w") as f:
        f.write('control_socket = "ctl.sock";\n')
    text = "".join(l for l in good.splitlines(True) if not l.startswith("control_socket"))
    s.write_conf(raw=text.replace("workers = 1;", "workers = 0;") + '@include "inc/ctl.conf"\n')
    r = cli(s.conf, "-s", "reload", cwd="/")
    check(r.returncode == 1 and "workers" in r.stderr and "not running" not in r.stderr,
          "reload with the socket in an include, from /: %r" % (r,))

    # a symlinked config resolves next to the link, as the config module does
    os.mkdir(os.path.join(s.dir, "other"))
    real = os.path.join(s.dir, "other", "real.conf")
    with open(real, "w") as f:
        f.write(good.replace("workers = 1;", "workers = 0;"))
    link = os.path.join(s.dir, "link.conf")
    os.symlink("other/real.conf", link)
    r = cli(link, "status", cwd="/")
    check(r.returncode == 0 and "generation 1" in r.stdout,
          "status through a symlinked config that does not load: %r" % (r,))

    # a syntax error and nothing answering where it points: say so, not "not running"
    s.write_conf(raw=good.replace('"ctl.sock"', '"elsewhere.sock"') + "bogus = ;\n")
    r = s.cli("status")
    check(r.returncode == 1 and "cannot tell which control socket" in r.stderr
          and "syntax error" in r.stderr and "elsewhere.sock" in r.stderr,
          "a guess that finds nothing says it cannot tell: %r" % (r,))
    s.write_conf(raw=good)
    check(s.cli("-s", "stop").returncode == 0, "-s stop")
    check(s.wait_exit(10) == 0, "exit 0 after stop")
finally:
    s.stop()

# ---- ctl_path_root_dir: a config in / gives /evcluster.sock, not //evcluster.sock
r = cli("/nonexistent-evcluster-test.conf", "-s", "stop")
check(r.returncode == 1 and " /evcluster.sock" in r.stderr and "//" not in r.stderr,
      "path of the default socket beside a config in /: %r" % (r,))
print("ok")
