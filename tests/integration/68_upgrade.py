#!/usr/bin/env python3
"""Binary upgrade in place (-s upgrade and SIGUSR2), on a copy of the binary in a temp dir.
Under load (a new connection per request, and keep-alive connections that retry only a
request whose reused idle connection was closed before any response byte): two upgrades,
the second after the file was replaced (written beside it and renamed over it, as package
managers do). Zero failed requests; the supervisor keeps its pid (systemd tracks it); the
listeners are handed over, not re-bound; every worker afterwards is new and of a newer
generation; the CLI still answers; status shows each generation's version; /metrics'
counters do not go backwards across it. Then broken binaries: a script that exits 1, a file
that is not executable, no file at all: each upgrade exits 1 with the reason, and the old
binary and its workers serve on. SIGUSR2 upgrades too. Last, a build whose workers cannot
start (the slowfs shim makes their open of the root fail): the check's rehearsal of a worker
fails it before any execve; and when the failure only shows after the execve, the new
generation fails, the CLI exits 1, and the workers of the previous binary serve on. A config
edited to name a busy address (a new listener, a moved admin listener) fails the check too,
before any execve."""
import os, shutil, signal, socket, stat, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evtest
from evtest import *
from admintest import *

s = Server(workers=2, files={"index.html": "x" * 1000}, settings=admin_settings())
binary = os.path.join(s.dir, "bin", "evcluster")
os.makedirs(os.path.dirname(binary))
shutil.copy2(evtest.EVCLUSTER, binary)
evtest.EVCLUSTER = binary  # the server and the CLI run the copy


def replace_binary(data=None, mode=0o755):
    """Writes the new file beside the old one and renames it over it."""
    tmp = binary + ".new"
    if data is None:
        shutil.copy2(os.environ.get("EVCLUSTER") or binary + ".orig", tmp)
    else:
        with open(tmp, "wb") as f:
            f.write(data)
    os.chmod(tmp, mode)
    os.rename(tmp, binary)


def current_gen():
    return (sup_status(s) or {"supervisor": {"generation": 0}})["supervisor"]["generation"]


