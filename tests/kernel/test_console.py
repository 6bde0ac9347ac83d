"""Agent -> collector -> web console on the real kernel (issue 17): curl in the test cgroup posts
a synthetic key to a loopback server, the agent (scoped to that cgroup) sends its alert to a real
credsentry-collector over mTLS, and a security analyst logged in to the collector's console in
headless Chromium sees that alert in the timeline and, in its detail, the same redacted preview
and fingerprint the agent wrote locally. The raw key is in no page, API answer or output.

Needs node and Debian's chromium (CHROMIUM overrides /usr/bin/chromium); puppeteer-core comes
from tests/console/node_modules (`npm ci` runs when it is missing).
"""

import json
import os
import secrets
import shutil
import subprocess

import pytest

from kharness import env
from test_collector import run_collector

CONSOLE_TESTS = env.REPO / "tests" / "console"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ALERT_TIMEOUT = 5.0
CONSOLE_WAIT_MS = 15000  # the alert must be in the timeline within this after the agent wrote it


@pytest.fixture
def console_collector(agent_binary, scratch, registry):
    yield from run_collector(agent_binary, scratch, registry,
                             console_token=secrets.token_hex(24))


@pytest.fixture(scope="session")
def node() -> str:
    node = shutil.which("node")
    env.require(node is not None and shutil.which("npm") is not None,
                "node and npm missing (scripts/install-deps.sh)")
    env.require(os.access(CHROMIUM, os.X_OK), f"chromium missing ({CHROMIUM}; apt-get install "
                                              "chromium)")
    if not (CONSOLE_TESTS / "node_modules" / "puppeteer-core").is_dir():
        proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CONSOLE_TESTS,
                              capture_output=True, text=True, timeout=300)
        env.require(proc.returncode == 0,
                    f"npm ci in {CONSOLE_TESTS} failed: {proc.stderr.strip()[-1000:]}")
    return node


def test_alert_from_a_real_agent_appears_in_the_console_timeline_with_its_detail(
        start_agent, console_collector, node, clients, http_server, curl, registry, scratch):
    collector = console_collector
    config = scratch / "agent.yaml"
    config.write_text(collector.agent_config(scratch / "spool"))
    agent = start_agent(extra_args=["--config", str(config)])

    # The key in a header file: curl's command line (in the alert and the page) stays clean.
    headers = scratch / "headers"
    headers.write_text(f"Authorization: Bearer {registry.new('openai')}\n")
    clients.run(curl.http(http_server, "/v1/chat/completions") +
                ["-H", f"@{headers}", "--data-binary", '{"model":"x"}'])
    http_server.wait_for_requests(1)
    local = agent.wait_for_alerts(lambda a: (a.get("secret") or {}).get("provider") == "openai",
                                  timeout=ALERT_TIMEOUT)
    assert local, f"no local openai alert within {ALERT_TIMEOUT}s\n{agent.diagnostics()}"
    alert = local[0]

    out = scratch / "console"
    out.mkdir()
    proc = subprocess.run(
        [node, str(CONSOLE_TESTS / "timeline_check.js"),
         f"https://127.0.0.1:{collector.console_port}", alert["id"], str(out),
         str(CONSOLE_WAIT_MS)],
        cwd=CONSOLE_TESTS, capture_output=True, text=True, timeout=90,
        env={**os.environ, "CONSOLE_TOKEN": collector.console_token, "CHROMIUM": CHROMIUM})
    registry.watch_text("timeline_check.js stdout", proc.stdout)
    registry.watch_text("timeline_check.js stderr", proc.stderr)
    registry.watch_file(out / "pages.txt")  # every page's HTML and every API answer it saw
    lines = proc.stdout.strip().splitlines()
    seen = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    assert proc.returncode == 0 and seen.get("ok"), (
        f"the console did not show alert {alert['id']} (exit {proc.returncode}): "
        f"{registry.redact(seen.get('error') or proc.stderr[-2000:])}\n"
        f"screenshots in {out}\n{registry.redact(collector.log.read_text()[-2000:])}\n"
        f"{agent.diagnostics()}")
    print(f"\nconsole screenshots: {out}")

    # The timeline row is the agent's alert: its host and kind, in their columns.
    row = dict(zip(seen["row"]["columns"], seen["row"]["cells"]))
    assert row.get("Host") == alert["host"], registry.redact(repr(row))
    assert row.get("Kind") == alert["kind"], registry.redact(repr(row))
    assert row.get("Secret") == alert["secret"]["redacted"], registry.redact(repr(row))

    # The detail: the same alert, preview and fingerprint as the agent's own JSON.
    detail = seen["detail"]
    top, secret = detail.get("", {}), detail.get("Secret", {})
    assert top.get("Alert id") == alert["id"], registry.redact(repr(detail))
    assert top.get("Host") == alert["host"], registry.redact(repr(detail))
    assert top.get("Kind") == alert["kind"], registry.redact(repr(detail))
    assert secret.get("Provider") == "openai", registry.redact(repr(detail))
    assert secret.get("Preview") == alert["secret"]["redacted"], registry.redact(repr(detail))
    assert secret.get("Fingerprint") == alert["secret"]["fingerprint"], \
        registry.redact(repr(detail))
    assert detail.get("Destination", {}).get("Address") == f"127.0.0.1:{http_server.port}", \
        registry.redact(repr(detail))
    # The registry's teardown scans the script's output and pages.txt, the collector's database
    # and log (collector fixture) and the agent's outputs for the raw key.
