"""GRPCInferenceService on the same registry, batchers, keys, metrics and request ids as REST.

Every call goes through `_call`: a RequestInfo (request id from `x-request-id` or `traceparent`
metadata, as REST), the key check (`authorization: Bearer KEY` or `x-api-key` metadata, the
scope each call needs below), the metrics with protocol="grpc", and a service error turned into
its gRPC status (`STATUS`). The request id, model and version go back as trailing metadata.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from service.access import OPEN
from service.auth import KeyRing, presented_key
from service.cpu_pool import INLINE_BYTES, CpuPool
from service.errors import (
    ClientClosedRequest,
    DeadlineExceeded,
    Forbidden,
    ModelNotFound,
    NotReady,
    Overloaded,
    PayloadTooLarge,
    ServiceError,
    Unauthorized,
    as_service_error,
)
from service.grpc_api import inference_pb2 as pb
from service.grpc_api import inference_pb2_grpc as pb_grpc
from service.grpc_api.tensors import decode_inputs, encode_response, output_names
from service.metrics import Metrics
from service.model_control import ModelControl
from service.registry import ModelRegistry
from service.request_info import CURRENT, RequestInfo, request_id
from service.settings import Settings
from service.v2 import catalog
from service.v2.catalog import V2Model

log = logging.getLogger(__name__)
T = TypeVar("T")
SERVICE = "inference.GRPCInferenceService"
C = grpc.StatusCode

# Service errors as gRPC statuses; the first class that matches wins (both 503s differ).
STATUS: tuple[tuple[type[ServiceError], grpc.StatusCode], ...] = (
    (Unauthorized, C.UNAUTHENTICATED),
    (Forbidden, C.PERMISSION_DENIED),
    (ModelNotFound, C.NOT_FOUND),
    (PayloadTooLarge, C.RESOURCE_EXHAUSTED),
    (Overloaded, C.RESOURCE_EXHAUSTED),  # a full queue: retry later, elsewhere
    (NotReady, C.UNAVAILABLE),
    (DeadlineExceeded, C.DEADLINE_EXCEEDED),
    (ClientClosedRequest, C.CANCELLED),
)
# The scope each call needs (service/auth.py); the health service is open, as /healthz.
SCOPES = {
    "ServerLive": OPEN,
    "ServerReady": OPEN,
    "ModelReady": "read",
    "ServerMetadata": "read",
    "ModelMetadata": "read",
    "ModelConfig": "read",
    "ModelInfer": "infer",
    "RepositoryIndex": "admin",
    "RepositoryModelLoad": "admin",
    "RepositoryModelUnload": "admin",
}


def grpc_status(error: ServiceError) -> grpc.StatusCode:
    for cls, code in STATUS:
        if isinstance(error, cls):
            return code
    return C.INVALID_ARGUMENT if 400 <= error.status < 500 else C.INTERNAL


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, app_state: Any, version: str) -> None:
        self.registry: ModelRegistry = app_state.registry
        self.settings: Settings = app_state.settings
        self.metrics: Metrics = app_state.metrics
        self.keys: KeyRing = app_state.keys
        self.control: ModelControl = app_state.model_control
        self.pool: CpuPool = app_state.cpu_pool
        self.version = version

    async def _call(
        self, rpc: str, context: grpc.aio.ServicerContext, work: Callable[[], Awaitable[T]]
    ) -> T:
        metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        info = RequestInfo(request_id(metadata.get("x-request-id"), metadata.get("traceparent")))
        token = CURRENT.set(info)
        self.metrics.in_flight.inc()
        self.metrics.active_requests += 1
        start, code = time.perf_counter(), C.CANCELLED  # until it ends otherwise
        endpoint, finished = f"/{SERVICE}/{rpc}", False

        def count() -> None:
            labels = (endpoint, code.name, info.model or "", info.version or "", "grpc")
            self.metrics.requests.labels(*labels).inc()

        def finish() -> None:  # before the answer or the abort leaves: metrics, trailing ids
            nonlocal finished
            finished = True
            count()
            self.metrics.request_duration.labels(endpoint).observe(time.perf_counter() - start)
            trailing = [("x-request-id", info.id)]
            if info.model is not None and info.version is not None:
                trailing += [("x-model", info.model), ("x-model-version", info.version)]
            context.set_trailing_metadata(tuple(trailing))

        try:
            self._authorize(rpc, metadata)
            result = await work()
            code = C.OK
            finish()
            return result
        except Exception as e:  # a ServiceError, or a bug: never a traceback to the client
            error = as_service_error(e)
            if error.status >= 500 and not isinstance(e, ServiceError):
                log.error("%s failed", rpc, exc_info=e)
            code = grpc_status(error)
            finish()
            await context.abort(code, error.message if error.status != 500 else "internal error")
            raise  # not reached: abort raises
        finally:
            if not finished:  # cancelled: the client went away or its deadline passed
                count()
            info.release()
            self.metrics.in_flight.dec()
            self.metrics.active_requests -= 1
            CURRENT.reset(token)

    def _authorize(self, rpc: str, metadata: dict[str, str]) -> None:
        need = SCOPES[rpc]
        if need == OPEN or not self.keys.enabled:
            return
        presented = presented_key(metadata)
        key = self.keys.lookup(presented) if presented else None
        if key is None or need not in key.scopes:
            name = key.name if key else ("(unknown)" if presented else "(none)")
            self.metrics.requests_by_key.labels(name, "401" if key is None else "403").inc()
            if key is None:
                raise Unauthorized("send a valid API key: authorization: Bearer KEY metadata")
            raise Forbidden(f"key {key.name!r} lacks the {need!r} scope")

    def _model(self, name: str, version: str) -> V2Model:
        return catalog.resolve(self.registry, name, version or None)

    # ---- server ---------------------------------------------------------------------------
    async def ServerLive(self, request: Any, context: Any) -> pb.ServerLiveResponse:  # noqa: N802
        async def work() -> pb.ServerLiveResponse:
            return pb.ServerLiveResponse(live=True)

        return await self._call("ServerLive", context, work)

    async def ServerReady(self, request: Any, context: Any) -> pb.ServerReadyResponse:  # noqa: N802
        async def work() -> pb.ServerReadyResponse:
            return pb.ServerReadyResponse(ready=self.registry.readiness()[0])

        return await self._call("ServerReady", context, work)

    async def ServerMetadata(self, request: Any, context: Any) -> pb.ServerMetadataResponse:  # noqa: N802
        async def work() -> pb.ServerMetadataResponse:
            return pb.ServerMetadataResponse(
                name="ali", version=self.version, extensions=catalog.EXTENSIONS
            )

        return await self._call("ServerMetadata", context, work)

    # ---- models ---------------------------------------------------------------------------
    async def ModelReady(self, request: Any, context: Any) -> pb.ModelReadyResponse:  # noqa: N802
        async def work() -> pb.ModelReadyResponse:
            try:
                self._model(request.name, request.version)
            except NotReady:
                return pb.ModelReadyResponse(ready=False)
            return pb.ModelReadyResponse(ready=True)

        return await self._call("ModelReady", context, work)

    async def ModelMetadata(self, request: Any, context: Any) -> pb.ModelMetadataResponse:  # noqa: N802
        async def work() -> pb.ModelMetadataResponse:
            meta = catalog.metadata(self._model(request.name, request.version), self.registry)
            return pb.ModelMetadataResponse(**meta.model_dump())

        return await self._call("ModelMetadata", context, work)

    async def ModelConfig(self, request: Any, context: Any) -> pb.ModelConfigResponse:  # noqa: N802
        async def work() -> pb.ModelConfigResponse:
            cfg = catalog.config(self._model(request.name, request.version), self.settings)
            return pb.ModelConfigResponse(
                config=pb.ModelConfig(**cfg.model_dump(exclude_none=True))
            )

        return await self._call("ModelConfig", context, work)

    async def ModelInfer(self, request: Any, context: Any) -> pb.ModelInferResponse:  # noqa: N802
        async def work() -> pb.ModelInferResponse:
            model = self._model(request.model_name, request.model_version)
            heavy = sum(len(r) for r in request.raw_input_contents) > INLINE_BYTES
            feeds, raw = await self.pool.run_if(
                heavy, decode_inputs, request, model.inputs, self.settings.max_images
            )
            model.check_values(feeds)
            names = output_names(request, [s.name for s in model.outputs])
            results = await model.infer(feeds)
            response = pb.ModelInferResponse(
                model_name=model.name, model_version=model.version, id=request.id
            )
            return encode_response(response, {n: results[n] for n in names}, raw)

        return await self._call("ModelInfer", context, work)

    # ---- repository -----------------------------------------------------------------------
    async def RepositoryIndex(self, request: Any, context: Any) -> pb.RepositoryIndexResponse:  # noqa: N802
        async def work() -> pb.RepositoryIndexResponse:
            models = [
                pb.RepositoryIndexResponse.ModelIndex(
                    name=e.name, version=e.version, state=e.state, reason=e.reason
                )
                for e in self.control.index(request.ready)
            ]
            return pb.RepositoryIndexResponse(models=models)

        return await self._call("RepositoryIndex", context, work)

    async def RepositoryModelLoad(
        self, request: Any, context: Any
    ) -> pb.RepositoryModelLoadResponse:  # noqa: N802
        async def work() -> pb.RepositoryModelLoadResponse:
            await self.control.load(request.model_name, request.parameters)
            return pb.RepositoryModelLoadResponse()

        return await self._call("RepositoryModelLoad", context, work)

    async def RepositoryModelUnload(  # noqa: N802
        self, request: Any, context: Any
    ) -> pb.RepositoryModelUnloadResponse:
        async def work() -> pb.RepositoryModelUnloadResponse:
            await self.control.unload(request.model_name)
            return pb.RepositoryModelUnloadResponse()

        return await self._call("RepositoryModelUnload", context, work)
