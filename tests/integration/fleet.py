#!/usr/bin/env python3
"""A local fleet: three evcluster instances on 127.0.0.2, .3 and .4 (each its own config,
port, admin port and folder, listening with proxy_protocol = true) behind one HAProxy on
127.0.0.1 that sends PROXY v2 and checks GET /healthz on each admin port. Loopback addresses
127.0.0.2-9 need no set-up on Linux, so one machine shows what several hosts do.

Used by 69_fleet_haproxy.py (a short run of the rolling scenarios) and scripts/fleet.sh (start
a fleet and keep it up until Ctrl-C, or --test: the full scenarios). The scenarios, under
fresh and keep-alive load from 127.0.0.9 through HAProxy, zero failed requests in each:
  restart  QUIT one instance (timeouts.drain_delay: /healthz says 503 while it still serves),
           HAProxy marks it DOWN before it stops accepting, it exits, it starts again, HAProxy
           marks it UP; then the next one;
  upgrade  -s upgrade on each in turn (the binary replaces itself, listeners handed over);
  reload   -s reload on each in turn.
Afterwards every access-log line of every instance shows 127.0.0.9, the client, never
HAProxy's 127.0.0.1."""
import argparse, os, queue, shutil, signal, socket, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evtest
from evtest import Server, Load, fail, check, wait_for

HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
CLIENT = "127.0.0.9"
FRONT = "127.0.0.1"
PAGE = b"x" * 1000
# HAProxy checks every INTER_MS and takes a server out after FALL failed checks: DRAIN_DELAY
# (seconds of 503 from /healthz before an instance stops accepting) must exceed
# INTER_MS * FALL, with room for a check delayed by load.
INTER_MS, FALL, RISE = 200, 2, 2
DRAIN_DELAY = 1.0


def free_port(addr):
    """A port the kernel just handed out on addr and took back (HAProxy's config and the
    instances' must name the same ports, and a restarted instance binds its own again)."""
    with socket.socket() as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


HAPROXY_CFG = """\
# HAProxy in front of an evcluster fleet (written by tests/integration/fleet.py).
global
    stats socket {dir}/haproxy.sock mode 600 level admin
    stats timeout 10s

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    # An instance that is gone refuses the connection, and one that drained may close an
    # idle kept-alive server connection just as a request goes out on it. Both are safe to
    # try again for a GET, on another server (redispatch): HAProxy's health check takes an
    # instance out before it stops accepting, these cover the races around that moment.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response

frontend www
    bind {front}:{port}
    default_backend evcluster

backend evcluster
    balance roundrobin
    # drain-aware: /healthz answers 503 from the start of a graceful stop, for drain_delay
    option httpchk GET /healthz
    http-check expect status 200
    default-server send-proxy-v2 check inter {inter}ms fall {fall} rise {rise}
{servers}

# No traffic: HAProxy's checks of the traffic ports themselves. They go out with a PROXY v2
# header of the LOCAL command (the balancer speaking for itself), which must be served, and
# logged with the balancer's own address.
backend local_checks
    option httpchk GET /check.txt
    http-check expect status 200
    default-server send-proxy-v2 check inter 500ms fall 2 rise 2
{local_servers}
"""


def instance_settings(host, port, admin):
    return {
        "workers": "2",
        "listen": '( { address = "%s:%d"; proxy_protocol = true; } )' % (host, port),
        "admin": '{ listen = "%s:%d"; }' % (host, admin),
        "access_log": '"access.log"',
        "timeouts": "{ graceful = 10.0; keepalive = 5.0; header = 5.0; send = 10.0; "
                    "drain_delay = %.1f; }" % DRAIN_DELAY,
    }


