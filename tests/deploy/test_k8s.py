"""deploy/k8s/: valid against the Kubernetes schemas (offline, kubernetes-validate's bundled
ones), and consistent with the app: probe paths answer, the HPA's metric is on /metrics, the
grace period covers the drain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from service.testing.tiny_models import make_tiny_model

yaml = pytest.importorskip("yaml")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


def documents() -> list[dict[str, Any]]:
    return [d for f in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text())]


def by_kind(kind: str) -> dict[str, Any]:
    (doc,) = [d for d in documents() if d["kind"] == kind]
    return doc


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_manifest_is_valid(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_a_typo_is_caught() -> None:
    doc = by_kind("Deployment")
    doc["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSecond"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("models")
    make_tiny_model(root, "tiny")
    with TestClient(create_app(Settings(model_dir=root, grpc=False))) as c:
        yield c


def container() -> dict[str, Any]:
    (c,) = by_kind("Deployment")["spec"]["template"]["spec"]["containers"]
    return c


def test_probes_answer_and_port_is_the_services(client: TestClient) -> None:
    c = container()
    assert c["ports"][0]["containerPort"] == Settings().port
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert client.get(c[probe]["httpGet"]["path"]).status_code == 200, probe


def test_hpa_metric_is_exposed_and_the_adapter_serves_it(client: TestClient) -> None:
    metrics = client.get("/metrics").text
    names = [
        m["pods"]["metric"]["name"] for m in by_kind("HorizontalPodAutoscaler")["spec"]["metrics"]
    ]
    adapter = yaml.safe_load(by_kind("ConfigMap")["data"]["config.yaml"])["rules"]
    served = {rule["name"]["as"] for rule in adapter}
    for name in names:
        assert f"\n{name} " in metrics or f"\n{name}{{" in metrics, name
        assert name in served, name


def test_grace_period_covers_the_drain() -> None:
    env = {
        e["name"]: float(e["value"])
        for e in container()["env"]
        if e["name"].endswith("_S") or e["name"] == "ALI_DRAIN_SECONDS"
    }
    grace = by_kind("Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > env["ALI_SHUTDOWN_DELAY_S"] + env["ALI_DRAIN_SECONDS"]
