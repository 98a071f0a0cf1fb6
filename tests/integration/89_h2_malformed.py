#!/usr/bin/env python3
"""Malformed HTTP/2 requests (RFC 9113 8.1.1, 8.2, 8.3), one table: each is sent between two
good requests on one connection. A malformed one gets RST_STREAM PROTOCOL_ERROR and no
answer (an invalid field name or value included: RFC 9113 8.2.1 calls the message malformed,
and nghttp2 1.52 without an invalid-header callback resets it too); the requests beside it
get their answers and the connection stays open. Bodies are
checked against content-length, trailers must end the stream and carry no pseudo-fields."""
import os, struct, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from h2raw import *

INDEX = b"<p>index</p>\n"
RESET, ANSWERED = "reset", "answered"


def lit(name, value):
    return hpack_literal(name, value)


def block(method="GET", scheme="http", path="/index.html", authority="127.0.0.1", extra=(),
          order=None):
    """A request block; order lists the fields as (name, value) to send instead."""
    fields = order if order is not None else (
        [(":method", method), (":scheme", scheme), (":path", path), (":authority", authority)]
        + list(extra))
    return b"".join(lit(n, v) for n, v in fields if v is not None)


# (name, frames for stream 3 given its id, expected outcome)
def headers(b, end_stream=True):
    return lambda sid: frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), sid, b)


def with_body(b, body, trailer=None, end_on_data=True):
    def frames(sid):
        out = frame(HEADERS, END_HEADERS, sid, b)
        out += frame(DATA, END_STREAM if end_on_data and trailer is None else 0, sid, body)
        if trailer is not None:
            out += frame(HEADERS, END_HEADERS | trailer[1], sid, trailer[0])
        return out
    return frames


CASES = [
    # pseudo-fields: missing, doubled, empty, unknown, late, invalid
    ("no :method", headers(block(method=None)), RESET),
    ("no :scheme", headers(block(scheme=None)), RESET),
    ("no :path", headers(block(path=None)), RESET),
    ("no :authority nor host", headers(block(authority=None)), RESET),
    ("host stands for :authority", headers(block(authority=None, extra=[("host", "127.0.0.1")])),
     ANSWERED),
    ("two :method", headers(block(extra=[(":method", "GET")])), RESET),
    ("two :path", headers(block(order=[(":method", "GET"), (":scheme", "http"), (":path", "/a"),
                                       (":path", "/index.html"), (":authority", "x")])), RESET),
    ("two host", headers(block(extra=[("host", "a"), ("host", "b")])), RESET),
    ("empty :path", headers(block(path="")), RESET),
    ("empty :authority", headers(block(authority="")), RESET),
    ("empty host", headers(block(authority=None, extra=[("host", "")])), RESET),
    ("path without a slash", headers(block(path="index.html")), RESET),
    ("path * without OPTIONS", headers(block(path="*")), RESET),
    ("OPTIONS *", headers(block(method="OPTIONS", path="*")), ANSWERED),
    ("unknown pseudo-field", headers(block(extra=[(":foo", "bar")])), RESET),
    (":protocol without extended CONNECT", headers(block(extra=[(":protocol", "ws")])), RESET),
    ("pseudo after a regular field",
     headers(block(order=[(":method", "GET"), (":scheme", "http"), ("accept", "*/*"),
                          (":path", "/index.html"), (":authority", "x")])), RESET),
    ("pseudo after an ignored field",
     headers(block(order=[(":method", "GET"), (":scheme", "http"), ("a b", "c"),
                          (":path", "/index.html"), (":authority", "x")])), RESET),
    ("method with a space", headers(block(method="G T")), RESET),
    ("empty method", headers(block(method="")), RESET),
    ("scheme with a slash", headers(block(scheme="ht/tp")), RESET),
    ("scheme not a letter first", headers(block(scheme="1http")), RESET),
    ("authority with a space", headers(block(authority="a b")), RESET),
    ("path with a control byte", headers(block(path="/index.html\x01")), RESET),
    ("pseudo with a trailing space", headers(block(method="GET ")), RESET),
    ("CONNECT with :path", headers(block(method="CONNECT")), RESET),
    ("CONNECT without :authority",
     headers(block(order=[(":method", "CONNECT"), (":authority", None)])), RESET),
    # regular fields
    ("uppercase name", headers(block(extra=[("Accept", "*/*")])), RESET),
    ("connection", headers(block(extra=[("connection", "keep-alive")])), RESET),
    ("keep-alive", headers(block(extra=[("keep-alive", "5")])), RESET),
    ("proxy-connection", headers(block(extra=[("proxy-connection", "x")])), RESET),
    ("transfer-encoding", headers(block(extra=[("transfer-encoding", "chunked")])), RESET),
    ("upgrade", headers(block(extra=[("upgrade", "h2c")])), RESET),
    ("te: gzip", headers(block(extra=[("te", "gzip")])), RESET),
    ("te: trailers", headers(block(extra=[("te", "Trailers")])), ANSWERED),
    ("name with a space", headers(block(extra=[("x y", "1")])), RESET),
    ("name with a colon inside", headers(block(extra=[("x:y", "1")])), RESET),
    ("value with a control byte", headers(block(extra=[("x-a", "a\x01b")])), RESET),
    ("value with a leading space", headers(block(extra=[("x-a", " a")])), RESET),
    ("value with a trailing tab", headers(block(extra=[("x-a", "a\t")])), RESET),
    ("value with DEL", headers(block(extra=[("x-a", "a\x7f")])), RESET),
    ("value with a tab and UTF-8 inside", headers(block(extra=[("x-a", "a\tb\xc3\xa9".encode(
        "latin-1"))])), ANSWERED),
    ("empty value", headers(block(extra=[("x-a", "")])), ANSWERED),
    # content-length against the body
    ("content-length not a number", headers(block(extra=[("content-length", "1x")])), RESET),
    ("two content-length", headers(block(extra=[("content-length", "0"),
                                                ("content-length", "0")])), RESET),
    ("content-length 0, no body", headers(block(extra=[("content-length", "0")])), ANSWERED),
    ("content-length 5, no body", headers(block(extra=[("content-length", "5")])), RESET),
    ("content-length 5, body of 5",
     with_body(block(extra=[("content-length", "5")]), b"hello"), ANSWERED),
    ("content-length 5, body of 4",
     with_body(block(extra=[("content-length", "5")]), b"hell"), RESET),
    ("content-length 5, body of 6",
     with_body(block(extra=[("content-length", "5")]), b"hello!"), RESET),
    ("body without content-length", with_body(block(), b"abc"), ANSWERED),
    # trailers
    ("trailers", with_body(block(), b"abc", (lit("x-t", "1"), END_STREAM)), ANSWERED),
    ("trailers without END_STREAM", with_body(block(), b"abc", (lit("x-t", "1"), 0)), RESET),
    ("pseudo-field in trailers",
     with_body(block(), b"abc", (lit(":path", "/x"), END_STREAM)), RESET),
    ("uppercase name in trailers", with_body(block(), b"abc", (lit("X-T", "1"), END_STREAM)),
     RESET),
]


