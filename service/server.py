"""One uvicorn server process: the app, its config, and draining on SIGTERM.

Both the single-process `ali-serve` (service/main.py) and each worker process
(service/workers.py) run `serve()`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from types import FrameType

import uvicorn

from runtime.cores import CoreTokens
from service.allocator import limit_arenas
from service.app import create_app
from service.connections import ConnectionLimits, guarded_protocol
from service.logs import log_config
from service.settings import Settings


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


def http_protocol(settings: Settings) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with the connection limits of `settings`."""
    return guarded_protocol(
        ConnectionLimits(
            header_timeout_s=settings.header_timeout_s,
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            max_connections=settings.max_connections,
        )
    )


def serve(
    settings: Settings, sock: socket.socket | None = None, tokens: CoreTokens | None = None
) -> bool:
    """One server process until it exits (on `sock` if given, else host:port from settings).

    Returns False if the app failed to start."""
    limit_arenas()  # before onnxruntime and the executors start threads (service/allocator.py)
    app = create_app(settings, tokens, grpc_reuse_port=sock is not None)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=log_config(settings.log_level, settings.log_format),
        access_log=False,  # service/observe.py writes the access log, with the request id
        timeout_graceful_shutdown=int(settings.drain_seconds),
        timeout_keep_alive=settings.keepalive_timeout_s,
        http=http_protocol(settings),
    )
    server = DrainingServer(config, app.state, settings.shutdown_delay_s)
    server.run(sockets=None if sock is None else [sock])
    return server.started
