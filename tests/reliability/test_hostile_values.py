"""Values a hostile client can craft, each answered with a 4xx naming the field (issue 29, items
3-6 of the outside probe): numbers beyond float32, labels beyond int64, 4,301-digit integers,
odd binary headers, huge quoted input, a client hanging up mid-body, a default model that failed
to load. TestClient re-raises any server exception, so a 500 fails loudly here."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.testing.server import start_service, stop
from service.testing.tiny_models import make_tiny_model
from tests.service.conftest import make_settings, noise_png

HUGE = 10**30  # beyond int64
DIM = 4  # the tiny models' latent size


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("models")
    make_tiny_model(root, "tiny", conditional=False)
    make_tiny_model(root, "tiny-cond", conditional=True, seed=1)
    with TestClient(create_app(make_settings(root))) as c:
        yield c


def message(r: httpx.Response) -> str:
    body = r.json()
    return str(body["error"] if isinstance(body["error"], str) else body["error"]["message"])


# ---- numbers beyond float32 ---------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["json", "png"])
def test_latents_beyond_float32_are_422(client: TestClient, fmt: str) -> None:
    r = client.post(f"/decode?format={fmt}", json={"latents": [[0.0, 0.0, 3.5e38, 0.0]]})
    assert r.status_code == 422 and "latents[0][2]" in message(r), r.text


@pytest.mark.parametrize("method", ["slerp", "lerp"])
@pytest.mark.parametrize("ends", [(1e38, -1e38), (3e38, 3e38), (3.4e38, -1e-30)])
def test_interpolating_huge_latents_is_never_a_500(
    client: TestClient, method: str, ends: tuple[float, float]
) -> None:
    """Was a 500 (float32 norms overflowed in slerp). Now computed in float64: a finite path
    gives its images, anything else a 422."""
    body = {"latents": [[ends[0]] * DIM, [ends[1]] * DIM], "method": method, "steps": 4}
    r = client.post("/interpolate?format=json", json=body)
    assert r.status_code in (200, 422), r.text
    if r.status_code == 200:
        assert len(r.json()["images"]) == 4


def test_finite_but_huge_latents_never_give_garbage(client: TestClient) -> None:
    r = client.post("/decode?format=json", json={"latents": [[3e38] * DIM]})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 200:
        assert r.json()["images"]


# ---- labels beyond the classes and int64 -------------------------------------------------------
def test_huge_labels_are_422_on_every_route(client: TestClient) -> None:
    cond = "model=tiny-cond"
    r = client.post(f"/decode?{cond}", json={"latents": [[0.0] * DIM], "labels": [HUGE]})
    assert r.status_code == 422 and "label" in message(r), r.text
    files = [("images", ("a.png", noise_png(0), "image/png"))]
    r = client.post(f"/encode?{cond}", files=files, data={"labels": str(HUGE)})
    assert r.status_code == 422 and "label" in message(r), r.text
    r = client.post(f"/encode?{cond}", files=files, data={"labels": "9" * 5000})
    assert r.status_code == 422, r.text
    body = {"latents": [[0.0] * DIM, [1.0] * DIM]}
    r = client.post(f"/interpolate?{cond}&label={HUGE}", json=body)
    assert r.status_code == 422 and "label" in message(r), r.text
    r = client.get(f"/sample?{cond}&n=2&label={HUGE}")
    assert r.status_code == 422 and "label" in message(r), r.text
    r = client.get(f"/sample?{cond}&n=2&label=-{HUGE}")
    assert r.status_code == 422


# ---- the v2 protocol, both paths ----------------------------------------------------------------
V2_PATHS = ["/v2/models/tiny.decoder/infer", "/v2/models/tiny.decoder/versions/1/infer"]


@pytest.mark.parametrize("path", V2_PATHS)
def test_v2_4301_digit_integer_is_400(client: TestClient, path: str) -> None:
    data = "[" + ", ".join(["1" * 4301] + ["0"] * (DIM - 1)) + "]"
    body = '{"inputs": [{"name": "z", "shape": [1, 4], "datatype": "FP32", "data": ' + data + "}]}"
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("path", V2_PATHS)
def test_v2_float_beyond_float32_is_400(client: TestClient, path: str) -> None:
    z = {"name": "z", "shape": [1, DIM], "datatype": "FP32", "data": [3.5e38, 0, 0, 0]}
    r = client.post(path, json={"inputs": [z]})
    assert r.status_code == 400 and "'z'" in r.json()["error"], r.text


@pytest.mark.parametrize("path", V2_PATHS)
def test_v2_int64_label_beyond_int64_is_400(client: TestClient, path: str) -> None:
    path = path.replace("tiny.", "tiny-cond.")
    z = {"name": "z", "shape": [1, DIM], "datatype": "FP32", "data": [0, 0, 0, 0]}
    y = {"name": "y", "shape": [1], "datatype": "INT64", "data": [HUGE]}
    r = client.post(path, json={"inputs": [z, y]})
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("path", V2_PATHS)
@pytest.mark.parametrize("value", ["\u0663", "\u0663\u0660", "1" * 4400, "12345678901234567890"])
def test_v2_malformed_header_length_is_400(client: TestClient, path: str, value: str) -> None:
    r = client.post(
        path,
        content=b"{}",
        headers={"inference-header-content-length": value.encode()},
    )
    assert r.status_code == 400, r.text
    assert len(r.text) < 400  # the 4,400 digits are not echoed whole


# ---- quoted input is cut ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/sample?model={}",
        "/models/{}",
        "/v2/models/{}/ready",
        "/v2/models/{}.decoder",
    ],
)
def test_long_names_are_not_echoed_whole(client: TestClient, path: str) -> None:
    name = "a" * 65000
    r = client.get(path.format(name))
    assert r.status_code == 404, r.text[:200]
    assert len(r.content) < 1000, len(r.content)


# ---- the default model --------------------------------------------------------------------------
def test_a_default_model_that_failed_is_503_and_never_replaced(tmp_path: Path) -> None:
    make_tiny_model(tmp_path, "alpha")  # first by name: the implied default
    make_tiny_model(tmp_path, "beta")
    decoder = tmp_path / "alpha" / "decoder.onnx"
    decoder.write_bytes(decoder.read_bytes()[:100])  # truncated
    with TestClient(create_app(make_settings(tmp_path, default_model=None))) as c:
        ready = c.get("/readyz")
        assert ready.status_code == 503 and "alpha" in ready.text, ready.text
        r = c.get("/sample?n=2")
        assert r.status_code == 503 and "alpha" in message(r), r.text
        assert c.get("/sample?n=2&model=beta").status_code == 200  # others serve by name
    with TestClient(create_app(make_settings(tmp_path, default_model="beta"))) as c:
        assert c.get("/readyz").status_code == 200
        assert c.get("/sample?n=2").status_code == 200


# ---- a client that hangs up mid-body ------------------------------------------------------------
def test_a_client_gone_mid_body_is_499_without_a_traceback(tmp_path: Path) -> None:
    make_tiny_model(tmp_path, "tiny")
    log = tmp_path / "service.log"
    proc, url = start_service(tmp_path, log_path=log, workers=1, log_level="info")
    host, port = url.removeprefix("http://").split(":")
    try:
        for path, kind in [
            ("/encode", "multipart/form-data; boundary=xx"),
            ("/v2/models/tiny.decoder/infer", "application/json"),
            ("/v2/models/tiny.decoder/versions/1/infer", "application/json"),
        ]:
            with socket.create_connection((host, int(port))) as s:
                s.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\n"
                    "Content-Length: 100000\r\n\r\n".encode()
                    + b"--xx\r\n"
                    + b"a" * 1000
                )
                time.sleep(0.3)
        time.sleep(0.5)
        metrics = httpx.get(f"{url}/metrics").text
    finally:
        stop(proc)
    for endpoint in (
        "/encode",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
    ):
        assert f'code="499",endpoint="{endpoint}"' in metrics, endpoint
    assert 'code="500"' not in metrics
    text = log.read_text()
    assert "Traceback" not in text, text[-2000:]
    assert text.count("client closed the connection") == 3, text[-2000:]
