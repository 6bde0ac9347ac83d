"""Fixtures of the kernel end-to-end suite (root, real kernel, real clients, loopback only).

Every test gets its own cgroup v2, its own agent scoped to it, its own servers on 127.0.0.1 and a
registry of the synthetic secrets it creates; teardown proves none of them leaked. Set
CREDSENTRY_KEEP=1 to keep each test's scratch directory (agent log, alerts, trace) for debugging.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from kharness import env
from kharness.agent import Agent
from kharness.cgroup import TestCgroup
from kharness.clients import ClientRunner
from kharness.pki import TestPki
from kharness.secrets import SecretRegistry
from kharness.servers import RecordingServer
from kharness.users import create_user, remove_user


@pytest.fixture(scope="session")
def cgroup_base() -> Path:
    return env.require_root_and_cgroup2()


@pytest.fixture(scope="session")
def agent_binary() -> Path:
    return env.require_agent()


@pytest.fixture
def scratch(request):
    """Per-test directory, removed at teardown unless CREDSENTRY_KEEP=1."""
    path = Path(tempfile.mkdtemp(prefix="credsentry-kt-"))
    os.chmod(path, 0o755)
    yield path
    if os.environ.get("CREDSENTRY_KEEP") == "1":
        print(f"\nkept scratch dir of {request.node.name}: {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pki() -> TestPki:
    # Not under pytest's tmp_path: that is 0700 root, and the test user's curl reads the CA.
    path = Path(tempfile.mkdtemp(prefix="credsentry-kt-pki-"))
    yield TestPki(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def registry():
    """Synthetic secrets of this test; at teardown any of them in a watched output fails it."""
    reg = SecretRegistry()
    yield reg
    leaks = reg.leaks()
    if leaks:
        pytest.fail("raw secret leaked:\n" + "\n".join(leaks), pytrace=False)


@pytest.fixture
def cgroup(cgroup_base):
    cg = TestCgroup(cgroup_base)
    yield cg
    cg.remove()


@pytest.fixture
def clients(cgroup, registry) -> ClientRunner:
    return ClientRunner(cgroup, registry)


@pytest.fixture
def h2_server(pki, scratch):
    """nghttpd serving HTTP/2 over TLS on 127.0.0.1 (outside the test cgroup); yields its port."""
    docroot = scratch / "h2root"
    docroot.mkdir()
    (docroot / "index.html").write_text("ok\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(scratch / "nghttpd.log", "wb")
    proc = subprocess.Popen(["nghttpd", "--address=127.0.0.1", f"--htdocs={docroot}", str(port),
                             str(pki.key), str(pki.cert)], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("nghttpd did not start:\n" + (scratch / "nghttpd.log").read_text())
    yield port
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def https_server(pki):
    server = RecordingServer(cert=pki.cert, key=pki.key)
    yield server
    server.close()


@pytest.fixture
def http_server():
    server = RecordingServer()
    yield server
    server.close()


@pytest.fixture
def test_user(scratch):
    users = scratch / "users"
    users.mkdir()
    user = create_user(users)
    yield user
    remove_user(user)


class Curl:
    """curl command lines that reach a loopback server under any name (--resolve)."""

    def __init__(self, pki: TestPki):
        self.pki = pki

    def https(self, server: RecordingServer, name: str, path: str = "/") -> list[str]:
        return ["curl", "-sS", "--fail", "--noproxy", "*", "--max-time", "15", "--http1.1",
                "--cacert", str(self.pki.ca), "--resolve", f"{name}:{server.port}:127.0.0.1",
                server.url(name, path)]

    def http(self, server: RecordingServer, path: str = "/") -> list[str]:
        return ["curl", "-sS", "--fail", "--noproxy", "*", "--max-time", "15",
                server.url("127.0.0.1", path)]


@pytest.fixture(scope="session")
def curl(pki) -> Curl:
    return Curl(pki)


@pytest.fixture
def start_agent(agent_binary, cgroup, registry, scratch):
    """Factory: start_agent(rules_dirs=None, extra_args=None) -> a ready Agent scoped to the
    test cgroup. Teardown: SIGTERM, exit code 0 within 10 s."""
    started: list[Agent] = []

    def start(rules_dirs=None, extra_args=None) -> Agent:
        workdir = scratch / f"agent{len(started)}"
        workdir.mkdir()
        agent = Agent(agent_binary, workdir, [str(cgroup)], registry, rules_dirs, extra_args)
        started.append(agent)
        return agent.start()

    yield start
    for agent in started:
        rc = agent.stop()
        if rc != 0:
            pytest.fail(f"agent exited {rc} on SIGTERM (want 0):\n{agent.diagnostics()}",
                        pytrace=False)


@pytest.fixture
def agent(start_agent) -> Agent:
    return start_agent()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Backstop for the no-raw-secret rule: assertion introspection can print any value an
    assert touched (a log, an alert), so every report of a test that registered secrets is
    redacted before pytest prints it or writes it to JUnit XML."""
    outcome = yield
    report = outcome.get_result()
    registry = (getattr(item, "funcargs", None) or {}).get("registry")
    if registry is None:
        return
    if report.longrepr is not None:
        text = str(report.longrepr)
        redacted = registry.redact(text)
        if redacted != text:
            report.longrepr = redacted
    report.sections = [(title, registry.redact(body)) for title, body in report.sections]