class Fleet:
    def __init__(self, dir=None):
        self.dir = dir or tempfile.mkdtemp(prefix="evc-fleet-")
        os.makedirs(self.dir, exist_ok=True)
        self.instances, self.haproxy = [], None
        self.port = free_port(FRONT)
        servers, local_servers = [], []
        for i, host in enumerate(HOSTS):
            port, admin = free_port(host), free_port(host)
            s = Server(settings=instance_settings(host, port, admin), workers=2,
                       files={"index.html": PAGE, "check.txt": "ok\n"}, dir=os.path.join(self.dir, "s%d" % (i + 1)))
            s.host, s.listen_port, s.admin_port, s.name = host, port, admin, "s%d" % (i + 1)
            self.instances.append(s)
            servers.append("    server %s %s:%d check port %d" % (s.name, host, port, admin))
            local_servers.append("    server %s %s:%d" % (s.name, host, port))
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(HAPROXY_CFG.format(dir=self.dir, front=FRONT, port=self.port, inter=INTER_MS,
                                       fall=FALL, rise=RISE, servers="\n".join(servers),
                                       local_servers="\n".join(local_servers)))

    # ---- processes ------------------------------------------------------------------------

    def start(self):
        for s in self.instances:
            s.start()
        r = subprocess.run(["haproxy", "-c", "-q", "-f", self.cfg], capture_output=True,
                           text=True)
        check(r.returncode == 0, "haproxy -c: %s%s" % (r.stdout, r.stderr))
        self.haproxy_log = open(os.path.join(self.dir, "haproxy.log"), "wb")
        self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", self.cfg],
                                        stdin=subprocess.DEVNULL, stdout=self.haproxy_log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_state(None, "UP", 15)
        # HAProxy's checks over PROXY v2 LOCAL are answered on every traffic port
        ok = wait_for(lambda: all(r["status"] == "UP" for r in
                                  self.stats("local_checks").values()), 10, 0.05)
        check(ok, "checks with PROXY v2 LOCAL fail: %r" % {
            n: (r["status"], r.get("check_status"), r.get("last_chk"))
            for n, r in self.stats("local_checks").items()})
        return self

    def stop(self):
        if self.haproxy and self.haproxy.poll() is None:
            os.killpg(self.haproxy.pid, signal.SIGKILL)
            self.haproxy.wait()
        for s in self.instances:
            s.stop()

    def restart_instance(self, s):
        """Starts an instance that exited again, from its config (same ports)."""
        s.lines = queue.Queue()
        s.start()

    # ---- HAProxy's view -------------------------------------------------------------------

    def haproxy_cmd(self, cmd):
        with socket.socket(socket.AF_UNIX) as u:
            u.settimeout(5)
            u.connect(os.path.join(self.dir, "haproxy.sock"))
            u.sendall(cmd.encode() + b"\n")
            out = b""
            while True:
                chunk = u.recv(65536)
                if not chunk:
                    return out.decode()
                out += chunk

    def stats(self, backend="evcluster"):
        """{server name: row dict} of a backend, from HAProxy's `show stat` CSV."""
        lines = self.haproxy_cmd("show stat").splitlines()
        head = lines[0].lstrip("# ").split(",")
        rows = {}
        for line in lines[1:]:
            row = dict(zip(head, line.split(",")))
            if row.get("pxname") == backend:
                rows[row["svname"]] = row
        return rows

    def state(self, name):
        """HAProxy's status of the instance ("UP", "DOWN", "UP 1/2"...); None before HAProxy's
        stats socket is there."""
        try:
            return self.stats().get(name, {}).get("status")
        except (FileNotFoundError, ConnectionRefusedError):
            check(self.haproxy.poll() is None, "haproxy exited: see %s/haproxy.log" % self.dir)
            return None

    def wait_state(self, s, want, timeout):
        """Waits until HAProxy reports the instance s (None: every one) as want ("UP", "DOWN");
        returns the seconds it took."""
        names = [s.name] if s else [i.name for i in self.instances]
        t0 = time.monotonic()
        ok = wait_for(lambda: all(self.state(n) == want for n in names), timeout, 0.02)
        check(ok, "HAProxy does not see %s %s within %ss: %r" % (
            ",".join(names), want, timeout, {n: self.state(n) for n in names}))
        return time.monotonic() - t0

    def describe(self):
        out = ["fleet in %s" % self.dir,
               "  HAProxy    http://%s:%d/  (config %s, stats socket %s/haproxy.sock)"
               % (FRONT, self.port, self.cfg, self.dir)]
        for s in self.instances:
            out.append("  %s  pid %-7d %s:%d (PROXY v2 only)  admin http://%s:%d/healthz  "
                       "config %s" % (s.name, s.proc.pid, s.host, s.listen_port, s.host,
                                      s.admin_port, s.conf))
        return "\n".join(out)

    # ---- scenarios ------------------------------------------------------------------------

    def load(self):
        return Load(self.port, addr=FRONT, source=CLIENT, fresh=2, keepalive=2)

    def roll_restart(self):
        for s in self.instances:
            t0 = time.monotonic()
            s.signal(signal.SIGQUIT)
            self.wait_state(s, "DOWN", 5)
            check(s.proc.poll() is None, "%s exited before HAProxy took it out: drain_delay "
                  "must outlast inter * fall" % s.name)
            down = time.monotonic() - t0
            rc = s.wait_exit(20)
            check(rc == 0, "%s exited with %s after QUIT" % (s.name, rc))
            gone = time.monotonic() - t0
            self.restart_instance(s)
            up = self.wait_state(s, "UP", 10)
            self.settle()
            print("  restart %s: DOWN after %.2fs, exited after %.2fs, UP %.2fs after start"
                  % (s.name, down, gone, up), flush=True)

    def roll_cli(self, verb, word):
        for s in self.instances:
            t0 = time.monotonic()
            r = s.cli("-s", verb, timeout=60)
            check(r.returncode == 0, "%s -s %s: rc %d %r %r" % (s.name, verb, r.returncode,
                                                                r.stdout, r.stderr))
            check(s.proc.poll() is None, "%s's supervisor is gone after -s %s" % (s.name, verb))
            gen = int(s.wait_log(evtest.READY_RE, 15).group(1))
            check(gen > s.generation, "%s: -s %s left generation %d serving" % (s.name, verb, gen))
            s.generation = gen
            self.wait_state(None, "UP", 10)
            self.settle()
            print("  %s %s: generation %d after %.2fs" % (word, s.name, gen, time.monotonic() - t0),
                  flush=True)

    def settle(self, n=300):
        """Waits until n more requests went through the fleet (each instance's new process or
        generation takes its share before the next instance's turn)."""
        total = lambda: self.ld.counts["fresh"] + self.ld.counts["keepalive"]
        n0 = total()
        check(wait_for(lambda: total() >= n0 + n, 15), "the fleet stopped serving: %r"
              % self.ld.counts)

    def run(self, scenario, rounds=1):
        """Runs one scenario under load; fails on any failed request. Returns the counts."""
        before = self.totals()
        with self.load() as ld:
            self.ld = ld
            wait_for(lambda: ld.counts["fresh"] > 20 and ld.counts["keepalive"] > 20, 10)
            for _ in range(rounds):
                scenario()
            n0 = ld.counts["fresh"] + ld.counts["keepalive"]
            # the fleet serves on afterwards, through every instance
            wait_for(lambda: ld.counts["fresh"] + ld.counts["keepalive"] > n0 + 50, 10)
        check(not ld.errors, "%d failed requests, first: %s" % (len(ld.errors), ld.errors[:5]))
        check(ld.counts["fresh"] > 0 and ld.counts["keepalive"] > 0, "no load: %r" % ld.counts)
        after = self.totals()
        ld.counts.update({k: after[k] - before[k] for k in after})
        return ld.counts

    def totals(self):
        """HAProxy's retries and redispatches so far, and its errors toward the servers."""
        t = {"wretr": 0, "wredis": 0, "econ": 0, "eresp": 0}
        for row in self.stats().values():
            for k in t:
                t[k] += int(row.get(k) or 0)
        return t

    def check_access_logs(self):
        """Every line of every instance's access log names the client, 127.0.0.9, but for
        HAProxy's own checks (PROXY v2 LOCAL): they show the balancer's address."""
        for s in self.instances:
            path = os.path.join(s.dir, "access.log")
            with open(path, "rb") as f:
                lines = f.read().decode("latin-1").splitlines()
            local = [l for l in lines if '"GET /check.txt ' in l]
            check(local, "%s logged none of HAProxy's checks" % s.name)
            check(all(l.startswith("127.0.0.1 ") for l in local),
                  "%s: HAProxy's LOCAL checks not logged with its address: %r" % (s.name, local[:3]))
            lines = [l for l in lines if '"GET /check.txt ' not in l]
            check(len(lines) > 10, "%s logged only %d requests" % (s.name, len(lines)))
            bad = [l for l in lines if not l.startswith(CLIENT + " ")]
            check(not bad, "%s: %d access-log lines do not show the client %s, first: %r"
                  % (s.name, len(bad), CLIENT, bad[:3]))
            print("  %s: %d access-log lines, all from %s; %d of HAProxy's LOCAL checks from "
                  "127.0.0.1" % (s.name, len(lines), CLIENT, len(local)))

    def quit_all(self):
        """Graceful stop of every instance (their access logs are flushed), then HAProxy."""
        for s in self.instances:
            s.signal(signal.SIGQUIT)
        for s in self.instances:
            check(s.wait_exit(20) == 0, "%s did not stop cleanly" % s.name)
        self.stop()


