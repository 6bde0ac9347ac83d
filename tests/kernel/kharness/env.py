"""What the suite needs from the machine, and how a missing piece is reported.

Under CI (CI=true) a missing prerequisite is a failure: a CI run that silently skipped every
kernel test would look green while testing nothing.
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
KERNEL_TESTS = REPO / "tests" / "kernel"
CLIENTS = KERNEL_TESTS / "clients"
DEFAULT_RULES = Path(os.environ.get("CREDSENTRY_RULES", REPO / "rules" / "credentials"))
BTF = Path("/sys/kernel/btf/vmlinux")
PYTHON = "/usr/bin/python3"  # Debian's python: the pyenv one on PATH may link another libssl


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skips (locally) or fails (CI=true) when `condition` is false."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"kernel suite prerequisite missing under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def agent_path() -> Path:
    return Path(os.environ.get("CREDSENTRY_AGENT", REPO / "build" / "agent" / "credsentry-agent"))


def cgroup2_base() -> Path | None:
    """The directory test cgroups are created in: the cgroup v2 mount (hybrid hosts mount it at
    /sys/fs/cgroup/unified, pure v2 hosts at /sys/fs/cgroup)."""
    mounts = []
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 3 and fields[2] == "cgroup2":
                mounts.append(Path(fields[1]))
    for preferred in (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup")):
        if preferred in mounts:
            return preferred
    return mounts[0] if mounts else None


def require_root_and_cgroup2() -> Path:
    require(os.geteuid() == 0, "needs root (BPF, cgroups, useradd)")
    base = cgroup2_base()
    require(base is not None, "no cgroup v2 mount found in /proc/self/mounts")
    return base


def require_agent() -> Path:
    require_root_and_cgroup2()
    require(BTF.exists(), f"kernel has no BTF ({BTF} missing): CO-RE probes cannot load")
    agent = agent_path()
    require(agent.is_file() and os.access(agent, os.X_OK),
            f"agent binary not built: {agent} (build it or set CREDSENTRY_AGENT)")
    require(DEFAULT_RULES.is_dir() and any(DEFAULT_RULES.glob("*.y*ml")),
            f"no shipped rules in {DEFAULT_RULES}")
    return agent
