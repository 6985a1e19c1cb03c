"""`ali-serve`: run the service with uvicorn.

    ali-serve                        # models/ on 0.0.0.0:8000 (settings from ALI_* env vars)
    ali-serve --port 9000 --model-dir /models --workers 2

Unset, the worker count follows the host (service/concurrency.py): one per usable core on a CPU
host, one with CUDA. With N > 1 on Linux, N worker processes each listen on their own
SO_REUSEPORT socket (service/workers.py) and behave like the single-process server below.

On SIGTERM /readyz turns 503 at once (so load balancers stop sending), the listener stays open
ALI_SHUTDOWN_DELAY_S, in-flight requests finish, and the process exits within
ALI_SHUTDOWN_DELAY_S + ALI_DRAIN_SECONDS.
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from service.concurrency import Concurrency
from service.logs import configure_logging, log_config
from service.server import http_protocol, serve
from service.settings import Settings
from service.workers import Supervisor, reuseport_supported


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ali-serve", description="Serve ALI models over HTTP.")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int)
    p.add_argument("--model-dir")
    args = p.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    settings = Settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    plan = Concurrency.plan(settings)
    if plan.workers > 1 and reuseport_supported():
        stop_timeout = settings.shutdown_delay_s + settings.drain_seconds + 10
        sys.exit(Supervisor(plan.workers, overrides, stop_timeout, plan.cpu_tokens).run())
    if plan.workers > 1:
        # No per-worker sockets here: uvicorn's workers share one. Each builds its app from env.
        for key, value in overrides.items():
            os.environ[f"ALI_{key.upper()}"] = str(value)
        uvicorn.run(
            "service.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=plan.workers,
            log_level=settings.log_level,
            log_config=log_config(settings.log_level, settings.log_format),
            access_log=False,  # service/observe.py writes the access log
            timeout_graceful_shutdown=int(settings.drain_seconds),
            timeout_keep_alive=settings.keepalive_timeout_s,
            http=http_protocol(settings),
        )
        return
    serve(settings)


if __name__ == "__main__":
    main()
