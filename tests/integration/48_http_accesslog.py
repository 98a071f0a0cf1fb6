#!/usr/bin/env python3
"""Access log: one combined-format line per request with status and body bytes, written
asynchronously to access_log (relative to the config's folder); bytes from clients escaped
(no raw control characters, no injected lines); "off" writes nothing; -s reopen starts a new
file after the old one was renamed. An answer cut short is logged too, with the bytes that went
out: a client that leaves mid-download, a file that shrinks while it is sent (the error log
says so)."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from datetime import datetime

FIELD = r'"((?:[^"\\]|\\.)*)"'
LINE_RE = re.compile(r'^(\S+) - - \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
                     + FIELD + r' (\d{3}) (\d+|-) ' + FIELD + ' ' + FIELD + '$')
BIG = 16 * 1024 * 1024  # more than both socket buffers hold: the send waits for the client
FILES = {"a.txt": b"hello world\n", "b.txt": b"bee\n", "big.bin": b"\x01" * BIG,
         "shrinks.bin": b"\x02" * BIG}
WAIT = 5


def log_path(s):
    return os.path.join(os.path.dirname(s.conf), "access.log")


def read_log(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def wait_line(s, needle, path=None):
    """The parsed log line whose request field contains needle (bytes, as escaped in the log),
    polled until WAIT seconds pass."""
    path = path or log_path(s)

    def find():
        for raw in read_log(path).split(b"\n"):
            m = LINE_RE.match(raw.decode("latin-1"))
            if m and needle.decode("latin-1") in m.group(3):
                return m
        return None
    m = wait_for(find, WAIT)
    expect(m, "no access log line for %r in %s within %ds; log:\n%s"
           % (needle, path, WAIT, read_log(path).decode("latin-1")[-2000:]))
    return m


def test_combined_line(s):
    r = request(s.port, "/a.txt", headers={"User-Agent": "evtest-agent/1.0",
                                           "Referer": "http://ref.example/page"})
    expect_eq(r.status, 200, "GET /a.txt")
    m = wait_line(s, b"GET /a.txt HTTP/1.1")
    expect_eq(m.group(1), "127.0.0.1", "remote address")
    expect_eq(m.group(3), "GET /a.txt HTTP/1.1", "request field")
    expect_eq((m.group(4), m.group(5)), ("200", str(len(FILES["a.txt"]))), "status and bytes")
    expect_eq((m.group(6), m.group(7)), ("http://ref.example/page", "evtest-agent/1.0"),
              "referer and user agent")
    t = datetime.strptime(m.group(2), "%d/%b/%Y:%H:%M:%S %z").timestamp()
    expect(abs(t - time.time()) < 10, "log time %r is not now" % m.group(2))


def test_status_and_bytes(s):
    request(s.port, "/missing.txt", headers={"User-Agent": None})
    m = wait_line(s, b"GET /missing.txt ")
    expect_eq(m.group(4), "404", "status of a 404")
    expect_eq((m.group(6), m.group(7)), ("-", "-"), "absent referer and user agent")
    request(s.port, "/a.txt?part", headers={"Range": "bytes=0-3"})
    m = wait_line(s, b"GET /a.txt?part ")
    expect_eq((m.group(4), m.group(5)), ("206", "4"), "status and bytes of a 206")
    request(s.port, "/a.txt?head", method="HEAD")
    m = wait_line(s, b"HEAD /a.txt?head ")
    expect(m.group(4) == "200" and m.group(5) in ("0", "-"),
           "HEAD logged as %s %s, expected 200 and no body bytes" % (m.group(4), m.group(5)))
    request(s.port, "/a.txt?post", method="POST", headers={"Content-Length": "0"})
    expect_eq(wait_line(s, b"POST /a.txt?post ").group(4), "405", "status of a 405")


def hexlower(field):
    return re.sub(r"\\x[0-9A-Fa-f]{2}", lambda m: m.group(0).lower(), field)


def test_escaping(s):
    # Accepted by the parser, so logged with the request: a form feed and quotes in the
    # target; a tab, quotes, a backslash and UTF-8 in the User-Agent.
    r, _ = raw_request(s.port, http_req("GET", b'/esc\x0cape?q="x"', {
        "User-Agent": b'tab\there "q" back\\slash \xc3\xa9', "Connection": "close"}))
    expect(r is not None, "GET of a target with a form feed: no response")
    expect(r.status in (400, 404), "GET of a target with a form feed: %d" % r.status)
    m = wait_line(s, b"/esc")
    expect_eq(hexlower(m.group(3)), r'GET /esc\x0cape?q=\x22x\x22 HTTP/1.1',
              "escaped request field")
    expect_eq(hexlower(m.group(7)), r'tab\x09here \x22q\x22 back\x5cslash \xc3\xa9',
              "escaped user agent")
    # Rejected by the parser (400): whatever is logged must still be escaped.
    raw_request(s.port, b"GET /ctl HTTP/1.1\r\nHost: x\r\nUser-Agent: evil\x01agent\r\n\r\n")
    raw_request(s.port, b"GET /inj HTTP/1.1\r\nHost: x\r\nUser-Agent: x\n127.0.0.1 - - "
                b"[01/Jan/2020:00:00:00 +0000] \"GET /injected HTTP/1.1\" 200 1 \"-\" \"-\""
                b"\r\n\r\n")
    raw_request(s.port, b"GET /inj2\x1b[31m HTTP/1.1\r\nHost: x\r\n\r\n")
    request(s.port, "/a.txt?sentinel")       # logged after the hostile ones
    wait_line(s, b"/a.txt?sentinel ")
    data = read_log(log_path(s))
    bad = [c for c in set(data) if c < 0x20 and c != 0x0a or c >= 0x7f]
    expect(not bad, "raw bytes %r in the access log" % sorted(bad))
    for raw in data.split(b"\n")[:-1]:
        line = raw.decode("latin-1")
        expect(LINE_RE.match(line), "access log line is not combined format: %r" % line)
        expect(not line.startswith("127.0.0.1 - - [01/Jan/2020"), "injected line: %r" % line)


def test_reopen(s):
    path = log_path(s)
    old = path + ".1"
    os.rename(path, old)
    p = s.cli("-s", "reopen", timeout=10)
    expect_eq(p.returncode, 0, "evcluster -s reopen exit code (stderr %r)" % p.stderr)
    i = [0]

    def new_file_has_line():   # the reopen reaches the worker asynchronously
        i[0] += 1
        request(s.port, "/b.txt?reopen=%d" % i[0])
        return b"reopen=" in read_log(path)
    expect(wait_for(new_file_has_line, WAIT, 0.1), "no new access.log with new lines after -s "
           "reopen (old file now %d bytes)" % len(read_log(old)))
    request(s.port, "/b.txt?after")
    wait_line(s, b"/b.txt?after ")
    expect(b"/b.txt?after " not in read_log(old), "line after reopen went to the renamed file")
    expect(b"GET /a.txt HTTP/1.1" in read_log(old), "the renamed file lost its lines")
    for raw in read_log(path).split(b"\n")[:-1]:
        expect(LINE_RE.match(raw.decode("latin-1")), "bad line after reopen: %r" % raw)


def test_off_writes_nothing(s2):
    for i in range(5):
        expect_eq(request(s2.port, "/a.txt?off=%d" % i).status, 200, "GET with the log off")
    request(s2.port, "/missing-off")

    def any_log():
        for dirpath, _, names in os.walk(s2.dir):
            for n in names:
                full = os.path.join(dirpath, n)
                if n == "off" or "access" in n:
                    return full
                if not os.path.isfile(full):
                    continue
                with open(full, "rb") as f:
                    if b"/a.txt?off=" in f.read():
                        return os.path.join(dirpath, n)
        return None
    # Absence cannot be waited for: give an asynchronous writer the same time as above.
    found = wait_for(any_log, 1.5)
    expect(found is None, "access_log = \"off\" but %s was written" % found)


def test_cut_short(s):
    """A client that reads the head of a large answer and leaves: one line, 200, the body
    bytes that went (fewer than the file), as nginx logs it."""
    c = Conn(s.port)
    try:
        c.send(http_req("GET", "/big.bin?left"))
        expect_eq(read_head(c).status, 200, "GET /big.bin")
    finally:
        c.close()
    m = wait_line(s, b"GET /big.bin?left ")
    expect(m.group(4) == "200" and int(m.group(5)) < BIG,
           "a download left early logged as %s %s bytes, expected 200 and fewer than %d"
           % (m.group(4), m.group(5), BIG))


def test_shrunk_while_sent(s):
    """The file is cut to 1 MiB while its 16 MiB answer waits for the client: the client gets
    a short body and a close, the access log the bytes sent, the error log a line."""
    path = os.path.join(s.root, "shrinks.bin")
    c = Conn(s.port)
    try:
        c.send(http_req("GET", "/shrinks.bin?cut"))
        expect_eq(read_head(c).status, 200, "GET /shrinks.bin")
        os.truncate(path, 1 << 20)
        got = len(c.buf)
        c.sock.settimeout(10)
        while True:
            chunk = c.sock.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
    finally:
        c.close()
    expect(got < BIG, "the client got %d bytes of a file cut short" % got)
    m = wait_line(s, b"GET /shrinks.bin?cut ")
    expect(m.group(4) == "200" and int(m.group(5)) < BIG,
           "logged as %s %s bytes" % (m.group(4), m.group(5)))
    s.wait_log(r'"/shrinks\.bin" shrank while it was sent', WAIT)


def main():
    results = []
    s = remove_at_exit(Server(settings={"access_log": '"access.log"', "root": '"../www"'},
                              files=FILES))
    # The config lives in conf/ while the server runs in the parent folder: a log path taken
    # relative to the working directory instead of the config would land in the wrong place.
    os.mkdir(os.path.join(s.dir, "conf"))
    s.conf = os.path.join(s.dir, "conf", "evcluster.conf")
    s.write_conf()
    with s:
        results.append(run_cases(s, [test_combined_line, test_status_and_bytes, test_escaping,
                                     test_cut_short, test_shrunk_while_sent, test_reopen]))
    with remove_at_exit(Server(settings={"access_log": '"off"'}, files=FILES)) as s2:
        results.append(run_cases(s2, [test_off_writes_nothing]))
    finish(results)


if __name__ == "__main__":
    main()