try:
    shutil.copy2(binary, binary + ".orig")
    s.start()
    port = admin_port(s)
    sup_pid = s.proc.pid
    with Load(s.port, fresh=2, keepalive=2) as load:
        counts = load.counts
        for round in range(2):
            sup_wait(lambda: counts["fresh"] > 20 * (round + 1), 10, "load under way")
            before = sup_workers(s)
            gen = current_gen()
            m_before = parse_metrics(metrics_text(port))
            if round == 1:
                replace_binary()
            t0 = time.monotonic()
            r = s.cli("-s", "upgrade", timeout=60)
            check(r.returncode == 0 and "upgraded" in r.stdout,
                  "upgrade %d: rc %d %r %r" % (round + 1, r.returncode, r.stdout, r.stderr))
            took = time.monotonic() - t0
            check(current_gen() == gen + 1, "generation %d serves after upgrade %d"
                  % (gen + 1, round + 1))
            st = sup_status(s)
            check(st is not None, "the CLI answers after the upgrade")
            check(st["supervisor"]["pid"] == sup_pid, "the supervisor keeps its pid")
            check(all("version" in w for w in st["workers"]), "status shows versions")
            sup_wait(lambda: not set(sup_workers(s)) & set(before), 15,
                     "the old workers drained away")
            after = sup_workers(s, generation=gen + 1)
            check(len(after) == 2 and sup_workers(s) == after,
                  "every worker is new and of generation %d: %r" % (gen + 1, sup_status(s)))
            m_after = parse_metrics(metrics_text(port))
            check_monotonic(m_before, m_after, "upgrade %d" % (round + 1))
            check(m_after[0]['evcluster_upgrades_total{result="success"}'] == round + 1,
                  "upgrades counted")
            print("upgrade %d took %.2f s" % (round + 1, took))
            time.sleep(0.2)  # traffic on the new generation before the next round
    errors = load.errors
    check(not errors, "%d failures, first: %r" % (len(errors), errors[:5]))
    check(counts["fresh"] > 50 and counts["keepalive"] > 50, "load was applied: %r" % counts)
    log = "\n".join(drain_lines(s))
    check(log.count("listening on 127.0.0.1:%d (fd" % s.port) == 3 and
          log.count("127.0.0.1:%d (fd 3, handed over: not re-bound)" % s.port) == 0 and
          log.count("handed over: not re-bound") >= 4, "the listener was handed over twice:\n"
          + log)
    check(log.count("admin listener on 127.0.0.1:%d (fd" % port) == 3 and
          admin_get(port, "/healthz")[0] == 200, "the admin listener was handed over")
    text = sup_status(s)
    check(text["supervisor"]["pid"] == sup_pid, "same pid")
    r = s.cli("status")
    check(r.returncode == 0 and "version 0.1.0" in r.stdout, "status text shows the version")

    # broken binaries: the old one serves on, exit status 1, the reason printed
    evtest.EVCLUSTER = binary + ".orig"  # the CLI from now on: the copy is broken on purpose
    workers = sup_workers(s)
    gen = current_gen()
    broken = [
        ("a script that exits 1", lambda: replace_binary(b"#!/bin/sh\nexit 1\n"),
         "exited with status 1"),
        ("a file that is not executable", lambda: replace_binary(open(binary + ".orig", "rb").read(),
                                                                 mode=0o644),
         "not an executable file"),
        ("no file", lambda: os.unlink(binary), "No such file or directory"),
    ]
    orig = binary + ".orig"
    for what, make, reason in broken:
        make()
        r = subprocess.run([orig, "-c", s.conf, "-s", "upgrade"], capture_output=True, text=True,
                           timeout=60)
        check(r.returncode == 1, "%s: exit status 1, got %d" % (what, r.returncode))
        check("upgrade failed" in r.stderr and reason in r.stderr,
              "%s: the reason is printed: %r" % (what, r.stderr))
        check(request(s.port, "/index.html").status == 200, "%s: still serving" % what)
        check(sup_workers(s) == workers and current_gen() == gen,
              "%s: the same workers serve on: %r vs %r gen %r" % (what, sup_workers(s), workers, current_gen()))
        s.wait_log("upgrade failed: .*" + reason, 5)
    m = parse_metrics(metrics_text(port))[0]
    check(m['evcluster_upgrades_total{result="failure"}'] == 3, "failures counted")

    # SIGUSR2: broken, then good
    replace_binary(b"#!/bin/sh\nexit 1\n")
    s.signal(signal.SIGUSR2)
    s.wait_log("upgrade failed: .*exited with status 1", 10)
    check(sup_workers(s) == workers, "SIGUSR2 to a broken binary: the same workers serve on")
    replace_binary()
    s.signal(signal.SIGUSR2)
    m = s.wait_log(READY_RE, 15)
    check(int(m.group(1)) == gen + 1, "SIGUSR2 started generation %d" % (gen + 1))
    s.wait_log("upgrade: generation %d running" % (gen + 1), 10)
    check(request(s.port, "/index.html").status == 200, "serving after SIGUSR2")
    check(s.proc.pid == sup_pid and s.proc.poll() is None, "same supervisor")

    # a config edited since (control socket and pid file moved) without a reload: after a
    # SIGUSR2 upgrade they follow it, as a reload's do, and the CLI reaches the new socket
    old_sock = os.path.join(s.dir, "evcluster.sock")
    s.write_conf({"control_socket": '"moved.sock"', "pid_file": '"moved.pid"'})
    s.signal(signal.SIGUSR2)
    s.wait_log("upgrade: generation %d running" % (gen + 2), 15)
    sup_wait(lambda: os.path.exists(os.path.join(s.dir, "moved.sock")) and
             not os.path.exists(old_sock), 5, "the control socket moved")
    check(open(os.path.join(s.dir, "moved.pid")).read().strip() == str(sup_pid) and
          not os.path.exists(os.path.join(s.dir, "evcluster.pid")), "the pid file moved")
    gen = current_gen()
    check(gen > 0, "the CLI answers on the moved socket")

    # a config edited since to name an address something else holds (a new listener, a moved
    # admin listener): the new image could not bind it after the execve, so the check binds
    # what the running binary does not hand over, and refuses the upgrade
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    bport = busy.getsockname()[1]
    workers = sup_workers(s)
    gen = current_gen()
    for key, value in (("admin.listen", {"admin": '{ listen = "127.0.0.1:%d"; }' % bport}),
                       ("listen", {"listen": '( "127.0.0.1:0", "127.0.0.1:%d" )' % bport})):
        s.write_conf(value)
        r = s.cli("-s", "upgrade", timeout=60)
        want = "trial: %s 127.0.0.1:%d is not held by the running binary and cannot be bound" % (key, bport)
        check(r.returncode == 1 and want in r.stderr and "Address already in use" in r.stderr,
              "%s on a busy port fails the upgrade: %d %r" % (key, r.returncode, r.stderr))
        check(sup_workers(s) == workers and current_gen() == gen, "%s: nothing changed" % key)
        check(request(s.port, "/index.html").status == 200, "%s: still serving" % key)
        s.write_conf(admin_settings({"listen": '"127.0.0.1:0"'}))
    busy.close()

    # a build whose workers die before they are ready (the slowfs shim fails their open of
    # the root). The rehearsal of the check catches it: nothing is executed.
    helpers = slowfs_helpers()
    preload = helpers.preload_value(helpers.shim_path(s.dir))
    root = os.path.realpath(s.root)
    workers = sup_workers(s)
    gen = current_gen()
    replace_binary(("#!/bin/sh\nLD_PRELOAD='%s' EVC_SLOWFS_FAIL_OPEN='%s' exec '%s' \"$@\"\n"
                    % (preload, root, orig)).encode())
    r = s.cli("-s", "upgrade", timeout=60)
    check(r.returncode == 1 and "upgrade failed" in r.stderr and "trial" in r.stderr and
          "before it was ready" in r.stderr,
          "the rehearsal fails the upgrade: %d %r" % (r.returncode, r.stderr))
    check(sup_workers(s) == workers and current_gen() == gen, "nothing changed")
    check(not any("executing it as pid" in l for l in drain_lines(s)[-5:]), "no execve")

    # the same failure hidden from the rehearsal (only under the hand-over): the new image
    # runs, its generation fails, and the previous binary's workers serve on
    replace_binary(("#!/bin/sh\n[ -n \"$EVC_UPGRADE\" ] && export LD_PRELOAD='%s' "
                    "EVC_SLOWFS_FAIL_OPEN='%s'\nexec '%s' \"$@\"\n"
                    % (preload, root, orig)).encode())
    r = s.cli("-s", "upgrade", timeout=60)
    check(r.returncode == 1 and "upgrade failed" in r.stderr and "before it was ready" in r.stderr,
          "workers that cannot start fail the upgrade: %d %r" % (r.returncode, r.stderr))
    # the failed generation's other worker may still be on its way out (killed, not reaped)
    sup_wait(lambda: sup_workers(s) == workers, 5,
             "only the previous binary's workers left: %r" % sup_status(s))
    check(current_gen() == gen, "generation %d serves on" % gen)
    for i in range(5):
        check(request(s.port, "/index.html").status == 200, "serving after the failed upgrade")
    check(s.proc.pid == sup_pid and s.proc.poll() is None, "same supervisor")
    m = parse_metrics(metrics_text(port))[0]
    check(m['evcluster_upgrades_total{result="failure"}'] == 8, "8 failed upgrades counted: %r"
          % m['evcluster_upgrades_total{result="failure"}'])
    r = s.cli("-s", "quit")
    check(r.returncode == 0 and s.wait_exit(15) == 0, "a graceful stop after the upgrades")
    print("counts: %r" % counts)
finally:
    s.stop()
print("ok")
