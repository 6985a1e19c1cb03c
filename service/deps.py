"""FastAPI dependencies: the registry and settings live on app.state (no module globals).

They are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker thread, a
thread hop per dependency per request for what is an attribute lookup (py-spy showed ~10 % of
the server's time there under load).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from service.imaging import b64, images_to_grid_png, images_to_pngs
from service.registry import ModelRegistry, ServedModel
from service.settings import Settings
from service.tracing import child_span


async def get_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_model(
    registry: Annotated[ModelRegistry, Depends(get_registry)],
    model: Annotated[
        str | None, Query(description="model name; default: the configured default model")
    ] = None,
    version: Annotated[
        str | None,
        Query(max_length=16, description="model version; default: the newest one served"),
    ] = None,
) -> ServedModel:
    return registry.get(model, version)


Registry = Annotated[ModelRegistry, Depends(get_registry)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Served = Annotated[ServedModel, Depends(get_model)]
Format = Annotated[
    Literal["png", "json"],
    Query(description="png: one image/png grid; json: base64 PNGs plus latents"),
]

PNG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}, "application/json": {}}}
}


def image_response(
    served: ServedModel,
    images: np.ndarray,
    latents: np.ndarray,
    labels: np.ndarray | None,
    fmt: str,
    cols: int | None = None,
    report: dict[str, object] | None = None,
) -> Response:
    """[N, C, H, W] images -> a PNG grid, or JSON with one base64 PNG per image (+ `report`)."""
    pixels = served.manifest.pixels
    with child_span("encode response"):
        if fmt == "png":
            return Response(images_to_grid_png(images, pixels, cols), media_type="image/png")
        body: dict[str, object] = {
            "model": served.manifest.name,
            "images": [b64(p) for p in images_to_pngs(images, pixels)],
            "latents": latents.tolist(),
        }
        if labels is not None:
            body["labels"] = labels.tolist()
        return JSONResponse(body | (report or {}))
