"""A stopped server leaves nothing running: its group, and helpers that left the group."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bench.peers.processes import _owned_pids, launch, stop

# A "server" that starts a helper in a new session (as Ray's raylet does) which ignores SIGTERM.
SERVER = """
import signal, subprocess, sys, time
helper = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
subprocess.Popen([sys.executable, "-c", helper, sys.argv[1]], start_new_session=True)
time.sleep(600)
"""


def test_stop_ends_the_group_and_the_helpers_outside_it(tmp_path: Path) -> None:
    marker = f"peer-marker-{tmp_path.name}"
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    run = launch(
        "fake",
        [sys.executable, str(script), marker],
        {},
        tmp_path,
        "http://127.0.0.1:1",
        tmp_path / "log",
        owned_prefix=marker,
    )
    deadline = time.monotonic() + 10
    while len(_owned_pids(marker)) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _owned_pids(marker), "the helper never started"
    stop(run, grace=1)
    assert run.proc.poll() is not None
    assert _owned_pids(marker) == []
