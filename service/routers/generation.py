"""Endpoints that generate: decode latents, sample the prior, interpolate."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BeforeValidator, ValidationError

from runtime import samplers
from runtime.samplers import Sampler
from service.deps import PNG_RESPONSE, AppSettings, Format, Served, image_response
from service.errors import InvalidInput, format_validation_errors
from service.imaging import finite_float32
from service.inputs import (
    decode_all,
    json_only,
    labels_array,
    latents_array,
    parse_labels,
    read_image_request,
)
from service.routers.inference import ERRORS
from service.schemas import (
    InterpolateForm,
    InterpolateIn,
    InterpolateOptions,
    LatentsIn,
    SampleOut,
    request_body_doc,
)

router = APIRouter(tags=["generation"])


def _plus_kept(value: object) -> object:
    """?sampler=drs+gibbs typed unencoded arrives as "drs gibbs" (a query's + is a space)."""
    return "drs+gibbs" if value == "drs gibbs" else value


@router.post(
    "/decode",
    responses={**ERRORS, **PNG_RESPONSE},
    response_class=Response,
    dependencies=[Depends(json_only)],
    summary="Latents -> images Gx(z)",
)
async def decode(
    body: LatentsIn, served: Served, settings: AppSettings, format: Format = "png"
) -> Response:
    z = latents_array(body.latents, served.manifest, settings)
    y = parse_labels(body.labels, len(z), served.manifest)
    return image_response(served, await served.decode(z, y), z, y, format)


@router.get(
    "/sample",
    responses={**ERRORS, 200: {"model": SampleOut, "content": {"image/png": {}}}},
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
    sampler: Annotated[
        Sampler,
        BeforeValidator(_plus_kept),
        Query(
            description="ancestral: Gx(z), z ~ N(0, I); drs: discriminator rejection sampling "
            "(decoder samples kept with probability exp(D - M), at most ALI_MAX_DRS_PROPOSALS "
            "drawn); gibbs: then z' ~ q(z|x), x' = Gx(z') once; drs+gibbs: both (the + may be "
            "sent unencoded)"
        ),
    ] = "ancestral",
    format: Format = "png",
) -> Response:
    m = served.manifest
    if n > settings.max_samples:
        raise InvalidInput(f"n={n} is above the maximum of {settings.max_samples}")
    if label is not None:
        if not m.conditional:
            raise InvalidInput(f"model {m.name} is unconditional: label is not accepted")
        labels_array([label], m)
    out = await samplers.sample(
        served,
        sampler,
        n,
        np.random.default_rng(seed),
        samplers.Prior(m.latent.dim, m.num_classes, label),
        served.drs_bound,
        settings.max_drs_proposals,
    )
    report: dict[str, object] = {
        "sampler": sampler,
        "acceptance": out.acceptance,
        "proposals": out.proposed,
        "filled_from_rejected": out.filled,
    }
    cols = math.ceil(math.sqrt(n))
    return image_response(served, out.images, out.latents, out.labels, format, cols, report)


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation [steps, d]; falls back to lerp for (anti)parallel ends."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)  # inf for huge ends: then cos is NaN -> 422
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
    openapi_extra=request_body_doc(InterpolateIn, InterpolateForm),
    summary="The images along a latent path between two images or two latents",
)
async def interpolate(
    request: Request,
    served: Served,
    settings: AppSettings,
    format: Format = "png",
    steps: Annotated[int | None, Query(description="overrides the body's steps")] = None,
    method: Annotated[Literal["lerp", "slerp"] | None, Query()] = None,
    label: Annotated[int | None, Query(description="class (conditional models)")] = None,
) -> Response:
    """JSON (two base64 images or two latents) or multipart (two files in field `images`);
    `steps`, `method`, `label` in the JSON body, as form fields, or in the query."""
    m = served.manifest
    body = await read_image_request(request, settings, InterpolateIn)
    query = {"steps": steps, "method": method, "label": label}
    opts = _options({k: v for k, v in query.items() if v is not None} | body.fields)
    if not 2 <= opts.steps <= settings.max_steps:
        raise InvalidInput(f"steps={opts.steps} must be between 2 and {settings.max_steps}")
    latents: list[list[float]] | None = body.fields.get("latents")
    if bool(body.images) == (latents is not None) or (body.images and len(body.images) != 2):
        raise InvalidInput("send exactly one of 'images' (two) or 'latents' (two)")
    y2 = parse_labels(None if opts.label is None else [opts.label, opts.label], 2, m)
    if latents is not None:
        ends = latents_array(latents, m, settings)
    else:
        x = await decode_all(body.images, m, settings, request.app.state.cpu_pool)
        ends, _ = await served.encode(x, y2)
    # float64, so ends near the float32 limit do not overflow in the norms or the sum; a path
    # that still leaves float32 is a 422.
    a, b = ends.astype(np.float64)
    t = np.linspace(0.0, 1.0, opts.steps)[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        path64 = slerp(a, b, t) if opts.method == "slerp" else (1 - t) * a + t * b
    path = finite_float32(path64, "the interpolation path")
    y = None if y2 is None else np.full(opts.steps, y2[0], dtype=np.int64)
    images = await served.decode(path, y)
    return image_response(served, images, path, y, format, cols=opts.steps)


def _options(values: dict[str, Any]) -> InterpolateOptions:
    fields = {k: v for k, v in values.items() if k in InterpolateOptions.model_fields}
    try:
        return InterpolateOptions.model_validate(fields)
    except ValidationError as e:
        raise InvalidInput(format_validation_errors(e.errors())) from None
