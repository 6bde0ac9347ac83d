"""Go clients built here from source (stdlib only, no network, no module proxy)."""

import os
import shutil
import subprocess
from pathlib import Path

from . import env


def go_tool() -> str | None:
    for candidate in ("/usr/bin/go", "/usr/lib/go/bin/go"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("go")


def build(source: str, work: Path, outputs: dict[str, list[str]], out_dir: Path) -> dict:
    """Builds `source` (a main package) in `work` once per entry of `outputs` (binary name ->
    extra go build flags) into `out_dir`; returns {name: path}. Skips (fails under CI) without
    go; fails the test when a build fails."""
    go = go_tool()
    env.require(go is not None, "go is not installed (scripts/install-deps.sh installs golang-go)")
    (work / "main.go").write_text(source)
    build_env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "GOCACHE": str(work / "cache"),
                 "GO111MODULE": "off", "GOFLAGS": "", "GOPROXY": "off", "CGO_ENABLED": "0"}
    binaries = {}
    for name, flags in outputs.items():
        proc = subprocess.run([go, "build", *flags, "-o", str(out_dir / name), "main.go"],
                              cwd=work, env=build_env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, f"go build failed: {proc.stderr[-2000:]}"
        binaries[name] = out_dir / name
    return binaries
