"""Runs real client programs inside the test cgroup (or, for scope tests, deliberately outside).

The child joins the cgroup in preexec_fn, before exec, so not one syscall of the client runs
unscoped. preexec_fn only uses os.* calls: the suite's servers run in threads, and anything
that takes a Python-level lock in the forked child could deadlock.
"""

import os
import subprocess
from dataclasses import dataclass

import pytest

from .cgroup import TestCgroup
from .secrets import SecretRegistry

# Proxies would send loopback traffic elsewhere and make the agent see other destinations.
_CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "LANG": "C.UTF-8", "NO_PROXY": "*", "no_proxy": "*"}


@dataclass
class ClientUser:
    name: str
    uid: int
    gid: int
    home: str


@dataclass
class ClientResult:
    rc: int
    stdout: str
    stderr: str
    pid: int


def _preexec(procs_file: str | None, user: ClientUser | None):
    def run():
        if procs_file is not None:
            fd = os.open(procs_file, os.O_WRONLY)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)
        if user is not None:
            os.setgroups([])
            os.setgid(user.gid)
            os.setuid(user.uid)
    return run


class ClientRunner:
    def __init__(self, cgroup: TestCgroup, registry: SecretRegistry):
        self.cgroup = cgroup
        self.registry = registry
        self._count = 0

    def start(self, argv: list[str], *, user: ClientUser | None = None, in_cgroup: bool = True,
              env: dict | None = None, cwd: str | None = None) -> subprocess.Popen:
        """Starts `argv` (stdout/stderr piped); see run() for the arguments."""
        child_env = dict(_CLEAN_ENV)
        child_env["HOME"] = user.home if user else "/root"
        if user:
            child_env["USER"] = child_env["LOGNAME"] = user.name
        child_env.update(env or {})
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=child_env, cwd=cwd or (user.home if user else "/"),
            preexec_fn=_preexec(self.cgroup.procs_file if in_cgroup else None, user))

    def run(self, argv: list[str], *, timeout: float = 20.0, user: ClientUser | None = None,
            in_cgroup: bool = True, env: dict | None = None, cwd: str | None = None,
            check: bool = True) -> ClientResult:
        """Runs a client to completion: inside the test cgroup unless in_cgroup=False, as `user`
        (uid/gid/HOME) when given. Output is captured and later scanned for leaked secrets.
        With check=True a non-zero exit fails the test (output redacted)."""
        proc = self.start(argv, user=user, in_cgroup=in_cgroup, env=env, cwd=cwd)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            self._record(argv, out, err)
            pytest.fail(f"client {argv[0]} did not finish in {timeout}s; stderr: "
                        f"{self.registry.redact(err.decode(errors='replace'))[-2000:]}")
        result = ClientResult(proc.returncode, out.decode(errors="replace"),
                              err.decode(errors="replace"), proc.pid)
        self._record(argv, out, err)
        if check and result.rc != 0:
            pytest.fail(f"client {os.path.basename(argv[0])} exited {result.rc}; stderr: "
                        f"{self.registry.redact(result.stderr)[-2000:]}")
        return result

    def _record(self, argv, out: bytes, err: bytes) -> None:
        self._count += 1
        name = os.path.basename(argv[0])
        self.registry.watch_text(f"client #{self._count} ({name}) stdout", out)
        self.registry.watch_text(f"client #{self._count} ({name}) stderr", err)
