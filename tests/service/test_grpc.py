"""The v2 protocol over gRPC against a real server: tritonclient.grpc against REST (outputs,
metadata, config), typed and raw tensors, the REST bad-input cases gRPC can express with their
status codes, keys, health, request ids and metrics.

The server runs in its own process, and this one builds its messages with tritonclient's
generated code (Triton's .proto), never the service's: both declare the `inference` package,
and protobuf refuses the same symbols twice in one process. It also shows the wire formats agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from service.testing.server import free_port, start_service, stop
from service.testing.tiny_models import make_tiny_model
from service.v2.tensors import datatype_of
from tests.service.test_access import KEYS, key_file

C = grpc.StatusCode
SHIPPED = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("grpc-models")
    make_tiny_model(root, "tiny")
    make_tiny_model(root, "tiny-cond", conditional=True, seed=1)
    broken = make_tiny_model(root, "broken", seed=2)
    (broken / "decoder.onnx").write_bytes(b"truncated")
    return root


def serve(root: Path, **settings: object) -> Iterator[tuple[httpx.Client, str]]:
    """The service with gRPC on (one worker, so /metrics is that process's); yields an HTTP
    client on it and the gRPC target."""
    port = free_port()
    settings = {"default_model": "tiny", "workers": 1, **settings}
    proc, url = start_service(root, grpc=True, grpc_port=port, **settings)
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            yield c, f"127.0.0.1:{port}"
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def app(root: Path) -> Iterator[tuple[httpx.Client, str]]:
    yield from serve(root, max_images=8)


@pytest.fixture(scope="module")
def stub(app: tuple[httpx.Client, str]) -> Iterator[Any]:
    with grpc.insecure_channel(app[1]) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def rest_infer(c: httpx.Client, model: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    inputs = [
        {
            "name": n,
            "shape": list(a.shape),
            "datatype": datatype_of(a.dtype),
            "data": a.ravel().tolist(),
        }
        for n, a in feeds.items()
    ]
    r = c.post(f"/v2/models/{model}/infer", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    return {o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in r.json()["outputs"]}


def feeds_for(c: httpx.Client, model: str, n: int = 3) -> dict[str, np.ndarray]:
    """Random inputs of the right shapes for any v2 model of the app."""
    rng = np.random.default_rng(0)
    meta = c.get(f"/v2/models/{model}").json()
    out = {}
    for t in meta["inputs"]:
        shape = [n if d == -1 else d for d in t["shape"]]
        if t["datatype"] == "INT64":
            out[t["name"]] = rng.integers(0, 10, shape).astype(np.int64)
        else:
            out[t["name"]] = rng.standard_normal(shape).astype(np.float32)
    return out


def triton_infer(url: str, model: str, feeds: dict[str, np.ndarray]) -> Any:
    client = grpcclient.InferenceServerClient(url)
    inputs = []
    for name, a in feeds.items():
        inp = grpcclient.InferInput(name, list(a.shape), datatype_of(a.dtype))
        inp.set_data_from_numpy(a)
        inputs.append(inp)
    return client.infer(model, inputs)


MODELS = [
    f"{m}.{n}" for m in ("tiny", "tiny-cond") for n in ("encoder", "decoder", "discriminator")
]


@pytest.mark.parametrize("model", MODELS)
def test_tritonclient_grpc_equals_rest(app: tuple[httpx.Client, str], model: str) -> None:
    c, url = app
    feeds = feeds_for(c, model)
    want = rest_infer(c, model, feeds)
    got = triton_infer(url, model, feeds)
    for name, expected in want.items():
        assert np.allclose(got.as_numpy(name), expected, atol=1e-6), name
    assert got.get_response().model_version == "1"


def test_metadata_and_config_match_rest(app: tuple[httpx.Client, str]) -> None:
    c, url = app
    client = grpcclient.InferenceServerClient(url)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("tiny.decoder") and client.is_model_ready("tiny.decoder", "1")
    assert not client.is_model_ready("broken.decoder")
    server = client.get_server_metadata(as_json=True)
    assert server["name"] == "ali" and "model_repository" in server["extensions"]
    for model in MODELS:
        meta = client.get_model_metadata(model, as_json=True)
        rest = c.get(f"/v2/models/{model}").json()
        for t in (*meta["inputs"], *meta["outputs"]):
            t["shape"] = [int(d) for d in t["shape"]]  # protobuf's JSON writes int64 as strings
        assert meta == rest, model
        config = client.get_model_config(model, as_json=True)["config"]
        want = c.get(f"/v2/models/{model}/config").json()
        assert config["name"] == want["name"] and config["max_batch_size"] == want["max_batch_size"]
        assert config["platform"] == want["platform"] and config["backend"] == want["backend"]
        for ours, theirs in zip(config["input"], want["input"], strict=True):
            assert ours["name"] == theirs["name"] and ours["data_type"] == theirs["data_type"]
            assert [int(d) for d in ours.get("dims", [])] == theirs["dims"]
        assert config["instance_group"][0]["kind"] == want["instance_group"][0]["kind"]
        batching = config["dynamic_batching"]
        assert batching["preferred_batch_size"] == want["dynamic_batching"]["preferred_batch_size"]


def typed_request(model: str, feeds: dict[str, np.ndarray]) -> pb.ModelInferRequest:
    req = pb.ModelInferRequest(model_name=model, id="typed-1")
    for name, a in feeds.items():
        t = req.inputs.add(name=name, shape=a.shape)
        if a.dtype == np.int64:
            t.datatype = "INT64"
            t.contents.int64_contents.extend(a.ravel().tolist())
        else:
            t.datatype = "FP32"
            t.contents.fp32_contents.extend(a.ravel().tolist())
    return req


@pytest.mark.parametrize("model", ["tiny.decoder", "tiny-cond.encoder"])
def test_typed_contents_answer_typed_and_equal_rest(
    app: tuple[httpx.Client, str], stub: Any, model: str
) -> None:
    c, _ = app
    feeds = feeds_for(c, model)
    want = rest_infer(c, model, feeds)
    response, call = stub.ModelInfer.with_call(typed_request(model, feeds))
    assert response.id == "typed-1" and not response.raw_output_contents
    for out in response.outputs:
        got = np.array(out.contents.fp32_contents).reshape(list(out.shape))
        assert np.allclose(got, want[out.name], atol=1e-6), out.name
    trailing = dict(call.trailing_metadata())
    assert trailing["x-model"] == model.split(".")[0] and trailing["x-model-version"] == "1"
    assert len(trailing["x-request-id"]) == 32


def test_shipped_models_over_grpc_equal_rest() -> None:
    for c, url in serve(SHIPPED, default_model="mnist", drs_calibration=64):
        for model in ("mnist.decoder", "mnist.encoder", "mnist-cond.decoder"):
            feeds = feeds_for(c, model, n=4)
            want = rest_infer(c, model, feeds)
            got = triton_infer(url, model, feeds)
            for name, expected in want.items():
                assert np.allclose(got.as_numpy(name), expected, atol=1e-6), (model, name)


# ---- bad input ---------------------------------------------------------------------------------
def z(shape: list[int], values: list[float] | None = None, datatype: str = "FP32") -> dict:
    return {"name": "z", "shape": shape, "datatype": datatype, "fp32": values}


def request(model: str, *inputs: dict, raw: list[bytes] | None = None, **kw: Any) -> Any:
    req = pb.ModelInferRequest(model_name=model, **kw)
    for spec in inputs:
        t = req.inputs.add(name=spec["name"], shape=spec["shape"], datatype=spec["datatype"])
        if spec.get("fp32") is not None:
            t.contents.fp32_contents.extend(spec["fp32"])
        if spec.get("int64") is not None:
            t.contents.int64_contents.extend(spec["int64"])
        for k, v in spec.get("params", {}).items():
            t.parameters[k].string_param = v
    if raw is not None:
        req.raw_input_contents.extend(raw)
    return req


Z = z([1, 4], [0.0, 0.5, 1.0, 2.0])
Y = {"name": "y", "shape": [1], "datatype": "INT64", "int64": [1]}
X = {"name": "x", "shape": [1, 1, 8, 8], "datatype": "FP32", "fp32": [0.0] * 64}
F32 = np.zeros(4, np.float32).tobytes()
NAN = np.array([np.nan, 0, 0, 0], np.float32).tobytes()
DEC, COND, DIS = "tiny.decoder", "tiny-cond.decoder", "tiny.discriminator"
# The cases of tests/service/test_v2_errors.py that a protobuf request can carry (JSON syntax,
# header lengths and gzip have no gRPC form), with the status each maps to.
BAD = [
    ("wrong shape", request(DEC, z([1, 5], [0] * 5)), C.INVALID_ARGUMENT, "shape"),
    ("wrong rank", request(DEC, z([4], [0] * 4)), C.INVALID_ARGUMENT, "shape"),
    ("wrong datatype", request(DEC, z([1, 4], None, "FP64"), raw=[F32 * 2]), C.INVALID_ARGUMENT, "FP32"),
    ("count != shape", request(DEC, z([2, 4], [0] * 7)), C.INVALID_ARGUMENT, "7 values"),
    ("values in another field", request(DEC, {**z([1, 4]), "int64": [0] * 4}), C.INVALID_ARGUMENT, "fp32_contents"),
    ("overflows FP32", request(DEC, z([1, 4], [1e39, 0, 0, 0])), C.INVALID_ARGUMENT, "infinite"),
    ("NaN typed", request(DEC, z([1, 4], [float("nan"), 0, 0, 0])), C.INVALID_ARGUMENT, "NaN"),
    ("NaN raw", request(DEC, z([1, 4]), raw=[NAN]), C.INVALID_ARGUMENT, "NaN"),
    ("FP32 labels", request(COND, Z, {"name": "y", "shape": [1], "datatype": "FP32", "fp32": [1.0]}), C.INVALID_ARGUMENT, "INT64"),
    ("label out of range", request(COND, Z, {**Y, "int64": [10]}), C.INVALID_ARGUMENT, "out of range"),
    ("labels missing", request(COND, Z), C.INVALID_ARGUMENT, "missing"),
    ("raw size != shape", request(DEC, z([1, 4]), raw=[F32[:12]]), C.INVALID_ARGUMENT, "raw bytes"),
    ("raw count != inputs", request(DIS, {**X, "fp32": None}, z([1, 4]), raw=[F32]), C.INVALID_ARGUMENT, "one per input"),
    ("typed and raw", request(DEC, Z, raw=[F32]), C.INVALID_ARGUMENT, "both"),
    ("no data", request(DEC, z([1, 4])), C.INVALID_ARGUMENT, "no contents"),
    ("shared memory", request(DEC, {**Z, "params": {"shared_memory_region": "r"}}), C.INVALID_ARGUMENT, "shared memory"),
    ("unknown input", request(DEC, {**Z, "name": "q"}), C.INVALID_ARGUMENT, "unknown input"),
    ("input twice", request(DEC, Z, Z), C.INVALID_ARGUMENT, "twice"),
    ("missing input", request(DIS, X), C.INVALID_ARGUMENT, "missing"),
    ("batch sizes differ", request(DIS, {**X, "shape": [2, 1, 8, 8], "fp32": [0.0] * 128}, Z), C.INVALID_ARGUMENT, "disagree"),
    ("zero rows", request(DEC, z([0, 4], [])), C.INVALID_ARGUMENT, "no rows"),
    ("rows over the limit", request(DEC, z([9, 4], [0] * 36)), C.RESOURCE_EXHAUSTED, "limit"),
    ("unknown output", request(DEC, Z, outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="nope")]), C.INVALID_ARGUMENT, "unknown output"),
    ("no inputs", request(DEC), C.INVALID_ARGUMENT, "missing"),
    ("unknown model", request("nope.decoder", Z), C.NOT_FOUND, "unknown model"),
    ("no network in the name", request("tiny", Z), C.NOT_FOUND, "v2 models"),
    ("unknown version", request(DEC, Z, model_version="7"), C.NOT_FOUND, "no version"),
    ("model failed to load", request("broken.decoder", Z), C.UNAVAILABLE, "failed to load"),
]  # fmt: skip


@pytest.mark.parametrize(("req", "code", "phrase"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_requests_get_their_status(stub: Any, req: Any, code: Any, phrase: str) -> None:
    with pytest.raises(grpc.RpcError) as e:
        stub.ModelInfer(req)
    assert e.value.code() == code, e.value.details()
    assert phrase.lower() in e.value.details().lower(), e.value.details()
    assert stub.ModelInfer(request(DEC, Z)).model_name == DEC  # still serving


def test_message_size_limit(root: Path) -> None:
    for _, url in serve(root, max_body_bytes=4096):
        with grpc.insecure_channel(url) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as e:
                stub.ModelInfer(request(DEC, z([1, 4]), raw=[b"\0" * 8192]))
            assert e.value.code() == C.RESOURCE_EXHAUSTED


# ---- keys, health, ids, metrics ----------------------------------------------------------------
def test_keys_scopes_and_open_calls(root: Path, tmp_path: Path) -> None:
    keys = key_file(tmp_path / "keys.txt", KEYS)
    infer_key = next(k for k, scopes in KEYS.values() if scopes == "infer")
    read_key = next(k for k, scopes in KEYS.values() if scopes == "read")
    for _, url in serve(root, api_keys_file=keys):
        with grpc.insecure_channel(url) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            assert stub.ServerLive(pb.ServerLiveRequest()).live  # open, as /healthz
            for metadata, code in (
                ((), C.UNAUTHENTICATED),
                ((("authorization", "Bearer nope"),), C.UNAUTHENTICATED),
                ((("authorization", f"Bearer {read_key}"),), C.PERMISSION_DENIED),
            ):
                with pytest.raises(grpc.RpcError) as e:
                    stub.ModelInfer(request(DEC, Z), metadata=metadata)
                assert e.value.code() == code
            ok = stub.ModelInfer(request(DEC, Z), metadata=(("x-api-key", infer_key),))
            assert ok.model_name == DEC
            with pytest.raises(grpc.RpcError) as e:  # the repository needs admin
                stub.RepositoryIndex(
                    pb.RepositoryIndexRequest(), metadata=(("x-api-key", infer_key),)
                )
            assert e.value.code() == C.PERMISSION_DENIED
            health = health_pb2_grpc.HealthStub(channel)
            status = health.Check(health_pb2.HealthCheckRequest(service=""))
            assert status.status == health_pb2.HealthCheckResponse.SERVING


def test_request_ids_and_metrics(app: tuple[httpx.Client, str], stub: Any) -> None:
    c, _ = app
    _, call = stub.ModelInfer.with_call(request(DEC, Z), metadata=(("x-request-id", "abc-123"),))
    assert dict(call.trailing_metadata())["x-request-id"] == "abc-123"
    with pytest.raises(grpc.RpcError) as e:
        stub.ModelInfer(request("nope.decoder", Z), metadata=(("x-request-id", "bad id"),))
    assert dict(e.value.trailing_metadata())["x-request-id"] != "bad id"
    text = c.get("/metrics").text
    ok = 'code="OK",endpoint="/inference.GRPCInferenceService/ModelInfer",model="tiny",protocol="grpc",version="1"'
    assert f"ali_requests_total{{{ok}}}" in text
    assert 'code="NOT_FOUND",endpoint="/inference.GRPCInferenceService/ModelInfer"' in text
    index = stub.RepositoryIndex(pb.RepositoryIndexRequest(ready=True))
    assert {(m.name, m.state) for m in index.models} >= {("tiny", "READY")}
    with pytest.raises(grpc.RpcError) as e:  # model control is none here
        stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="tiny"))
    assert e.value.code() == C.INVALID_ARGUMENT
