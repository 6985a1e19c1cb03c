"""Where a benchmark's figures come from: the commit they were measured at."""

from __future__ import annotations

import subprocess
import sys
import time

from service.testing.server import ROOT

OWN_OUTPUTS = (":!bench/results.json", ":!bench/peers.json", ":!BENCHMARKS.md")


def git_commit() -> str:
    """The checkout's short commit, with "+dirty" when the tree has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(  # the bench's own outputs do not count
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *OWN_OUTPUTS],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def stamp(command: str) -> dict[str, str]:
    """Date, commit and command of a benchmark that writes its own section of results.json."""
    return {
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "commit": git_commit(),
        "command": " ".join([command, *sys.argv[1:]]),
    }
