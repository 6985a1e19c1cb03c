"""deploy/kserve/inferenceservice.yaml against the image it runs: the Dockerfile's port, and probe
paths that are v2 health routes of the app and answer 200 once the models are loaded."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from service.testing.tiny_models import make_tiny_model

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "kserve" / "inferenceservice.yaml"


def documents() -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text())}


def dockerfile_ports() -> set[int]:
    text = (ROOT / "Dockerfile").read_text()
    exposed = {int(p) for p in re.findall(r"^EXPOSE (\d+)$", text, re.M)}
    env = {int(p) for p in re.findall(r"ALI_(?:GRPC_)?PORT=(\d+)", text)}
    assert exposed and env
    return exposed | env


def test_inference_service_selects_the_runtime_with_protocol_v2() -> None:
    docs = documents()
    isvc, runtime = docs["InferenceService"], docs["ServingRuntime"]
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    model = isvc["spec"]["predictor"]["model"]
    assert model["protocolVersion"] == "v2"
    assert model["runtime"] == runtime["metadata"]["name"]
    formats = {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
    assert model["modelFormat"]["name"] in formats
    assert runtime["spec"]["protocolVersions"] == ["v2"]


def test_container_port_and_probes_match_the_image_and_the_app(tmp_path: Path) -> None:
    (container,) = documents()["ServingRuntime"]["spec"]["containers"]
    assert container["name"] == "kserve-container"  # KServe's name for the serving container
    (port,) = [p["containerPort"] for p in container["ports"]]
    assert port == Settings().port
    assert dockerfile_ports() == {Settings().port, Settings().grpc_port}  # HTTP, gRPC
    env = {e["name"]: e["value"] for e in container.get("env", [])}
    assert env.get("ALI_PORT", str(port)) == str(port)
    probes = {k: container[k]["httpGet"] for k in ("livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/v2/health/live"
    assert probes["readinessProbe"]["path"] == "/v2/health/ready"
    make_tiny_model(tmp_path, "tiny")
    app = create_app(Settings(model_dir=tmp_path, grpc=False))
    routes = app.openapi()["paths"]  # every route the app serves, from its own schema
    with TestClient(app) as client:
        for probe in probes.values():
            assert probe["port"] == port
            assert "get" in routes[probe["path"]]
            assert client.get(probe["path"]).status_code == 200
