"""In-process HTTP/1.1 servers on loopback (127.0.0.1, or ::1 and other IPv6 addresses on
request) that read every request body to the end.

A test that expects "no alert" must know the bytes were really delivered, so each server
records what it received. It keeps digests and sizes only, never the bodies or header values:
a record printed in an assertion message cannot leak a secret.
"""

import hashlib
import http.server
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


@dataclass
class ReceivedRequest:
    method: str
    path: str
    host_header: str
    sni: str | None
    header_digests: dict = field(default_factory=dict)  # lower-case name -> sha256(value)
    body_len: int = 0
    body_sha256: str = ""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # answers Expect: 100-continue instead of stalling curl
    timeout = 15

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        self.server.owner.record(ReceivedRequest(
            method=self.command, path=self.path, host_header=self.headers.get("Host", ""),
            sni=getattr(self.connection, "credsentry_sni", None),
            header_digests={k.lower(): sha256(v) for k, v in self.headers.items()},
            body_len=len(body), body_sha256=sha256(body)))
        reply = b'{"ok":true}\n'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply)
        self.close_connection = True

    do_GET = do_POST = do_PUT = _handle

    def log_message(self, fmt, *args) -> None:
        pass  # request lines could carry secrets in query strings


class _ThreadingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner, tls_context, host):
        self.owner = owner
        self.tls_context = tls_context
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, 0), _Handler)

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the per-connection thread, so one stalled client
        # cannot block accept() for the others.
        if self.tls_context is None:
            return super().finish_request(request, client_address)
        request.settimeout(15)
        tls = self.tls_context.wrap_socket(request, server_side=True)
        self.owner.count_bytes(0, connection=True)
        read = tls.recv_into

        def counting_recv_into(buffer, nbytes=0, flags=0):
            n = read(buffer, nbytes, flags)
            self.owner.count_bytes(n)
            return n

        # Every plaintext byte the handler reads comes through here (prevent-mode tests assert
        # that a killed client delivered none).
        tls.recv_into = counting_recv_into
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request, client_address):
        self.owner.errors += 1  # counted, not printed: tests assert on it when it matters


class RecordingServer:
    """HTTPS (when given cert/key) or plain HTTP server on <host>:<random port>; `host` is
    127.0.0.1 unless a test asks for an IPv6 one ("::1", or an address in its own namespace)."""

    def __init__(self, cert=None, key=None, host: str = "127.0.0.1"):
        self.host = host
        self.requests: list[ReceivedRequest] = []
        self.errors = 0
        self.tls_connections = 0   # TLS handshakes completed
        self.plaintext_bytes = 0   # application bytes read after decryption, all connections
        self._lock = threading.Lock()
        context = None
        if cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(cert), str(key))
            context.sni_callback = self._remember_sni
        self.tls = context is not None
        self._server = _ThreadingServer(self, context, host)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @staticmethod
    def _remember_sni(tls_socket, server_name, context):
        tls_socket.credsentry_sni = server_name

    def record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def count_bytes(self, n: int, connection: bool = False) -> None:
        with self._lock:
            self.plaintext_bytes += n
            self.tls_connections += 1 if connection else 0

    def backlog(self, connections: int) -> None:
        """Lets `connections` clients wait in accept() at once (load tests; default 5)."""
        self._server.socket.listen(connections)

    def url(self, name: str | None = None, path: str = "/") -> str:
        name = name or self.host
        if ":" in name:
            name = f"[{name}]"
        return f"{'https' if self.tls else 'http'}://{name}:{self.port}{path}"

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        with self._lock:
            return list(self.requests)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
