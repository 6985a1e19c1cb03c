"""GET /sample?sampler= through the real app on the tiny models (runtime/samplers.py's own
tests are in tests/runtime/test_samplers.py)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from runtime.samplers import SAMPLERS
from service.app import create_app
from tests.service.conftest import make_settings


def _json(client: TestClient, query: str) -> dict:
    r = client.get(f"/sample?format=json&{query}")
    assert r.status_code == 200, r.text
    body: dict = r.json()
    return body


@pytest.mark.parametrize("sampler", ["ancestral", "drs", "gibbs", "drs%2Bgibbs"])
def test_route_same_seed_same_png(client: TestClient, sampler: str) -> None:
    a = client.get(f"/sample?n=16&seed=7&sampler={sampler}")
    assert a.status_code == 200 and a.headers["content-type"] == "image/png"
    assert client.get(f"/sample?n=16&seed=7&sampler={sampler}").content == a.content
    assert client.get(f"/sample?n=16&seed=8&sampler={sampler}").content != a.content


def test_route_samplers_give_different_images_and_ancestral_is_the_default(
    client: TestClient,
) -> None:
    images = {s: _json(client, f"n=16&seed=7&sampler={s}")["images"] for s in SAMPLERS}
    assert len({tuple(v) for v in images.values()}) == len(SAMPLERS)
    assert _json(client, "n=16&seed=7")["images"] == images["ancestral"]
    z = np.random.default_rng(7).standard_normal((16, 4), dtype=np.float32)
    assert np.allclose(_json(client, "n=16&seed=7")["latents"], z)  # as before samplers existed


def test_route_reports_sampler_and_acceptance(client: TestClient) -> None:
    for s in SAMPLERS:
        body = _json(client, f"n=8&seed=1&sampler={s.replace('+', '%2B')}")
        assert body["sampler"] == s and len(body["images"]) == len(body["latents"]) == 8
        if s.startswith("drs"):
            assert 0 < body["acceptance"] <= 1 and body["proposals"] > 8
            assert round(body["acceptance"] * body["proposals"]) >= 8 - body["filled_from_rejected"]
        else:
            assert (body["acceptance"], body["proposals"], body["filled_from_rejected"]) == (
                1.0,
                8,
                0,
            )
    unencoded = client.get("/sample?n=8&seed=1&format=json&sampler=drs+gibbs")  # + is a space
    assert unencoded.status_code == 200 and unencoded.json()["sampler"] == "drs+gibbs"


@pytest.mark.parametrize("value", ["metropolis", "DRS", "", "drs gibbs x"])
def test_route_bad_sampler_is_422(client: TestClient, value: str) -> None:
    r = client.get("/sample", params={"sampler": value})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid_input" and err["status"] == 422
    assert "sampler" in err["message"] and "drs+gibbs" in err["message"]


@pytest.mark.parametrize("sampler", ["drs", "drs+gibbs"])
def test_route_conditional_drs_keeps_the_requested_labels(client: TestClient, sampler: str) -> None:
    q = f"model=tiny-cond&n=6&seed=2&sampler={sampler.replace('+', '%2B')}"
    four, five = _json(client, f"{q}&label=4"), _json(client, f"{q}&label=5")
    assert four["labels"] == [4] * 6 and five["labels"] == [5] * 6
    assert four["images"] != five["images"]
    rand = _json(client, f"model=tiny-cond&n=30&seed=2&sampler={sampler.replace('+', '%2B')}")
    assert len(set(rand["labels"])) > 1
    assert client.get(f"/sample?model=tiny-cond&label=10&sampler={sampler}").status_code == 422


def test_route_cap_fills_from_the_best_rejected_and_says_so(model_dir: Path) -> None:
    settings = make_settings(model_dir, max_drs_proposals=64)
    with TestClient(create_app(settings)) as c:
        # The tiny models' random discriminators accept well under 1 % of decoder samples.
        assert c.app.state.registry.latest["tiny"].drs_bound.acceptance < 0.05  # type: ignore[attr-defined]
        body = _json(c, "n=32&seed=1&sampler=drs")
        assert body["proposals"] == 64 and body["filled_from_rejected"] > 0
        assert len(body["images"]) == 32
        assert body["acceptance"] == pytest.approx((32 - body["filled_from_rejected"]) / 64)
        png = c.get("/sample?n=32&seed=1&sampler=drs")
        assert Image.open(io.BytesIO(png.content)).size == (2 + 6 * 10, 2 + 6 * 10)
        first = base64.b64decode(body["images"][0])
        assert Image.open(io.BytesIO(first)).size == (8, 8)


def test_openapi_documents_the_sampler_enum_and_the_json_answer(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/sample"]["get"]
    (param,) = [p for p in op["parameters"] if p["name"] == "sampler"]
    assert param["schema"]["enum"] == list(SAMPLERS)
    assert param["schema"]["default"] == "ancestral"
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    out = spec["components"]["schemas"][ref.split("/")[-1]]
    assert {"sampler", "acceptance", "proposals", "filled_from_rejected"} <= set(out["required"])