def case_table(s):
    failed = []
    for name, frames, want in CASES:
        c = H2Conn(s.port)
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block()) + frames(3) +
               frame(HEADERS, END_HEADERS | END_STREAM, 5, block()))
        got = {1: [], 3: [], 5: []}
        st = {"goaway": None, "ended": set()}

        def take(f):
            if f.type == GOAWAY:
                st["goaway"] = f.goaway()
            if f.sid in got and f.type in (HEADERS, DATA, RST_STREAM):
                got[f.sid].append(f)
                if f.type == RST_STREAM or f.flags & END_STREAM:
                    st["ended"].add(f.sid)
            return f.type == GOAWAY or st["ended"] >= {1, 3, 5}
        c.frames_until(take, 5)
        c.frames_until(take, 0.1)  # a second reset of stream 3, a GOAWAY: read them too
        goaway = st["goaway"]
        c.close()
        ok = all(any(f.type == DATA and f.flags & END_STREAM and f.payload == INDEX
                     for f in got[sid]) for sid in (1, 5))
        resets = [struct.unpack(">I", f.payload)[0] for f in got[3] if f.type == RST_STREAM]
        answered = any(f.type == HEADERS for f in got[3])
        if want == RESET:
            good = resets[:1] == [PROTOCOL_ERROR] and not answered
        else:
            good = answered and not resets
        if not (good and ok and goaway is None):
            failed.append("%s: want %s, stream 3 %r, resets %r, neighbours %s, goaway %r"
                          % (name, want, got[3], resets, "ok" if ok else got, goaway))
    expect(not failed, "%d of %d cases:\n  %s" % (len(failed), len(CASES), "\n  ".join(failed)))


def main():
    s = remove_at_exit(Server(files={"index.html": INDEX}))
    with s:
        res = run_cases(s, [case_table])
    finish([res])


if __name__ == "__main__":
    main()
