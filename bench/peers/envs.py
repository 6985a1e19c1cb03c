"""One virtual environment per peer, made by the bench itself (their pins conflict).

Environments live in .venv-peers/<name>; a marker holding the requirements makes a second run
reuse them. pip output goes to .venv-peers/<name>.log; the last lines of it become the error
when an install fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.peers.specs import Peer

ROOT = Path(__file__).resolve().parents[2] / ".venv-peers"


class InstallError(RuntimeError):
    pass


def python_of(peer: Peer) -> Path:
    return ROOT / peer.name / "bin" / "python"


def ensure(peer: Peer) -> Path:
    """The peer's python, installing its environment first if needed."""
    venv = ROOT / peer.name
    marker = venv / ".requirements"
    wanted = "\n".join(peer.requirements)
    if marker.exists() and marker.read_text() == wanted:
        return python_of(peer)
    ROOT.mkdir(exist_ok=True)
    log = ROOT / f"{peer.name}.log"
    with log.open("w") as out:
        for cmd in (
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            [str(python_of(peer)), "-m", "pip", "install", "-q", *peer.requirements],
        ):
            print(f"[{peer.name}] {' '.join(cmd[-len(peer.requirements) - 2 :])}", file=sys.stderr)
            if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                tail = log.read_text().strip().splitlines()[-3:]
                raise InstallError(f"pip install {' '.join(peer.requirements)}: {' | '.join(tail)}")
    marker.write_text(wanted)
    return python_of(peer)


def version(peer: Peer) -> str:
    out = subprocess.run(
        [
            str(python_of(peer)),
            "-c",
            f"import importlib.metadata as m; print(m.version({peer.version_of!r}))",
        ],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or "unknown"
