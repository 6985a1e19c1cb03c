"""The v2 protocol in-process: bad requests get their status and `{"error": "..."}` (never a 500),
limits and overload as in the domain API, v2 and domain rows in one batch, Triton's config shape."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.testing.tiny_models import make_tiny_model
from tests.service.conftest import make_settings

Body = tuple[bytes, dict[str, str]]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("v2-models")
    make_tiny_model(root, "tiny")
    make_tiny_model(root, "tiny-cond", conditional=True, seed=1)
    broken = make_tiny_model(root, "broken", seed=2)
    (broken / "decoder.onnx").write_bytes(b"truncated")  # fails its hash: not loaded
    return root


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(root, max_images=8))) as c:
        yield c


def js(obj: Any) -> Body:
    return json.dumps(obj).encode(), {"content-type": "application/json"}


def binary(header: dict[str, Any], raw: bytes, length: int | None = None) -> Body:
    head = json.dumps(header).encode()
    return head + raw, {
        "Inference-Header-Content-Length": str(len(head) if length is None else length)
    }


def t(
    name: str, shape: list[int], data: Any = None, datatype: str = "FP32", **params: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "shape": shape, "datatype": datatype}
    if data is not None:
        out["data"] = data
    if params:
        out["parameters"] = params
    return out


Z = t("z", [1, 4], [0.0, 0.5, 1.0, 2.0])
F32 = np.zeros(4, np.float32).tobytes()

DEC, COND, DIS = "tiny.decoder", "tiny-cond.decoder", "tiny.discriminator"
X1 = t("x", [1, 1, 8, 8], [0.0] * 64)
BAD: list[tuple[str, str, Body, int, str]] = [
    ("wrong shape", DEC, js({"inputs": [t("z", [1, 5], [0] * 5)]}), 400, "shape"),
    ("wrong rank", DEC, js({"inputs": [t("z", [4], [0] * 4)]}), 400, "shape"),
    ("wrong datatype", DEC, js({"inputs": [t("z", [1, 4], [0] * 4, "FP64")]}), 400, "FP32"),
    ("unserved datatype", DEC, js({"inputs": [t("z", [1, 4], ["a"] * 4, "BYTES")]}), 400, "datatype"),
    ("count != shape", DEC, js({"inputs": [t("z", [2, 4], [0] * 7)]}), 400, "7 values"),
    ("ragged data", DEC, js({"inputs": [t("z", [2, 4], [[0] * 4, [0] * 3])]}), 400, "regular"),
    ("strings", DEC, js({"inputs": [t("z", [1, 4], ["1"] * 4)]}), 400, "numbers"),
    ("null", DEC, js({"inputs": [t("z", [1, 4], [0, None, 0, 0])]}), 400, "numbers"),
    ("booleans for FP32", DEC, js({"inputs": [t("z", [1, 4], [True] * 4)]}), 400, "numbers"),
    ("overflows FP32", DEC, js({"inputs": [t("z", [1, 4], [1e39, 0, 0, 0])]}), 400, "infinite"),
    ("NaN in JSON", DEC, (b'{"inputs":[{"name":"z","shape":[1,4],"datatype":"FP32","data":[NaN,0,0,0]}]}', {}), 400, "NaN"),
    ("NaN in binary", DEC, binary({"inputs": [t("z", [1, 4], binary_data_size=16)]}, np.array([np.nan, 0, 0, 0], np.float32).tobytes()), 400, "NaN"),
    ("float labels", COND, js({"inputs": [Z, t("y", [1], [1.5], "INT64")]}), 400, "integers"),
    ("FP32 labels", COND, js({"inputs": [Z, t("y", [1], [1.0], "FP32")]}), 400, "INT64"),
    ("label out of range", COND, js({"inputs": [Z, t("y", [1], [10], "INT64")]}), 400, "out of range"),
    ("label beyond INT64", COND, js({"inputs": [Z, t("y", [1], [2**63], "INT64")]}), 400, "range"),
    ("labels missing", COND, js({"inputs": [Z]}), 400, "missing"),
    ("binary size != shape", DEC, binary({"inputs": [t("z", [1, 4], binary_data_size=12)]}, F32[:12]), 400, "binary_data_size"),
    ("truncated binary", DEC, binary({"inputs": [t("z", [1, 4], binary_data_size=16)]}, F32[:8]), 400, "truncated"),
    ("header longer than body", DEC, binary({"inputs": [Z]}, b"", length=10_000), 400, "Inference-Header-Content-Length"),
    ("bytes after the tensors", DEC, binary({"inputs": [t("z", [1, 4], binary_data_size=16)]}, F32 + b"xxxx"), 400, "add up"),
    ("binary without header length", DEC, (json.dumps({"inputs": [t("z", [1, 4], binary_data_size=16)]}).encode() + F32, {}), 400, "JSON"),
    ("data and binary", DEC, binary({"inputs": [t("z", [1, 4], [0] * 4, binary_data_size=16)]}, F32), 400, "both"),
    ("no data", DEC, js({"inputs": [t("z", [1, 4])]}), 400, "no data"),
    ("bool binary size", DEC, binary({"inputs": [t("z", [1, 4], binary_data_size=True)]}, F32), 400, "binary_data_size"),
    ("shared memory", DEC, js({"inputs": [t("z", [1, 4], shared_memory_region="r")]}), 400, "shared memory"),
    ("unknown input", DEC, js({"inputs": [t("q", [1, 4], [0] * 4)]}), 400, "unknown input"),
    ("input twice", DEC, js({"inputs": [Z, Z]}), 400, "twice"),
    ("missing input", DIS, js({"inputs": [X1]}), 400, "missing"),
    ("batch sizes differ", DIS, js({"inputs": [t("x", [2, 1, 8, 8], [0] * 128), Z]}), 400, "disagree"),
    ("zero rows", DEC, js({"inputs": [t("z", [0, 4], [])]}), 400, "no rows"),
    ("rows over the limit", DEC, js({"inputs": [t("z", [9, 4], [0] * 36)]}), 413, "limit"),
    ("unknown output", DEC, js({"inputs": [Z], "outputs": [{"name": "nope"}]}), 400, "unknown output"),
    ("classification", DEC, js({"inputs": [Z], "outputs": [{"name": "x", "parameters": {"classification": 2}}]}), 400, "classification"),
    ("invalid JSON", DEC, (b"{", {}), 400, "JSON"),
    ("empty body", DEC, (b"", {}), 400, "empty"),
    ("not an object", DEC, js([1, 2]), 400, ""),
    ("no inputs", DEC, js({"inputs": []}), 400, "inputs"),
    ("extra field", DEC, js({"inputs": [Z], "foo": 1}), 400, "foo"),
    ("negative header length", DEC, (b"{}", {"Inference-Header-Content-Length": "-1"}), 400, "inference-header-content-length"),
    ("header length not a number", DEC, (b"{}", {"Inference-Header-Content-Length": "x"}), 400, "inference-header-content-length"),
    ("unknown encoding", DEC, (b"{}", {"Content-Encoding": "br"}), 400, "br"),
    ("corrupt gzip", DEC, (b"not gzip", {"Content-Encoding": "gzip"}), 400, "gzip"),
    ("truncated gzip", DEC, (gzip.compress(js({"inputs": [Z]})[0])[:-12], {"Content-Encoding": "gzip"}), 400, "gzip"),
    ("unknown model", "nope.decoder", js({"inputs": [Z]}), 404, "unknown model"),
    ("no network in the name", "tiny", js({"inputs": [Z]}), 404, "v2 models"),
    ("unknown network", "tiny.generator", js({"inputs": [Z]}), 404, "unknown model"),
    ("model failed to load", "broken.decoder", js({"inputs": [Z]}), 503, "failed to load"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("model", "body", "status", "phrase"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_bad_requests_get_status_and_error(
    client: TestClient, model: str, body: Body, status: int, phrase: str
) -> None:
    content, headers = body
    r = client.post(f"/v2/models/{model}/infer", content=content, headers=headers)
    assert r.status_code == status, r.text
    err = r.json()
    assert set(err) == {"error"} and isinstance(err["error"], str), err
    assert phrase.lower() in err["error"].lower(), err
    assert client.post(f"/v2/models/{DEC}/infer", json={"inputs": [Z]}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v2/models/tiny.decoder/versions/2", 404),
        ("GET", "/v2/models/tiny.decoder/versions/2/ready", 404),
        ("GET", "/v2/models/tiny.decoder/versions/2/config", 404),
        ("POST", "/v2/models/tiny.decoder/versions/2/infer", 404),
        ("GET", "/v2/models/.decoder", 404),
        ("GET", "/v2/models/broken.encoder", 503),
        ("GET", "/v2/models/broken.encoder/ready", 503),
        ("GET", "/v2/nothing/here", 404),
        ("GET", "/v2/models/tiny.decoder/infer", 405),
    ],
)
def test_other_v2_errors(client: TestClient, method: str, path: str, status: int) -> None:
    r = client.request(method, path, json={"inputs": [Z]} if method == "POST" else None)
    assert r.status_code == status and set(r.json()) == {"error"}, r.text


def test_domain_errors_keep_their_shape(client: TestClient) -> None:
    r = client.get("/models/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    r = client.get("/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.post("/decode", json={"latents": "x"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"


def test_json_data_nested_or_flat_and_binary_outputs(client: TestClient) -> None:
    z = np.arange(8, dtype=np.float32).reshape(2, 4) / 8
    flat = client.post(
        f"/v2/models/{DEC}/infer", json={"inputs": [t("z", [2, 4], z.ravel().tolist())]}
    )
    nested = client.post(f"/v2/models/{DEC}/infer", json={"inputs": [t("z", [2, 4], z.tolist())]})
    assert flat.status_code == nested.status_code == 200
    assert flat.headers["content-type"] == "application/json"
    assert flat.json()["outputs"] == nested.json()["outputs"]
    x = np.asarray(flat.json()["outputs"][0]["data"], np.float32).reshape(2, 1, 8, 8)
    # request-level binary_data_output, overridden per output
    req = {"inputs": [t("z", [2, 4], z.tolist())], "parameters": {"binary_data_output": True}}
    r = client.post(f"/v2/models/{DEC}/infer", json=req)
    n = int(r.headers["inference-header-content-length"])
    assert r.headers["content-type"] == "application/octet-stream"
    head = json.loads(r.content[:n])
    assert head["outputs"][0]["parameters"] == {"binary_data_size": 2 * 64 * 4}
    np.testing.assert_array_equal(np.frombuffer(r.content[n:], "<f4").reshape(2, 1, 8, 8), x)
    req["outputs"] = [{"name": "x", "parameters": {"binary_data": False}}]
    r = client.post(f"/v2/models/{DEC}/infer", json=req)
    assert "inference-header-content-length" not in r.headers
    assert r.json()["outputs"][0]["data"] == flat.json()["outputs"][0]["data"]


def test_non_finite_outputs_are_null_in_json(client: TestClient) -> None:
    big = t("x", [1, 1, 8, 8], [3e38] * 64)  # finite in FP32; the encoder's sums overflow
    r = client.post("/v2/models/tiny.encoder/infer", json={"inputs": [big]})
    assert r.status_code == 200, r.text
    mu = r.json()["outputs"][0]["data"]
    assert None in mu


def test_server_ready_turns_503_when_draining(client: TestClient) -> None:
    registry = client.app.state.registry  # type: ignore[attr-defined]
    assert client.get("/v2/health/ready").json() == {"ready": True}
    registry.draining = True
    try:
        r = client.get("/v2/health/ready")
        assert r.status_code == 503 and r.json() == {"ready": False}
        assert client.get("/v2/health/live").json() == {"live": True}
    finally:
        registry.draining = False


def test_body_limit_applies_also_decompressed(root: Path) -> None:
    with TestClient(create_app(make_settings(root, max_body_bytes=2048))) as c:
        content, headers = binary(
            {"inputs": [t("z", [256, 4], binary_data_size=4096)]}, bytes(4096)
        )
        r = c.post(f"/v2/models/{DEC}/infer", content=content, headers=headers)
        assert r.status_code == 413 and set(r.json()) == {"error"}
        bomb = gzip.compress(b" " * 100_000)  # 100 kB of JSON whitespace in ~150 bytes
        r = c.post(f"/v2/models/{DEC}/infer", content=bomb, headers={"Content-Encoding": "gzip"})
        assert r.status_code == 413 and "decompressed" in r.json()["error"]


def test_queue_full_is_503_with_retry_after(root: Path) -> None:
    with TestClient(create_app(make_settings(root, max_images=8, max_queue_rows=4))) as c:
        r = c.post(f"/v2/models/{DEC}/infer", json={"inputs": [t("z", [8, 4], [0] * 32)]})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "queue full" in r.json()["error"]


def test_deadline_is_504(root: Path) -> None:
    with TestClient(create_app(make_settings(root, request_timeout_s=1e-6))) as c:
        r = c.post(f"/v2/models/{DEC}/infer", json={"inputs": [Z]})
        assert r.status_code == 504 and "did not answer" in r.json()["error"]


def _batches(c: TestClient) -> tuple[float, float]:
    text = c.get("/metrics").text
    count = re.search(
        r'ali_batch_size_count\{model="tiny",network="decoder",version="1"\} (\S+)', text
    )
    total = re.search(
        r'ali_batch_size_sum\{model="tiny",network="decoder",version="1"\} (\S+)', text
    )
    return (float(count.group(1)), float(total.group(1))) if count and total else (0.0, 0.0)


def test_v2_and_domain_rows_share_one_batch(root: Path) -> None:
    """A v2 request (3 rows) and a /decode request (2 rows) in flight together: one batch of 5."""
    with TestClient(create_app(make_settings(root, max_wait_ms=3000))) as c:
        metrics = c.app.state.metrics  # type: ignore[attr-defined]
        # Others "in flight", so the batcher waits its max_wait for more rows instead of running
        # the first request alone; the two requests below arrive well within the 3 s.
        metrics.active_requests += 100
        try:
            v2 = {"inputs": [t("z", [3, 4], [0.1] * 12)]}
            with ThreadPoolExecutor(2) as pool:
                a = pool.submit(c.post, f"/v2/models/{DEC}/infer", json=v2)
                b = pool.submit(c.post, "/decode?format=json", json={"latents": [[0.1] * 4] * 2})
                ra, rb = a.result(), b.result()
        finally:
            metrics.active_requests -= 100
        assert ra.status_code == rb.status_code == 200, (ra.text, rb.text)
        assert _batches(c) == (1.0, 5.0)


def test_config_has_what_perf_analyzer_reads(client: TestClient, root: Path) -> None:
    """perf_analyzer (model_parser.cc) reads max_batch_size, input/output names, whether
    dynamic_batching is present, and skips the batch dim of the metadata shapes when
    max_batch_size > 0; Triton's dims leave the batch axis out."""
    for name in ("tiny.decoder", "tiny-cond.discriminator", "tiny.encoder"):
        cfg = client.get(f"/v2/models/{name}/config").json()
        meta = client.get(f"/v2/models/{name}").json()
        assert cfg["name"] == name and cfg["platform"] == "onnxruntime_onnx"
        assert cfg["max_batch_size"] == 8  # ALI_MAX_IMAGES in this fixture
        assert isinstance(cfg["dynamic_batching"], dict)
        assert cfg["dynamic_batching"]["preferred_batch_size"] == [64]
        for kind, tensors in (("input", meta["inputs"]), ("output", meta["outputs"])):
            assert [c["name"] for c in cfg[kind]] == [m["name"] for m in tensors]
            for c, m in zip(cfg[kind], tensors, strict=True):
                assert m["shape"][0] == -1 and c["dims"] == m["shape"][1:]
                assert c["data_type"] == f"TYPE_{m['datatype']}"
    latest = client.get("/v2/models/tiny.decoder/config").json()
    assert client.get("/v2/models/tiny.decoder/versions/1/config").json() == latest
    with TestClient(create_app(make_settings(root, batching=False))) as c:
        assert "dynamic_batching" not in c.get("/v2/models/tiny.decoder/config").json()


def test_openapi_documents_the_v2_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in (
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{name}",
        "/v2/models/{name}/versions/{version}",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/versions/{version}/ready",
        "/v2/models/{name}/config",
        "/v2/models/{name}/versions/{version}/config",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
    ):
        assert p in paths, p
    body = paths["/v2/models/{name}/infer"]["post"]["requestBody"]["content"]
    assert "$defs" not in json.dumps(body)  # nested models inlined: the refs resolve
    assert body["application/json"]["schema"]["properties"]["inputs"]["items"]["properties"][
        "datatype"
    ]
