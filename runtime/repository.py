"""The model repository on disk: Triton's layout, versions and the policy that picks them.

    models/
      mnist/
        1/  manifest.json encoder.onnx decoder.onnx discriminator.onnx (+ model card, images)
        2/  ...
        version_policy.json   optional, Triton's names: {"latest": {"num_versions": 1}},
                              {"all": {}} or {"specific": {"versions": [1, 3]}}
      old/                    the layout before versions (files directly in the model folder)
        manifest.json ...     is one version, the one its manifest names

Versions are positive integers. Any other sub-folder is ignored, so an export writes into a
hidden temporary folder and renames it into place (`publish_version`): a reader sees a version
whole or not at all. Both sides read this module: `ali-export` writes versions, the service scans.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from runtime.manifest import MANIFEST_FILE, NAME_PATTERN

POLICY_FILE = "version_policy.json"
_MAX_VERSION_DIGITS = 9


def is_version(name: str) -> bool:
    return name.isascii() and name.isdigit() and name[0] != "0" and len(name) <= _MAX_VERSION_DIGITS


def version_key(version: str) -> int:
    return int(version) if is_version(version) else 0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Latest(_Strict):
    num_versions: int = Field(1, ge=1)


class Specific(_Strict):
    versions: list[int] = Field(min_length=1)


class VersionPolicy(_Strict):
    """Which versions of a model to serve (Triton's `version_policy`); exactly one field set."""

    latest: Latest | None = None
    all: dict[str, Any] | None = None
    specific: Specific | None = None

    @model_validator(mode="after")
    def _one(self) -> VersionPolicy:
        chosen = [k for k in ("latest", "all", "specific") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("give exactly one of latest, all, specific")
        return self

    def select(self, versions: list[str]) -> list[str]:
        """The versions (of those on disk) to serve, newest first."""
        ordered = sorted(versions, key=version_key, reverse=True)
        if self.latest is not None:
            return ordered[: self.latest.num_versions]
        if self.specific is not None:
            wanted = {str(v) for v in self.specific.versions}
            return [v for v in ordered if v in wanted]
        return ordered

    def describe(self) -> str:
        return self.model_dump_json(exclude_none=True)


LATEST_ONE = VersionPolicy(latest=Latest(num_versions=1))


@dataclass(frozen=True)
class VersionDir:
    """One version's folder; `fingerprint` changes whenever a file in it does."""

    model: str
    version: str
    path: Path
    fingerprint: tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class ModelDir:
    name: str
    path: Path
    versions: dict[str, VersionDir]
    policy: VersionPolicy
    problem: str | None = None  # an unreadable version_policy.json: nothing is served

    def selected(self) -> list[VersionDir]:
        if self.problem:
            return []
        return [self.versions[v] for v in self.policy.select(list(self.versions))]


def _fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    files = []
    for entry in os.scandir(folder):
        if entry.is_file():
            st = entry.stat()
            files.append((entry.name, st.st_size, st.st_mtime_ns))
    return tuple(sorted(files))


def _legacy_version(folder: Path) -> str:
    """The version a manifest directly in the model folder names (the shipped ones say 1)."""
    try:
        version = str(json.loads((folder / MANIFEST_FILE).read_bytes()).get("version", "1"))
    except (OSError, ValueError, AttributeError):
        return "1"  # loading it reports what is wrong
    return version if is_version(version) else "1"


def read_policy(folder: Path, default: VersionPolicy) -> tuple[VersionPolicy, str | None]:
    path = folder / POLICY_FILE
    if not path.is_file():
        return default, None
    try:
        return VersionPolicy.model_validate_json(path.read_bytes()), None
    except (OSError, ValidationError) as e:
        return default, f"{POLICY_FILE} is not a valid version policy: {e}".replace("\n", " ")


def scan_model(folder: Path, default: VersionPolicy) -> ModelDir:
    versions: dict[str, VersionDir] = {}
    if (folder / MANIFEST_FILE).is_file():
        v = _legacy_version(folder)
        versions[v] = VersionDir(folder.name, v, folder, _fingerprint(folder))
    for entry in os.scandir(folder):
        if entry.is_dir() and is_version(entry.name):
            path = Path(entry.path)
            versions[entry.name] = VersionDir(folder.name, entry.name, path, _fingerprint(path))
    policy, problem = read_policy(folder, default)
    return ModelDir(folder.name, folder, versions, policy, problem)


def scan(root: Path, default: VersionPolicy = LATEST_ONE) -> dict[str, ModelDir]:
    """Every model folder under `root` that holds at least one version, by name."""
    valid = re.compile(NAME_PATTERN)
    found = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name) if root.is_dir() else ():
        if entry.is_dir() and valid.match(entry.name):
            model = scan_model(Path(entry.path), default)
            if model.versions:
                found[model.name] = model
    return found


def latest_version_dir(folder: str | Path) -> Path:
    """A version folder as is, or a model folder's newest version (for `ali-eval --model`)."""
    folder = Path(folder)
    if (folder / MANIFEST_FILE).is_file() or not folder.is_dir():
        return folder
    model = scan_model(folder, LATEST_ONE)
    newest = model.policy.select(list(model.versions))
    return model.versions[newest[0]].path if newest else folder


def next_version(folder: Path) -> str:
    existing = scan_model(folder, LATEST_ONE).versions if folder.is_dir() else {}
    return str(max((version_key(v) for v in existing), default=0) + 1)


@contextmanager
def publish_version(
    root: str | Path, name: str, version: str | None = None
) -> Iterator[tuple[Path, str]]:
    """Write a new version of model `name`: yields an empty hidden folder beside the versions,
    and the version; when the block ends without an error, the folder is renamed to
    `root/name/VERSION` in one step.
    The version is the next integer unless given; an existing version is never replaced."""
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    version = version or next_version(folder)
    if not is_version(version):
        raise ValueError(f"version {version!r} is not a positive integer")
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=folder))
    try:
        yield tmp, version
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide it from a server running as another user
        target = folder / version
        if target.exists() or version in scan_model(folder, LATEST_ONE).versions:
            raise FileExistsError(f"{name} already has version {version}")
        os.rename(tmp, target)  # atomic on one file system; fails if target appeared meanwhile
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
