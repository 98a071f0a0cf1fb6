#!/usr/bin/env python3
"""Conditional requests (RFC 9110 13.2.2): If-Match (strong) and If-Unmodified-Since give 412;
If-None-Match (weak comparison, lists, "*") and If-Modified-Since give 304 without a body,
IMS being ignored when INM is present; If-Range with a stale validator gives the full 200."""
import os, sys, calendar
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evtest import *
from email.utils import formatdate

BODY = b"conditional body, 0123456789\n"
MTIME = calendar.timegm((2021, 3, 4, 5, 6, 7))


def http_date(t):
    return formatdate(t, usegmt=True)


def etag_of(s):
    e = request(s.port, "/c.txt").header("etag")
    expect(e is not None and e.startswith('"'), "GET /c.txt: no strong ETag (%r)" % e)
    return e


def cond(s, headers, method="GET"):
    """One request on a keep-alive connection followed by a GET of another file: a 304 or 412
    that carried a body would corrupt the second response."""
    c = Conn(s.port)
    try:
        c.send(http_req(method, "/c.txt", headers) + http_req("GET", "/other.txt"))
        r = c.read_response(head=(method == "HEAD"))
        if (r.header("connection") or "").lower() == "close":
            return r
        try:
            r2 = c.read_response()
        except (EOFError, ConnectionResetError):
            if r.status == 412:   # closing after an error is allowed; a 304 must keep alive
                return r
            raise
        expect_eq((r2.status, r2.body), (200, b"other\n"),
                  "response after %s %r (no body may follow a 304)" % (method, headers))
        return r
    finally:
        c.close()


def expect_status(s, headers, status, method="GET"):
    r = cond(s, headers, method)
    expect_eq(r.status, status, "%s /c.txt with %r" % (method, headers))
    if status == 200 and method == "GET":
        expect_eq(r.body, BODY, "body of the 200 with %r" % headers)
    return r


def test_if_match(s):
    e = etag_of(s)
    expect_status(s, {"If-Match": '"nope"'}, 412)
    expect_status(s, {"If-Match": '"a", "b"'}, 412)
    expect_status(s, {"If-Match": "W/" + e}, 412)  # strong comparison: weak never matches
    expect_status(s, {"If-Match": e}, 200)
    expect_status(s, {"If-Match": '"a", %s' % e}, 200)
    expect_status(s, {"If-Match": "*"}, 200)


def test_if_unmodified_since(s):
    expect_status(s, {"If-Unmodified-Since": http_date(MTIME - 86400)}, 412)
    expect_status(s, {"If-Unmodified-Since": http_date(MTIME - 1)}, 412)
    expect_status(s, {"If-Unmodified-Since": http_date(MTIME)}, 200)
    expect_status(s, {"If-Unmodified-Since": http_date(MTIME + 86400)}, 200)
    # If-Match present: IUS is not evaluated.
    expect_status(s, {"If-Match": etag_of(s), "If-Unmodified-Since": http_date(MTIME - 86400)},
                  200)


def test_if_none_match_304(s):
    e = etag_of(s)
    for v in (e, "W/" + e, '"x", %s, "y"' % e, '"x",W/%s' % e, "*"):
        r = expect_status(s, {"If-None-Match": v}, 304)
        expect_eq(r.body, b"", "304 body")
        expect_eq(r.header("etag"), e, "ETag on the 304 for If-None-Match %r" % v)
    expect_status(s, {"If-None-Match": e}, 304, method="HEAD")


def test_if_none_match_mismatch_200(s):
    expect_status(s, {"If-None-Match": '"other"'}, 200)
    expect_status(s, {"If-None-Match": '"a", W/"b"'}, 200)


def test_if_modified_since(s):
    r = expect_status(s, {"If-Modified-Since": http_date(MTIME)}, 304)
    expect_eq(r.header("etag"), etag_of(s), "ETag on the 304 for If-Modified-Since")
    expect_status(s, {"If-Modified-Since": http_date(MTIME + 3600)}, 304)
    expect_status(s, {"If-Modified-Since": http_date(MTIME - 3600)}, 200)
    expect_status(s, {"If-Modified-Since": "not a date"}, 200)
    # Obsolete date formats still parse (RFC 850, asctime).
    expect_status(s, {"If-Modified-Since": "Thursday, 04-Mar-21 05:06:07 GMT"}, 304)
    expect_status(s, {"If-Modified-Since": "Thu Mar  4 05:06:07 2021"}, 304)


def test_ims_ignored_with_inm(s):
    expect_status(s, {"If-None-Match": '"other"', "If-Modified-Since": http_date(MTIME + 3600)},
                  200)


def test_precedence_412_first(s):
    # If-Match fails: 412 even though If-None-Match would give 304.
    expect_status(s, {"If-Match": '"nope"', "If-None-Match": etag_of(s)}, 412)


def test_if_range(s):
    e = etag_of(s)
    rng = {"Range": "bytes=0-4"}
    for ir, status in ((e, 206), (http_date(MTIME), 206), ('"stale"', 200),
                       (http_date(MTIME - 60), 200), ("W/" + e, 200)):
        r = expect_status(s, dict(rng, **{"If-Range": ir}), status)
        if status == 206:
            expect_eq((r.body, r.header("content-range")), (BODY[:5], "bytes 0-4/%d" % len(BODY)),
                      "206 with If-Range %r" % ir)
        else:
            expect(r.header("content-range") is None, "If-Range %r: full 200 with Content-Range"
                   % ir)


def test_etag_changes_within_one_second(s):
    """A strong ETag must change with the content: a file rewritten with the same size in the
    same second (nanoseconds apart) gets a new tag, so a client holding the old one gets the
    new bytes, not a 304."""
    path = os.path.join(s.root, "same-second.txt")
    second = MTIME * 10**9
    with open(path, "wb") as f:
        f.write(b"AAAA")
    os.utime(path, ns=(second + 1000, second + 1000))
    r = request(s.port, "/same-second.txt")
    expect_eq(r.body, b"AAAA", "first version")
    old = r.header("etag")
    with open(path, "wb") as f:
        f.write(b"BBBB")
    os.utime(path, ns=(second + 2000, second + 2000))
    # the open-file cache serves what it found for up to a second: wait for the new bytes
    r = sup_wait(lambda: (lambda r: r if r.body == b"BBBB" else None)(
        request(s.port, "/same-second.txt")), 5, "the rewritten file served")
    expect(r.header("etag") != old, "same ETag %r for two contents" % old)
    r = request(s.port, "/same-second.txt", headers={"If-None-Match": old})
    expect_eq((r.status, r.body), (200, b"BBBB"), "If-None-Match with the old tag")


def main():
    s = remove_at_exit(Server(files={"c.txt": BODY, "other.txt": b"other\n"}))
    os.utime(os.path.join(s.root, "c.txt"), (MTIME, MTIME))
    with s:
        res = run_cases(s, [test_if_match, test_if_unmodified_since, test_if_none_match_304,
                            test_if_none_match_mismatch_200, test_if_modified_since,
                            test_ims_ignored_with_inm, test_precedence_412_first,
                            test_if_range, test_etag_changes_within_one_second])
    finish([res])


if __name__ == "__main__":
    main()
