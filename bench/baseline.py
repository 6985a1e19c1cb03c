"""The service as it was before the hardening and default changes of issues 28-29, for paired
benchmarks: a detached git worktree of BASE_COMMIT, run with its hand-tuned settings.

BASE_COMMIT is where "today's tuned configuration" (ALI_WORKERS=cores ALI_CPU_TOKENS=cores) last
won the peers bench; comparing against it in the same run measures both claims at once: the
out-of-the-box configuration is as fast as the tuned one was, and the hardening costs nothing
measurable.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from service.testing.server import ROOT

BASE_COMMIT = "0888805"


def tuned_settings(cores: int) -> dict[str, object]:
    return {"workers": cores, "cpu_tokens": cores}


def worktree(commit: str = BASE_COMMIT) -> Path:
    """A checkout of `commit` (created once per commit, under the temp folder)."""
    path = Path(tempfile.gettempdir()) / f"ali-base-{commit}"
    if not (path / "service").is_dir():
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--force", str(path), commit],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    return path
