#!/usr/bin/env python3
"""Sites in the config: `-t` names FILE:LINE and the key for duplicate site names, bad
wildcards, unknown status codes, error pages outside the root, header names and values that
could break a response (CR, LF, control bytes), headers the server sets itself, unknown keys,
site keys at the top level beside sites; every config without sites still loads (the
top-level root is the one site). A reload applies new sites and a failed one keeps the old;
the served headers never contain a CR or LF from anywhere."""
import os, re, signal, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

BASE = 'listen = "127.0.0.1:0";\nerror_log = "stderr";\n'


def check_t(d, text):
    path = os.path.join(d, "t.conf")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([EVCLUSTER, "-c", path, "-t"], capture_output=True, text=True, timeout=20)
    return r.returncode, r.stdout + r.stderr, path


def bad(d, name, text, line, key, words):
    def case(_s):
        rc, out, path = check_t(d, BASE + text)
        expect(rc != 0, "%s: -t should fail: %s" % (name, out))
        where = "%s:%d: %s: " % (re.escape(path), line, key)
        expect(re.search(where, out), "%s: expected /%s/ in %r" % (name, where, out))
        expect(re.search(words, out), "%s: expected /%s/ in %r" % (name, words, out))
    case.__name__ = "bad_" + name
    return case


def good(d, name, text, words=None):
    def case(_s):
        rc, out, path = check_t(d, BASE + text)
        expect(rc == 0, "%s: -t should pass: %s" % (name, out))
        if words:
            expect(re.search(words, out), "%s: expected /%s/ in %r" % (name, words, out))
    case.__name__ = "good_" + name
    return case


def main():
    d = tempfile.mkdtemp(prefix="evc-sitesconf-")
    for sub in ("www", "b"):
        os.mkdir(os.path.join(d, sub))
    with open(os.path.join(d, "www", "404.html"), "w") as f:
        f.write("x")
    with open(os.path.join(d, "secret.html"), "w") as f:
        f.write("secret")
    os.symlink(os.path.join(d, "secret.html"), os.path.join(d, "www", "out.html"))
    cases = [
        good(d, "no_sites", 'root = "www";\nheaders = ( { set = { X-A = "1"; }; } );\n'),
        good(d, "sites", 'sites = ( { names = ["a.test", "*.b.test"]; root = "www";\n'
             '  error_pages = ( { codes = [404, 500]; page = "/404.html"; } ); },\n'
             '  { names = ["c.test"]; root = "b"; } );\n'),
        good(d, "ipv6_and_address", 'sites = ( { names = ["[::1]", "127.0.0.1"]; root = "www"; } );\n'),
        bad(d, "ipv6_open", 'sites = ( { names = ["[::1"]; root = "www"; } );\n', 3,
            r"sites\[0\]\.names\[0\]", "IPv6 literal"),
        good(d, "missing_page_warns", 'root = "www";\n'
             'error_pages = ( { codes = [404]; page = "/nope.html"; } );\n', r"warning"),
        bad(d, "dup_name", 'sites = ( { names = ["a.test"]; root = "www"; },\n'
            '  { names = ["b.test",\n "A.TEST"]; root = "b"; } );\n', 5, r"sites\[1\]\.names\[1\]",
            "duplicate site name \"a.test\""),
        bad(d, "bad_wildcard", 'sites = ( { names = ["a.*.test"]; root = "www"; } );\n', 3,
            r"sites\[0\]\.names\[0\]", "host name"),
        bad(d, "wildcard_two", 'sites = ( { names = ["**.test"]; root = "www"; } );\n', 3,
            r"sites\[0\]\.names\[0\]", "host name"),
        bad(d, "unknown_code", 'root = "www";\n'
            'error_pages = ( { codes = [404, 299]; page = "/404.html"; } );\n', 4,
            r"error_pages\[0\]\.codes\[1\]", "unknown status code 299"),
        bad(d, "page_outside", 'root = "www";\n'
            'error_pages = ( { codes = [404]; page = "/out.html"; } );\n', 4,
            r"error_pages\[0\]\.page", "outside the root"),
        bad(d, "page_dotdot", 'root = "www";\n'
            'error_pages = ( { codes = [404]; page = "/../secret.html"; } );\n', 4,
            r"error_pages\[0\]\.page", "below the root"),
        bad(d, "header_crlf", 'root = "www";\n'
            'headers = ( { set = { X-A = "a\\r\\nSet-Cookie: x=1"; }; } );\n', 4,
            r"headers\[0\]\.set\.X-A", "no CR, LF"),
        bad(d, "header_ctl", 'root = "www";\n'
            'headers = ( { set = { X-A = "a\\x01b"; }; } );\n', 4, r"headers\[0\]\.set\.X-A",
            "control bytes"),
        bad(d, "header_own", 'root = "www";\n'
            'headers = ( { set = { Content-Length = "5"; }; } );\n', 4,
            r"headers\[0\]\.set\.Content-Length", "sets Content-Length itself"),
        bad(d, "header_match", 'root = "www";\n'
            'headers = ( { match = "assets"; set = { X-A = "1"; }; } );\n', 4,
            r"headers\[0\]\.match", "path prefix"),
        bad(d, "site_unknown_key", 'sites = ( { names = ["a.test"]; root = "www";\n'
            ' autoindx = true; } );\n', 4, r"sites\[0\]\.autoindx", "unknown key"),
        bad(d, "top_key_with_sites", 'sites = ( { names = ["a.test"]; root = "www"; } );\n'
            'fallback = "/index.html";\n', 4, "fallback", "belongs inside a site"),
        bad(d, "no_root", 'sites = ( { names = ["a.test"]; } );\n', 3, r"sites\[0\]",
            "root"),
    ]
    res = run_cases(None, cases)

    # reload: a new site appears; a bad reload keeps the old sites
    s = Server(files={"who.txt": b"a\n"})
    os.makedirs(os.path.join(s.dir, "b"))
    with open(os.path.join(s.dir, "b", "who.txt"), "wb") as f:
        f.write(b"b\n")
    remove_at_exit(s)

    def case_reload(s):
        r = request(s.port, "/who.txt", headers={"Host": "b.test"})
        expect_eq(r.body, b"a\n", "before: one site")
        s.write_conf({"sites": '( { names = ["a.test"]; root = "www"; },'
                               ' { names = ["b.test"]; root = "b";'
                               ' headers = ( { set = { X-Site = "b"; }; } ); } )'})
        s.signal(signal.SIGHUP)
        m = s.wait_log(READY_RE, 10)
        expect_eq(int(m.group(1)), 2, "generation 2")

        def served():
            r = request(s.port, "/who.txt", headers={"Host": "b.test"})
            return r.body == b"b\n" and r.headers.get("x-site") == "b"
        expect(wait_for(served, 10), "b.test served by its site after the reload")
        s.write_conf({"sites": '( { names = ["a.test"]; root = "www"; },'
                               ' { names = ["A.test"]; root = "b"; } )'})
        s.signal(signal.SIGHUP)
        s.wait_log(r"duplicate site name", 10)
        r = request(s.port, "/who.txt", headers={"Host": "b.test"})
        expect_eq(r.body, b"b\n", "a failed reload keeps the sites")

    with s:
        res2 = run_cases(s, [case_reload])
    finish([res, res2])


if __name__ == "__main__":
    main()
