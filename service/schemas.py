"""Request and response bodies (pydantic), with OpenAPI examples."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from runtime.manifest import ImageSpec, LatentSpec, PixelRange
from runtime.samplers import Sampler

_B64_EXAMPLE = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
)


class ImagesIn(BaseModel):
    """JSON alternative to multipart: base64 PNG/JPEG (data URLs accepted)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"images": [_B64_EXAMPLE]}]}
    )
    images: list[str] = Field(min_length=1, description="base64-encoded images")
    labels: list[int] | None = Field(None, description="one label per image (conditional models)")


class LatentsIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"latents": [[0.0] * 4], "labels": None}]},
    )
    latents: list[list[float]] = Field(min_length=1, description="[N][latent dim] vectors")
    labels: list[int] | None = Field(None, description="one label per latent (conditional)")


class ImagesForm(BaseModel):
    """multipart/form-data alternative to ImagesIn (documents the form; parsed by hand)."""

    images: list[bytes] = Field(description="image files (PNG, JPEG, ...), one part each")
    labels: list[int] | None = Field(None, description="one label per image (conditional)")


class InterpolateOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: int | None = Field(None, description="class for the whole path (conditional models)")
    steps: int = Field(8, description="points on the path, ends included")
    method: Literal["lerp", "slerp"] = "lerp"


class InterpolateIn(InterpolateOptions):
    """Two end points: either two images (base64) or two latents."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"latents": [[-1.0] * 4, [1.0] * 4], "steps": 8}]},
    )
    images: list[str] | None = Field(None, min_length=2, max_length=2)
    latents: list[list[float]] | None = Field(None, min_length=2, max_length=2)


class InterpolateForm(InterpolateOptions):
    """multipart/form-data alternative: two image files; the options as fields or query."""

    images: list[bytes] = Field(min_length=2, max_length=2, description="two image files")


def request_body_doc(json_model: type[BaseModel], form_model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI requestBody for routes that read JSON or multipart themselves (one reader)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": form_model.model_json_schema()},
                "application/json": {"schema": json_model.model_json_schema()},
            },
        }
    }


class EncodeOut(BaseModel):
    model: str
    mu: list[list[float]]
    log_sigma: list[list[float]]
    z: list[list[float]] | None = Field(None, description="a sample from q(z|x), if sample=true")


class ImagesOut(BaseModel):
    model: str
    images: list[str] = Field(description="base64 PNGs")
    latents: list[list[float]]
    labels: list[int] | None = None


class SampleOut(ImagesOut):
    """GET /sample?format=json: the images, the codes they decode from, and the sampler's cost."""

    sampler: Sampler
    acceptance: float = Field(
        ge=0, le=1, description="decoder samples kept / drawn: DRS's acceptance; 1.0 otherwise"
    )
    proposals: int = Field(ge=1, description="decoder samples drawn from the prior")
    filled_from_rejected: int = Field(
        ge=0,
        description="DRS: images taken from the best-scored rejected samples because "
        "ALI_MAX_DRS_PROPOSALS ran out (0 normally)",
    )


class ScoreOut(BaseModel):
    model: str
    discriminator_logit: list[float] = Field(
        description="D(x, Gz(x)): high means the pair looks like real data to ALI's discriminator"
    )
    reconstruction_error: list[float] = Field(
        description="mean squared error between x and Gx(mu(x)), in the model's pixel range"
    )


class ModelOut(BaseModel):
    name: str
    version: str = Field(description="the version requests without ?version= get: the newest")
    versions: list[str] = Field(default_factory=list, description="every version served")
    ready: bool
    conditional: bool | None = None
    image: ImageSpec | None = None
    pixels: PixelRange | None = None
    latent: LatentSpec | None = None
    classes: list[str] | None = None
    providers: dict[str, list[str]] | None = Field(
        None, description="execution providers each network really runs on"
    )
    metrics: dict[str, object] | None = None
    error: str | None = None


class ModelsOut(BaseModel):
    default: str | None
    models: list[ModelOut]


class HealthOut(BaseModel):
    status: str
    detail: str = ""


class ErrorDetail(BaseModel):
    status: int
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail
