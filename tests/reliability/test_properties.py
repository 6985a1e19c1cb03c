"""Property-based: extreme numbers, strings and shapes at every route, never a 5xx.

hypothesis draws the values; TestClient re-raises any exception the app did not handle, so a
500 fails the example that caused it (and hypothesis shrinks it to the smallest such input).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.app import create_app
from service.testing.tiny_models import make_tiny_model
from tests.service.conftest import make_settings

EXAMPLES = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([3.5e38, -3.5e38, 1e38, 5e-324, 2**63, -(2**63) - 1, 2**64]),
)
texts = st.text(max_size=300)
ints = st.one_of(st.integers(), st.integers(min_value=-(10**30), max_value=10**30))
vectors = st.lists(numbers, max_size=6)
models = st.sampled_from(["tiny", "tiny-cond", "", "nope", "a" * 5000, "tiny.decoder", "../x"])


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("models")
    make_tiny_model(root, "tiny", conditional=False)
    make_tiny_model(root, "tiny-cond", conditional=True, seed=1)
    with TestClient(create_app(make_settings(root, max_samples=16, max_images=8))) as c:
        yield c


def ok(status: int) -> None:
    assert status < 500 or status in (503, 504), status


@EXAMPLES
@given(model=models, latents=st.lists(vectors, max_size=4), labels=st.lists(ints, max_size=4))
def test_decode(client: TestClient, model: str, latents: Any, labels: Any) -> None:
    for fmt in ("json", "png"):
        body = {"latents": latents, "labels": labels or None}
        ok(client.post(f"/decode?model={model}&format={fmt}", json=body).status_code)


@EXAMPLES
@given(
    model=models,
    n=ints,
    seed=ints,
    label=st.one_of(st.none(), ints, texts),
    sampler=st.one_of(st.sampled_from(["ancestral", "drs", "gibbs", "drs+gibbs"]), texts),
)
def test_sample(
    client: TestClient, model: str, n: int, seed: int, label: Any, sampler: str
) -> None:
    params: dict[str, Any] = {"model": model, "n": n, "seed": seed, "sampler": sampler}
    if label is not None:
        params["label"] = label
    ok(client.get("/sample", params=params).status_code)


@EXAMPLES
@given(
    model=models,
    ends=st.lists(vectors, max_size=3),
    steps=st.one_of(ints, texts),
    method=st.one_of(st.sampled_from(["lerp", "slerp"]), texts),
    label=st.one_of(st.none(), ints),
)
def test_interpolate(
    client: TestClient, model: str, ends: Any, steps: Any, method: str, label: Any
) -> None:
    body = {"latents": ends, "steps": steps, "method": method, "label": label}
    ok(client.post(f"/interpolate?model={model}&format=json", json=body).status_code)


@EXAMPLES
@given(
    model=models,
    images=st.lists(st.one_of(texts, st.binary(max_size=200).map(base64.b64encode)), max_size=3),
    labels=st.lists(st.one_of(ints, texts), max_size=3),
    route=st.sampled_from(["/encode", "/reconstruct", "/score"]),
)
def test_image_routes(
    client: TestClient, model: str, images: list[Any], labels: list[Any], route: str
) -> None:
    b64 = [i.decode() if isinstance(i, bytes) else i for i in images]
    ok(client.post(f"{route}?model={model}", json={"images": b64, "labels": labels}).status_code)
    files = [
        ("images", (f"{k}.png", base64.b64decode(i) if isinstance(i, bytes) else i.encode()))
        for k, i in enumerate(images)
    ]
    data = {"labels": [str(v) for v in labels]}
    ok(client.post(f"{route}?model={model}", files=files, data=data).status_code)


@EXAMPLES
@given(
    name=st.one_of(st.sampled_from(["tiny.decoder", "tiny-cond.decoder", "tiny.encoder"]), texts),
    shape=st.lists(ints, max_size=4),
    datatype=st.one_of(st.sampled_from(["FP32", "INT64", "BOOL", "BYTES"]), texts),
    data=st.recursive(numbers, lambda inner: st.lists(inner, max_size=4), max_leaves=16),
    header=st.one_of(st.none(), texts, ints.map(str)),
    tensor=st.sampled_from(["z", "y", "x", ""]),
)
def test_v2_infer(
    client: TestClient, name: str, shape: Any, datatype: str, data: Any, header: Any, tensor: str
) -> None:
    body = json.dumps(
        {"inputs": [{"name": tensor, "shape": shape, "datatype": datatype, "data": data}]}
    ).encode()
    headers: dict[str, bytes] = {"content-type": b"application/json"}
    if header is not None:  # any bytes a client could put in the header, UTF-8 or not
        headers["inference-header-content-length"] = bytes(b for b in header.encode() if b >= 0x20)
    name = quote(name, safe="")
    for path in (f"/v2/models/{name}/infer", f"/v2/models/{name}/versions/1/infer"):
        ok(client.post(path, content=body, headers=headers).status_code)


@EXAMPLES
@given(name=texts, version=texts)
def test_lookups(client: TestClient, name: str, version: str) -> None:
    name, version = quote(name, safe=""), quote(version, safe="")
    for path in (
        f"/models/{name}",
        f"/v2/models/{name}",
        f"/v2/models/{name}/ready",
        f"/v2/models/{name}/config",
        f"/v2/models/{name}/versions/{version}",
    ):
        ok(client.get(path).status_code)
