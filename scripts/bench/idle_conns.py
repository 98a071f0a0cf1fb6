#!/usr/bin/env python3
"""Idle keep-alive connections for scripts/bench.sh --memory.

Opens N connections to HOST:PORT, sends one keep-alive GET for PATH on each and reads the whole
response, so every connection sits in the server's keep-alive state. Then prints "ready N" and
holds them until it is killed (SIGTERM). Prints "failed: ..." and exits 1 if any
connection cannot be opened or gets no complete 200 response.
Usage: idle_conns.py HOST PORT N PATH [CA_FILE]
With CA_FILE, the connections are TLS (verified against it): each one's handshake and request
are done one at a time, blocking, then it joins the others.
"""
import resource
import selectors
import signal
import socket
import ssl
import sys


def main():
    host, port, n, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    ctx = ssl.create_default_context(cafile=sys.argv[5]) if len(sys.argv) > 5 and sys.argv[5] else None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard))
    req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    socks = []
    # Connect in batches so the listen backlog never overflows.
    batch = 200
    for start in range(0, n, batch):
        pending = {}
        for _ in range(start, min(n, start + batch)):
            s = socket.create_connection((host, port), timeout=10)
            if ctx:
                s = ctx.wrap_socket(s, server_hostname=host)
            s.sendall(req)
            s.setblocking(False)
            socks.append(s)
            pending[s] = b""
            sel.register(s, selectors.EVENT_READ)
        while pending:
            events = sel.select(timeout=10)
            if not events:
                print(f"failed: timeout waiting for {len(pending)} responses", flush=True)
                return 1
            for key, _ in events:
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except ssl.SSLWantReadError:
                    continue  # a record not complete yet (or a session ticket alone)
                if not data:
                    print("failed: server closed a connection", flush=True)
                    return 1
                buf = pending[s] + data
                head, sep, body = buf.partition(b"\r\n\r\n")
                if sep:
                    lines = head.split(b"\r\n")
                    if b" 200 " not in lines[0] + b" ":
                        print(f"failed: {lines[0]!r}", flush=True)
                        return 1
                    length = 0
                    for line in lines[1:]:
                        k, _, v = line.partition(b":")
                        if k.strip().lower() == b"content-length":
                            length = int(v)
                    if len(body) >= length:
                        sel.unregister(s)
                        del pending[s]
                        continue
                pending[s] = buf
    print(f"ready {len(socks)}", flush=True)
    while True:
        signal.pause()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except OSError as e:
        print(f"failed: {e}", flush=True)
        sys.exit(1)
