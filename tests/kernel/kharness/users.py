"""A throw-away unprivileged user with its home in a temp dir (useradd/userdel)."""

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .clients import ClientUser


def create_user(parent: Path) -> ClientUser:
    os.chmod(parent, 0o755)  # the user must be able to reach its home
    name = f"cst{secrets.token_hex(4)}"
    home = parent / name
    proc = subprocess.run(
        ["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/sh",
         "--user-group", "--comment", "credsentry kernel test", name],
        capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"useradd {name} failed: {proc.stderr.strip()}")
    entry = pwd.getpwnam(name)
    return ClientUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid, home=str(home))


def write_user_file(user: ClientUser, relative: str, content: str, mode: int = 0o600) -> Path:
    """Writes ~user/<relative>, creating directories, owned by the user."""
    path = Path(user.home) / relative
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for d in [path.parent, *path.parent.parents]:
        if d == Path(user.home):
            break
        os.chown(d, user.uid, user.gid)
    path.write_text(content)
    os.chown(path, user.uid, user.gid)
    os.chmod(path, mode)
    return path


def write_aws_credentials(user: ClientUser, registry) -> Path:
    """~user/.aws/credentials with a fresh key id and secret, both registered as secrets."""
    key_id, secret = registry.new("aws-id"), registry.new("aws-secret")
    return write_user_file(user, ".aws/credentials",
                           f"[default]\naws_access_key_id = {key_id}\n"
                           f"aws_secret_access_key = {secret}\n")


def _pids_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.append(int(entry))
            except FileNotFoundError:
                pass
    return pids


def remove_user(user: ClientUser, timeout: float = 5.0) -> None:
    """Kills what the user still runs (by pid), deletes the account and its home."""
    deadline = time.monotonic() + timeout
    while (pids := _pids_of_uid(user.uid)) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    proc = subprocess.run(["userdel", user.name], capture_output=True, text=True, timeout=30)
    shutil.rmtree(user.home, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"userdel {user.name} failed: {proc.stderr.strip()}")
