#!/usr/bin/env python3
"""Exec latency of a binary the agent has never seen and of one it knows (bench/run-bench.sh 6).

  exec_latency.py WORKDIR SOURCE RUNS

Each "new" run copies SOURCE to a fresh file (a new inode, as a dropped binary is) and times its
exec to exit; each "known" run times the same copy again, once it has run before. Prints one line
per kind, milliseconds per run: "new_ms v1 v2 ..." and "known_ms v1 v2 ...". Run it inside the
benchmark's cgroup: its children inherit the scope.
"""
import os
import shutil
import subprocess
import sys
import time


def timed(path: str) -> float:
    start = time.perf_counter()
    subprocess.run([path], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   timeout=10)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    workdir, source, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    new, known = [], []
    known_path = os.path.join(workdir, "exec-known")
    shutil.copyfile(source, known_path)
    os.chmod(known_path, 0o755)
    timed(known_path)  # seen once: from here on it is known
    for i in range(runs):
        fresh = os.path.join(workdir, f"exec-new-{os.getpid()}-{i}")
        shutil.copyfile(source, fresh)
        os.chmod(fresh, 0o755)
        new.append(timed(fresh))
        os.unlink(fresh)
        known.append(timed(known_path))
    os.unlink(known_path)
    print("new_ms " + " ".join(f"{v:.3f}" for v in new))
    print("known_ms " + " ".join(f"{v:.3f}" for v in known))
    return 0


if __name__ == "__main__":
    sys.exit(main())
