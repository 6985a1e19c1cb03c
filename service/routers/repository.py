"""The v2 model repository extension (Triton's): the index, load and unload, for `admin` keys.

    POST /v2/repository/index                    every version on disk or served, with its state
    POST /v2/repository/models/{name}/load       (re)load a model folder's selected versions
    POST /v2/repository/models/{name}/unload     stop serving every version of it

Load and unload work in explicit model control (ALI_MODEL_CONTROL=explicit) and answer once the
change is applied in every worker; in the other modes they are refused (400), as Triton does.
`tritonclient`'s get_model_repository_index, load_model and unload_model call these.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from service.errors import BadRequest, format_validation_errors
from service.model_control import ModelControl
from service.routers.v2 import ERRORS
from service.v2.schemas import RepositoryIndexEntry, RepositoryIndexRequest, RepositoryLoadRequest

router = APIRouter(prefix="/v2/repository", tags=["v2 model repository (admin)"])
B = TypeVar("B", bound=BaseModel)


async def _body(request: Request, schema: type[B]) -> B:
    """An optional JSON body (tritonclient sends none for a plain load)."""
    raw = await request.body()
    try:
        return schema.model_validate(json.loads(raw) if raw.strip() else {})
    except json.JSONDecodeError as e:
        raise BadRequest(f"the body is not valid JSON: {e}") from None
    except ValidationError as e:
        raise BadRequest(format_validation_errors(e.errors())) from None


def _control(request: Request) -> ModelControl:
    control: ModelControl = request.app.state.model_control
    return control


OPENAPI: dict[str, Any] = {"responses": ERRORS}


@router.post("/index", response_model=list[RepositoryIndexEntry], **OPENAPI)
async def repository_index(request: Request) -> list[RepositoryIndexEntry]:
    ready_only = bool((await _body(request, RepositoryIndexRequest)).ready)
    return [
        RepositoryIndexEntry(name=e.name, version=e.version, state=e.state, reason=e.reason)
        for e in _control(request).index(ready_only)
    ]


@router.post("/models/{name}/load", **OPENAPI)
async def load_model(name: str, request: Request) -> JSONResponse:
    params = (await _body(request, RepositoryLoadRequest)).parameters
    await _control(request).load(name, params)
    return JSONResponse({})


@router.post("/models/{name}/unload", **OPENAPI)
async def unload_model(name: str, request: Request) -> JSONResponse:
    await _body(request, RepositoryLoadRequest)
    await _control(request).unload(name)
    return JSONResponse({})
