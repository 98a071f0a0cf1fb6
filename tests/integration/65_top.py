"""evcluster top. Piped: one plain snapshot per interval (-n stops after N), each a header
and one row per worker whose pids are the running workers', with req/s once two snapshots
were taken. On a terminal, run in a detached tmux session driven with send-keys and read with
capture-pane: the rows match the workers; a reload while an old worker still sends a slow
download shows generation 1 draining, held by its connection, beside generation 2; a terminal
too small says so and recovers; q and Ctrl-C leave the alternate screen, give back the prompt
and restore the terminal's modes (canonical input, echo); Ctrl-Z does too, and fg resumes."""
import os, re, shutil, subprocess, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from evtest import *

check(shutil.which("tmux"), "tmux is needed (scripts/deps.sh installs it)")
SIZE = 16 << 20
s = Server(workers=2, files={"index.html": "hello\n", "big.bin": os.urandom(1 << 20) * 16})
TMUX = ["tmux", "-L", "evc-top-%d" % os.getpid(), "-f", "/dev/null"]


def tmux(*args):
    return subprocess.run(TMUX + list(args), capture_output=True, text=True, timeout=10)


def screen():
    return tmux("capture-pane", "-p", "-t", "top").stdout


def alternate():
    return tmux("display", "-p", "-t", "top", "#{alternate_on}").stdout.strip()


def rows(text):
    """{pid: (generation, state, holds)} from the table lines of a screen or snapshot."""
    out = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 11 and f[0].isdigit() and f[1].isdigit():
            out[int(f[0])] = (int(f[1]), f[3], f[10])
    return out


def parse_snapshots(text):
    snaps = [b for b in text.split("\n\n") if b.strip()]
    out = []
    for b in snaps:
        lines = b.splitlines()
        check(lines[0].startswith("evcluster top "), "snapshot header: %r" % lines[0])
        check(any(l.split()[:4] == ["PID", "GEN", "SLOT", "STATE"] for l in lines),
              "column header in %r" % b)
        m = re.search(r"req/s (\S+)", b)
        check(m, "totals line in %r" % b)
        out.append((rows(b), m.group(1)))
    return out


try:
    s.start()
    pids = sup_workers(s)
    # ---- piped
    for i in range(20):
        request(s.port, "/index.html")
    r = s.cli("top", "-n", "3", "-d", "0.3", timeout=20)
    check(r.returncode == 0 and not r.stderr, "top -n 3 (nothing on stderr, no sanitizer "
          "report): %r" % (r,))
    snaps = parse_snapshots(r.stdout)
    check(len(snaps) == 3, "three snapshots: %r" % r.stdout)
    for rws, _ in snaps:
        check(sorted(rws) == pids, "rows are the workers %r: %r" % (pids, rws))
        check(all(v[0] == 1 and v[1] == "running" for v in rws.values()), "running: %r" % rws)
    check(snaps[0][1] == "-" and re.match(r"^\d+$", snaps[2][1]), "req/s from the second: %r"
          % [x[1] for x in snaps])
    r = s.cli("top", "-n", "0")
    check(r.returncode == 2 and "-n takes a count" in r.stderr, "bad -n: %r" % (r,))

    # ---- on a terminal, under tmux
    env_shell = "env PS1='TOPTEST$ ' bash --norc --noprofile -i"
    check(tmux("new-session", "-d", "-s", "top", "-x", "150", "-y", "30", env_shell).returncode
          == 0, "tmux session")
    wait_for(lambda: "TOPTEST$" in screen(), 5)
    cmd = "%s -c %s top" % (EVCLUSTER, s.conf)
    tmux("send-keys", "-t", "top", cmd, "Enter")
    sup_wait(lambda: sorted(rows(screen())) == pids, 5, "top shows the workers %r" % pids)
    check(alternate() == "1", "top uses the alternate screen")
    check("q quit" in screen(), "the key is shown")

    # a reload while an old worker still sends a slow download: it stays draining
    c = Conn(s.port, timeout=30)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.send("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    check(read_head(c).status == 200, "download started")
    check(s.cli("-s", "reload").returncode == 0, "reload")

    def draining_shown():
        rw = rows(screen())
        old = [v for v in rw.values() if v[0] == 1]
        new = [v for v in rw.values() if v[0] == 2]
        return (len(new) == 2 and all(v[1] == "running" for v in new) and len(old) == 1
                and old[0][1] == "draining" and "conn=1" in old[0][2]) and rw
    rw = sup_wait(draining_shown, 8, "top shows generation 1 draining, held by its connection")
    check(sorted(p for p, v in rw.items() if v[0] == 2) == sup_workers(s, generation=2),
          "generation 2 rows are its workers")
    c.close()
    sup_wait(lambda: (lambda rw: rw and all(v[0] == 2 for v in rw.values()))(rows(screen())),
             10, "the drained worker leaves the view")

    # too small, then big enough again
    tmux("resize-window", "-t", "top", "-x", "30", "-y", "4")
    sup_wait(lambda: "too small" in screen(), 5, "a small terminal is said")
    tmux("resize-window", "-t", "top", "-x", "150", "-y", "30")
    sup_wait(lambda: len(rows(screen())) == 2, 5, "the table comes back")

    # q: the screen and the modes are restored, the prompt is back
    tmux("send-keys", "-t", "top", "q")
    sup_wait(lambda: alternate() == "0", 5, "q leaves the alternate screen")
    sup_wait(lambda: screen().rstrip().endswith("TOPTEST$"), 5, "the prompt is back")
    check(cmd in screen(), "the shell's screen is as it was")
    check("Sanitizer" not in screen() and "runtime error" not in screen(), "clean exit: %s"
          % screen())
    tmux("send-keys", "-t", "top", "clear; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-*icanon\\|-*echo'",
         "Enter")
    sup_wait(lambda: re.search(r"^icanon$", screen(), re.M) and re.search(r"^echo$", screen(), re.M),
             5, "canonical input and echo restored")

    # Ctrl-Z gives the shell its screen back while top is stopped; fg takes it again
    tmux("send-keys", "-t", "top", "clear; " + cmd, "Enter")
    sup_wait(lambda: len(rows(screen())) == 2, 5, "top again")
    tmux("send-keys", "-t", "top", "C-z")
    sup_wait(lambda: alternate() == "0", 5, "Ctrl-Z leaves the alternate screen")
    sup_wait(lambda: "Stopped" in screen() and screen().rstrip().endswith("TOPTEST$"), 5,
             "the shell reports the stopped job and prompts")
    tmux("send-keys", "-t", "top", "fg", "Enter")
    sup_wait(lambda: alternate() == "1" and len(rows(screen())) == 2, 5, "fg: top is back")
    tmux("send-keys", "-t", "top", "q")
    sup_wait(lambda: alternate() == "0", 5, "q after fg")

    # Ctrl-C does the same
    tmux("send-keys", "-t", "top", "clear; " + cmd, "Enter")
    sup_wait(lambda: len(rows(screen())) == 2, 5, "top again")
    tmux("send-keys", "-t", "top", "C-c")
    sup_wait(lambda: alternate() == "0", 5, "Ctrl-C leaves the alternate screen")
    sup_wait(lambda: screen().rstrip().endswith("TOPTEST$"), 5, "the prompt is back after Ctrl-C")
    check("Sanitizer" not in screen() and "runtime error" not in screen(), "clean exit: %s"
          % screen())
finally:
    tmux("kill-server")
    s.stop()
print("ok")
