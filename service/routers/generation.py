"""Endpoints that generate: decode latents, sample the prior, interpolate."""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from service.deps import PNG_RESPONSE, AppSettings, Format, Served, image_response
from service.errors import InvalidInput, UnsupportedMediaType
from service.imaging import decode_base64
from service.inputs import (
    check_label_range,
    decode_all,
    latents_array,
    media_type,
    parse_json,
    parse_labels,
    read_body,
)
from service.routers.inference import ERRORS
from service.schemas import InterpolateIn, LatentsIn

router = APIRouter(tags=["generation"])
JSON_ONLY = {"application/json"}


async def _json_body(request: Request, settings: AppSettings) -> bytes:
    kind = media_type(request)
    if kind not in JSON_ONLY:
        raise UnsupportedMediaType(f"content type {kind or '(none)'} is not supported; send JSON")
    return await read_body(request, settings.max_body_bytes)


def _body_doc(schema: type) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema.model_json_schema()}},  # type: ignore[attr-defined]
        }
    }


@router.post(
    "/decode",
    responses={**ERRORS, **PNG_RESPONSE},
    response_class=Response,
    openapi_extra=_body_doc(LatentsIn),
    summary="Latents -> images Gx(z)",
)
async def decode(
    request: Request, served: Served, settings: AppSettings, format: Format = "png"
) -> Response:
    body = parse_json(await _json_body(request, settings), LatentsIn)
    z = latents_array(body.latents, served.manifest, settings)
    y = parse_labels(body.labels, len(z), served.manifest)
    return image_response(served, await served.decode(z, y), z, y, format)


@router.get(
    "/sample",
    responses={**ERRORS, **PNG_RESPONSE},
    response_class=Response,
    summary="n samples from the prior; reproducible for a given seed",
)
async def sample(
    served: Served,
    settings: AppSettings,
    n: Annotated[
        int, Query(ge=1, description="number of samples (maximum: ALI_MAX_SAMPLES, 256)")
    ] = 64,
    seed: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    label: Annotated[
        int | None, Query(description="class to generate (conditional models); random if omitted")
    ] = None,
    format: Format = "png",
) -> Response:
    m = served.manifest
    if n > settings.max_samples:
        raise InvalidInput(f"n={n} is above the maximum of {settings.max_samples}")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, m.latent.dim), dtype=np.float32)
    y = None
    if m.conditional:
        y = (
            check_label_range(np.full(n, label, dtype=np.int64), m)
            if label is not None
            else rng.integers(0, m.num_classes, n, dtype=np.int64)
        )
    elif label is not None:
        raise InvalidInput(f"model {m.name} is unconditional: label is not accepted")
    images = await served.decode(z, y)
    return image_response(served, images, z, y, format, cols=math.ceil(math.sqrt(n)))


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation [steps, d]; falls back to lerp for (anti)parallel ends."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = float(np.clip(np.dot(a, b) / max(na * nb, 1e-12), -1.0, 1.0))
    omega = math.acos(cos)
    if omega < 1e-4 or math.pi - omega < 1e-4:
        lerp: np.ndarray = (1 - t) * a + t * b
        return lerp
    out: np.ndarray = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / math.sin(omega)
    return out


@router.post(
    "/interpolate",
    responses={**ERRORS, **PNG_RESPONSE},
    response_class=Response,
    openapi_extra=_body_doc(InterpolateIn),
    summary="The images along a latent path between two images or two latents",
)
async def interpolate(
    request: Request, served: Served, settings: AppSettings, format: Format = "png"
) -> Response:
    m = served.manifest
    body = parse_json(await _json_body(request, settings), InterpolateIn)
    if not 2 <= body.steps <= settings.max_steps:
        raise InvalidInput(f"steps={body.steps} must be between 2 and {settings.max_steps}")
    if (body.images is None) == (body.latents is None):
        raise InvalidInput("send exactly one of 'images' (two) or 'latents' (two)")
    y2 = parse_labels(None if body.label is None else [body.label, body.label], 2, m)
    if body.images is not None:
        blobs = [decode_base64(s, f"image {i}") for i, s in enumerate(body.images)]
        ends, _ = await served.encode(decode_all(blobs, m, settings), y2)
    else:
        assert body.latents is not None
        ends = latents_array(body.latents, m, settings)
    t = np.linspace(0.0, 1.0, body.steps, dtype=np.float32)[:, None]
    path = slerp(ends[0], ends[1], t) if body.method == "slerp" else (1 - t) * ends[0] + t * ends[1]
    path = path.astype(np.float32)
    y = None if y2 is None else np.full(body.steps, y2[0], dtype=np.int64)
    images = await served.decode(path, y)
    return image_response(served, images, path, y, format, cols=body.steps)
