"""A first run as a new user meets it: the agent's own stderr at the default log level, an
alert on a terminal, and scripts/run.sh --demo end to end."""

import glob
import json
import os
import pty
import re
import select
import signal
import subprocess
import time

import pytest

from kharness import env
from kharness.agent import Agent

# The flags of kharness.Agent that a user starting the agent by hand would not give.
_HARNESS_ONLY = ("--log-file", "--log-level", "--stats-file")


def _as_a_user_starts_it(agent: Agent, alerts_file: str | None = None) -> Agent:
    """Keeps --cgroup, --rules, --ready-file and the scratch outputs; drops the harness's own
    log file, level and stats file, so logs go to stderr at the default level. alerts_file
    ("-": stdout) replaces the scratch alerts file."""
    dropped = _HARNESS_ONLY + (("--alerts-file",) if alerts_file is not None else ())
    args, kept = agent.args, [agent.args[0]]
    i = 1
    while i < len(args):
        if args[i] in dropped:
            i += 2
            continue
        kept.append(args[i])
        i += 1
    agent.args = kept + (["--alerts-file", alerts_file] if alerts_file is not None else [])
    return agent


def _post_fake_key(clients, curl, http_server, registry, scratch):
    key = registry.new("openai")
    body = scratch / "body.json"
    body.write_text(json.dumps({"stolen": key}))
    clients.run(curl.http(http_server, "/collect") +
                ["-H", "Content-Type: application/json", "--data-binary", f"@{body}"])
    http_server.wait_for_requests(1)


def _new_agent(agent_binary, scratch, cgroup, registry, name: str) -> Agent:
    workdir = scratch / name
    workdir.mkdir()
    return Agent(agent_binary, workdir, [str(cgroup)], registry)


def test_default_log_level_keeps_counters_and_per_home_lines_off_stderr(
        agent_binary, scratch, cgroup, registry, clients, curl, http_server):
    agent = _as_a_user_starts_it(_new_agent(agent_binary, scratch, cgroup, registry, "a"))
    with agent.started():
        _post_fake_key(clients, curl, http_server, registry, scratch)
        time.sleep(5)  # five stats ticks: each used to log the whole counters document
    stderr = agent.stderr_file.read_text(errors="replace")
    assert "ready:" in stderr, stderr[-3000:]
    assert "counters: {" not in stderr, f"counters JSON on stderr:\n{stderr[-3000:]}"
    inode_only = [line for line in stderr.splitlines() if "matched by inode only" in line]
    assert len(inode_only) == 1, "\n".join(inode_only[:20])
    assert re.search(r"watching \d+ credential paths across \d+ homes", inode_only[0]), (
        inode_only[0])
    # ~/.netrc and friends spelled under passwd's system homes (/bin/.netrc, /dev/.aws/...).
    under_system_home = re.search(r"(?<![\w/])(/nonexistent|/bin|/dev|/usr/sbin|/var/empty)/\.",
                                  stderr)
    assert not under_system_home, f"system home named at start-up:\n{stderr[-3000:]}"


def _read_tty(master: int, until, timeout: float) -> str:
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(out.decode(errors="replace")):
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                out += os.read(master, 65536)
            except OSError:  # the agent closed its side
                break
    return out.decode(errors="replace")


def test_alert_on_a_terminal_is_one_line_with_severity_and_summary(
        agent_binary, scratch, cgroup, registry, clients, curl, http_server):
    agent = _as_a_user_starts_it(_new_agent(agent_binary, scratch, cgroup, registry, "t"),
                                 alerts_file="-")
    master, slave = pty.openpty()
    try:
        with agent.started(stdout=slave):
            _post_fake_key(clients, curl, http_server, registry, scratch)
            text = _read_tty(master, lambda t: "\n" in t, timeout=10)
    finally:
        os.close(slave)
        os.close(master)
    registry.watch_text("alert on the terminal", text)
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"want one alert line on the terminal, got:\n{text}"
    line = lines[0]
    assert not line.startswith("{"), f"JSON on a terminal (want text): {line}"
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ HIGH secret-egress curl \(pid \d+\): "
                    r"OpenAI project API key sent to 127\.0\.0\.1", line), line
    assert f"-> 127.0.0.1:{http_server.port} [openai-project-key sk-proj-" in line, line
    assert "hmac-sha256:" in line, line


