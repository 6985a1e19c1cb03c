"""The Open Inference Protocol (KServe v2 REST) on the loaded models; see service/v2/.

Each route that names a model exists twice, as Triton serves it: `/v2/models/{name}/...` and
`/v2/models/{name}/versions/{version}/...` (that version, if it is served; the first, the newest). Errors are
`{"error": "message"}` (service/errors.py renders them for every path under /v2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response

from service.deps import AppSettings, Registry
from service.v2 import catalog
from service.v2.catalog import V2Model
from service.v2.infer import infer
from service.v2.schemas import (
    InferRequest,
    InferResponse,
    ModelConfig,
    ModelMetadata,
    ModelReady,
    ServerLive,
    ServerMetadata,
    ServerReady,
    V2Error,
)

router = APIRouter(prefix="/v2", tags=["v2 (Open Inference Protocol)"])

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": V2Error} for code in (400, 404, 413, 503, 504)
}
BINARY = {"schema": {"type": "string", "format": "binary"}}


def _inline(schema: Any, defs: dict[str, Any] | None = None) -> Any:
    """A pydantic JSON schema with its local $refs (#/$defs/X) replaced by the definitions."""
    if defs is None and isinstance(schema, dict):
        defs = schema.get("$defs", {})
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)  # type: ignore[index]
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


async def _model(registry: Registry, request: Request, name: str) -> V2Model:
    # {version} is in the path of the versioned twin only (see `model_route`).
    return catalog.resolve(registry, name, request.path_params.get("version"))


Model = Annotated[V2Model, Depends(_model)]
F = TypeVar("F", bound=Callable[..., Any])
VERSION_PARAM = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}


def model_route(method: str, tail: str = "", **kw: Any) -> Callable[[F], F]:
    """Register one handler on `/models/{name}<tail>` and its versioned twin
    `/models/{name}/versions/{version}<tail>`, as Triton serves both."""

    def register(handler: F) -> F:
        add = getattr(router, method)
        add(f"/models/{{name}}{tail}", **kw)(handler)
        extra = {**kw.get("openapi_extra", {}), "parameters": [VERSION_PARAM]}
        add(f"/models/{{name}}/versions/{{version}}{tail}", **{**kw, "openapi_extra": extra})(
            handler
        )
        return handler

    return register


HeaderLength = Annotated[
    int | None,
    Header(ge=0, description="binary extension: bytes of JSON before the raw input tensors"),
]


# ---- server ----------------------------------------------------------------------------------
@router.get("", response_model=ServerMetadata, summary="Server metadata and extensions")
async def server_metadata(request: Request) -> ServerMetadata:
    return ServerMetadata(name="ali", version=request.app.version, extensions=catalog.EXTENSIONS)


@router.get("/health/live", response_model=ServerLive, summary="The process is alive")
async def server_live() -> ServerLive:
    return ServerLive(live=True)


@router.get(
    "/health/ready",
    response_model=ServerReady,
    responses={503: {"model": ServerReady}},
    summary="Models loaded (503 while loading, draining, or without GPU if required)",
)
async def server_ready(registry: Registry) -> JSONResponse:
    ok, _ = registry.readiness()
    return JSONResponse(ServerReady(ready=ok).model_dump(), status_code=200 if ok else 503)


# ---- models: metadata, readiness, Triton config ----------------------------------------------
@model_route("get", response_model=ModelMetadata, responses=ERRORS)
async def model_metadata(model: Model, registry: Registry) -> ModelMetadata:
    return catalog.metadata(model, registry)


@model_route("get", "/ready", response_model=ModelReady, responses=ERRORS)
async def model_ready(model: Model) -> ModelReady:
    return ModelReady(name=model.name, ready=True)  # resolved: loaded (a failed one is a 503)


CONFIG = {
    "response_model": ModelConfig,
    "response_model_exclude_none": True,
    "responses": ERRORS,
    "summary": "Triton's model configuration (the part perf_analyzer and model analyzer read)",
}


@model_route("get", "/config", **CONFIG)
async def model_config(model: Model, settings: AppSettings) -> ModelConfig:
    return catalog.config(model, settings)


# ---- inference -------------------------------------------------------------------------------
INFER: dict[str, Any] = {
    "response_class": Response,
    "responses": {
        **ERRORS,
        200: {
            "model": InferResponse,
            "description": "JSON; with any binary output, the JSON header then raw tensors",
            "content": {"application/octet-stream": BINARY},
            "headers": {
                "Inference-Header-Content-Length": {
                    "description": "bytes of JSON before the raw output tensors",
                    "schema": {"type": "integer"},
                }
            },
        },
    },
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "description": "JSON; or (binary tensor data extension) a JSON header of "
            "Inference-Header-Content-Length bytes followed by the raw input tensors",
            "content": {
                "application/json": {"schema": _inline(InferRequest.model_json_schema())},
                "application/octet-stream": BINARY,
            },
        }
    },
    "summary": "Run the model on tensors (JSON or binary), through the shared dynamic batcher",
}


@model_route("post", "/infer", **INFER)
async def model_infer(
    model: Model,
    request: Request,
    settings: AppSettings,
    inference_header_content_length: HeaderLength = None,
) -> Response:
    """The FastAPI route; the unversioned path is answered in front of FastAPI
    (service/v2/fast_path.py) and reaches this only for what that path does not take."""
    answer = await infer(
        model,
        await request.body(),
        request.headers.get("content-encoding"),
        inference_header_content_length,
        settings,
        request.app.state.cpu_pool,
    )
    return Response(answer.body, media_type=answer.media_type, headers=answer.headers)
