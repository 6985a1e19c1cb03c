"""The model manifest: the one contract between `training/` (writes it) and `service/` (reads it).

Free of torch and FastAPI on purpose; both sides import this module. A model version's folder
(runtime/repository.py: models/NAME/VERSION) holds manifest.json plus the ONNX files it names:

    manifest.json
    encoder.onnx        x [N, C, H, W] (+ y [N] int64) -> mu, log_sigma [N, nlat]
    decoder.onnx        z [N, nlat] (+ y)             -> x [N, C, H, W]
    discriminator.onnx  x, z (+ y)                     -> logit [N]
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

MANIFEST_VERSION = 1
MANIFEST_FILE = "manifest.json"
NETWORKS = ("encoder", "decoder", "discriminator")
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class ManifestError(ValueError):
    """A manifest that is missing, malformed, of an unknown version, or whose files don't match."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageSpec(_Strict):
    channels: int = Field(ge=1, le=4)
    height: int = Field(ge=1)
    width: int = Field(ge=1)


class PixelRange(_Strict):
    """Model pixels x relate to 8-bit pixels p by x = p * scale + offset."""

    low: float = -1.0
    high: float = 1.0
    scale: float = 1.0 / 127.5
    offset: float = -1.0


class LatentSpec(_Strict):
    dim: int = Field(ge=1)
    prior: Literal["standard_normal"] = "standard_normal"


class FileRef(_Strict):
    path: str = Field(pattern=r"^[A-Za-z0-9._-]+$")  # a plain file name inside the model dir
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)


class TrainingSummary(_Strict):
    dataset: str
    preset: str
    epochs: int
    seed: int
    git_commit: str
    command: str
    train_seconds: float | None = None


class Manifest(_Strict):
    manifest_version: int
    name: str = Field(pattern=NAME_PATTERN)
    version: str
    created: datetime
    conditional: bool
    image: ImageSpec
    pixels: PixelRange
    latent: LatentSpec
    classes: list[str]
    opset: int
    files: dict[str, FileRef]
    training: TrainingSummary
    metrics: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Manifest:
        if self.manifest_version != MANIFEST_VERSION:
            raise ValueError(
                f"unknown manifest_version {self.manifest_version} (this code reads {MANIFEST_VERSION})"
            )
        missing = [n for n in NETWORKS if n not in self.files]
        if missing:
            raise ValueError(f"files is missing networks {missing}")
        if self.conditional != bool(self.classes):
            raise ValueError("conditional models need classes, unconditional ones none")
        return self

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_ref(path: Path) -> FileRef:
    return FileRef(path=path.name, sha256=sha256_file(path), bytes=path.stat().st_size)


def parse_manifest(data: str | bytes, source: str = "manifest") -> Manifest:
    """Validate manifest JSON; ManifestError names every missing or bad field."""
    try:
        raw = json.loads(data)
    except json.JSONDecodeError as e:
        raise ManifestError(f"{source}: not valid JSON ({e})") from None
    try:
        return Manifest.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in e.errors()
        )
        raise ManifestError(f"{source}: {problems}") from None


def verify_files(manifest: Manifest, model_dir: Path) -> None:
    """Every file exists, has the recorded size and sha256."""
    for net, ref in manifest.files.items():
        f = model_dir / ref.path
        if not f.is_file():
            raise ManifestError(f"{model_dir.name}: {net} file {ref.path} is missing")
        size = f.stat().st_size
        if size != ref.bytes:
            raise ManifestError(
                f"{model_dir.name}: {ref.path} has {size} bytes, manifest says {ref.bytes} "
                "(truncated or replaced?)"
            )
        digest = sha256_file(f)
        if digest != ref.sha256:
            raise ManifestError(
                f"{model_dir.name}: {ref.path} sha256 {digest[:12]}… does not match the manifest's "
                f"{ref.sha256[:12]}…"
            )


def load_manifest(model_dir: str | Path, verify: bool = True) -> Manifest:
    """A version folder's manifest (runtime.repository.latest_version_dir finds the newest)."""
    model_dir = Path(model_dir)
    path = model_dir / MANIFEST_FILE
    if not path.is_file():
        raise ManifestError(f"{model_dir.name}: no {MANIFEST_FILE}")
    manifest = parse_manifest(path.read_bytes(), source=str(path))
    if verify:
        verify_files(manifest, model_dir)
    return manifest


def write_manifest(manifest: Manifest, model_dir: str | Path) -> Path:
    path = Path(model_dir) / MANIFEST_FILE
    path.write_text(manifest.model_dump_json(indent=2) + "\n")
    return path
