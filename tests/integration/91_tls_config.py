#!/usr/bin/env python3
"""TLS configuration: -t refuses, with FILE:LINE and the key, a TLS listener without
certificates, a missing or unparsable certificate, a missing, encrypted or mismatched key, an
unknown key in a listener group, redirect_https without a TLS listener; an expired
certificate is a warning. A reload with a bad certificate fails and the old generation keeps
serving; a HUP that swaps the certificate: new connections see the new one while no request
fails. With `user` set, a key only root can read works (the supervisor reads it)."""
import os, pwd, grp, re, shutil, signal, ssl, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from tlscerts import *


def check_t(d, text):
    path = os.path.join(d, "t.conf")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([EVCLUSTER, "-c", path, "-t"], capture_output=True, text=True, timeout=20)
    return r.returncode, r.stdout + r.stderr, path


BASE = 'root = "www";\nerror_log = "stderr";\n'


def conf_text(listen, certs=None, extra=""):
    t = BASE + "listen = %s;\n" % listen
    if certs is not None:
        t += "tls = {\n  certificates = (\n%s\n  );\n%s};\n" % (
            ",\n".join('    { cert = "%s";\n      key = "%s"; }' % c for c in certs), extra)
    return t


TLS_LISTEN = '( { address = "127.0.0.1:0"; tls = true; } )'