def test_alert_format_text_writes_one_line_per_alert_to_a_file(
        agent_binary, scratch, cgroup, registry, clients, curl, http_server):
    agent = _new_agent(agent_binary, scratch, cgroup, registry, "f")
    agent.args += ["--alert-format", "text"]
    with agent.started():
        _post_fake_key(clients, curl, http_server, registry, scratch)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
                agent.alerts_file.exists() and agent.alerts_file.read_text().endswith("\n")):
            time.sleep(0.1)
    lines = agent.alerts_file.read_text().splitlines()
    assert len(lines) == 1, lines
    assert " HIGH secret-egress curl (pid " in lines[0], lines[0]


# The demo's key is made up inside run.sh ("sk-proj-credsentryDEMO", 40 letters and digits,
# "T3BlbkFJ", 40 more): whatever it printed, no stretch of the key past its marker may appear.
_DEMO_KEY = re.compile(r"sk-proj-credsentryDEMO[A-Za-z0-9]{10,}")
DEMO_TIMEOUT = 90.0  # past it the test stops run.sh with SIGTERM, so its EXIT trap cleans up
DEMO_BUDGET = 30.0  # what a first run may take: start-up, one curl, the alert, the shutdown


def _run_demo(build, cgroup_name: str) -> tuple[int, str, str, float]:
    """scripts/run.sh --demo in its own session; returns (rc, stdout, stderr, seconds)."""
    start = time.monotonic()
    proc = subprocess.Popen([str(env.REPO / "scripts" / "run.sh"), "--demo"],
                            env={**os.environ, "SKIP_BUILD": "1", "BUILD_DIR": str(build),
                                 "CREDSENTRY_DEMO_CGROUP": cgroup_name},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=DEMO_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # run.sh's trap stops the agent and the sink
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        pytest.fail(f"scripts/run.sh --demo still running after {DEMO_TIMEOUT:.0f} s:\n"
                    f"{_DEMO_KEY.sub('<demo key>', (out or '') + (err or ''))[-3000:]}",
                    pytrace=False)
    return proc.returncode, out, err, time.monotonic() - start


def test_run_sh_demo_shows_one_alert_and_cleans_up(agent_binary):
    base = env.cgroup2_base()
    env.require(base is not None, "no cgroup v2")
    # Not the default credsentry-demo: a developer's own run.sh may be using that one.
    name = f"credsentry-test-demo-{os.getpid()}"
    scratch_before = set(glob.glob("/tmp/credsentry-demo.*"))
    rc, stdout, stderr, took = _run_demo(agent_binary.resolve().parents[1], name)
    out = stdout + stderr
    assert not _DEMO_KEY.search(out), "the demo printed (part of) its raw key"
    assert rc == 0, out[-3000:]
    alerts = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert len(alerts) == 1, stdout  # piped: JSON lines
    assert alerts[0]["secret"]["type"] == "openai-project-key"
    assert alerts[0]["destination"]["ip"] == "127.0.0.1"
    assert alerts[0]["process"]["cgroup"].endswith(f"/{name}")
    assert "credsentry demo:" in stderr
    assert not (base / name).exists(), "demo cgroup left behind"
    assert set(glob.glob("/tmp/credsentry-demo.*")) <= scratch_before, "scratch left behind"
    print(f"\nscripts/run.sh --demo took {took:.1f} s")
    assert took < DEMO_BUDGET, f"scripts/run.sh --demo took {took:.1f} s (budget {DEMO_BUDGET} s)"