def scenarios(f, names, rounds):
    for name in names:
        fn = {"restart": f.roll_restart,
              "upgrade": lambda: f.roll_cli("upgrade", "upgrade"),
              "reload": lambda: f.roll_cli("reload", "reload")}[name]
        t0 = time.monotonic()
        print("%s, %d round%s, under load from %s:" % (name, rounds, "s" * (rounds > 1), CLIENT),
              flush=True)
        c = f.run(fn, rounds)
        print("ok   rolling %s (%.1fs): %d fresh, %d keep-alive requests, 0 failed; client "
              "retries %d; HAProxy retries %d, redispatches %d" % (
                  name, time.monotonic() - t0, c["fresh"], c["keepalive"], c["retried"],
                  c["wretr"], c["wredis"]), flush=True)


def main():
    ap = argparse.ArgumentParser(description="A local evcluster fleet behind HAProxy.")
    ap.add_argument("--dir", help="folder for the configs, logs and docroots (default: a new "
                    "temporary one)")
    ap.add_argument("--test", action="store_true", help="run the rolling restart, upgrade and "
                    "reload under load, then stop")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of each scenario in --test")
    ap.add_argument("--scenarios", default="restart,upgrade,reload")
    a = ap.parse_args()
    if not shutil.which("haproxy"):
        fail("haproxy is not installed (scripts/deps.sh installs it)")
    f = Fleet(os.path.abspath(a.dir) if a.dir else None)
    try:
        f.start()
        print(f.describe(), flush=True)
        if a.test:
            scenarios(f, a.scenarios.split(","), a.rounds)
            f.quit_all()
            f.check_access_logs()
            if not a.dir:  # a folder of our own: nothing to look at after a pass
                shutil.rmtree(f.dir, True)
            print("fleet test passed")
            return
        print("try: curl http://%s:%d/   (Ctrl-C stops the fleet)" % (FRONT, f.port), flush=True)
        # Ctrl-C even when started in the background of a script (which ignores SIGINT)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            while all(s.proc.poll() is None for s in f.instances) and f.haproxy.poll() is None:
                time.sleep(0.5)  # nothing to wait for but the user's Ctrl-C
            print("a process of the fleet exited; stopping the rest")
        except KeyboardInterrupt:
            print("\nstopping the fleet")
    finally:
        f.stop()


if __name__ == "__main__":
    main()
