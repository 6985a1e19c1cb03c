"""The gRPC server of one worker: grpc.aio on the app's event loop, beside uvicorn.

It shares the app's registry and batchers, so gRPC and REST rows ride in the same batches. It
serves GRPCInferenceService (service/grpc_api/servicer.py) and the standard grpc.health.v1
service, whose answer follows /readyz (Kubernetes gRPC probes: `grpc: {port: 8001}`). On
SIGTERM: health turns NOT_SERVING, new calls are still taken for ALI_SHUTDOWN_DELAY_S, then
the server stops taking them and waits up to ALI_DRAIN_SECONDS for calls in flight.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from service.grpc_api import inference_pb2_grpc as pb_grpc
from service.grpc_api.servicer import SERVICE, InferenceServicer
from service.registry import ModelRegistry
from service.settings import Settings

log = logging.getLogger(__name__)
SERVING, NOT_SERVING = (
    health_pb2.HealthCheckResponse.SERVING,
    health_pb2.HealthCheckResponse.NOT_SERVING,
)


class Health(health_aio.HealthServicer):  # type: ignore[misc]
    """Check answers from the registry's readiness at the time of the call."""

    def __init__(self, registry: ModelRegistry) -> None:
        super().__init__()
        self.registry = registry

    async def Check(self, request: Any, context: Any) -> Any:  # noqa: N802
        if request.service not in ("", SERVICE):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        ready = self.registry.readiness()[0]
        return health_pb2.HealthCheckResponse(status=SERVING if ready else NOT_SERVING)


class GrpcServer:
    def __init__(self, app_state: Any, version: str, reuse_port: bool) -> None:
        self.settings: Settings = app_state.settings
        self.registry: ModelRegistry = app_state.registry
        s = self.settings
        self.server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", s.max_body_bytes),
                ("grpc.max_send_message_length", -1),
                # Worker processes share the port, as their HTTP sockets do; a lone server
                # must not share it with some other process by accident.
                ("grpc.so_reuseport", 1 if reuse_port else 0),
            ]
        )
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            InferenceServicer(app_state, version), self.server
        )
        self.health = Health(self.registry)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._drain: asyncio.Task[None] | None = None

    async def start(self) -> None:
        s = self.settings
        host = f"[{s.host}]" if ":" in s.host else s.host
        self.server.add_insecure_port(f"{host}:{s.grpc_port}")  # raises if it cannot bind
        await self.server.start()
        self._drain = asyncio.get_running_loop().create_task(self._drain_on_signal())
        log.info("gRPC on %s:%d", s.host, s.grpc_port)

    async def _drain_on_signal(self) -> None:
        while not self.registry.draining:
            await asyncio.sleep(0.1)
        await self.health.enter_graceful_shutdown()  # Watch streams see NOT_SERVING
        await asyncio.sleep(self.settings.shutdown_delay_s)
        await self.server.stop(grace=self.settings.drain_seconds)

    async def stop(self) -> None:
        """At the app's shutdown (the registry is draining by then): the drain to its end. On
        SIGTERM it started with uvicorn's, so both drain at once."""
        if self._drain is not None:
            await self._drain
