"""The agent under test: started scoped to the test cgroup, every output in a temp dir.

The agent itself runs outside the test cgroup (it must not watch itself); only the clients are
inside. Teardown sends SIGTERM and expects exit code 0 within 10 s: a clean shutdown (probes
detached, final stats written) is part of the contract.
"""

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .env import DEFAULT_RULES
from .secrets import SecretRegistry

READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class Agent:
    def __init__(self, binary: Path, workdir: Path, cgroups: list[str],
                 registry: SecretRegistry, rules_dirs: list[Path] | None = None,
                 extra_args: list[str] | None = None):
        self.binary = binary
        self.dir = workdir
        self.registry = registry
        self.alerts_file = workdir / "alerts.jsonl"
        self.log_file = workdir / "agent.log"
        self.trace_file = workdir / "trace.jsonl"
        self.stats_file = workdir / "stats.json"
        self.ready_file = workdir / "ready"
        self.stdout_file = workdir / "agent.stdout"
        self.stderr_file = workdir / "agent.stderr"
        args = [str(binary)]
        for cg in cgroups:
            args += ["--cgroup", str(cg)]
        for rules in rules_dirs or [DEFAULT_RULES]:
            args += ["--rules", str(rules)]
        args += ["--alerts-file", str(self.alerts_file), "--log-file", str(self.log_file),
                 "--log-level", os.environ.get("CREDSENTRY_AGENT_LOG_LEVEL", "info"),
                 "--trace-events", str(self.trace_file),
                 "--stats-file", str(self.stats_file), "--ready-file", str(self.ready_file),
                 "--fingerprint-key", str(workdir / "fingerprint.key")]
        self.args = args + list(extra_args or [])
        for f in (self.alerts_file, self.log_file, self.trace_file, self.stats_file,
                  self.stdout_file, self.stderr_file):
            registry.watch_file(f)
        self.proc: subprocess.Popen | None = None

    def start(self, stdout: int | None = None) -> "Agent":
        """Starts the agent and waits for its ready file. stdout: a file descriptor to give the
        agent as its stdout (a pty's end, to be a terminal) instead of stdout_file."""
        with open(self.stderr_file, "wb") as err, \
                (contextlib.nullcontext(stdout) if stdout is not None
                 else open(self.stdout_file, "wb")) as out:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err)
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.ready_file.exists():
            if self.proc.poll() is not None:
                rc, self.proc = self.proc.returncode, None  # reported here, not again at stop
                pytest.fail(f"agent exited with {rc} before ready:\n{self.diagnostics()}",
                            pytrace=False)
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                self.proc = None
                pytest.fail(f"agent not ready within {READY_TIMEOUT}s:\n{self.diagnostics()}",
                            pytrace=False)
            time.sleep(0.05)
        return self

    @contextlib.contextmanager
    def started(self, stdout: int | None = None):
        """Started for the with block, stopped after it. Exit code 0 is asserted only when the
        block passed: when it failed, its own failure is the one reported."""
        self.start(stdout)
        try:
            yield self
        except BaseException:
            with contextlib.suppress(Exception, pytest.fail.Exception):
                self.stop()
            raise
        rc = self.stop()
        assert rc == 0, f"agent exited {rc} on SIGTERM (want 0):\n{self.diagnostics()}"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int:
        """SIGTERM, then waits; returns the exit code (kills and fails after STOP_TIMEOUT)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"agent ignored SIGTERM for {STOP_TIMEOUT}s:\n{self.diagnostics()}",
                            pytrace=False)
        return self.proc.returncode

    # ---- outputs -------------------------------------------------------------------------

    @staticmethod
    def _json_lines(path: Path, what: str) -> list[dict]:
        if not path.exists():
            return []
        records = []
        text = path.read_text(errors="replace")
        complete = text[:text.rfind("\n") + 1]  # the agent may be mid-line
        for number, line in enumerate(complete.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                pytest.fail(f"{what} line {number} is not JSON ({e})", pytrace=False)
        return records

    def alerts(self) -> list[dict]:
        return self._json_lines(self.alerts_file, "alerts file")

    def trace_events(self) -> list[dict]:
        return self._json_lines(self.trace_file, "trace-events file")

    def stats(self) -> dict:
        try:
            return json.loads(self.stats_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}  # rewritten every second: may be absent or mid-write

    def flat_stats(self) -> dict:
        """The stats file with nested objects flattened to dotted names ("kernel.rb_drop")."""
        def flatten(stats, prefix=""):
            for name, value in stats.items():
                if isinstance(value, dict):
                    yield from flatten(value, f"{prefix}{name}.")
                else:
                    yield f"{prefix}{name}", value
        return dict(flatten(self.stats()))

    def counter(self, suffix: str) -> int:
        """Sum of the integer counters whose dotted name ends with `suffix`."""
        return sum(v for k, v in self.flat_stats().items()
                   if k.endswith(suffix) and isinstance(v, int))

    def wait_for_counter(self, suffix: str, at_least: int, timeout: float = 3.0) -> bool:
        """The stats file is rewritten every second: waits for counter(suffix) >= at_least."""
        deadline = time.monotonic() + timeout
        while self.counter(suffix) < at_least:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def redacted(self, records) -> str:
        """Alerts (or any JSON) for a failure message, secrets redacted, at most 4000 chars."""
        return self.registry.redact(json.dumps(records, indent=1))[:4000]

    def log_text(self) -> str:
        parts = []
        for f in (self.log_file, self.stderr_file):
            if f.exists():
                parts.append(f.read_text(errors="replace"))
        return "\n".join(parts)

    def wait_for_alerts(self, predicate=lambda a: True, timeout: float = 5.0,
                        count: int = 1) -> list[dict]:
        """Polls the alerts file until `count` alerts satisfy `predicate` or `timeout` passes;
        returns the matching alerts (possibly fewer than `count`)."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [a for a in self.alerts() if predicate(a)]
            if len(matching) >= count or time.monotonic() > deadline:
                return matching
            time.sleep(0.1)

    def wait_for_log(self, needle: str, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log_text():
                return True
            time.sleep(0.1)
        return False

    def diagnostics(self, tail: int = 4000) -> str:
        """Log tail and alert summaries for failure messages, with secrets redacted."""
        summary = [f"{a.get('kind')} {a.get('secret', {}).get('type')} -> "
                   f"{a.get('destination', {}).get('host')}" for a in self._safe_alerts()]
        text = (f"--- agent log (tail) ---\n{self.log_text()[-tail:]}\n"
                f"--- alerts ({len(summary)}) ---\n" + "\n".join(summary))
        return self.registry.redact(text)

    def _safe_alerts(self) -> list[dict]:
        try:
            return self.alerts()
        except BaseException:  # pytest.fail is a BaseException; diagnostics must not raise
            return []
