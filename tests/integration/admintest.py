"""Helpers for the suites of the admin listener and of operation (15, 16, 63, 87): find the
admin port a server bound, fetch from it, parse and check the Prometheus text."""
import os, re, shutil, socket, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import fail, check

ADMIN_RE = re.compile(r"admin listener on (\S+):(\d+) ")


def admin_settings(extra=None):
    s = {"admin": '{ listen = "127.0.0.1:0"; }'}
    s.update(extra or {})
    return s


def admin_port(server, timeout=10):
    """The port of the admin listener, from the log line the supervisor writes at start
    (it comes before the ready line, so it is already in server.log)."""
    for line in server.log:
        m = ADMIN_RE.search(line)
        if m:
            return int(m.group(2))
    return int(server.wait_log(ADMIN_RE, timeout).group(2))


def admin_get(port, path, method="GET", timeout=5, raw=None):
    """One request; returns (status, headers dict, body bytes). raw: bytes sent instead."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(raw if raw is not None else
                  ("%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (method, path)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def metrics_text(port):
    st, h, body = admin_get(port, "/metrics")
    check(st == 200, "/metrics: %d" % st)
    check(h.get("content-type", "").startswith("text/plain; version=0.0.4"),
          "/metrics content type: %r" % h.get("content-type"))
    return body.decode()


def parse_metrics(text):
    """{'name{labels}': value} and {family: type}."""
    values, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
        elif line and not line.startswith("#"):
            key, _, v = line.rpartition(" ")
            values[key] = float(v)
    return values, types


def counter_keys(values, types):
    """The series that must never go backwards: counters and histogram parts."""
    out = []
    for key in values:
        name = key.split("{", 1)[0]
        fam = re.sub(r"_(bucket|sum|count)$", "", name)
        if types.get(name) == "counter" or types.get(fam) == "histogram":
            out.append(key)
    return out


def check_monotonic(before, after, what):
    vb, tb = before
    va, ta = after
    for key in counter_keys(vb, tb):
        check(key in va, "%s: series %s disappeared" % (what, key))
        check(va[key] >= vb[key], "%s: %s went backwards: %s -> %s" % (what, key, vb[key], va[key]))


def promtool_check(text):
    """promtool check metrics (Debian's prometheus package): exit 0 and no lint output."""
    tool = shutil.which("promtool")
    if not tool:
        fail("promtool not found (scripts/deps.sh installs prometheus)")
    r = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
          "promtool check metrics: rc %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
