"""The repository layout: versions on disk, the version policy, and atomic publishing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from runtime.manifest import load_manifest
from runtime.repository import (
    LATEST_ONE,
    POLICY_FILE,
    VersionPolicy,
    latest_version_dir,
    next_version,
    publish_version,
    scan,
)
from service.testing.tiny_models import make_tiny_model, publish_tiny


def version(root: Path, name: str, v: str) -> Path:
    return publish_tiny(root, name, version=v)


def test_versioned_legacy_and_hidden_folders(tmp_path: Path) -> None:
    version(tmp_path, "a", "1")
    version(tmp_path, "a", "10")
    version(tmp_path, "a", "2")
    (tmp_path / "a" / ".3.tmpxyz").mkdir()  # an export still being written
    (tmp_path / "a" / "notes").mkdir()
    make_tiny_model(tmp_path, "old")  # the layout before versions: version 1, as its manifest says
    (tmp_path / "empty").mkdir()
    (tmp_path / "Bad Name").mkdir()
    models = scan(tmp_path)
    assert sorted(models) == ["a", "old"]
    assert sorted(models["a"].versions) == ["1", "10", "2"]
    assert [v.version for v in models["a"].selected()] == ["10"]  # newest by number
    assert models["old"].versions["1"].path == tmp_path / "old"
    assert latest_version_dir(tmp_path / "a") == tmp_path / "a" / "10"
    assert load_manifest(latest_version_dir(tmp_path / "a")).version == "10"
    assert next_version(tmp_path / "a") == "11"


@pytest.mark.parametrize(
    ("policy", "selected"),
    [
        ({"latest": {"num_versions": 2}}, ["3", "2"]),
        ({"all": {}}, ["3", "2", "1"]),
        ({"specific": {"versions": [1, 3, 7]}}, ["3", "1"]),
    ],
)
def test_version_policies(tmp_path: Path, policy: dict, selected: list[str]) -> None:
    for v in "123":
        version(tmp_path, "m", v)
    (tmp_path / "m" / POLICY_FILE).write_text(json.dumps(policy))
    assert [v.version for v in scan(tmp_path)["m"].selected()] == selected
    # The same policy as the server-wide default, with no file:
    (tmp_path / "m" / POLICY_FILE).unlink()
    default = VersionPolicy.model_validate(policy)
    assert [v.version for v in scan(tmp_path, default)["m"].selected()] == selected


def test_a_bad_policy_file_selects_nothing_and_says_why(tmp_path: Path) -> None:
    version(tmp_path, "m", "1")
    (tmp_path / "m" / POLICY_FILE).write_text('{"latest": {}, "all": {}}')
    model = scan(tmp_path)["m"]
    assert model.selected() == [] and "exactly one" in (model.problem or "")
    with pytest.raises(ValidationError):
        VersionPolicy.model_validate({"latest": {"num_versions": 0}})


def test_fingerprint_changes_with_any_file(tmp_path: Path) -> None:
    d = version(tmp_path, "m", "1")
    before = scan(tmp_path)["m"].versions["1"].fingerprint
    (d / "encoder.onnx").write_bytes((d / "encoder.onnx").read_bytes() + b"x")
    assert scan(tmp_path)["m"].versions["1"].fingerprint != before


def test_publish_is_all_or_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), publish_version(tmp_path, "m") as (tmp, v):
        assert v == "1" and tmp.name.startswith(".1.")
        (tmp / "half-written.onnx").write_bytes(b"x")
        raise RuntimeError("export failed")
    assert [p.name for p in (tmp_path / "m").iterdir()] == []  # nothing left, nothing visible
    version(tmp_path, "m", "1")
    with pytest.raises(FileExistsError), publish_version(tmp_path, "m", "1") as (tmp, _):
        pass
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["1"]
    shutil.rmtree(tmp_path / "m")
    make_tiny_model(tmp_path, "m")  # the old layout holds version 1: never overwritten
    with pytest.raises(FileExistsError), publish_version(tmp_path, "m", "1") as (tmp, _):
        pass
    with pytest.raises(ValueError, match="positive integer"), publish_version(tmp_path, "m", "01"):
        pass
    assert LATEST_ONE.select(["1", "2"]) == ["2"]
