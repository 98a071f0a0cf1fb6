"""TLS helpers for the integration tests: a throw-away CA and certificates made at run time
with the `openssl` command (no key is ever committed), a TLS client connection (Python's ssl
over the same raw-socket Conn as the plain suites), and `openssl s_client` runs."""
import os, re, socket, ssl, subprocess, time
from evtest import Conn, connect, fail


def _run(args, cwd):
    r = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        fail("openssl %s failed: %s" % (" ".join(args), r.stderr))


def make_ca(d):
    """A CA in folder d: d/ca.pem, d/ca.key. Returns the CA certificate's path."""
    _run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
          "-keyout", "ca.key", "-out", "ca.pem", "-days", "3", "-subj", "/CN=evcluster test CA"], d)
    return os.path.join(d, "ca.pem")


def make_cert(d, name, sans, kind="ec", days=2, not_before=None, not_after=None):
    """d/NAME.pem and d/NAME.key, signed by d's CA, with sans ("DNS:a.test", "IP:127.0.0.1").
    kind "ec" (P-256) or "rsa" (2048). not_before/not_after: "YYYYMMDDHHMMSSZ" (an expired or
    future certificate, through `openssl ca`-free x509 -set_... is not there: use -days and a
    faked start with the `openssl x509 -not_before` of 3.x if given). Returns (cert, key)."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if kind == "ec" else \
          ["-newkey", "rsa:2048"]
    _run(["req", "-new"] + key + ["-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                                  "-subj", "/CN=" + sans[0].split(":", 1)[1]], d)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=" + ",".join(sans) + "\n")
    if not_after:
        # a certificate valid in the past only: a tiny CA database, as `openssl ca` needs
        db = os.path.join(d, "cadb")
        os.makedirs(db, exist_ok=True)
        open(os.path.join(db, "index.txt"), "a").close()
        with open(os.path.join(db, "ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca=c\n[c]\ndatabase=%s/index.txt\nnew_certs_dir=%s\n"
                    "serial=%s/serial\ndefault_md=sha256\npolicy=p\ncopy_extensions=copy\n"
                    "unique_subject=no\n[p]\ncommonName=supplied\n" % (db, db, db))
        with open(os.path.join(db, "serial"), "w") as f:
            f.write("%04X\n" % (int(time.time() * 1000) % 60000 + 16))
        _run(["ca", "-batch", "-config", os.path.join(db, "ca.cnf"), "-cert", "ca.pem",
              "-keyfile", "ca.key", "-in", name + ".csr", "-out", name + ".pem",
              "-startdate", not_before, "-enddate", not_after, "-extfile", name + ".ext",
              "-notext"], d)
    else:
        _run(["x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
              "-CAcreateserial", "-out", name + ".pem", "-days", str(days), "-extfile",
              name + ".ext"], d)
    return os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")


def client_context(ca, min_version=None, max_version=None, alpn=None):
    ctx = ssl.create_default_context(cafile=ca)
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


class TlsConn(Conn):
    """Conn over TLS: the same request and response helpers, bytes through ssl."""

    def __init__(self, port, ca, server_name="localhost", timeout=5, ctx=None):
        raw = connect(port, timeout)
        self.ctx = ctx or client_context(ca)
        self.sock = self.ctx.wrap_socket(raw, server_hostname=server_name)
        self.buf = b""

    def closed_by_peer(self, timeout=5):
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            return True
        except socket.timeout:
            return False


def s_client(port, args, request=None, timeout=10):
    """openssl s_client to 127.0.0.1:port with args; request bytes are sent once connected
    (the server closes after a "Connection: close" answer, which ends s_client). Returns
    (returncode, stdout + stderr)."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-ign_eof"] + list(args)
    try:
        r = subprocess.run(cmd, input=request or b"", capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        fail("openssl s_client %s hung" % " ".join(args))
    return r.returncode, (r.stdout + r.stderr).decode("latin-1")


CLOSE_REQ = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def peer_cn(out):
    """The subject CN of the certificate s_client was shown."""
    m = re.search(r"subject=.*?CN\s*=\s*([^\s,/]+)", out)
    return m.group(1) if m else None


def tls_settings(certs, extra=None, listen=None):
    """Config lines for a Server: a plain and a TLS listener and tls.certificates."""
    entries = ", ".join('{ cert = "%s"; key = "%s"; }' % c for c in certs)
    s = {"listen": listen or '( { address = "127.0.0.1:0"; tls = true; } )',
         "tls": "{ certificates = ( %s ); %s }" % (entries, extra or "")}
    return s


def listen_ports(server):
    """Every port of the ready line the latest generation logged, in config order."""
    for line in reversed(server.log):
        m = re.search(r"ready: generation \d+, \d+ workers?, listening on (.*)$", line)
        if m:
            return [int(a.rsplit(":", 1)[1]) for a in m.group(1).split(", ")]
    fail("no ready line in the log")


def free_port():
    """A port the kernel just handed out and took back: for a second listener on 127.0.0.1
    (the config refuses "127.0.0.1:0" twice, since listeners are keyed by their text)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
