"""POST /v2/models/{name}/infer is answered by the ASGI fast path (service/v2/fast_path.py) with
the same bytes, errors and metrics as the FastAPI route behind it (the versioned path)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from tests.service.conftest import make_settings

FAST = "/v2/models/tiny.decoder/infer"
ROUTE = "/v2/models/tiny.decoder/versions/1/infer"  # not taken by the fast path


@pytest.fixture()
def client(model_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(model_dir, max_body_bytes=4096))) as c:
        yield c


def binary_body(z: np.ndarray) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "z",
                    "shape": list(z.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": z.nbytes},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    return head + z.tobytes(), {
        "Inference-Header-Content-Length": str(len(head)),
        "Content-Type": "application/octet-stream",
    }


def latents(client: TestClient, n: int) -> np.ndarray:
    dim = client.get("/v2/models/tiny.decoder").json()["inputs"][0]["shape"][1]
    return np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)


def test_fast_path_and_route_give_the_same_bytes(client: TestClient) -> None:
    body, headers = binary_body(latents(client, 3))
    fast, route = (
        client.post(FAST, content=body, headers=headers),
        client.post(ROUTE, content=body, headers=headers),
    )
    assert fast.status_code == route.status_code == 200
    assert fast.content == route.content
    assert (
        fast.headers["inference-header-content-length"]
        == route.headers["inference-header-content-length"]
    )
    assert (
        fast.headers["content-type"] == route.headers["content-type"] == "application/octet-stream"
    )


def test_json_requests_too(client: TestClient) -> None:
    z = latents(client, 2)
    req = {
        "inputs": [
            {"name": "z", "shape": list(z.shape), "datatype": "FP32", "data": z.ravel().tolist()}
        ]
    }
    fast, route = client.post(FAST, json=req), client.post(ROUTE, json=req)
    assert fast.status_code == 200 and fast.json() == route.json()


@pytest.mark.parametrize(
    ("path", "headers", "body", "status"),
    [
        ("/v2/models/nope.decoder/infer", {}, b"{}", 404),
        (FAST, {"Inference-Header-Content-Length": "abc"}, b"{}", 400),
        (FAST, {"Inference-Header-Content-Length": "999"}, b"{}", 400),
        (FAST, {}, b"not json", 400),
        (FAST, {}, b"x" * 5000, 413),
    ],
)
def test_errors_have_the_protocol_shape_and_status(
    client: TestClient, path: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    r = client.post(path, content=body, headers={"Content-Type": "application/json", **headers})
    assert r.status_code == status
    assert set(r.json()) == {"error"} and r.json()["error"]


def test_the_fast_path_answered(client: TestClient) -> None:
    """Its own wording for a bad header length (FastAPI's validation words it differently)."""
    bad = {"Inference-Header-Content-Length": "abc", "Content-Type": "application/json"}
    assert "integer >= 0" in client.post(FAST, content=b"{}", headers=bad).json()["error"]
    assert client.get(FAST).status_code == 405  # other methods still go to FastAPI


def test_metrics_label_fast_path_requests_with_the_route_template(client: TestClient) -> None:
    body, headers = binary_body(latents(client, 1))
    assert client.post(FAST, content=body, headers=headers).status_code == 200
    text = client.get("/metrics").text
    assert (
        'ali_requests_total{code="200",endpoint="/v2/models/{name}/infer",model="tiny",protocol="http",version="1"}'
        in text
    )
    assert 'ali_request_duration_seconds_count{endpoint="/v2/models/{name}/infer"}' in text
