#!/usr/bin/env python3
"""Request smuggling shapes: every framing a front proxy and this server could read
differently is answered with one 400 and a closed connection, and the request hidden behind
it is never answered. Content-Length with Transfer-Encoding, two Content-Lengths, signed or
spaced lengths, obs-fold, bare LF and bare CR line endings, a Transfer-Encoding whose final
coding is not chunked or that has another coding before chunked, a bad chunk size,
whitespace before the colon or inside a field name. A duplicate identical
Content-Length may be accepted (RFC 9110 8.6) or refused; the test prints which."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *

FILES = {"a.txt": b"file a\n", "secret.txt": b"smuggled!\n"}
# The request a smuggler hides in the body: answering it (a second 200) is the bug.
HIDDEN = b"GET /secret.txt HTTP/1.1\r\nHost: a\r\n\r\n"


def head(*lines, method="GET", path="/a.txt"):
    """A request head from raw header lines (bytes), CRLF everywhere, Host first."""
    out = method.encode() + b" " + path.encode() + b" HTTP/1.1\r\nHost: a\r\n"
    return out + b"".join(l + b"\r\n" for l in lines) + b"\r\n"


def expect_rejected(s, data, what):
    """The server answers data with exactly one response, a 400, and closes; nothing of the
    hidden request is answered."""
    rs, closed, rest = exchange(s.port, data)
    statuses = [r.status for r in rs]
    expect(statuses == [400], "%s: expected one 400, got %r (leftover %r) for %r"
           % (what, statuses, rest[:80], data[:160]))
    expect(closed, "%s: connection left open after the 400" % what)
    expect(not any(FILES["secret.txt"] in r.body for r in rs), "%s: hidden request answered"
           % what)


def expect_rejected_after_head(s, data, what):
    """For a framing error in the body: the server may answer the head (it does not wait for
    a GET's body) but must then answer 400 or simply close, and never the hidden request."""
    rs, closed, rest = exchange(s.port, data)
    statuses = [r.status for r in rs]
    expect(statuses in ([400], [200, 400], [200]),
           "%s: expected 400 (or 200 for the head, then 400 or a close), got %r for %r"
           % (what, statuses, data[:160]))
    expect(closed, "%s: connection left open after a bad body (%r)" % (what, statuses))
    expect(not any(FILES["secret.txt"] in r.body for r in rs), "%s: hidden request answered"
           % what)


def test_content_length_and_chunked(s):
    for order in ((b"Content-Length: 5", b"Transfer-Encoding: chunked"),
                  (b"Transfer-Encoding: chunked", b"Content-Length: 5")):
        expect_rejected(s, head(*order) + b"0\r\n\r\n" + HIDDEN, "CL+TE %r" % (order,))
    expect_rejected(s, head(b"Content-Length: 5", b"Transfer-Encoding: chunked",
                            method="POST") + b"0\r\n\r\n" + HIDDEN, "POST CL+TE")


def test_two_content_lengths(s):
    expect_rejected(s, head(b"Content-Length: 5", b"Content-Length: 6") + b"hello!" + HIDDEN,
                    "Content-Length 5 and 6")
    expect_rejected(s, head(b"Content-Length: 5, 6") + b"hello!" + HIDDEN,
                    "Content-Length: 5, 6")


def test_duplicate_identical_content_length(s):
    data = head(b"Content-Length: 5", b"Content-Length: 5") + b"hello" + head()
    rs, closed, _ = exchange(s.port, data, timeout=1.0)
    statuses = [r.status for r in rs]
    if statuses == [400]:
        expect(closed, "duplicate identical Content-Length: 400 but the connection stays open")
        print("     duplicate identical Content-Length: rejected (400, closed)")
    else:
        # Accepted: the body is exactly 5 bytes and the next request is read after it.
        expect_eq(statuses, [200, 200], "duplicate identical Content-Length, accepted")
        expect(all(r.body == FILES["a.txt"] for r in rs), "wrong bodies: %r" % rs)
        print("     duplicate identical Content-Length: accepted as one length")


def test_signed_content_length(s):
    for v in (b"+5", b"-5", b"-1", b"+0"):
        expect_rejected(s, head(b"Content-Length: " + v) + b"hello" + HIDDEN,
                        "Content-Length: %s" % v.decode())


def test_content_length_with_spaces_inside(s):
    for v in (b"1 0", b"5 ", b"0x5", b"5;", b"5.0"):
        data = head(b"Content-Length: " + v) + b"x" * 10 + HIDDEN
        if v == b"5 ":  # trailing OWS is not part of the value: 5 is a valid length
            rs, closed, _ = exchange(s.port, head(b"Content-Length: 5 ") + b"hello" + head(),
                                     timeout=1.0)
            expect_eq([r.status for r in rs], [200, 200], "Content-Length with trailing OWS")
            continue
        expect_rejected(s, data, "Content-Length: %r" % v.decode())


def test_obs_fold(s):
    for what, lines in (("space fold", (b"X-Foo: a", b" b")),
                        ("tab fold", (b"X-Foo: a", b"\tb")),
                        ("empty value, folded", (b"X-Foo:", b" b")),
                        ("folded Content-Length", (b"Content-Length:", b" 5")),
                        ("folded Transfer-Encoding", (b"Transfer-Encoding:", b" chunked")),
                        ("folded Transfer-Encoding list",
                         (b"Transfer-Encoding: gzip", b" chunked"))):
        expect_rejected(s, head(*lines) + b"hello" + HIDDEN, "obs-fold, " + what)
    # A header line right after the request line that starts with whitespace.
    expect_rejected(s, b"GET /a.txt HTTP/1.1\r\n Host: a\r\n\r\n", "indented first header")
    expect_rejected(s, b"GET /a.txt HTTP/1.1\r\nHost: a\r\n\tX: b\r\n\r\n", "tab-indented line")
    expect_rejected(s, b"GET /a.txt HTTP/1.1\r\nHost:\r\n a\r\n\r\n", "folded Host")


def test_bare_lf(s):
    expect_rejected(s, b"GET /a.txt HTTP/1.1\nHost: a\n\n", "bare LF everywhere")
    expect_rejected(s, b"GET /a.txt HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", "bare LF in headers")
    expect_rejected(s, b"GET /a.txt HTTP/1.1\nHost: a\r\n\r\n", "bare LF after request line")
    expect_rejected(s, b"GET /a.txt HTTP/1.1\r\nHost: a\r\n\n", "bare LF ending the head")


def test_bare_cr(s):
    expect_rejected(s, b"GET /a.txt HTTP/1.1\rHost: a\r\n\r\n", "bare CR after request line")
    expect_rejected(s, b"GET /a.txt HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
                    "bare CR in a header value")
    expect_rejected(s, b"GET /a.txt HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", "bare CR between headers")


def test_transfer_encoding_not_chunked(s):
    for v in (b"gzip", b"chunked, gzip", b"identity", b"chunkedx", b"xchunked",
              b"gzip, chunked", b"chunked, chunked"):
        expect_rejected(s, head(b"Transfer-Encoding: " + v) + b"5\r\nhello\r\n0\r\n\r\n" + HIDDEN,
                        "Transfer-Encoding: %s" % v.decode())
    expect_rejected(s, head(b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip")
                    + b"0\r\n\r\n" + HIDDEN, "Transfer-Encoding chunked, then gzip")


def test_invalid_chunk_size(s):
    for size in (b"zz", b"-1", b"0x5", b" 5", b"5 5", b""):
        expect_rejected_after_head(
            s, head(b"Transfer-Encoding: chunked") + size + b"\r\nhello\r\n0\r\n\r\n" + HIDDEN,
            "chunk size %r" % size)


def test_space_before_colon(s):
    expect_rejected(s, b"GET /a.txt HTTP/1.1\r\nHost : a\r\n\r\n", "Host : a")
    expect_rejected(s, head(b"Content-Length : 5") + b"hello" + HIDDEN, "Content-Length : 5")
    expect_rejected(s, head(b"Transfer-Encoding\t: chunked") + b"0\r\n\r\n" + HIDDEN,
                    "Transfer-Encoding<TAB>: chunked")
    # and inside a name: not a token, so not a header anyone should guess the meaning of
    expect_rejected(s, head(b"Content Length: 5") + b"hello" + HIDDEN, "Content Length: 5")
    expect_rejected(s, head(b"X Y: z"), "X Y: z")


def test_still_serving_same_worker(s):
    expect_eq(only_worker(s), s.first_worker, "worker pid after the smuggling cases")
    r = request(s.port, "/a.txt")
    expect_eq((r.status, r.body), (200, FILES["a.txt"]), "a normal request afterwards")


def main():
    with remove_at_exit(Server(files=FILES)) as s:
        s.first_worker = only_worker(s)
        # The control: a well-framed request with a body and a pipelined one is served.
        rs, _, _ = exchange(s.port, head(b"Content-Length: 5") + b"hello" + head(), timeout=1.0)
        check([r.status for r in rs] == [200, 200], "control request: %r" % rs)
        results = [run_cases(s, [
            test_content_length_and_chunked, test_two_content_lengths,
            test_duplicate_identical_content_length, test_signed_content_length,
            test_content_length_with_spaces_inside, test_obs_fold, test_bare_lf, test_bare_cr,
            test_transfer_encoding_not_chunked, test_invalid_chunk_size,
            test_space_before_colon, test_still_serving_same_worker])]
    finish(results)


if __name__ == "__main__":
    main()
