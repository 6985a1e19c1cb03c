"""Reading request bodies: size limits, multipart or JSON images, labels, latents.

Bodies are read with a hard byte limit (413 beyond it, whether or not Content-Length is sent), then
parsed: multipart/form-data (field `images`, repeatable; optional `labels`) or application/json.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import numpy as np
from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from service.errors import BadRequest, InvalidInput, PayloadTooLarge, UnsupportedMediaType
from service.imaging import check_latents, decode_base64, decode_image
from service.manifest import Manifest
from service.schemas import ImagesIn
from service.settings import Settings


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit}")
        except ValueError:
            raise BadRequest("Content-Length is not a number") from None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def parse_json(body: bytes, schema: type[BaseModel]) -> Any:
    if not body:
        raise BadRequest("request body is empty; send JSON")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequest(f"body is not valid JSON: {e}") from None
    except RecursionError:  # e.g. [[[[...]]]] thousands deep
        raise BadRequest("body JSON is nested too deeply") from None
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        msgs = [
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in e.errors()
        ]
        raise InvalidInput("; ".join(msgs[:10])) from None


async def _multipart(
    request: Request, body: bytes, settings: Settings
) -> tuple[list[bytes], list[str]]:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(
        request.headers,
        stream(),
        max_files=settings.max_images,
        max_fields=settings.max_images + 16,
        max_part_size=settings.max_body_bytes,
    )
    try:
        form = await parser.parse()
    except MultiPartException as e:
        raise BadRequest(f"malformed multipart body: {e.message}") from None
    try:
        files = []
        for item in form.getlist("images"):
            if not isinstance(item, UploadFile):
                raise BadRequest("multipart field 'images' must be a file")
            files.append(await item.read())
        labels = [v for v in form.getlist("labels") if isinstance(v, str)]
    finally:
        await form.close()
    return files, labels


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
                raise InvalidInput(f"label {p!r} is not an integer") from None
    if len(values) != n:
        raise InvalidInput(f"got {len(values)} labels for {n} items; send exactly one per item")
    return check_label_range(np.asarray(values, dtype=np.int64), manifest)


def check_label_range(y: np.ndarray, manifest: Manifest) -> np.ndarray:
    bad = y[(y < 0) | (y >= manifest.num_classes)]
    if bad.size:
        raise InvalidInput(
            f"label {int(bad[0])} is out of range 0..{manifest.num_classes - 1} "
            f"(classes: {', '.join(manifest.classes)})"
        )
    return y


def decode_all(blobs: list[bytes], manifest: Manifest, settings: Settings) -> np.ndarray:
    if not blobs:
        raise InvalidInput("no images: send multipart field 'images' or JSON {\"images\": [...]}")
    if len(blobs) > settings.max_images:
        raise PayloadTooLarge(
            f"{len(blobs)} images; the limit is {settings.max_images} per request"
        )
    arrays = [
        decode_image(b, manifest.image, manifest.pixels, settings.max_image_pixels, f"image {i}")
        for i, b in enumerate(blobs)
    ]
    return np.stack(arrays)  # [N, C, H, W]


async def read_images(
    request: Request, manifest: Manifest, settings: Settings
) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (+ labels) from a multipart or JSON body -> x [N, C, H, W], y [N] or None."""
    kind = media_type(request)
    if kind not in ("multipart/form-data", "application/json"):
        raise UnsupportedMediaType(
            f"content type {kind or '(none)'} is not supported; use multipart/form-data "
            "(field 'images') or application/json ({\"images\": [base64, ...]})"
        )
    body = await read_body(request, settings.max_body_bytes)
    if kind == "multipart/form-data":
        blobs, raw_labels = await _multipart(request, body, settings)
        labels: list[Any] | None = raw_labels
    else:
        payload = parse_json(body, ImagesIn)
        if len(payload.images) > settings.max_images:
            raise PayloadTooLarge(
                f"{len(payload.images)} images; the limit is {settings.max_images}"
            )
        blobs = [decode_base64(s, f"image {i}") for i, s in enumerate(payload.images)]
        labels = payload.labels
    x = decode_all(blobs, manifest, settings)
    return x, parse_labels(labels, len(x), manifest)


def latents_array(values: list[list[float]], manifest: Manifest, settings: Settings) -> np.ndarray:
    if len(values) > settings.max_images:
        raise PayloadTooLarge(f"{len(values)} latents; the limit is {settings.max_images}")
    lengths = {len(v) for v in values}
    if len(lengths) != 1:
        raise InvalidInput(
            f"latents have different lengths {sorted(lengths)}; all must be {manifest.latent.dim}"
        )
    return check_latents(np.asarray(values, dtype=np.float64), manifest.latent.dim)
