from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from runtime.manifest import ManifestError, load_manifest
from service.app import create_app
from service.testing.tiny_models import make_tiny_model
from tests.service.conftest import make_settings


@pytest.fixture()
def broken_dir(tmp_path: Path) -> Path:
    make_tiny_model(tmp_path, "good")
    missing = make_tiny_model(tmp_path, "missing")
    (missing / "decoder.onnx").unlink()
    truncated = make_tiny_model(tmp_path, "truncated")
    data = (truncated / "encoder.onnx").read_bytes()
    (truncated / "encoder.onnx").write_bytes(data[: len(data) // 2])
    tampered = make_tiny_model(tmp_path, "tampered")
    data = bytearray((tampered / "discriminator.onnx").read_bytes())
    data[-5] ^= 0xFF
    (tampered / "discriminator.onnx").write_bytes(bytes(data))
    return tmp_path


def test_broken_models_are_reported_and_the_rest_serve(
    broken_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    with TestClient(create_app(make_settings(broken_dir, default_model="good"))) as c:
        assert c.get("/readyz").status_code == 200
        models = {m["name"]: m for m in c.get("/models").json()["models"]}
        assert models["good"]["ready"] is True
        for name, needle in (
            ("missing", "decoder.onnx is missing"),
            ("truncated", "encoder.onnx has"),
            ("tampered", "discriminator.onnx sha256"),
        ):
            assert models[name]["ready"] is False
            assert needle in models[name]["error"], models[name]["error"]
            assert any(needle in r.getMessage() for r in caplog.records), needle
            r = c.get(f"/sample?model={name}")
            assert r.status_code == 503 and needle in r.json()["error"]["message"]
        assert c.get("/sample?model=good").status_code == 200


def test_no_models_means_not_ready(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, default_model=None))) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["detail"] == "no model loaded"
        assert c.get("/healthz").status_code == 200


def test_require_gpu_fails_readiness_on_cpu(model_dir: Path) -> None:
    with TestClient(create_app(make_settings(model_dir, require_gpu=True))) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and "CUDA not active" in r.json()["detail"]


def test_manifest_rejections(tmp_path: Path) -> None:
    d = make_tiny_model(tmp_path, "m")
    good = json.loads((d / "manifest.json").read_text())
    assert load_manifest(d).name == "m"
    for mutate, needle in (
        (lambda m: m.pop("latent"), "latent"),
        (lambda m: m.update(manifest_version=99), "unknown manifest_version"),
        (lambda m: m["files"].pop("encoder"), "encoder"),
        (lambda m: m.update(conditional=True), "classes"),
        (lambda m: m["files"]["decoder"].update(path="../../etc/passwd"), "path"),
        (lambda m: m.update(name="../evil"), "name"),
    ):
        bad = json.loads(json.dumps(good))
        mutate(bad)
        (d / "manifest.json").write_text(json.dumps(bad))
        with pytest.raises(ManifestError, match=needle):
            load_manifest(d)
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(d)


def test_model_folder_name_must_match_manifest(tmp_path: Path) -> None:
    d = make_tiny_model(tmp_path, "alpha")
    shutil.move(d, tmp_path / "beta")
    with TestClient(create_app(make_settings(tmp_path, default_model=None))) as c:
        info = c.get("/models").json()["models"][0]
        assert info["ready"] is False and "differs from folder" in info["error"]
