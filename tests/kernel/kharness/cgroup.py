"""A throw-away cgroup v2 that scopes the agent and holds every client a test starts.

The machine runs processes that are not ours: the agent only ever watches this subtree, and
teardown leaves nothing behind (processes killed, directory removed) within bounded waits.
"""

import os
import secrets
import signal
import time
from pathlib import Path


class TestCgroup:
    __test__ = False  # not a pytest test class

    def __init__(self, base: Path, prefix: str = "credsentry-test-"):
        self.path = base / f"{prefix}{secrets.token_hex(4)}"
        self.path.mkdir()
        self.procs_file = str(self.path / "cgroup.procs")

    def __str__(self) -> str:
        return str(self.path)

    def pids(self) -> list[int]:
        try:
            with open(self.procs_file) as f:
                return [int(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def contains(self, pid: int) -> bool:
        """True when `pid` is a member of this cgroup (per /proc/<pid>/cgroup)."""
        rel = "/" + self.path.name
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                return any(line.strip().startswith("0::") and line.strip()[3:].startswith(rel)
                           for line in f)
        except FileNotFoundError:
            return False

    def kill_all(self, timeout: float = 5.0) -> None:
        """Kills every process in the cgroup and waits (bounded) until it is empty."""
        kill_file = self.path / "cgroup.kill"  # kernel >= 5.14: atomic, no fork race
        deadline = time.monotonic() + timeout
        while self.pids() and time.monotonic() < deadline:
            if kill_file.exists():
                kill_file.write_text("1")
            else:
                for pid in self.pids():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.05)

    def remove(self, timeout: float = 5.0) -> None:
        if not self.path.exists():
            return
        self.kill_all(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                # EBUSY while the last killed tasks are still being reaped by their parents.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
