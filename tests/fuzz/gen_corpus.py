#!/usr/bin/env python3
"""Writes the hand-made seeds of tests/fuzz/corpus/ (seed-*; files the fuzzer found, crash-*
and the merged coverage corpus, are kept as they are). Run from anywhere:
    python3 tests/fuzz/gen_corpus.py
fuzz_http inputs start with 16 bytes: the file's size (8, little endian), its mtime (5, signed),
the split seed (2; 0 reads everything at once) and the header limit (1; 0 is 8192)."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def out(harness, name, data):
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def http_prefix(size=1000, mtime=1700000000, seed=7, cap=0):
    m = mtime & 0xFFFFFFFFFF
    return struct.pack("<Q", size & 0xFFFFFFFFFFFFFFFF) + m.to_bytes(5, "little") + \
        struct.pack("<H", seed) + bytes([cap])


ETAG = '"%x-%x"' % (1700000000, 1000)
LM = "Tue, 14 Nov 2023 22:13:20 GMT"  # 1700000000

H = "Host: h\r\n"
http = {
    "get": "GET / HTTP/1.1\r\n" + H + "\r\n",
    "get-index": "GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7.88\r\n"
                 "Accept: */*\r\n\r\n",
    "head": "HEAD /a/b.css HTTP/1.1\r\n" + H + "\r\n",
    "http10": "GET /x.md HTTP/1.0\r\n\r\n",
    "http10-keepalive": "GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /y HTTP/1.0\r\n\r\n",
    "close": "GET / HTTP/1.1\r\n" + H + "Connection: close\r\n\r\nGET /never HTTP/1.1\r\n" + H + "\r\n",
    "pipelined": ("GET /1 HTTP/1.1\r\n" + H + "\r\n") + ("HEAD /2 HTTP/1.1\r\n" + H + "\r\n") +
                 ("GET /3?q=1#f HTTP/1.1\r\n" + H + "Range: bytes=0-9\r\n\r\n"),
    "body-then-next": "POST /p HTTP/1.1\r\n" + H + "Content-Length: 5\r\n\r\nhelloGET /n HTTP/1.1\r\n" + H + "\r\n",
    "get-with-body": "GET /g HTTP/1.1\r\n" + H + "Content-Length: 3\r\n\r\nabcGET /h HTTP/1.1\r\n" + H + "\r\n",
    "chunked-body": "POST /c HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                    "GET /after HTTP/1.1\r\n" + H + "\r\n",
    "smuggle-cl-te": "POST / HTTP/1.1\r\n" + H + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n" + H + "\r\n",
    "smuggle-te-cl": "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n",
    "smuggle-two-cl": "POST / HTTP/1.1\r\n" + H + "Content-Length: 4\r\nContent-Length: 10\r\n\r\nabcdGET / HTTP/1.1\r\n\r\n",
    "smuggle-te-obfuscated": "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding : chunked\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    "smuggle-bare-lf": "GET / HTTP/1.1\n" + H + "\n",
    "smuggle-lf-head-end": "GET / HTTP/1.1\r\n" + H + "\n",
    "obs-fold": "GET / HTTP/1.1\r\n" + H + "X-A: a\r\n  b\r\n\r\n",
    "obs-fold-empty": "GET / HTTP/1.1\r\n" + H + "User-Agent:\r\n  b\r\n\r\n",
    "dup-host": "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "no-host": "GET / HTTP/1.1\r\n\r\n",
    "space-before-colon": "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
    "absolute-form": "GET http://example.com/a/../b/./c%20d HTTP/1.1\r\n" + H + "\r\n",
    "https-form": "GET HTTPS://h?x HTTP/1.1\r\n" + H + "\r\n",
    "asterisk": "OPTIONS * HTTP/1.1\r\n" + H + "\r\n",
    "connect": "CONNECT h:443 HTTP/1.1\r\n" + H + "\r\n",
    "upgrade": "GET /ws HTTP/1.1\r\n" + H + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\nraw bytes",
    "dotdot": "GET /a/%2e%2e/%2E%2e/etc/passwd HTTP/1.1\r\n" + H + "\r\n",
    "dotdot-ok": "GET /a/b/../../c/./d/ HTTP/1.1\r\n" + H + "\r\n",
    "escapes": "GET /%2f%41%7e%zz HTTP/1.1\r\n" + H + "\r\n",
    "escape-nul": "GET /a%00.html HTTP/1.1\r\n" + H + "\r\n",
    "escape-crlf": "GET /a%0d%0aSet-Cookie:%20x.md HTTP/1.1\r\n" + H + "\r\n",
    "backslash": "GET /a%5c..%5c HTTP/1.1\r\n" + H + "\r\n",
    "long-path": "GET /" + "a/" * 300 + "../" * 301 + " HTTP/1.1\r\n" + H + "\r\n",
    "ua-controls": "GET / HTTP/1.1\r\n" + H + "User-Agent: \x1b[31mred\x7f\xff\"\\\r\nReferer: http://r/\t\r\n\r\n",
    "range-simple": "GET /r HTTP/1.1\r\n" + H + "Range: bytes=0-99\r\n\r\n",
    "range-suffix": "GET /r HTTP/1.1\r\n" + H + "Range: bytes=-500\r\n\r\n",
    "range-open": "GET /r HTTP/1.1\r\n" + H + "Range: bytes=900-\r\n\r\n",
    "range-multi": "GET /r HTTP/1.1\r\n" + H + "Range: bytes=0-9, 10-19 ,5-30\r\n\r\n",
    "range-disjoint": "GET /r HTTP/1.1\r\n" + H + "Range: bytes=0-9,100-109\r\n\r\n",
    "range-unsat": "GET /r HTTP/1.1\r\n" + H + "Range: bytes=5000-6000\r\n\r\n",
    "range-zero": "GET /r HTTP/1.1\r\n" + H + "Range: bytes=-0\r\n\r\n",
    "range-huge": "GET /r HTTP/1.1\r\n" + H + "Range: bytes=18446744073709551615-18446744073709551616\r\n\r\n",
    "range-head": "HEAD /r HTTP/1.1\r\n" + H + "Range: BYTES=1-1\r\n\r\n",
    "if-none-match": "GET /c HTTP/1.1\r\n" + H + "If-None-Match: W/" + ETAG + ", \"x\"\r\n\r\n",
    "if-none-match-star": "GET /c HTTP/1.1\r\n" + H + "If-None-Match: *\r\n\r\n",
    "if-match-fail": "GET /c HTTP/1.1\r\n" + H + "If-Match: \"nope\"\r\n\r\n",
    "if-match": "GET /c HTTP/1.1\r\n" + H + "If-Match: " + ETAG + "\r\n\r\n",
    "if-modified-since": "GET /c HTTP/1.1\r\n" + H + "If-Modified-Since: " + LM + "\r\n\r\n",
    "if-modified-since-850": "GET /c HTTP/1.1\r\n" + H + "If-Modified-Since: Tuesday, 14-Nov-23 22:13:20 GMT\r\n\r\n",
    "if-modified-since-asctime": "GET /c HTTP/1.1\r\n" + H + "If-Modified-Since: Tue Nov 14 22:13:20 2023\r\n\r\n",
    "if-unmodified-since": "GET /c HTTP/1.1\r\n" + H + "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
    "if-range-etag": "GET /c HTTP/1.1\r\n" + H + "Range: bytes=0-1\r\nIf-Range: " + ETAG + "\r\n\r\n",
    "if-range-date": "GET /c HTTP/1.1\r\n" + H + "Range: bytes=0-1\r\nIf-Range: " + LM + "\r\n\r\n",
    "if-range-stale": "GET /c HTTP/1.1\r\n" + H + "Range: bytes=0-1\r\nIf-Range: \"old\"\r\n\r\n",
    "bad-method": "BREW /pot HTTP/1.1\r\n" + H + "\r\n",
    "bad-version": "GET / HTTP/2.0\r\n" + H + "\r\n",
    "post": "POST /form HTTP/1.1\r\n" + H + "Content-Length: 0\r\n\r\n",
    "delete": "DELETE /x HTTP/1.1\r\n" + H + "\r\n",
    "bad-header-byte": "GET / HTTP/1.1\r\n" + H + "X: a\x00b\r\n\r\n",
    "bad-cl": "POST / HTTP/1.1\r\n" + H + "Content-Length: 99999999999999999999999\r\n\r\n",
}
for name, req in http.items():
    out("fuzz_http", name, http_prefix() + req.encode("latin-1"))
# the same with other read patterns and files
out("fuzz_http", "pipelined-bytewise", http_prefix(seed=4) + http["pipelined"].encode())
out("fuzz_http", "pipelined-oneread", http_prefix(seed=0) + http["pipelined"].encode())
out("fuzz_http", "range-empty-file", http_prefix(size=0) + http["range-simple"].encode())
out("fuzz_http", "range-max-file", http_prefix(size=2**64 - 1) + http["range-suffix"].encode())
out("fuzz_http", "mtime-negative", http_prefix(mtime=-(2**39)) + http["if-range-date"].encode())
out("fuzz_http", "mtime-far", http_prefix(mtime=2**39 - 1) + http["if-modified-since"].encode())
out("fuzz_http", "small-limit-431", http_prefix(cap=1) + ("GET / HTTP/1.1\r\n" + H + "X: " + "a" * 1100 + "\r\n\r\n").encode())
out("fuzz_http", "small-limit-414", http_prefix(cap=1) + ("GET /" + "a" * 1100 + " HTTP/1.1\r\n" + H + "\r\n").encode())
out("fuzz_http", "full-buffer-pipelined", http_prefix(cap=1, seed=3) + (("GET /abcdefghij HTTP/1.1\r\n" + H + "\r\n") * 60).encode())
out("fuzz_http", "long-body-dropped", http_prefix(cap=1, seed=2) + ("POST / HTTP/1.1\r\n" + H + "Content-Length: 3000\r\n\r\n" + "b" * 3000 + "GET /z HTTP/1.1\r\n" + H + "\r\n").encode())

# IPC: every type, well formed (host order, as both ends are the same binary), and a few bad
def ipc(t, payload, version=1, length=None):
    return struct.pack("=BBH", version, t, len(payload) if length is None else length) + payload

stats = struct.pack("=QQQI8IIIII", 7, 10, 12345, 12, *range(8), 4, 0, 1, 1) + b"\0" * 4 + \
    struct.pack("=ddd", 0.1, 0.9, 3.2)
ipcs = {
    "ready": ipc(1, struct.pack("=II", 1234, 3)),
    "pong": ipc(2, stats),
    "draining": ipc(3, b""),
    "exiting": ipc(4, b""),
    "ping": ipc(16, struct.pack("=Q", 42)),
    "drain": ipc(17, struct.pack("=I", 30000)),
    "stop": ipc(18, b""),
    "reopen": ipc(19, b""),
    "bad-version": ipc(16, struct.pack("=Q", 1), version=2),
    "bad-type": ipc(99, b""),
    "bad-length": ipc(16, struct.pack("=Q", 1), length=4),
    "truncated": ipc(17, struct.pack("=I", 1))[:6],
    "oversize": ipc(2, stats + b"\0" * 500),
    "encode-ping": bytes([16, 0xff]) + struct.pack("=Q", 9),
    "encode-short-buffer": bytes([17, 5]) + struct.pack("=I", 9),
}
for name, data in ipcs.items():
    out("fuzz_ipc", name, data)

# Configs: the example's shape, root = "/tmp", and a few broken ones
full = '''workers = 2;
listen = "127.0.0.1:8080";
root = "/tmp";
index = "index.html";
pool_threads = 4;
pid_file = "example.pid";
control_socket = "example.sock";
access_log = "off";
error_log = "stderr";
timeouts = { graceful = 30.0; keepalive = 5.0; header = 10.0; send = 30.0; };
health = { interval = 1.0; misses = 3; };
limits = { max_connections = 10000; max_header_bytes = 8192; keepalive_requests = 1000; };
mime_types = { md = "text/markdown; charset=utf-8"; };
'''
confs = {
    "example": full,
    "minimal": 'listen = "127.0.0.1:0";\nroot = "/tmp";\n',
    "list-auto": 'workers = "auto";\nlisten = ["127.0.0.1:8080", "[::1]:8080", "0.0.0.0:1"];\nroot = "/tmp";\n'
                 'access_log = "logs/access.log";\nerror_log = "/tmp/err.log";\nallow_symlinks_outside_root = true;\n',
    "user-group": 'listen = "127.0.0.1:0";\nroot = "/tmp";\nuser = "root";\ngroup = "root";\n',
    "bad-values": 'workers = 0;\nlisten = "localhost:99999";\nroot = "/nonexistent";\npool_threads = -1;\n'
                  'timeouts = { graceful = -1.0; bogus = 1; };\nlimits = { max_header_bytes = 10; };\n'
                  'mime_types = { "a b" = 3; };\n',
    "unknown-key": full + 'lisen = "127.0.0.1:1";\n',
    "syntax-error": 'listen = "127.0.0.1:0"\nroot = ;\n',
    "wrong-types": 'workers = [1, 2];\nlisten = 8080;\nroot = { a = 1; };\nhealth = 3;\nindex = "";\n',
    "missing": 'workers = 1;\n',
    "ipv6-bad": 'listen = ["::1:80", "[fe80::1%lo]:80", "[::1]"];\nroot = "/tmp";\n',
    "escapes": 'listen = "127.0.0.1:0";\nroot = "/tmp";\nindex = "a\\x01\\"b";\nuser = "no-such-user-\\xff";\n',
    "int-literals": 'listen = ["127.0.0.1:0", "[::1]:0"];\nroot = "/tmp";\n# 4294967298 in a comment; /* 0x100000001 */\n/* 99999999999999999999\n   4294967297 */\nworkers = 4294967298;\nidle_poll_us = 0x10;\nindex = "a\\"4294967298\\\\";\ntimeouts = { keepalive = 1e3; header = .5; send = 1.5e-3; graceful = 0x100000001; };\nhealth = { interval = 5.; misses = 99999999999999999999L; };\nlimits = { max_connections = 0x7FFFFFFF; max_header_bytes = 2048L; keepalive_requests = -2147483649; };\nx = ( { a = 1; a = 2; }, [1, 2, 0xFFFFFFFF] );\n',
}
for name, text in confs.items():
    out("fuzz_conf", name, text.encode())

# ---- fuzz_h2: the bytes after the connection preface; the first byte splits them into two
# reads (0: all in the second). Frames per RFC 9113 4.1, header blocks as HPACK literals. ----
def h2_frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def h2_lit(name, value):
    name, value = name.encode(), value.encode()
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def h2_req(path, method="GET", extra=()):
    b = h2_lit(":method", method) + h2_lit(":scheme", "http") + h2_lit(":path", path) + \
        h2_lit(":authority", "a")
    for k, v in extra:
        b += h2_lit(k, v)
    return b


H2_SETTINGS = h2_frame(4, 0, 0, struct.pack(">HI", 4, 65535 * 4))
H2_ACK = h2_frame(4, 1, 0)
h2 = {
    "get": H2_SETTINGS + h2_frame(1, 5, 1, h2_req("/a")),
    "head-and-gets": H2_SETTINGS + H2_ACK + h2_frame(1, 5, 1, h2_req("/a", "HEAD")) +
    h2_frame(1, 5, 3, h2_req("/b", extra=[("range", "bytes=0-1"), ("user-agent", "f")])) +
    h2_frame(1, 5, 5, h2_req("/c", "BREW")),
    "continuation": H2_SETTINGS + h2_frame(1, 1, 1, h2_req("/a")[:20]) +
    h2_frame(9, 4, 1, h2_req("/a")[20:]),
    "rst": H2_SETTINGS + b"".join(h2_frame(1, 5, 1 + 2 * i, h2_req("/d")) +
                                  h2_frame(3, 0, 1 + 2 * i, struct.pack(">I", 8)) for i in range(8)),
    "ping-window-priority": H2_SETTINGS + h2_frame(6, 0, 0, b"12345678") +
    h2_frame(8, 0, 0, struct.pack(">I", 1 << 20)) + h2_frame(2, 0, 1, struct.pack(">IB", 0, 16)) +
    h2_frame(1, 5, 1, h2_req("/e")),
    "zero-window": h2_frame(4, 0, 0, struct.pack(">HI", 4, 0)) + h2_frame(1, 5, 1, h2_req("/a")),
    "post-body": H2_SETTINGS + h2_frame(1, 4, 1, h2_req("/p", "POST")) + h2_frame(0, 1, 1, b"body"),
    "goaway": H2_SETTINGS + h2_frame(1, 5, 1, h2_req("/a")) + h2_frame(7, 0, 0, struct.pack(">II", 1, 0)),
    "bad-frame": H2_SETTINGS + h2_frame(1, 5, 2, h2_req("/even")),
}
for name, data in h2.items():
    out("fuzz_h2", name, b"\x00" + data)
    out("fuzz_h2", name + "-split", b"\x80" + data)
