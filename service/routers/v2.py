"""The Open Inference Protocol (KServe v2 REST) on the loaded models; see service/v2/.

Each route that names a model exists twice, as Triton serves it: `/v2/models/{name}/...` and
`/v2/models/{name}/versions/{version}/...` (404 for any version but the manifest's). Errors are
`{"error": "message"}` (service/errors.py renders them for every path under /v2).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response

from service.deps import AppSettings, Registry
from service.settings import Settings
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

EXTENSIONS = ["binary_tensor_data", "model_configuration"]
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


async def _latest(registry: Registry, name: str) -> V2Model:
    return catalog.resolve(registry, name)


async def _versioned(registry: Registry, name: str, version: str) -> V2Model:
    return catalog.resolve(registry, name, version)


Latest = Annotated[V2Model, Depends(_latest)]
Versioned = Annotated[V2Model, Depends(_versioned)]
HeaderLength = Annotated[
    int | None,
    Header(ge=0, description="binary extension: bytes of JSON before the raw input tensors"),
]


# ---- server ----------------------------------------------------------------------------------
@router.get("", response_model=ServerMetadata, summary="Server metadata and extensions")
async def server_metadata(request: Request) -> ServerMetadata:
    return ServerMetadata(name="ali", version=request.app.version, extensions=EXTENSIONS)


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
def _ready(model: V2Model) -> ModelReady:
    return ModelReady(name=model.name, ready=True)  # resolved: loaded (a failed one is a 503)


@router.get("/models/{name}", response_model=ModelMetadata, responses=ERRORS)
async def model_metadata(model: Latest) -> ModelMetadata:
    return catalog.metadata(model)


@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata, responses=ERRORS)
async def model_version_metadata(model: Versioned) -> ModelMetadata:
    return catalog.metadata(model)


@router.get("/models/{name}/ready", response_model=ModelReady, responses=ERRORS)
async def model_ready(model: Latest) -> ModelReady:
    return _ready(model)


@router.get("/models/{name}/versions/{version}/ready", response_model=ModelReady, responses=ERRORS)
async def model_version_ready(model: Versioned) -> ModelReady:
    return _ready(model)


CONFIG = {
    "response_model": ModelConfig,
    "response_model_exclude_none": True,
    "responses": ERRORS,
    "summary": "Triton's model configuration (the part perf_analyzer and model analyzer read)",
}


@router.get("/models/{name}/config", **CONFIG)  # type: ignore[arg-type]
async def model_config(model: Latest, settings: AppSettings) -> ModelConfig:
    return catalog.config(model, settings)


@router.get("/models/{name}/versions/{version}/config", **CONFIG)  # type: ignore[arg-type]
async def model_version_config(model: Versioned, settings: AppSettings) -> ModelConfig:
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


async def _infer(
    model: V2Model, request: Request, settings: Settings, header_length: int | None
) -> Response:
    answer = await infer(
        model,
        await request.body(),
        request.headers.get("content-encoding"),
        header_length,
        settings,
    )
    return Response(answer.body, media_type=answer.media_type, headers=answer.headers)


@router.post("/models/{name}/infer", **INFER)
async def model_infer(
    model: Latest,
    request: Request,
    settings: AppSettings,
    inference_header_content_length: HeaderLength = None,
) -> Response:
    return await _infer(model, request, settings, inference_header_content_length)


@router.post("/models/{name}/versions/{version}/infer", **INFER)
async def model_version_infer(
    model: Versioned,
    request: Request,
    settings: AppSettings,
    inference_header_content_length: HeaderLength = None,
) -> Response:
    return await _infer(model, request, settings, inference_header_content_length)
