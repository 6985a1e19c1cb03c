"""Starting a server under test in its own process group, waiting for it, and stopping all of it.

Some peers start helpers outside their process group (Ray's raylet and GCS start new sessions), so
stopping also sweeps /proc for processes running from the peer's own environment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.peers.workloads import Request


@dataclass
class Running:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    owned_prefix: str | None  # processes whose command line holds this are ours to stop

    def log_tail(self, lines: int = 5) -> str:
        text = (
            self.log.read_text(errors="replace").strip().splitlines() if self.log.exists() else []
        )
        return " | ".join(text[-lines:])


def launch(
    name: str,
    cmd: list[str],
    env: dict[str, str],
    cwd: Path,
    url: str,
    log: Path,
    owned_prefix: str | None = None,
) -> Running:
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Running(name, proc, url, log, owned_prefix)


def post(url: str, req: Request, timeout: float = 30) -> tuple[int, bytes, dict[str, str]]:
    r = urllib.request.Request(
        url + req.path,
        data=req.body,
        headers={"Content-Type": req.content_type, **req.headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            return resp.status, resp.read(), {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, e.read(), {}


def wait_ready(run: Running, probe: Request, timeout: float) -> None:
    """Until `probe` gets an answer other than 404 or 503 (routes still being deployed; any
    other wrong answer is check_answers' to report);
    a server that exits or never answers raises with its log."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if run.proc.poll() is not None:
            raise RuntimeError(f"exited with {run.proc.returncode}: {run.log_tail()}")
        try:
            status, body, _ = post(run.url, probe, timeout=10)
            if status not in (404, 503):
                return
            last = f"HTTP {status}: {body[:200]!r}"
        except OSError as e:
            last = str(e)
        time.sleep(0.5)
    raise TimeoutError(f"not ready after {timeout:.0f} s ({last}): {run.log_tail()}")


def _owned_pids(prefix: str) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmdline = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if prefix in cmdline:
            pids.append(int(d.name))
    return pids


def _kill(pid: int, sig: int, group: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError):
        (os.killpg if group else os.kill)(pid, sig)


def stop(run: Running, grace: float = 15.0) -> None:
    """SIGTERM the process group, SIGKILL what is left after `grace`, then the stragglers."""
    _kill(run.proc.pid, signal.SIGTERM, group=True)
    with contextlib.suppress(subprocess.TimeoutExpired):
        run.proc.wait(grace)
    _kill(run.proc.pid, signal.SIGKILL, group=True)
    run.proc.wait()
    deadline = time.monotonic() + 10
    while run.owned_prefix and time.monotonic() < deadline:
        left = _owned_pids(run.owned_prefix)
        if not left:
            return
        for pid in left:
            _kill(pid, signal.SIGKILL)
        time.sleep(0.2)
