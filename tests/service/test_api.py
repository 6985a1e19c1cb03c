from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.service.conftest import noise_png, png


def _png_shape(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_health_ready_and_models(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "detail": ""}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    models = client.get("/models").json()
    assert models["default"] == "tiny"
    names = {m["name"]: m for m in models["models"]}
    assert set(names) == {"tiny", "tiny-cond"}
    assert names["tiny"]["providers"]["decoder"][0] == "CPUExecutionProvider"
    assert client.get("/models/tiny-cond").json()["classes"][3] == "3"
    r = client.get("/models/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


def test_encode_multipart_and_json_agree(client: TestClient) -> None:
    imgs = [noise_png(1), noise_png(2)]
    a = client.post(
        "/encode",
        files=[
            ("images", ("a.png", imgs[0], "image/png")),
            ("images", ("b.png", imgs[1], "image/png")),
        ],
    )
    b = client.post("/encode", json={"images": [_b64(i) for i in imgs]})
    assert a.status_code == b.status_code == 200, a.text
    assert a.json()["mu"] == b.json()["mu"]
    body = a.json()
    assert np.asarray(body["mu"]).shape == (2, 4) and body["z"] is None
    r = client.post("/encode?sample=true&seed=3", json={"images": [_b64(imgs[0])]})
    z = np.asarray(r.json()["z"])
    assert z.shape == (1, 4) and not np.allclose(z, r.json()["mu"])


def test_encode_conditional_needs_labels(client: TestClient) -> None:
    img = _b64(noise_png(1))
    r = client.post("/encode?model=tiny-cond", json={"images": [img]})
    assert r.status_code == 422 and "label" in r.json()["error"]["message"]
    r = client.post("/encode?model=tiny-cond", json={"images": [img], "labels": [10]})
    assert r.status_code == 422 and "out of range" in r.json()["error"]["message"]
    r0 = client.post("/encode?model=tiny-cond", json={"images": [img], "labels": [0]})
    r5 = client.post(
        "/encode?model=tiny-cond", files={"images": ("a.png", noise_png(1))}, data={"labels": "5"}
    )
    assert r0.status_code == r5.status_code == 200
    assert r0.json()["mu"] != r5.json()["mu"]


@pytest.mark.parametrize("fmt", ["png", "json"])
def test_decode(client: TestClient, fmt: str) -> None:
    r = client.post(f"/decode?format={fmt}", json={"latents": [[0.1, 0.2, 0.3, 0.4]] * 3})
    assert r.status_code == 200, r.text
    if fmt == "png":
        assert r.headers["content-type"] == "image/png"
        assert _png_shape(r.content) == (2 + 2 * 10, 2 + 2 * 10)  # 3 images -> 2x2 grid of 8px
    else:
        body = r.json()
        assert len(body["images"]) == 3 and body["latents"][0] == pytest.approx(
            [0.1, 0.2, 0.3, 0.4]
        )
        assert _png_shape(base64.b64decode(body["images"][0])) == (8, 8)


def test_reconstruct_both_formats(client: TestClient) -> None:
    files = {"images": ("a.png", noise_png(4))}
    r = client.post("/reconstruct", files=files)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    r = client.post("/reconstruct?format=json", files=files)
    assert len(r.json()["images"]) == 1 and len(r.json()["latents"][0]) == 4


def test_sample_is_reproducible_and_sized(client: TestClient) -> None:
    a = client.get("/sample?n=64&seed=7")
    assert a.status_code == 200 and a.headers["content-type"] == "image/png"
    assert _png_shape(a.content) == (2 + 8 * 10, 2 + 8 * 10)  # 8x8 grid
    assert client.get("/sample?n=64&seed=7").content == a.content
    assert client.get("/sample?n=64&seed=8").content != a.content
    j = client.get("/sample?n=5&seed=7&format=json").json()
    assert len(j["images"]) == 5 and "labels" not in j


def test_sample_conditional_labels(client: TestClient) -> None:
    one = client.get("/sample?model=tiny-cond&n=4&seed=1&label=1&format=json").json()
    two = client.get("/sample?model=tiny-cond&n=4&seed=1&label=2&format=json").json()
    assert one["labels"] == [1] * 4 and two["labels"] == [2] * 4
    assert one["latents"] == two["latents"] and one["images"] != two["images"]
    rand = client.get("/sample?model=tiny-cond&n=50&seed=1&format=json").json()
    assert len(set(rand["labels"])) > 1
    assert client.get("/sample?model=tiny-cond&label=10").status_code == 422
    assert client.get("/sample?label=1").status_code == 422  # unconditional model


@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_interpolate_latents_and_images(client: TestClient, method: str) -> None:
    r = client.post(
        "/interpolate?format=json",
        json={"latents": [[1, 0, 0, 0], [0, 1, 0, 0]], "steps": 5, "method": method},
    )
    assert r.status_code == 200, r.text
    lat = np.asarray(r.json()["latents"])
    assert lat.shape == (5, 4)
    assert lat[0] == pytest.approx([1, 0, 0, 0]) and lat[-1] == pytest.approx([0, 1, 0, 0])
    if method == "slerp":
        assert np.linalg.norm(lat, axis=1) == pytest.approx(np.ones(5), abs=1e-5)
    r = client.post(
        "/interpolate", json={"images": [_b64(noise_png(1)), _b64(noise_png(2))], "steps": 4}
    )
    assert r.status_code == 200 and _png_shape(r.content) == (2 + 4 * 10, 12)


def test_score(client: TestClient) -> None:
    r = client.post("/score", json={"images": [_b64(noise_png(1)), _b64(png())]})
    assert r.status_code == 200
    body = r.json()
    assert len(body["discriminator_logit"]) == len(body["reconstruction_error"]) == 2
    assert all(e >= 0 for e in body["reconstruction_error"])


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "code"),
    [
        (
            "post",
            "/encode",
            {"content": b"hello", "headers": {"content-type": "text/plain"}},
            415,
            "unsupported_media_type",
        ),
        (
            "post",
            "/encode",
            {"content": b"{", "headers": {"content-type": "application/json"}},
            400,
            "bad_request",
        ),
        ("post", "/encode", {"json": {"images": ["not base64!"]}}, 400, "bad_request"),
        (
            "post",
            "/encode",
            {"json": {"images": [base64.b64encode(b"text").decode()]}},
            400,
            "bad_request",
        ),
        ("post", "/encode", {"json": {"images": []}}, 422, "invalid_input"),
        ("post", "/decode", {"json": {"latents": [[1, 2, 3]]}}, 422, "invalid_input"),
        (
            "post",
            "/decode",
            {
                "content": b'{"latents": [[NaN, 0, 0, 0]]}',
                "headers": {"content-type": "application/json"},
            },
            422,
            "invalid_input",
        ),
        ("post", "/decode", {"json": {"latents": [[1, 2, 3, 4], [1]]}}, 422, "invalid_input"),
        (
            "post",
            "/decode",
            {"json": {"latents": "garbage", "x": {"y": [1]}}},
            422,
            "invalid_input",
        ),
        ("get", "/sample?n=0", {}, 422, "invalid_input"),
        ("get", "/sample?n=100000", {}, 422, "invalid_input"),
        ("get", "/sample?model=missing", {}, 404, "model_not_found"),
        ("get", "/sample?model=../../etc", {}, 404, "model_not_found"),
        (
            "post",
            "/interpolate",
            {"json": {"latents": [[0] * 4, [1] * 4], "steps": 1000}},
            422,
            "invalid_input",
        ),
        (
            "post",
            "/interpolate",
            {"json": {"latents": [[0] * 4, [1] * 4], "method": "x"}},
            422,
            "invalid_input",
        ),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(
    client: TestClient, method: str, url: str, kwargs: dict, status: int, code: str
) -> None:
    r = getattr(client, method)(url, **kwargs)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["status"] == status and len(err["message"]) > 5
    assert client.get("/sample?n=1").status_code == 200  # still serving


def test_too_large_body_and_pixel_bomb(model_dir, client: TestClient) -> None:
    from service.app import create_app
    from tests.service.conftest import make_settings

    with TestClient(
        create_app(make_settings(model_dir, max_body_bytes=4096, max_image_pixels=100 * 100))
    ) as small:
        r = small.post("/encode", content=b"x" * 5000, headers={"content-type": "application/json"})
        assert r.status_code == 413
        r = small.post("/encode", files={"images": ("big.png", png((200, 200)))})
        assert r.status_code == 413 and "pixels" in r.json()["error"]["message"]
        assert small.post("/encode", files={"images": ("ok.png", png())}).status_code == 200
    # Under the pixel limits but taller than a side may be (Pillow's per-row cost holds the GIL)
    r = client.post("/encode", files={"images": ("tall.png", png((16385, 1)))})
    assert r.status_code == 413 and "a side" in r.json()["error"]["message"]


def test_metrics_exposed(client: TestClient) -> None:
    client.get("/sample?n=2")
    client.get("/sample?n=0")
    text = client.get("/metrics").text
    for name in (
        "ali_requests_total",
        "ali_request_duration_seconds",
        "ali_batch_size",
        "ali_queue_wait_seconds",
        "ali_inference_duration_seconds",
        "ali_queue_depth",
        "ali_requests_in_flight",
        "ali_model_info",
        "ali_model_state",
        "ali_model_load_seconds",
    ):
        assert name in text, name
    # Request counts carry the model and version that answered.
    assert (
        'ali_requests_total{code="200",endpoint="/sample",model="tiny",protocol="http",version="1"}'
        in text
    )
    assert 'ali_requests_total{code="422",endpoint="/sample",' in text
    assert 'ali_model_state{model="tiny",state="READY",version="1"} 1.0' in text
    assert 'provider="CPUExecutionProvider"' in text


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/encode",
        "/decode",
        "/reconstruct",
        "/interpolate",
        "/sample",
        "/score",
        "/models",
        "/models/{name}",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in spec["paths"], path
    enc = spec["paths"]["/encode"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(enc)
    assert json.dumps(spec)  # serialisable


def test_interpolate_accepts_two_images_as_multipart(client: TestClient) -> None:
    a, b = noise_png(1), noise_png(2)
    files = [("images", ("a.png", a)), ("images", ("b.png", b))]
    r = client.post("/interpolate?format=json", files=files, data={"steps": "5", "method": "slerp"})
    assert r.status_code == 200, r.text
    multipart = np.asarray(r.json()["latents"])
    assert multipart.shape == (5, 4)
    # The same images as JSON give the same path; steps/method may also come in the query.
    r = client.post(
        "/interpolate?format=json&steps=5&method=slerp", json={"images": [_b64(a), _b64(b)]}
    )
    np.testing.assert_allclose(np.asarray(r.json()["latents"]), multipart, atol=1e-6)
    r = client.post("/interpolate?steps=3", files=files)
    assert r.status_code == 200 and _png_shape(r.content) == (2 + 3 * 10, 12)
    # a conditional model takes its class as a form field
    r = client.post("/interpolate?model=tiny-cond&format=json", files=files, data={"label": "3"})
    assert r.status_code == 200 and r.json()["labels"] == [3] * 8


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"files": [("images", ("a.png", noise_png(1)))]}, "exactly one of"),
        ({"files": [("images", ("a.png", noise_png(1)))] * 3}, "exactly one of"),
        ({"files": [("images", ("a.png", noise_png(1)))] * 2, "data": {"steps": "x"}}, "steps"),
        ({"files": [("images", ("a.png", noise_png(1)))] * 2, "data": {"steps": "1"}}, "steps"),
    ],
)
def test_interpolate_multipart_errors(client: TestClient, kwargs: dict, needle: str) -> None:
    r = client.post("/interpolate", **kwargs)
    assert r.status_code == 422, r.text
    assert needle in r.json()["error"]["message"]


