"""Several server processes on one port, each with its own SO_REUSEPORT listening socket.

Why not uvicorn's `--workers`: its workers share one listening socket, and whichever worker
wakes first accepts a whole burst of new connections. Keep-alive clients (a load balancer's
pool, wrk) then stay on that worker for the life of the connection, and the other core idles
(BENCHMARKS.md). With a socket per worker, Linux hashes each new connection to one of the
sockets, so connections spread across workers independently of who is awake.

The supervisor (the parent) never listens itself: a listening socket in the group that nobody
accepts on would swallow its share of connections. It restarts workers that die and, on SIGTERM
or SIGINT, forwards SIGTERM once so each worker drains as a single-process server does.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from runtime.cores import CoreTokens, shared_state
from service.logs import configure_logging
from service.server import serve
from service.settings import Settings

logger = logging.getLogger("service.workers")

STARTUP_FAILURE = 3  # uvicorn's exit code when the app fails to start (also ours for bind errors)
RESTART_BACKOFF_S = 1.0
# Folders the workers share: the metrics of all (service/metrics.py), model control's state
# (service/model_control.py).
SHARED_DIRS = {"PROMETHEUS_MULTIPROC_DIR": "ali-metrics-", "ALI_CONTROL_DIR": "ali-control-"}


def reuseport_supported() -> bool:
    # Linux balances connections across a SO_REUSEPORT group; other systems differ (macOS sends
    # them all to the last socket bound), so they keep uvicorn's shared socket.
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket that other processes of this user may bind to the same port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(overrides: dict[str, Any], total_tokens: int | None, shared_tokens: Any) -> None:
    """One worker process: its own socket, app and draining server; `shared_tokens` is the state
    of the `total_tokens` core tokens all workers share (runtime/cores.py; None with CUDA)."""
    settings = Settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    _exit_with_parent(os.getppid())
    try:
        sock = reuseport_socket(settings.host, settings.port)
    except OSError as e:
        logger.error(
            "worker %d cannot listen on %s:%d: %s", os.getpid(), settings.host, settings.port, e
        )
        sys.exit(STARTUP_FAILURE)
    # False when the app's lifespan raised (an unexpected error while loading models; a model
    # that merely fails to load is reported by /readyz instead): a restart would fail the same way.
    tokens = CoreTokens(total_tokens, shared_tokens) if total_tokens else None
    if not serve(settings, sock, tokens):
        sys.exit(STARTUP_FAILURE)


def _exit_with_parent(parent: int) -> None:
    """If the supervisor dies (SIGKILL), drain and exit rather than serve on unsupervised."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class Supervisor:
    """Starts `n` workers, restarts any that die, and stops them all on SIGTERM/SIGINT."""

    def __init__(
        self, n: int, overrides: dict[str, Any], stop_timeout_s: float, tokens: int | None
    ) -> None:
        self.n = n
        self.overrides = overrides
        self.stop_timeout_s = stop_timeout_s
        self._ctx = multiprocessing.get_context("spawn")  # no forked onnxruntime/thread state
        self._total_tokens = tokens
        self._tokens = shared_state(self._ctx, tokens) if tokens else None
        self._stopping = threading.Event()
        self.procs: list[BaseProcess] = []

    def _start(self) -> BaseProcess:
        p = self._ctx.Process(
            target=_worker,
            args=(self.overrides, self._total_tokens, self._tokens),
            name="ali-worker",
        )
        p.start()
        return p

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._stopping.set()

    def run(self) -> int:
        """Blocks until stopped; returns the exit code for the supervisor process."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        # /metrics must sum every worker, and explicit model control needs a folder all workers
        # share: without the operator's, folders of our own (the workers, spawned after this,
        # inherit the variables), removed on exit.
        own = {}
        for variable, prefix in SHARED_DIRS.items():
            if not os.environ.get(variable):
                own[variable] = os.environ[variable] = tempfile.mkdtemp(prefix=prefix)
        try:
            return self._supervise()
        finally:
            for variable, folder in own.items():
                del os.environ[variable]
                shutil.rmtree(folder, ignore_errors=True)

    def _supervise(self) -> int:
        self.procs = [self._start() for _ in range(self.n)]
        logger.info("started %d workers: %s", self.n, [p.pid for p in self.procs])
        code = 0
        while not self._stopping.wait(RESTART_BACKOFF_S):
            for i, p in enumerate(self.procs):
                if p.is_alive():
                    continue
                if p.exitcode == STARTUP_FAILURE:
                    logger.error("worker %s failed to start; stopping", p.pid)
                    code = STARTUP_FAILURE
                    self._stopping.set()
                    break
                logger.warning("worker %s exited with %s; restarting", p.pid, p.exitcode)
                _mark_dead(p.pid)
                self.procs[i] = self._start()
        self._stop()
        return code

    def _stop(self) -> None:
        for p in self.procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)  # one signal: the worker drains, then exits
        for p in self.procs:
            p.join(self.stop_timeout_s)
            if p.is_alive():
                logger.warning(
                    "worker %s did not stop in %.0f s; killing", p.pid, self.stop_timeout_s
                )
                p.kill()
                p.join()


def _mark_dead(pid: int | None) -> None:
    """Drop a dead worker's live gauges from the multiprocess metrics folder."""
    if pid is None or not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
