"""The Open Inference Protocol (KServe v2) with Triton's own client against the real server.

Each network of the tiny models answers `tritonclient.http` with JSON and with binary tensors, and
its outputs equal the domain API's for the same inputs: /encode's mu and log_sigma, /score's
discriminator logit, and the images /decode computes before PNG (the same float decoder call, and
the PNG's pixels). Bad requests: tests/service/test_v2_errors.py.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from runtime.grid import to_uint8
from runtime.model import load_model
from service.testing.server import running_service
from tests.service.conftest import noise_png

tritonclient = pytest.importorskip("tritonclient.http")
InferInput = tritonclient.InferInput
InferRequestedOutput = tritonclient.InferRequestedOutput

N = 3  # rows per request
MODELS = ("tiny", "tiny-cond")
NETWORKS = ("encoder", "decoder", "discriminator")


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[str]:
    with running_service(model_dir, default_model="tiny") as url:
        yield url


@pytest.fixture(scope="module")
def triton(server: str) -> Iterator[tritonclient.InferenceServerClient]:
    client = tritonclient.InferenceServerClient(server.removeprefix("http://"))
    yield client
    client.close()


def _pixels(png: bytes) -> np.ndarray:
    """A PNG -> the model input the service makes of it (x = p / 127.5 - 1), [1, 8, 8]."""
    a = np.asarray(Image.open(io.BytesIO(png)), dtype=np.float32)[None]
    return (a * np.float32(1 / 127.5) + np.float32(-1.0)).astype(np.float32)


class Domain:
    """The same rows through the domain API: N noise images, labels 0..N-1 if conditional."""

    def __init__(self, url: str, model: str) -> None:
        self.url, self.model = url, model
        self.pngs = [noise_png(i) for i in range(N)]
        self.x = np.stack([_pixels(p) for p in self.pngs])  # [N, 1, 8, 8]
        self.y = np.arange(N, dtype=np.int64) if model == "tiny-cond" else None
        labels = None if self.y is None else self.y.tolist()
        body = {"images": [base64.b64encode(p).decode() for p in self.pngs], "labels": labels}
        enc = httpx.post(f"{url}/encode?model={model}", json=body).raise_for_status().json()
        self.mu = np.asarray(enc["mu"], np.float32)  # [N, 4]
        self.log_sigma = np.asarray(enc["log_sigma"], np.float32)
        score = httpx.post(f"{url}/score?model={model}", json=body).raise_for_status().json()
        self.logit = np.asarray(score["discriminator_logit"], np.float32)  # [N]

    def feeds(self, network: str) -> dict[str, np.ndarray]:
        by_net = {"encoder": {"x": self.x}, "decoder": {"z": self.mu}}
        feeds = by_net.get(network, {"x": self.x, "z": self.mu})
        return feeds if self.y is None else {**feeds, "y": self.y}

    def decode_pngs(self) -> list[np.ndarray]:
        """/decode?format=json of mu: one 8-bit image per row."""
        body = {"latents": self.mu.tolist(), "labels": None if self.y is None else self.y.tolist()}
        r = httpx.post(f"{self.url}/decode?model={self.model}&format=json", json=body)
        return [
            np.asarray(Image.open(io.BytesIO(base64.b64decode(s))))
            for s in r.raise_for_status().json()["images"]
        ]


@pytest.fixture(scope="module")
def domain(server: str) -> dict[str, Domain]:
    return {m: Domain(server, m) for m in MODELS}


def _inputs(feeds: dict[str, np.ndarray], binary: bool) -> list[InferInput]:
    inputs = []
    for name, a in feeds.items():
        datatype = "INT64" if a.dtype == np.int64 else "FP32"
        inp = InferInput(name, list(a.shape), datatype)
        inp.set_data_from_numpy(a, binary_data=binary)
        inputs.append(inp)
    return inputs


def test_health_and_server_metadata(triton: tritonclient.InferenceServerClient) -> None:
    assert triton.is_server_live() and triton.is_server_ready()
    meta = triton.get_server_metadata()
    assert meta["name"] == "ali" and {"binary_tensor_data", "model_configuration"} <= set(
        meta["extensions"]
    )
    for model in MODELS:
        for net in NETWORKS:
            assert triton.is_model_ready(f"{model}.{net}")
            assert triton.is_model_ready(f"{model}.{net}", "1")
    assert not triton.is_model_ready("tiny.decoder", "2")
    assert not triton.is_model_ready("tiny.generator")
    assert not triton.is_model_ready("nope.decoder")


def test_model_metadata_is_the_graph(triton: tritonclient.InferenceServerClient) -> None:
    meta = triton.get_model_metadata("tiny-cond.discriminator")
    assert meta["name"] == "tiny-cond.discriminator" and meta["versions"] == ["1"]
    assert meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [
        {"name": "x", "datatype": "FP32", "shape": [-1, 1, 8, 8]},
        {"name": "z", "datatype": "FP32", "shape": [-1, 4]},
        {"name": "y", "datatype": "INT64", "shape": [-1]},
    ]
    assert meta["outputs"] == [{"name": "logit", "datatype": "FP32", "shape": [-1]}]
    enc = triton.get_model_metadata("tiny.encoder", "1")
    assert [o["name"] for o in enc["outputs"]] == ["mu", "log_sigma"]
    assert [i["name"] for i in enc["inputs"]] == ["x"]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("model", MODELS)
def test_infer_equals_the_domain_api(
    triton: tritonclient.InferenceServerClient,
    domain: dict[str, Domain],
    model_dir: Path,
    model: str,
    network: str,
    binary: bool,
) -> None:
    d = domain[model]
    result = triton.infer(
        f"{model}.{network}", _inputs(d.feeds(network), binary), model_version="1"
    )
    if network == "encoder":
        np.testing.assert_allclose(result.as_numpy("mu"), d.mu, rtol=0, atol=1e-6)
        np.testing.assert_allclose(result.as_numpy("log_sigma"), d.log_sigma, rtol=0, atol=1e-6)
    elif network == "discriminator":
        np.testing.assert_allclose(result.as_numpy("logit"), d.logit, rtol=0, atol=1e-6)
    else:
        images = result.as_numpy("x")  # [N, 1, 8, 8]
        assert images.dtype == np.float32 and images.shape == (N, 1, 8, 8)
        # /decode's own float images: the same decoder call as the service makes before PNG
        ref = load_model(model_dir / model).decode(d.mu, d.y)
        np.testing.assert_allclose(images, ref, rtol=0, atol=1e-6)
        pngs = d.decode_pngs()
        for img, png in zip(to_uint8(images, -1.0, 1.0), pngs, strict=True):
            np.testing.assert_array_equal(img[:, :, 0], png)  # [H, W, C] -> [H, W]


def test_requested_outputs_id_and_json_output(triton: tritonclient.InferenceServerClient) -> None:
    x = np.stack([_pixels(noise_png(i)) for i in range(2)])
    result = triton.infer(
        "tiny.encoder",
        _inputs({"x": x}, binary=True),
        request_id="req-42",
        outputs=[InferRequestedOutput("log_sigma", binary_data=False)],
    )
    response = result.get_response()
    assert response["id"] == "req-42" and response["model_version"] == "1"
    assert [o["name"] for o in response["outputs"]] == ["log_sigma"]
    assert "data" in response["outputs"][0]  # JSON, as asked for
    both = triton.infer("tiny.encoder", _inputs({"x": x}, binary=False))
    np.testing.assert_array_equal(result.as_numpy("log_sigma"), both.as_numpy("log_sigma"))


def test_compressed_request_body(triton: tritonclient.InferenceServerClient) -> None:
    z = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    plain = triton.infer("tiny.decoder", _inputs({"z": z}, binary=True))
    for algorithm in ("gzip", "deflate"):
        packed = triton.infer(
            "tiny.decoder", _inputs({"z": z}, binary=True), request_compression_algorithm=algorithm
        )
        np.testing.assert_array_equal(packed.as_numpy("x"), plain.as_numpy("x"))


def test_errors_reach_the_client_as_exceptions(triton: tritonclient.InferenceServerClient) -> None:
    z = np.zeros((1, 5), np.float32)
    with pytest.raises(Exception) as err:  # InferenceServerException
        triton.infer("tiny.decoder", _inputs({"z": z}, binary=True))
    assert err.value.status() == "400" and "shape" in err.value.message()
    with pytest.raises(Exception) as err:
        triton.get_model_metadata("tiny.decoder", "7")
    assert err.value.status() == "404"


def test_v2_routes_have_their_own_metrics(server: str) -> None:
    httpx.get(f"{server}/v2/models/tiny.decoder").raise_for_status()
    z = {"name": "z", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 0, 0]}
    httpx.post(f"{server}/v2/models/tiny.decoder/infer", json={"inputs": [z]}).raise_for_status()
    text = httpx.get(f"{server}/metrics").text
    assert (
        'ali_requests_total{code="200",endpoint="/v2/models/{name}/infer",model="tiny",protocol="http",version="1"}'
        in text
    )
    assert 'endpoint="/v2/models/{name}"' in text
