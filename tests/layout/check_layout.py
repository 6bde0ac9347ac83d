#!/usr/bin/env python3
"""Checks the source layout the README's "Layout" section promises.

- Each agent stage includes only its own headers and those of earlier stages (STAGES order).
- Only decode/ and loader/ include the kernel ABI header (bpf/credsentry_abi.h).
- common/ includes only common/; the collector includes common/, its own folders and the
  generated protobufs, never an agent stage.
- No source file under agent/src or common/ is longer than MAX_LINES lines.

Prints one line per violation (file:line: what is wrong) and exits 1 when there is any.
Usage: check_layout.py [REPO_ROOT]
"""
import pathlib
import re
import sys

# Earliest first. A stage may include itself and anything to its left.
STAGES = ["loader", "decode", "alert", "catalogue", "config", "state", "match", "stream",
          "detect", "report", "pipeline", "scan"]
ABI_STAGES = {"decode", "loader"}
ABI_HEADERS = {"credsentry_abi.h", "decode/abi_layout.h"}
MAX_LINES = 500
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def sources(folder):
    return sorted(p for p in folder.rglob("*") if p.suffix in (".h", ".cpp") and p.is_file())


def includes(path):
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        m = INCLUDE.match(line)
        if m:
            yield number, m.group(1)


def check(root):
    problems = []
    agent = root / "agent" / "src"
    order = {name: i for i, name in enumerate(STAGES)}
    for path in sources(agent):
        rel = path.relative_to(agent)
        where = path.relative_to(root)
        stage = rel.parts[0] if len(rel.parts) > 1 else None
        if stage is not None and stage not in order and stage != "common":
            problems.append(f"{where}: folder '{stage}' is not a stage of check_layout.py")
        for number, target in includes(path):
            first = target.split("/")[0]
            if target in ABI_HEADERS and stage not in ABI_STAGES:
                problems.append(f"{where}:{number}: includes the kernel ABI ({target}); only "
                                f"decode/ and loader/ may")
            if stage is None or first not in order or stage not in order:
                continue
            if order[first] > order[stage]:
                problems.append(f"{where}:{number}: stage '{stage}' includes '{target}' of the "
                                f"later stage '{first}'")
    common = root / "common"
    for path in sources(common):
        for number, target in includes(path):
            if "/" in target and not target.startswith("common/"):
                problems.append(f"{path.relative_to(root)}:{number}: common/ includes "
                                f"'{target}'; it may include only common/")
    for path in sources(root / "collector" / "src"):
        for number, target in includes(path):
            if target.split("/")[0] in order:
                problems.append(f"{path.relative_to(root)}:{number}: the collector includes the "
                                f"agent's '{target}'; share code through common/")
    for path in sources(agent) + sources(common):
        lines = len(path.read_text(errors="replace").splitlines())
        if lines > MAX_LINES:
            problems.append(f"{path.relative_to(root)}: {lines} lines (at most {MAX_LINES})")
    return problems


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                        pathlib.Path(__file__).resolve().parents[2])
    problems = check(root)
    for p in problems:
        print(p)
    print(f"layout: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
