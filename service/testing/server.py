"""Running the real service as a subprocess on loopback (tests and benchmarks)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: service/ is importable from it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


def service_env(
    model_dir: Path,
    port: int,
    *,
    code: Path = ROOT,
    env: dict[str, str] | None = None,
    **settings: object,
) -> dict[str, str]:
    """The environment for `python -m service.main` on 127.0.0.1:port (settings as ALI_*, and
    `env` as is: OTEL_* variables), importing the service from the checkout `code` (another
    commit's worktree, for benches). That checkout serves its own copy of a model folder of
    this one: older commits read the layout before versions (runtime/repository.py)."""
    if code != ROOT and Path(model_dir).resolve().is_relative_to(ROOT):
        model_dir = code / Path(model_dir).resolve().relative_to(ROOT)
    out = {
        **os.environ,
        "ALI_MODEL_DIR": str(model_dir),
        "ALI_PORT": str(port),
        "ALI_HOST": "127.0.0.1",
        "ALI_LOG_LEVEL": "warning",
        "ALI_GRPC": "false",  # on only where asked for (grpc=true, grpc_port=a free port)
        "PYTHONPATH": str(code),
        **(env or {}),
    }
    out.update({f"ALI_{k.upper()}": str(v) for k, v in settings.items()})
    return out


def start_service(
    model_dir: Path,
    *,
    log_path: Path | None = None,
    code: Path = ROOT,
    env: dict[str, str] | None = None,
    **settings: object,
) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m service.main` on a free port; returns (process, base URL) once ready. Its
    output goes to `log_path` (default: a temporary file)."""
    port = free_port()
    environ = service_env(model_dir, port, code=code, env=env, **settings)
    # Logs go to a file: a pipe nobody reads could fill up and block the server.
    if log_path is None:
        with tempfile.NamedTemporaryFile(prefix="ali-service-", suffix=".log", delete=False) as f:
            log_path = Path(f.name)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.main"],
            env=environ,
            cwd=code,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/readyz", proc=proc)
    except Exception:
        proc.kill()
        raise
    return proc, url


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def running_service(model_dir: Path, **settings: object) -> Iterator[str]:
    """`start_service` as a context manager: yields the base URL, stops the process after."""
    proc, url = start_service(model_dir, **settings)  # type: ignore[arg-type]
    try:
        yield url
    finally:
        stop(proc)
