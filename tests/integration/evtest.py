"""Helpers for evcluster's integration tests: start the real server from a config on port 0,
wait for the events it logs (never sleep as synchronisation), talk HTTP over real sockets,
and kill the whole process group at the end.

The server's contract used here: once every worker of a generation has reported ready, the
supervisor logs a line "ready: generation G, N workers, listening on ADDR[, ADDR...]"."""
import os, re, select, shutil, signal, socket, subprocess, sys, tempfile, threading, time, queue

EVCLUSTER = os.environ.get("EVCLUSTER") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "evcluster")
READY_RE = re.compile(r"ready: generation (\d+), (\d+) workers?, listening on (\S+)")


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class Server:
    """One evcluster under test. `settings` are config lines (libconfig syntax) that replace
    the defaults below key by key; the docroot is a fresh folder you can fill via .root."""

    def __init__(self, settings=None, files=None, workers=1, dir=None):
        self.dir = dir or tempfile.mkdtemp(prefix="evc-it-")  # dir: a fleet's, made if needed
        self.root = os.path.join(self.dir, "www")
        os.makedirs(self.root, exist_ok=True)
        for name, data in (files or {}).items():
            self.write_file(name, data)
        self.settings = {
            "workers": str(workers),
            "listen": '"127.0.0.1:0"',
            "root": '"www"',
            "pid_file": '"evcluster.pid"',
            "control_socket": '"evcluster.sock"',
            "access_log": '"off"',
            "error_log": '"stderr"',
            "health": "{ interval = 0.5; misses = 3; }",
            "timeouts": "{ graceful = 10.0; keepalive = 5.0; header = 5.0; send = 10.0; }",
        }
        self.settings.update(settings or {})
        self.conf = os.path.join(self.dir, "evcluster.conf")
        self.write_conf()
        self.proc = None
        self.lines = queue.Queue()
        self.log = []
        self.port = None
        self.generation = None

    def write_file(self, name, data):
        path = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return path

    def write_conf(self, settings=None, raw=None):
        if settings:
            self.settings.update(settings)
        text = raw if raw is not None else "".join(
            "%s = %s;\n" % (k, v) for k, v in self.settings.items())
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self, timeout=10, env=None):
        """Starts the server and waits until it is ready. env: variables added to the
        environment the server inherits (the slowfs shim's settings), for it alone."""
        self.proc = subprocess.Popen([EVCLUSTER, "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=self.dir,
                                     env=dict(os.environ, **env) if env else None)
        threading.Thread(target=self._reader, args=(self.proc, self.lines), daemon=True).start()
        m = self.wait_log(READY_RE, timeout)
        self.generation = int(m.group(1))
        self.port = int(m.group(3).split(",")[0].rsplit(":", 1)[1])
        return self

    def _reader(self, proc=None, lines=None):
        """Copies one process's output into one queue: both are bound when the thread is made
        (pass them), so the reader of a process that exited cannot put its end (None) into
        the queue of the server started again in its place."""
        proc, lines = proc or self.proc, lines or self.lines
        for line in iter(proc.stdout.readline, b""):
            text = line.decode(errors="replace").rstrip("\n")
            if os.environ.get("EVC_VERBOSE"):
                print("  server| " + text, flush=True)
            lines.put(text)
        lines.put(None)

    def wait_log(self, pattern, timeout=10):
        """Waits for a log line matching pattern (a regex); returns the match."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("no log line matching %r within %ss; log:\n%s"
                     % (rx.pattern, timeout, "\n".join(self.log[-40:])))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.lines.put(None)
                fail("server exited (%s) before logging %r; log:\n%s"
                     % (self.proc.poll(), rx.pattern, "\n".join(self.log[-40:])))
            self.log.append(line)
            m = rx.search(line)
            if m:
                return m

    def cli(self, *args, timeout=30):
        return subprocess.run([EVCLUSTER, "-c", self.conf] + list(args), capture_output=True,
                              text=True, timeout=timeout)

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout=15):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            fail("server did not exit within %ss" % timeout)

    SANITIZER_RE = re.compile(r"runtime error:|ERROR: (Address|Leak|Thread|UndefinedBehavior)Sanitizer")

    def sanitizer_reports(self):
        """Lines of the server's output that are sanitizer reports (a worker that dies of one
        is replaced by its supervisor, so a test could pass regardless: stop() fails it)."""
        return [l for l in self.log if self.SANITIZER_RE.search(l)]

    def stop(self):
        self._kill()
        if self.proc:
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:  # the reader sees EOF once the group is gone
                try:
                    line = self.lines.get(timeout=0.1)
                except queue.Empty:
                    continue
                if line is None:
                    self.lines.put(None)
                    break
                self.log.append(line)
            bad = self.sanitizer_reports()
            if bad:
                self.proc = None
                fail("the server printed sanitizer reports:\n" + "\n".join(self.log[-60:]))

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        elif self.proc:
            try:  # workers are in the group too
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def connect(port, timeout=5, addr="127.0.0.1", source=None):
    """A TCP connection to addr:port; source: the local address to connect from (a fleet's
    client on 127.0.0.9, so logs can tell it from the load balancer's)."""
    s = socket.create_connection((addr, port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Response:
    def __init__(self, status, reason, headers, body, version):
        self.status, self.reason, self.headers, self.body, self.version = (
            status, reason, headers, body, version)

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def __repr__(self):
        return "<%d %s %r %d bytes>" % (self.status, self.reason, self.headers, len(self.body))


class Conn:
    """A raw HTTP/1.1 client connection: send bytes, read whole responses in order."""

    def __init__(self, port, timeout=5, addr="127.0.0.1", source=None):
        self.sock = connect(port, timeout, addr, source)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def read_response(self, head=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        hdr, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = hdr.decode("latin-1").split("\r\n")
        version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            k = k.strip().lower()
            headers[k] = headers[k] + ", " + v.strip() if k in headers else v.strip()
        status = int(status)
        n = 0 if head or status in (204, 304) or 100 <= status < 200 else None
        if n is None and "content-length" in headers:
            n = int(headers["content-length"])
        if n is None:  # until close
            try:
                while True:
                    self._fill()
            except EOFError:
                pass
            n = len(self.buf)
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return Response(status, reason, headers, body, version)

    def closed_by_peer(self, timeout=5):
        """True if the server closes the connection (EOF or reset) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def request(port, path="/", method="GET", headers=None, version="HTTP/1.1", body=b"",
            addr="127.0.0.1", source=None):
    """One request on a fresh connection, closed afterwards."""
    c = Conn(port, addr=addr, source=source)
    try:
        h = {"Host": "127.0.0.1", "Connection": "close"}
        h.update(headers or {})
        req = "%s %s %s\r\n" % (method, path, version) + "".join(
            "%s: %s\r\n" % kv for kv in h.items() if kv[1] is not None) + "\r\n"
        c.send(req.encode() + body)
        return c.read_response(head=(method == "HEAD"))
    finally:
        c.close()


# ---- Helpers for the HTTP suites (40_http_*): cases that keep going after a failure, request
# building, timing and polling. ----

class CaseFailed(Exception):
    pass


def expect(cond, msg):
    """Like check(), but fails only the current case (see run_cases)."""
    if not cond:
        raise CaseFailed(msg)


def expect_eq(got, want, what):
    if got != want:
        raise CaseFailed("%s: expected %r, got %r" % (what, want, got))


def drain_log(server):
    """Moves the server's output lines read so far into server.log, without waiting."""
    while True:
        try:
            line = server.lines.get_nowait()
        except queue.Empty:
            return server.log
        if line is None:
            server.lines.put(None)
            return server.log
        server.log.append(line)


def run_cases(server, cases):
    """Runs each case fn(server) in order; a failed expect() (or a socket error) fails that case
    only. Prints one line per case and "N passed, M failed"; exits 1 if any failed."""
    passed, failed = 0, []
    for fn in cases:
        name = fn.__name__
        t0 = time.monotonic()
        try:
            fn(server)
        except CaseFailed as e:
            failed.append(name)
            print("FAIL %s: %s" % (name, e), flush=True)
        except (OSError, EOFError, ValueError, IndexError, socket.timeout) as e:
            failed.append(name)
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
        else:
            passed += 1
            print("ok   %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)
    if failed and server is not None and server.proc is not None:
        tail = drain_log(server)[-20:]
        if tail:
            print("server log (last lines):\n  " + "\n  ".join(tail), flush=True)
    return passed, failed


def finish(results):
    """results: a list of (passed, failed) from run_cases; prints the closing line, exits."""
    passed = sum(r[0] for r in results)
    failed = sum(len(r[1]) for r in results)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)


def http_req(method="GET", path="/", headers=None, version="HTTP/1.1", host="127.0.0.1",
             body=b""):
    """The bytes of one request. headers: a dict or a list of (name, value) pairs (for
    repeated headers); str or bytes; host None leaves Host out."""
    def b(x):
        return x if isinstance(x, bytes) else str(x).encode("latin-1")
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if host is not None and not any(b(k).lower() == b"host" for k, _ in items):
        items.insert(0, ("Host", host))
    out = b(method) + b" " + b(path) + b" " + b(version) + b"\r\n"
    for k, v in items:
        out += b(k) + b": " + b(v) + b"\r\n"
    return out + b"\r\n" + b(body)


def roundtrip(conn, method="GET", path="/", headers=None, **kw):
    """Sends one request on an open Conn and reads its response."""
    conn.send(http_req(method, path, headers, **kw))
    return conn.read_response(head=(method == "HEAD"))


def raw_request(port, data, timeout=5, head=False):
    """Sends raw bytes on a fresh connection; returns (response or None, closed_after).
    closed_after: the server closed the connection within 2 s after the response."""
    c = Conn(port, timeout)
    try:
        c.send(data)
        try:
            r = c.read_response(head=head)
        except (EOFError, ConnectionResetError):
            return None, True
        return r, c.closed_by_peer(2)
    finally:
        c.close()


def wait_for(fn, timeout, interval=0.05):
    """Polls fn() until it returns something true or timeout passes; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def time_until_closed(conn, timeout):
    """Seconds until the server closes conn (reading and discarding what it sends), or None
    if it is still open after timeout."""
    t0 = time.monotonic()
    return time.monotonic() - t0 if conn.closed_by_peer(timeout) else None


def read_body_hashed(conn, n, hasher, progress=None, rate=None):
    """Reads exactly n body bytes of the response whose head was just read, feeding hasher
    (never holding the whole body: for large files). progress: a list whose [0] is updated
    with the bytes read so far; rate: bytes per second to stay under (a slow reader)."""
    got = len(conn.buf[:n])
    hasher.update(conn.buf[:n])
    conn.buf = conn.buf[n:]
    if progress is not None:
        progress[0] = got
    t0 = time.monotonic()
    buf = bytearray(1 << 16)
    while got < n:
        k = conn.sock.recv_into(buf, min(len(buf), n - got))
        if not k:
            raise EOFError("connection closed after %d of %d body bytes" % (got, n))
        hasher.update(memoryview(buf)[:k])
        got += k
        if progress is not None:
            progress[0] = got
        if rate:
            ahead = got / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    return got


def read_head(conn):
    """Reads only a response's status line and headers; the body stays in the socket (and
    conn.buf). Returns a Response with an empty body."""
    while b"\r\n\r\n" not in conn.buf:
        conn._fill()
    hdr, conn.buf = conn.buf.split(b"\r\n\r\n", 1)
    lines = hdr.decode("latin-1").split("\r\n")
    version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        k = k.strip().lower()
        headers[k] = headers[k] + ", " + v.strip() if k in headers else v.strip()
    return Response(int(status), reason, headers, b"", version)


# ---- Helpers for the supervisor suites (1x, 5x, 6x, 7x): status, worker pids, polling. ----

def sup_status(server, timeout=10):
    """The running cluster as `status --json` reports it (a dict), or None if it fails."""
    import json
    r = server.cli("status", "--json", timeout=timeout)
    if r.returncode != 0:
        return None
    try:
        return json.loads(r.stdout)
    except ValueError:
        fail("status --json is not JSON: %r" % r.stdout)


def sup_workers(server, generation=None, state=None):
    """Pids of the workers status lists, optionally only one generation's or state's."""
    st = sup_status(server) or {"workers": []}
    return sorted(w["pid"] for w in st["workers"]
                  if (generation is None or w["generation"] == generation)
                  and (state is None or w["state"] == state))


def sup_wait(fn, timeout, what):
    """Polls fn() (every 50 ms) until it returns something true; fails the test with `what`
    when timeout passes first. Returns fn's value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            fail("%s: not within %.1fs" % (what, timeout))
        time.sleep(0.05)


def slowfs_helpers():
    """49_http_slowfs.py as a module: its shim_path and preload_value, for the suites that
    start a server on a slow (or failing) disk."""
    import importlib.util
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("slowfs_test",
                                                  os.path.join(here, "49_http_slowfs.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def drain_lines(server):
    """Moves every output line read so far into server.log without waiting; returns it."""
    while True:
        try:
            line = server.lines.get_nowait()
        except queue.Empty:
            return server.log
        if line is None:
            server.lines.put(None)
            return server.log
        server.log.append(line)


def remove_at_exit(server):
    """Removes the server's temporary folder when the test exits (large files must not pile
    up in /tmp); returns the server. Kept when EVC_KEEP is set, for a look afterwards."""
    import atexit, shutil
    if not os.environ.get("EVC_KEEP"):
        atexit.register(shutil.rmtree, server.dir, True)
    return server


# ---- Helpers for the hostile-client suites (8x_hostile_*): raw exchanges read to the end,
# a process's CPU time and memory from /proc. ----

def parse_responses(data):
    """Splits raw bytes a server sent into Responses (Content-Length bodies; a body without a
    length runs to the end). Returns (responses, leftover bytes that are no whole response)."""
    out = []
    while b"\r\n\r\n" in data:
        hdr, rest = data.split(b"\r\n\r\n", 1)
        lines = hdr.decode("latin-1").split("\r\n")
        parts = (lines[0].split(" ", 2) + ["", ""])[:3]
        if not parts[1].isdigit():
            break
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            k = k.strip().lower()
            headers[k] = headers[k] + ", " + v.strip() if k in headers else v.strip()
        n = 0 if status in (204, 304) or 100 <= status < 200 else None
        if n is None and headers.get("content-length", "").isdigit():
            n = int(headers["content-length"])
        if n is None:
            n = len(rest)
        if len(rest) < n:
            break
        out.append(Response(status, parts[2], headers, rest[:n], parts[0]))
        data = rest[n:]
    return out, data


def exchange(port, data, timeout=3.0):
    """Sends raw bytes on a fresh connection and reads until the server closes it or timeout
    passes. Returns (responses, closed, leftover): closed is True when the server closed
    (EOF or reset) within timeout. A reset while sending counts as closed."""
    got, closed = send_and_drain(connect(port, timeout),
                                 data if isinstance(data, bytes) else data.encode("latin-1"),
                                 timeout)
    responses, rest = parse_responses(got)
    return responses, closed, rest


def proc_cpu_seconds(pid):
    """User plus system CPU time of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid, key):
    """A memory figure of /proc/PID/status in KiB: "VmRSS" (resident now), "VmHWM" (its
    peak)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def sanitized():
    """True when the evcluster under test is built with AddressSanitizer, whose quarantine
    keeps freed memory resident: resident-memory figures then say nothing of ours."""
    with open(EVCLUSTER, "rb") as f:
        return b"__asan_init" in f.read()


def proc_rss_kib(pid):
    """Resident memory of a process (VmRSS), in KiB."""
    return proc_status_kib(pid, "VmRSS")


def send_and_drain(sock, data, timeout, shut=False):
    """Sends data on a connected socket (then ends our side if shut), reads until the peer
    closes or timeout passes; returns (bytes read, closed). A reset or broken pipe (the peer
    stopped reading an oversized request) counts as closed, after what it had sent is read.
    Closes sock."""
    got, closed = b"", False
    try:
        try:
            sock.sendall(data)
            if shut:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
    finally:
        sock.close()
    return got, closed


def proc_fd_count(pid):
    """Open descriptors of a process (we run as root or as its owner)."""
    return len(os.listdir("/proc/%d/fd" % pid))


def only_worker(server):
    """The pid of a one-worker server's running worker (fails the test if there is none)."""
    pids = sup_wait(lambda: sup_workers(server, state="running"), 10, "a running worker")
    check(len(pids) == 1, "expected one worker, status lists %r" % pids)
    return pids[0]


def proc_socket_count(pid):
    """Open sockets of a process: its listeners, channels and client connections (not the
    files it holds open, which a cache may keep)."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"):
                n += 1
        except OSError:  # closed meanwhile
            pass
    return n


class Load:
    """Traffic for zero-failure tests (reloads, recycling, upgrades): `fresh` threads each
    open a connection per request, `keepalive` threads reuse one. Every answer must be 200
    with a body of `size` bytes. A keep-alive request may fail only on a reused connection
    before any byte of its answer came (the server closed it as idle while draining): a client
    retries such a request, and it is counted as retried, not failed. Use as a context
    manager; after it, .errors lists the failures and .counts what was done. addr: where to
    connect; source: the local address to connect from (see connect)."""

    def __init__(self, port, path="/index.html", size=1000, fresh=2, keepalive=2,
                 host="127.0.0.1", addr="127.0.0.1", source=None):
        self.port, self.path, self.size, self.host = port, path, size, host
        self.addr, self.source = addr, source
        self.stop = threading.Event()
        self.errors, self.counts = [], {"fresh": 0, "keepalive": 0, "retried": 0}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._fresh) for _ in range(fresh)] + \
            [threading.Thread(target=self._keepalive) for _ in range(keepalive)]

    def _count(self, what):
        with self.lock:
            self.counts[what] += 1

    def _fresh(self):
        while not self.stop.is_set():
            try:
                r = request(self.port, self.path, headers={"Host": self.host}, addr=self.addr,
                            source=self.source)
                if r.status != 200 or len(r.body) != self.size:
                    raise ValueError(repr(r))
                self._count("fresh")
            except Exception as e:
                self.errors.append("fresh: %r" % e)

    def _keepalive(self):
        c = None
        while not self.stop.is_set():
            reused = c is not None
            try:
                if c is None:
                    c = Conn(self.port, addr=self.addr, source=self.source)
                c.send("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (self.path, self.host))
                r = c.read_response()
            except (EOFError, ConnectionResetError, BrokenPipeError) as e:
                if not reused or c.buf:
                    self.errors.append("keepalive: %r" % e)
                c.close()
                c = None
                self._count("retried")
                continue
            except Exception as e:
                self.errors.append("keepalive: %r" % e)
                c = None
                continue
            if r.status != 200 or len(r.body) != self.size:
                self.errors.append("keepalive: %r" % r)
            self._count("keepalive")
            if r.header("connection", "").lower() == "close":
                c.close()
                c = None
        if c:
            c.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()
        return False


def curl(url, args=(), timeout=20, what=None):
    """One request with the real curl (args: its options, e.g. --http2-prior-knowledge):
    (status, HTTP version as curl names it, headers, body). Header names are lower-cased; a
    field that comes several times is joined with ", ", as HTTP allows."""
    d = tempfile.mkdtemp(prefix="evc-curl-")
    hfile, bfile = os.path.join(d, "h"), os.path.join(d, "b")
    cmd = ["curl", "-sS", "--max-time", str(timeout), "-D", hfile, "-o", bfile,
           "-w", "%{http_code} %{http_version}"] + list(args) + [url]
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=timeout + 10)
        expect(r.returncode == 0, "%s: curl exit %d: %s" % (what or url, r.returncode,
                                                             r.stderr.decode(errors="replace")))
        code, version = r.stdout.decode().split()
        fields = {}
        with open(hfile, "rb") as f:
            for line in f.read().decode("latin-1").split("\r\n")[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    fields.setdefault(k.strip().lower(), []).append(v.strip())
        body = b""
        if os.path.exists(bfile):  # curl writes no file for an empty body
            with open(bfile, "rb") as f:
                body = f.read()
        return int(code), version, {k: ", ".join(v) for k, v in fields.items()}, body
    finally:
        shutil.rmtree(d, ignore_errors=True)
