"""`ALI_WORKERS` > 1: one SO_REUSEPORT socket per worker, restarts, clean stop, startup failure."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from service.testing.server import service_env, start_service, stop, wait_http
from service.testing.tiny_models import make_tiny_model
from service.workers import reuseport_supported

pytestmark = pytest.mark.skipif(not reuseport_supported(), reason="per-worker sockets: Linux")


@pytest.fixture()
def models(tmp_path: Path) -> Path:
    make_tiny_model(tmp_path, "tiny")
    return tmp_path


def start_workers(models: Path, **settings: object) -> tuple[subprocess.Popen, str, int]:
    """The service with 2 workers; (supervisor process, base URL, port)."""
    proc, url = start_service(models, workers=2, **settings)
    port = urlsplit(url).port
    assert port is not None
    return proc, url, port


def children(pid: int) -> list[int]:
    """Worker pids (multiprocessing's resource tracker holds no TCP socket, so it counts 0)."""
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def socket_inodes(pid: int) -> set[str]:
    """Socket inodes `pid` holds (fds may close, or the process exit, while we read them)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return set()
    out = set()
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        if m:
            out.add(m.group(1))
    return out


def tcp_inodes(port: int, state: str) -> set[str]:
    """Inodes of IPv4 sockets on local `port` in `state` (01 established, 0A listening)."""
    out = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[3] == state and int(f[1].split(":")[1], 16) == port:
            out.add(f[9])
    return out


def wait_workers(
    pid: int, port: int, n: int, gone: int | None = None, timeout: float = 60
) -> list[int]:
    """Until n children (other than `gone`) each hold their own listening socket on `port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listening = tcp_inodes(port, "0A")
        kids = [k for k in children(pid) if k != gone and socket_inodes(k) & listening]
        if len(kids) == n:
            return kids
        time.sleep(0.2)
    raise TimeoutError(f"{n} listening workers")


def test_connections_spread_over_workers_each_with_its_own_socket(models: Path) -> None:
    proc, _, port = start_workers(models)
    try:
        kids = wait_workers(proc.pid, port, 2)
        listening = tcp_inodes(port, "0A")
        assert len(listening) == 2  # two sockets, not one shared by both
        assert not socket_inodes(proc.pid) & listening  # the supervisor never listens
        conns = []
        for _ in range(16):  # keep-alive connections, like a load balancer's pool
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/healthz")
            assert c.getresponse().read()
            conns.append(c)
        established = tcp_inodes(port, "01")
        per_worker = [len(socket_inodes(k) & established) for k in kids]
        # A hash split of 16 connections puts all on one worker with probability 2/2**16.
        assert sum(per_worker) == 16 and min(per_worker) >= 1, per_worker
        for c in conns:
            c.close()
    finally:
        stop(proc)
    assert proc.returncode == 0


def test_a_killed_worker_is_replaced_and_sigterm_stops_all(models: Path) -> None:
    proc, url, port = start_workers(models, shutdown_delay_s=0)
    try:
        first = wait_workers(proc.pid, port, 2)
        os.kill(first[0], signal.SIGKILL)
        again = wait_workers(proc.pid, port, 2, gone=first[0])
        assert first[1] in again
        wait_http(f"{url}/readyz")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        for k in again:
            assert (
                not Path(f"/proc/{k}").exists() or "zombie" in Path(f"/proc/{k}/status").read_text()
            )
    finally:
        stop(proc)


def test_workers_exit_when_the_supervisor_is_killed(models: Path) -> None:
    proc, _, port = start_workers(models, shutdown_delay_s=0)
    kids = wait_workers(proc.pid, port, 2)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{k}").exists() for k in kids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(Path(f"/proc/{k}").exists() for k in kids)


def test_a_worker_that_cannot_start_stops_the_supervisor(models: Path) -> None:
    with socket.socket() as taken:  # a plain listener (no SO_REUSEPORT) holds the port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = service_env(models, taken.getsockname()[1], workers=2)
        r = subprocess.run(
            [sys.executable, "-m", "service.main"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert r.returncode == 3, r.stderr[-2000:]
    assert "cannot listen" in r.stderr and "failed to start; stopping" in r.stderr
