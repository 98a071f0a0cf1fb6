"""A raw HTTP/2 client for the h2 suites: frames written and read by hand from RFC 9113's
layout, header blocks in HPACK literals without indexing or Huffman (RFC 7541 6.2.2), so an
attack can send exactly the bytes it needs. Responses' header blocks are not decoded (that
needs HPACK's Huffman table); the tests judge by frame types, flags, codes and DATA bytes."""
import socket, struct, time
from evtest import connect

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, \
    FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, \
    ENHANCE_YOUR_CALM = range(12)
S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT_STREAMS, S_INITIAL_WINDOW_SIZE, \
    S_MAX_FRAME_SIZE, S_MAX_HEADER_LIST_SIZE = range(1, 7)


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid & 0x7fffffff) + payload


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def hpack_literal(name, value, indexing=False):
    """A field as a literal with a literal name: without indexing, or with incremental
    indexing (it enters the dynamic table: the HPACK bomb's seed)."""
    name = name if isinstance(name, bytes) else name.encode()
    value = value if isinstance(value, bytes) else value.encode()
    first = b"\x40" if indexing else b"\x00"
    return first + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def hpack_indexed(index):
    return hpack_int(index, 7, 0x80)


def request_block(path, method="GET", authority="127.0.0.1", scheme="http", extra=()):
    b = hpack_literal(":method", method) + hpack_literal(":scheme", scheme) + \
        hpack_literal(":path", path) + hpack_literal(":authority", authority)
    for k, v in extra:
        b += hpack_literal(k, v)
    return b


def settings(pairs=(), ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack(">HI", k, v)
                                                          for k, v in pairs))


class Frame:
    def __init__(self, ftype, flags, sid, payload):
        self.type, self.flags, self.sid, self.payload = ftype, flags, sid, payload

    def goaway(self):
        """(last stream id, error code, debug data) of a GOAWAY."""
        last, code = struct.unpack(">II", self.payload[:8])
        return last & 0x7fffffff, code, self.payload[8:]

    def __repr__(self):
        return "<frame type=%d flags=%#x sid=%d len=%d>" % (self.type, self.flags, self.sid,
                                                           len(self.payload))


class H2Conn:
    """One h2c connection with prior knowledge (or over a given socket, e.g. TLS with ALPN h2).
    window: the client's stream window and connection window, opened wide unless told."""

    def __init__(self, port=None, sock=None, window=(1 << 31) - 1, settings_pairs=(),
                 timeout=10, refill=False):
        self.sock = sock or connect(port, timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        pairs = [(S_INITIAL_WINDOW_SIZE, window)] + list(settings_pairs)
        out = PREFACE + settings(pairs)
        if window > 65535:
            out += frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", window - 65535))
        self.sock.sendall(out)
        self.next_sid = 1
        self.auto_ack = True  # SETTINGS are acknowledged as they are read
        self.refill = refill  # DATA read gives its bytes back to both windows, as browsers do

    def send(self, data):
        self.sock.sendall(data)

    def request(self, path, method="GET", extra=(), end_stream=True):
        sid = self.next_sid
        self.next_sid += 2
        flags = END_HEADERS | (END_STREAM if end_stream else 0)
        self.send(frame(HEADERS, flags, sid, request_block(path, method, extra=extra)))
        return sid

    def read_frame(self):
        """The next frame, or None at EOF (or a reset)."""
        try:
            while len(self.buf) < 9:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return None
                self.buf += chunk
            n = struct.unpack(">I", b"\0" + self.buf[:3])[0]
            while len(self.buf) < 9 + n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return None
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return None
        f = Frame(self.buf[3], self.buf[4], struct.unpack(">I", self.buf[5:9])[0] & 0x7fffffff,
                  self.buf[9:9 + n])
        self.buf = self.buf[9 + n:]
        if f.type == DATA and f.payload and getattr(self, "refill", False):
            n = struct.pack(">I", len(f.payload))
            try:
                self.send(frame(WINDOW_UPDATE, 0, 0, n) + frame(WINDOW_UPDATE, 0, f.sid, n))
            except OSError:
                pass
        if f.type == SETTINGS and not f.flags & ACK and getattr(self, "auto_ack", True):
            try:
                self.send(settings(ack=True))
            except OSError:
                pass
        return f

    def frames_until(self, pred, timeout=10):
        """Frames read until pred(frame) holds (that frame last), EOF or the deadline.
        Returns (frames, hit): hit is the frame pred accepted, or None."""
        got, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                f = self.read_frame()
            except socket.timeout:
                break
            if f is None:
                break
            got.append(f)
            if pred(f):
                return got, f
        return got, None

    def responses(self, sids, timeout=10):
        """{sid: (data bytes, ended)} for the given streams, read until all end or a
        GOAWAY/EOF; plus the order in which they ended and any GOAWAY frame."""
        bodies = {s: [] for s in sids}
        heads = {s: 0 for s in sids}
        order, goaway, resets = [], None, {}
        deadline = time.monotonic() + timeout
        while len(order) + len(resets) < len(sids) and time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                f = self.read_frame()
            except socket.timeout:
                break
            if f is None:
                break
            if f.type == GOAWAY:
                goaway = f
            if f.sid not in bodies:
                continue
            if f.type == HEADERS:
                heads[f.sid] += 1
            if f.type == DATA:
                bodies[f.sid].append(f.payload)
            if f.type == RST_STREAM:
                resets[f.sid] = struct.unpack(">I", f.payload)[0]
            if f.type in (HEADERS, DATA) and f.flags & END_STREAM:
                order.append(f.sid)
        return {s: b"".join(b) for s, b in bodies.items()}, order, resets, goaway

    def close(self):
        self.sock.close()


def closed_within(conn, timeout):
    """True when the server closes conn within timeout (frames before that are read)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn.sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if conn.read_frame() is None:
                return True
        except socket.timeout:
            return False
        except OSError:
            return True
    return False
