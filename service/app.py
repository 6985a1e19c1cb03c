"""The app factory: settings in, a FastAPI app out; models load in the lifespan.

uvicorn --factory service.app:create_app
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from runtime.cores import CoreTokens, usable_cores
from service.access import OPEN, AccessMiddleware, required_scope
from service.auth import KeyRing
from service.body_limit import BodyLimitMiddleware
from service.concurrency import Concurrency
from service.cpu_pool import CpuPool
from service.errors import install_error_handlers
from service.metrics import Metrics
from service.model_control import ModelControl
from service.observe import ObserveMiddleware
from service.registry import ModelRegistry
from service.routers import (
    docs,
    generation,
    health,
    inference,
    models,
    playground,
    repository,
    v2,
)
from service.security_headers import SecurityHeadersMiddleware
from service.settings import Settings
from service.tracing import Tracing
from service.v2.fast_path import V2InferFastPath

log = logging.getLogger(__name__)

DESCRIPTION = """
Adversarially Learned Inference models served with onnxruntime: encode images to latents, decode
latents to images, reconstruct, interpolate, sample, score. Rows from concurrent requests are
batched dynamically. Errors share one JSON shape: `{"error": {"status", "code", "message"}}`.

The same models also speak the Open Inference Protocol (KServe v2, as Triton does) under `/v2`:
each network is a v2 model named `<model>.<network>` (e.g. `mnist.decoder`), with JSON or binary
tensors; its errors are the protocol's `{"error": "message"}`.
"""


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secured_openapi(app: FastAPI, protect_metrics: bool) -> dict[str, Any]:
    """The schema with its security schemes (so /docs has an Authorize button) and, on every
    scoped operation, the keys it takes and its 401 / 403 answers."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
    }
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            if required_scope(method.upper(), path, protect_metrics) == OPEN:
                continue
            op["security"] = [{"bearer": []}, {"apiKey": []}]
            for code, what in (("401", "no or an unknown API key"), ("403", "key lacks the scope")):
                op.setdefault("responses", {})[code] = {"description": what}
    app.openapi_schema = schema
    return schema


def create_app(
    settings: Settings | None = None,
    tokens: CoreTokens | None = None,
    tracing: Tracing | None = None,
    grpc_reuse_port: bool = False,
) -> FastAPI:
    """The app. `tokens`: core tokens shared with other worker processes (runtime/cores.py);
    without them, a CPU host makes this process's own (service/concurrency.py). `tracing`:
    from the OTEL_* variables unless given (service/tracing.py)."""
    settings = settings or Settings()
    tracing = tracing or Tracing.from_env()
    metrics = Metrics()
    if tokens is None:
        total = Concurrency.plan(settings).cpu_tokens
        tokens = CoreTokens(total) if total else None
    registry = ModelRegistry(settings, metrics, tokens=tokens)
    control = ModelControl.for_settings(settings, registry)
    secret = settings.api_key.get_secret_value() if settings.api_key else None
    keys = KeyRing(settings.api_keys_file, secret)
    cpu_pool = CpuPool(usable_cores(), settings.max_cpu_queue)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry.start()
        await control.start()
        registry.ready = True
        grpc_server = None
        if settings.grpc:
            from service.grpc_api.server import GrpcServer  # grpcio only when it is on

            grpc_server = GrpcServer(app.state, app.version, grpc_reuse_port)
            await grpc_server.start()
        log.info("ready (model control %s): %s", control.mode, registry.readiness()[1])
        if not keys.enabled and not is_loopback(settings.host):
            log.warning(
                "listening on %s with no API keys: anyone who can reach the port may call every "
                "route (set ALI_API_KEYS_FILE or ALI_API_KEY; README, Access control)",
                settings.host,
            )
        try:
            yield
        finally:
            registry.draining = True
            if grpc_server is not None:
                await grpc_server.stop()
            await control.stop()
            await registry.close()
            cpu_pool.close()
            tracing.shutdown()

    # FastAPI's /docs and /redoc load their files from a CDN: service/routers/docs.py serves
    # them from the service itself instead.
    app = FastAPI(
        title="ALI service",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # Metrics are Prometheus (/metrics), traces our own (service/tracing.py). FastAPI's
        # native OpenTelemetry would otherwise ask the OTel globals on every request whether a
        # provider is configured: ~4 % of a worker's CPU on one-image requests (docs/peers.md).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.registry = registry
    app.state.model_control = control
    app.state.keys = keys
    app.state.cpu_pool = cpu_pool
    install_error_handlers(app)
    if keys.enabled:
        app.openapi = lambda: secured_openapi(app, settings.protect_metrics)  # type: ignore[method-assign]
    # The last added is the outermost: the request id, metrics, access log and trace span see
    # every request, the 401s and 413s included; then access control, the body limit, the v2
    # infer fast path, FastAPI's routing.
    app.add_middleware(V2InferFastPath)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(
        AccessMiddleware,
        keys=keys,
        metrics=metrics,
        protect_metrics=settings.protect_metrics,
    )
    app.add_middleware(
        ObserveMiddleware, metrics=metrics, tracing=tracing, access_log=settings.access_log
    )
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: nosniff, CSP; HEAD runs as GET
    routers = (health, models, inference, generation, v2, repository, docs)
    for r in (m.router for m in routers):
        app.include_router(r)
    playground.install(app)  # GET /: the page in service/static
    return app