def main():
    d = tempfile.mkdtemp(prefix="evc-tlsconf-")
    os.mkdir(os.path.join(d, "www"))
    ca = make_ca(d)
    a = make_cert(d, "a", ["DNS:localhost", "IP:127.0.0.1"])
    b = make_cert(d, "b", ["DNS:localhost"], kind="rsa")
    old = make_cert(d, "old", ["DNS:localhost"], not_before="20200101000000Z",
                    not_after="20200201000000Z")
    enc_key = os.path.join(d, "enc.key")
    subprocess.run(["openssl", "pkey", "-in", a[1], "-out", enc_key, "-aes256", "-passout",
                    "pass:secret"], check=True, capture_output=True)
    junk = os.path.join(d, "junk.pem")
    with open(junk, "w") as f:
        f.write("not a certificate\n")
    missing = os.path.join(d, "missing.pem")
    results = []

    def expect_t(what, text, want_rc, pattern):
        rc, out, path = check_t(d, text)
        ok = rc == want_rc and re.search(pattern.replace("FILE", re.escape(path)), out, re.M)
        print("%s %s" % ("ok  " if ok else "FAIL", what), flush=True)
        if not ok:
            print("  exit %d, output:\n  %s" % (rc, out.replace("\n", "\n  ")), flush=True)
        results.append(bool(ok))

    # line numbers: BASE is 2 lines, listen is line 3, tls = { line 4, certificates 5, the
    # first entry's cert line 6 and key line 7
    expect_t("tls listener without certificates", conf_text(TLS_LISTEN), 1,
             r"^FILE:3: listen\[0\]: tls = true needs tls\.certificates")
    expect_t("missing certificate", conf_text(TLS_LISTEN, [(missing, a[1])]), 1,
             r"^FILE:6: tls\.certificates\[0\]\.cert: cannot read .*missing\.pem: No such file")
    expect_t("not a certificate", conf_text(TLS_LISTEN, [(junk, a[1])]), 1,
             r"^FILE:6: tls\.certificates\[0\]\.cert: .*junk\.pem holds no usable PEM certificate")
    expect_t("missing key", conf_text(TLS_LISTEN, [(a[0], missing)]), 1,
             r"^FILE:7: tls\.certificates\[0\]\.key: cannot read .*missing\.pem")
    expect_t("key of another certificate", conf_text(TLS_LISTEN, [(a[0], b[1])]), 1,
             r"^FILE:7: tls\.certificates\[0\]\.key: the key in .*b\.key does not match")
    expect_t("encrypted key", conf_text(TLS_LISTEN, [(a[0], enc_key)]), 1,
             r"^FILE:7: tls\.certificates\[0\]\.key: .*enc\.key is encrypted")
    expect_t("second entry named", conf_text(TLS_LISTEN, [a, (b[0], a[1])]), 1,
             r"^FILE:9: tls\.certificates\[1\]\.key: the key in .*a\.key does not match")
    expect_t("expired certificate warns", conf_text(TLS_LISTEN, [old]), 0,
             r"^FILE:6: tls\.certificates\[0\]\.cert: warning: the certificate in .*old\.pem "
             r"expired on 2020-02-01")
    expect_t("unknown key in a listener", conf_text(
        '( { address = "127.0.0.1:0"; tls = true; proxy = true; } )', [a]), 1,
        r"^FILE:3: listen\[0\]\.proxy: unknown key")
    expect_t("listener group without address", conf_text('( { tls = true; } )', [a]), 1,
             r"^FILE:3: listen\[0\]: expected address")
    expect_t("redirect_https without a TLS listener", conf_text(
        '( { address = "127.0.0.1:0"; redirect_https = true; } )'), 1,
        r"^FILE:3: listen\[0\]: redirect_https = true needs a listener with tls = true")
    expect_t("bad min_version", conf_text(TLS_LISTEN, [a], '  min_version = "TLSv1.1";\n'), 1,
             r"^FILE:\d+: tls\.min_version: expected \"TLSv1\.2\" or \"TLSv1\.3\"")
    expect_t("unknown key in tls", conf_text(TLS_LISTEN, [a], '  session_ticket = true;\n'), 1,
             r"^FILE:\d+: tls\.session_ticket: unknown key; did you mean \"tls\.session_tickets\"")
    expect_t("good config", conf_text(TLS_LISTEN, [a, b]), 0, r"configuration ok")

    # reloads: a bad certificate fails and keeps the old generation; a swap reaches new
    # connections without a failed request
    www = os.path.join(d, "www")
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("hello\n")
    live = (os.path.join(d, "live.pem"), os.path.join(d, "live.key"))
    shutil.copy(a[0], live[0])
    shutil.copy(a[1], live[1])
    s = remove_at_exit(Server(settings=tls_settings([live]), workers=2))
    s.root = www
    s.write_conf({"root": '"%s"' % www})
    def serial(port):
        rc, out = s_client(port, ["-CAfile", ca, "-servername", "localhost", "-showcerts"],
                           CLOSE_REQ)
        pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
        if not pem:
            return None
        r = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem.group(0),
                           capture_output=True, text=True)
        return r.stdout.strip()
    with s:
        first = serial(s.port)
        ok = first is not None
        s.write_conf(tls_settings([(missing, live[1])]))
        r = s.cli("-s", "reload")
        ok = ok and r.returncode == 1 and "cannot read" in r.stderr
        ok = ok and serial(s.port) == first
        print("%s reload with a missing certificate fails, the old one serves" %
              ("ok  " if ok else "FAIL"), flush=True)
        if not ok:
            print("  %r %r" % (first, r), flush=True)
        results.append(ok)

        stop, errors, count = threading.Event(), [], [0]
        def hammer():
            while not stop.is_set():
                try:
                    c = TlsConn(s.port, ca)
                    rr = roundtrip(c, path="/index.html", host="localhost")
                    c.close()
                    if rr.status != 200:
                        errors.append(rr.status)
                    count[0] += 1
                except (OSError, ssl.SSLError, EOFError) as e:
                    errors.append(repr(e))
        t = threading.Thread(target=hammer)
        t.start()
        try:
            wait_for(lambda: count[0] >= 20, 10)
            shutil.copy(b[0], live[0])  # renewed in place, as certbot does (RSA this time)
            shutil.copy(b[1], live[1])
            s.write_conf(tls_settings([live]))
            r = s.cli("-s", "reload")
            before = count[0]
            wait_for(lambda: count[0] >= before + 20, 10)
        finally:
            stop.set()
            t.join()
        second = serial(s.port)
        ok = r.returncode == 0 and second is not None and second != first and not errors
        print("%s HUP swaps the certificate (%s -> %s), %d requests, failures %r" %
              ("ok  " if ok else "FAIL", first, second, count[0], errors[:5]), flush=True)
        results.append(ok)

    if os.geteuid() == 0:
        # a key only root can read, with workers running as nobody
        nobody = pwd.getpwnam("nobody")
        group = grp.getgrgid(nobody.pw_gid).gr_name
        kd = tempfile.mkdtemp(prefix="evc-rootkey-")  # 0700, root's
        key = os.path.join(kd, "k.key")
        shutil.copy(a[1], key)
        os.chmod(key, 0o600)
        s = remove_at_exit(Server(files={"index.html": "dropped\n"},
                                  settings=tls_settings([(a[0], key)]), workers=1))
        s.write_conf({"user": '"nobody"', "group": '"%s"' % group})
        for p in (s.dir, s.root):
            os.chmod(p, 0o755)
        os.chmod(os.path.join(s.root, "index.html"), 0o644)
        with s:
            c = TlsConn(s.port, ca)
            rr = roundtrip(c, path="/index.html", host="localhost")
            c.close()
            ok = rr.status == 200 and rr.body == b"dropped\n"
            pids = sup_workers(s)
            with open("/proc/%d/status" % pids[0]) as f:
                uid = int(re.search(r"^Uid:\s+(\d+)", f.read(), re.M).group(1))
            ok = ok and uid == nobody.pw_uid
            print("%s a root-only key with workers as nobody" % ("ok  " if ok else "FAIL"),
                  flush=True)
            results.append(ok)
    else:
        print("not root: the root-only key case is skipped")
    print("%d passed, %d failed" % (results.count(True), results.count(False)))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
