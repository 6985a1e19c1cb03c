"""Endpoints that take images: encode, reconstruct, score."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from service.deps import PNG_RESPONSE, AppSettings, Format, Served, image_response
from service.inputs import read_images
from service.schemas import (
    EncodeOut,
    ErrorOut,
    ImagesForm,
    ImagesIn,
    ScoreOut,
    request_body_doc,
)

router = APIRouter(tags=["inference"])

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 404, 413, 415, 422, 503, 504)
}

# The one reader (service/inputs.py) takes multipart or JSON; document both shapes.
IMAGES_BODY = request_body_doc(ImagesIn, ImagesForm)


@router.post(
    "/encode",
    response_model=EncodeOut,
    responses=ERRORS,
    openapi_extra=IMAGES_BODY,
    summary="Images -> q(z|x): mu and log sigma (and a sample z with sample=true)",
)
async def encode(
    request: Request,
    served: Served,
    settings: AppSettings,
    sample: Annotated[bool, Query(description="also return z = mu + sigma * eps")] = False,
    seed: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="seed for eps")] = None,
) -> EncodeOut:
    x, y = await read_images(request, served.manifest, settings)
    mu, log_sigma = await served.encode(x, y)
    z = None
    if sample:
        eps = np.random.default_rng(seed).standard_normal(mu.shape).astype(np.float32)
        z = (mu + np.exp(log_sigma) * eps).tolist()
    return EncodeOut(model=served.manifest.name, mu=mu.tolist(), log_sigma=log_sigma.tolist(), z=z)


@router.post(
    "/reconstruct",
    responses={**ERRORS, **PNG_RESPONSE},
    openapi_extra=IMAGES_BODY,
    response_class=Response,
    summary="Images -> Gx(mu(x)): reconstructions",
)
async def reconstruct(
    request: Request, served: Served, settings: AppSettings, format: Format = "png"
) -> Response:
    x, y = await read_images(request, served.manifest, settings)
    mu, _ = await served.encode(x, y)
    images = await served.decode(mu, y)
    return image_response(served, images, mu, y, format)


@router.post(
    "/score",
    response_model=ScoreOut,
    responses=ERRORS,
    openapi_extra=IMAGES_BODY,
    summary="Anomaly scores from ALI itself: D(x, Gz(x)) and reconstruction error",
)
async def score(request: Request, served: Served, settings: AppSettings) -> ScoreOut:
    x, y = await read_images(request, served.manifest, settings)
    mu, _ = await served.encode(x, y)
    logit = await served.discriminate(x, mu, y)
    rec = await served.decode(mu, y)
    err = ((rec - x) ** 2).reshape(len(x), -1).mean(axis=1)
    return ScoreOut(
        model=served.manifest.name,
        discriminator_logit=logit.astype(float).tolist(),
        reconstruction_error=err.astype(float).tolist(),
    )