def test_json_routes_refuse_other_content_types(client: TestClient) -> None:
    r = client.post("/decode", content=b"latents", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    r = client.post("/decode", files={"latents": ("z", b"0")})
    assert r.status_code == 415


def test_body_limit_is_one_middleware_for_every_route(model_dir) -> None:
    from service.app import create_app
    from tests.service.conftest import make_settings

    with TestClient(create_app(make_settings(model_dir, max_body_bytes=4096))) as small:
        big = json.dumps({"latents": [[0.0] * 4] * 400}).encode()
        # declared length over the limit: refused before the body is read
        r = small.post("/decode", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

        def chunks():  # no Content-Length: counted as it is read
            for i in range(0, len(big), 1000):
                yield big[i : i + 1000]

        r = small.post("/decode", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and "limit of 4096" in r.json()["error"]["message"]
        r = small.post("/interpolate", files=[("images", ("a.png", b"x" * 5000))] * 2)
        assert r.status_code == 413
        r = small.post(
            "/decode",
            content=b"{}",
            headers={"content-type": "application/json", "content-length": "x"},
        )
        assert r.status_code == 400
        assert small.get("/sample?n=1").status_code == 200


def test_openapi_bodies_come_from_the_models(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    decode = paths["/decode"]["post"]["requestBody"]["content"]
    assert set(decode) == {"application/json"}
    interp = paths["/interpolate"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} == set(interp)
    form = interp["multipart/form-data"]["schema"]["properties"]
    assert form["images"]["items"]["format"] == "binary" and "steps" in form
