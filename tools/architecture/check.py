#!/usr/bin/env python3
"""ARCHITECTURE.md names every Rust module once, and every path it names exists.

Sections `## meteor/`, `## engine/src`, `## app/` and `## elsewhere` give the prefix of the
backticked paths at the start of their `- ` lines (`a.rs`, `b.rs` — ...). Every `.rs` file
git tracks under `meteor/src/`, `engine/src/`, `app/` and `tests/` (top level and
`tests/common/`) must be named exactly once (a named folder `x/` names its `x/mod.rs` and
`x/tests.rs`); a path named must exist. Run from the
repository root (CI does); exits 1 listing what is wrong.
"""
import re
import subprocess
import sys
from pathlib import Path

SECTIONS = {"meteor/": "meteor/", "engine/src": "engine/src/", "app/": "app/", "elsewhere": ""}


def named_paths(text):
    prefix = None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("## "):
            prefix = SECTIONS.get(line[3:].strip())
            continue
        if prefix is None or not line.startswith("- `"):
            continue
        head = line.split(" — ", 1)[0]
        for p in re.findall(r"`([^`]+)`", head):
            yield n, prefix + p


def main():
    root = Path(".")
    text = (root / "ARCHITECTURE.md").read_text(encoding="utf-8")
    problems = []
    seen = {}
    for n, p in named_paths(text):
        if not (root / p).exists():
            problems.append(f"ARCHITECTURE.md:{n}: `{p}` does not exist")
        if p in seen and not p.endswith("/"):
            problems.append(f"ARCHITECTURE.md:{n}: `{p}` is also named on line {seen[p]}")
        seen.setdefault(p, n)
    tracked = subprocess.run(
        ["git", "ls-files", "meteor/src", "engine/src", "app", "tests"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    for f in tracked:
        if not f.endswith(".rs"):
            continue
        if f.startswith("tests/") and f.count("/") > 1 and not f.startswith("tests/common/"):
            continue
        folder, _, name = f.rpartition("/")
        if f not in seen and not (name in ("mod.rs", "tests.rs") and folder + "/" in seen):
            problems.append(f"{f}: not named in ARCHITECTURE.md")
    for p in problems:
        print(p)
    sys.stdout.flush()
    if problems:
        print(f"{len(problems)} problem(s) in ARCHITECTURE.md", file=sys.stderr)
        return 1
    print(f"ARCHITECTURE.md: {len(seen)} paths named, every tracked module among them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
