"""Reading request bodies: multipart or JSON images, labels, latents.

The body-size limit is enforced for every route by service/body_limit.py. Routes that take
images read them through `read_image_request`: multipart/form-data (file field `images`,
repeatable; other fields as text) or application/json (base64 images, validated by a pydantic
model).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from runtime.manifest import Manifest
from service.cpu_pool import INLINE_BYTES, INLINE_PIXELS, CpuPool
from service.errors import (
    BadRequest,
    InvalidInput,
    PayloadTooLarge,
    UnsupportedMediaType,
    format_validation_errors,
    quote,
)
from service.imaging import check_latents, decode_base64, decode_image, open_image
from service.schemas import ImagesIn
from service.settings import Settings
from service.tracing import child_span

M = TypeVar("M", bound=BaseModel)
MULTIPART, JSON = "multipart/form-data", "application/json"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_media_type(request: Request, accepted: Collection[str]) -> str:
    kind = media_type(request)
    if kind not in accepted:
        raise UnsupportedMediaType(
            f"content type {kind or '(none)'} is not supported; use "
            + " or ".join(
                {
                    MULTIPART: "multipart/form-data (file field 'images')",
                    JSON: "application/json",
                }[k]
                for k in accepted
            )
        )
    return kind


async def json_only(request: Request) -> None:
    """Dependency for JSON-body routes: 415 for any other content type, before the body."""
    require_media_type(request, (JSON,))


def parse_json(body: bytes, schema: type[M]) -> M:
    if not body:
        raise BadRequest("request body is empty; send JSON")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError; an int over 4,300 digits
        raise BadRequest(f"body is not valid JSON: {e}") from None
    except RecursionError:  # e.g. [[[[...]]]] thousands deep
        raise BadRequest("body JSON is nested too deeply") from None
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        raise InvalidInput(format_validation_errors(e.errors())) from None


@dataclass
class ImageRequest:
    """What a multipart or JSON body carried: encoded images and the other fields."""

    images: list[bytes]
    fields: dict[str, Any] = field(default_factory=dict)


async def read_image_request(
    request: Request, settings: Settings, schema: type[BaseModel]
) -> ImageRequest:
    """Images plus fields from multipart, or from JSON validated by `schema` (which has an
    `images: list[str]` of base64 strings); `fields` then holds the other fields that were sent."""
    if require_media_type(request, (MULTIPART, JSON)) == MULTIPART:
        return await _read_form(request, settings)
    body = await request.body()
    pool: CpuPool = request.app.state.cpu_pool
    with child_span("decode"):
        return await pool.run_if(len(body) > INLINE_BYTES, _json_images, body, settings, schema)


def _json_images(body: bytes, settings: Settings, schema: type[BaseModel]) -> ImageRequest:
    payload = parse_json(body, schema)
    data = payload.model_dump(exclude={"images"}, exclude_unset=True)
    b64s: list[str] = getattr(payload, "images", None) or []
    if len(b64s) > settings.max_images:
        raise PayloadTooLarge(f"{len(b64s)} images; the limit is {settings.max_images}")
    images = [decode_base64(s, f"image {i}") for i, s in enumerate(b64s)]
    return ImageRequest(images, data)


async def _read_form(request: Request, settings: Settings) -> ImageRequest:
    # Starlette answers a malformed multipart body (or one over these limits) with a 400.
    async with request.form(
        max_files=settings.max_images,
        max_fields=settings.max_images + 16,
        max_part_size=settings.max_body_bytes,
    ) as form:
        images = []
        for item in form.getlist("images"):
            if not isinstance(item, UploadFile):
                raise BadRequest("multipart field 'images' must be a file")
            images.append(await item.read())
        fields: dict[str, Any] = {}
        for key, value in form.multi_items():
            if key == "images" or not isinstance(value, str):
                continue
            if key == "labels":  # repeatable, or one "1,2,3" field
                fields.setdefault("labels", []).append(value)
            else:
                fields[key] = value
    return ImageRequest(images, fields)


def parse_labels(raw: list[Any] | None, n: int, manifest: Manifest) -> np.ndarray | None:
    """Labels for a conditional model: exactly n ints in range. Unconditional: must be absent."""
    if not manifest.conditional:
        if raw:
            raise InvalidInput(f"model {manifest.name} is unconditional: do not send labels")
        return None
    if not raw:
        raise InvalidInput(
            f"model {manifest.name} is conditional: send one label per item "
            f"(0..{manifest.num_classes - 1})"
        )
    values: list[int] = []
    for part in raw:  # multipart may send "1,2,3" in one field
        pieces = part.split(",") if isinstance(part, str) else [part]
        for p in pieces:
            try:
                if isinstance(p, bool):
                    raise ValueError
                values.append(int(p))
            except (TypeError, ValueError):
                raise InvalidInput(f"label {quote(p)} is not an integer") from None
    if len(values) != n:
        raise InvalidInput(f"got {len(values)} labels for {n} items; send exactly one per item")
    return labels_array(values, manifest)


def labels_array(values: Sequence[int], manifest: Manifest, field: str = "label") -> np.ndarray:
    """Python ints -> y [N] int64, each checked against the model's classes first (a label of
    10**30 would not even fit int64)."""
    for v in values:
        if not 0 <= v < manifest.num_classes:
            raise InvalidInput(
                f"{field} {quote(v)} is out of range 0..{manifest.num_classes - 1} "
                f"(classes: {', '.join(manifest.classes)})"
            )
    return np.asarray(values, dtype=np.int64)


def check_label_range(y: np.ndarray, manifest: Manifest) -> np.ndarray:
    """The same check on an int64 array (v2 tensors)."""
    bad = y[(y < 0) | (y >= manifest.num_classes)]
    if bad.size:
        labels_array([int(bad[0])], manifest)  # raises, with the message above
    return y


async def decode_all(
    blobs: list[bytes], manifest: Manifest, settings: Settings, pool: CpuPool
) -> np.ndarray:
    """Encoded images -> x [N, C, H, W]; large requests decode in the CPU pool, off the loop."""
    if not blobs:
        raise InvalidInput("no images: send multipart field 'images' or JSON {\"images\": [...]}")
    if len(blobs) > settings.max_images:
        raise PayloadTooLarge(
            f"{len(blobs)} images; the limit is {settings.max_images} per request"
        )
    opened = [open_image(b, settings.max_image_pixels, f"image {i}") for i, b in enumerate(blobs)]
    total = sum(im.size[0] * im.size[1] for im in opened)
    if total > settings.max_request_pixels:
        raise PayloadTooLarge(
            f"the images hold {total} pixels in all; the limit is {settings.max_request_pixels} "
            "per request"
        )

    def decode() -> np.ndarray:
        spec, pixels = manifest.image, manifest.pixels
        return np.stack(
            [decode_image(im, spec, pixels, f"image {i}") for i, im in enumerate(opened)]
        )

    with child_span("decode"):
        return await pool.run_if(total > INLINE_PIXELS, decode)


async def read_images(
    request: Request, manifest: Manifest, settings: Settings
) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (+ labels) from a multipart or JSON body -> x [N, C, H, W], y [N] or None."""
    body = await read_image_request(request, settings, ImagesIn)
    x = await decode_all(body.images, manifest, settings, request.app.state.cpu_pool)
    return x, parse_labels(body.fields.get("labels"), len(x), manifest)


def latents_array(values: list[list[float]], manifest: Manifest, settings: Settings) -> np.ndarray:
    if len(values) > settings.max_images:
        raise PayloadTooLarge(f"{len(values)} latents; the limit is {settings.max_images}")
    lengths = {len(v) for v in values}
    if len(lengths) != 1:
        raise InvalidInput(
            f"latents have different lengths {sorted(lengths)}; all must be {manifest.latent.dim}"
        )
    return check_latents(np.asarray(values, dtype=np.float64), manifest.latent.dim)
