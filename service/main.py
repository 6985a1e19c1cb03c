"""`ali-serve`: run the service with uvicorn.

    ali-serve                        # models/ on 0.0.0.0:8000 (settings from ALI_* env vars)
    ali-serve --port 9000 --model-dir /models --workers 2

With --workers N > 1 on Linux, N worker processes each listen on their own SO_REUSEPORT socket
(service/workers.py) and behave like the single-process server described below.

On SIGTERM /readyz turns 503 at once (so load balancers stop sending), the listener stays open
ALI_SHUTDOWN_DELAY_S, in-flight requests finish, and the process exits within
ALI_SHUTDOWN_DELAY_S + ALI_DRAIN_SECONDS.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
from types import FrameType

import uvicorn

from service.app import create_app
from service.settings import Settings
from service.workers import Supervisor, reuseport_supported


class DrainingServer(uvicorn.Server):
    """On SIGTERM: /readyz turns 503 at once, the listener stays open `delay` seconds so load
    balancers see it and stop sending, then uvicorn's graceful shutdown lets in-flight requests
    finish (up to `timeout_graceful_shutdown`). A second signal exits immediately."""

    def __init__(self, config: uvicorn.Config, app_state: object, delay: float) -> None:
        super().__init__(config)
        self._state = app_state
        self._delay = delay
        self._timer: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        registry = getattr(self._state, "registry", None)
        if registry is not None:
            registry.draining = True
        if self._timer is None and self._delay > 0:
            self._timer = threading.Timer(self._delay, super().handle_exit, (sig, frame))
            self._timer.daemon = True
            self._timer.start()
            return
        super().handle_exit(sig, frame)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def serve(settings: Settings, sock: socket.socket | None = None) -> bool:
    """One server process until it exits (on `sock` if given, else host:port from settings).

    Returns False if the app failed to start."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.drain_seconds),
    )
    server = DrainingServer(config, app.state, settings.shutdown_delay_s)
    server.run(sockets=None if sock is None else [sock])
    return server.started


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ali-serve", description="Serve ALI models over HTTP.")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int)
    p.add_argument("--model-dir")
    args = p.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    settings = Settings(**overrides)
    configure_logging(settings)
    if settings.workers > 1 and reuseport_supported():
        stop_timeout = settings.shutdown_delay_s + settings.drain_seconds + 10
        sys.exit(Supervisor(settings.workers, overrides, stop_timeout).run())
    if settings.workers > 1:
        # No per-worker sockets here: uvicorn's workers share one. Each builds its app from env.
        for key, value in overrides.items():
            os.environ[f"ALI_{key.upper()}"] = str(value)
        uvicorn.run(
            "service.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            timeout_graceful_shutdown=int(settings.drain_seconds),
        )
        return
    serve(settings)


if __name__ == "__main__":
    main()
