"""API keys and scopes (service/auth.py, service/access.py), through the real app."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount

from service.access import OPEN, RULES, required_scope
from service.app import create_app
from service.auth import parse_keys
from service.testing.server import start_service, stop
from service.testing.tiny_models import make_tiny_model
from tests.service.conftest import make_settings, noise_png

KEYS = {  # name: (key, scopes)
    "all": ("k-all", "infer,read,admin,metrics"),
    "infer": ("k-infer", "infer"),
    "read": ("k-read", "read"),
    "metrics": ("k-metrics", "metrics"),
}


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_file(path: Path, keys: dict[str, tuple[str, str]]) -> Path:
    lines = ["# name scopes sha256"] + [f"{n} {s} {sha(k)}" for n, (k, s) in keys.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("models")
    make_tiny_model(root, "tiny")
    make_tiny_model(root, "spare")  # the one the matrix unloads
    keys = key_file(root / "keys.txt", KEYS)
    settings = make_settings(
        root,
        api_keys_file=keys,
        protect_metrics=True,
        model_control="explicit",
        default_model="tiny",
    )
    with TestClient(create_app(settings)) as c:
        yield c


# ---- the key file ----------------------------------------------------------------------------
def test_key_file_lines() -> None:
    keys = parse_keys(f"# comment\n\nci infer,read {sha('x')}  # trailing\n")
    assert [(k.name, sorted(k.scopes)) for k in keys] == [("ci", ["infer", "read"])]
    for bad in (
        f"ci infer,root {sha('x')}",  # unknown scope
        "ci infer abc",  # not a sha256
        f"ci {sha('x')}",  # no scopes
        f"a read {sha('x')}\na read {sha('y')}",  # the same name twice
    ):
        with pytest.raises(ValueError, match="line"):
            parse_keys(bad)


# ---- every route, every kind of caller ---------------------------------------------------------
PATH_PARAMS = {
    "/models/{name}": {"name": "tiny"},
    "/v2/repository/models/{name}/unload": {"name": "spare"},
}
V2_PARAMS = {"name": "tiny.decoder", "version": "1"}
Z = {"name": "z", "shape": [1, 4], "datatype": "FP32", "data": [0.0, 0.0, 0.0, 0.0]}


def request_for(method: str, template: str) -> dict[str, Any]:
    """A request that the route answers 2xx with the right key."""
    params = PATH_PARAMS.get(template, V2_PARAMS)
    path = template.format(**params) if "{" in template else template
    kw: dict[str, Any] = {"method": method, "url": path}
    if template in ("/encode", "/reconstruct", "/score"):
        kw["files"] = [("images", ("a.png", noise_png(0), "image/png"))]
    elif template == "/decode":
        kw["json"] = {"latents": [[0.0] * 4]}
    elif template == "/interpolate":
        kw["json"] = {"latents": [[0.0] * 4, [1.0] * 4], "steps": 2}
    elif template == "/sample":
        kw["params"] = {"n": 1}
    elif template.endswith("/infer"):
        kw["json"] = {"inputs": [Z]}
    return kw


def app_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves, included routers walked."""

    def walk(routes: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
        for route in routes:
            included = getattr(route, "original_router", None)  # FastAPI's included router
            if included is not None:
                yield from walk(included.routes, prefix + route.include_context.prefix)
            elif isinstance(route, Mount):
                yield "GET", prefix + route.path + "/playground.js"
            else:
                for method in sorted(route.methods or ()):
                    if method != "HEAD":
                        yield method, prefix + route.path

    return list(walk(client.app.routes, ""))  # type: ignore[attr-defined]


def test_every_route_is_open_by_design_or_scoped(client: TestClient) -> None:
    """A new route must be given a rule in service/access.py's RULES."""
    unruled = [
        (m, p)
        for m, p in app_routes(client)
        if not any(m in methods and pattern.fullmatch(p) for methods, pattern, _ in RULES)
    ]
    assert not unruled, f"routes with no access rule: {unruled}"
    assert len(app_routes(client)) > 20


def test_the_matrix_no_key_unknown_key_wrong_scope_right_scope(client: TestClient) -> None:
    checked = 0
    for method, template in app_routes(client):
        need = required_scope(method, template, protect_metrics=True)
        if need == OPEN:
            continue
        kw = request_for(method, template)
        wrong = next(n for n, (_, scopes) in KEYS.items() if need not in scopes.split(","))
        right = (
            next(n for n, (_, scopes) in KEYS.items() if scopes == need)
            if need != "admin"
            else "all"
        )
        got = {
            "none": client.request(**kw).status_code,
            "unknown": client.request(**kw, headers=bearer("nope")).status_code,
            "wrong": client.request(**kw, headers=bearer(KEYS[wrong][0])).status_code,
            "right": client.request(**kw, headers=bearer(KEYS[right][0])).status_code,
            "x-api-key": client.request(**kw, headers={"x-api-key": KEYS[right][0]}).status_code,
        }
        assert got["none"] == got["unknown"] == 401, (method, template, got)
        assert got["wrong"] == 403, (method, template, got)
        assert 200 <= got["right"] < 300 and 200 <= got["x-api-key"] < 300, (method, template, got)
        checked += 1
    assert checked >= 18  # both v2 infer paths among them


def test_answers_have_the_services_shapes_and_a_challenge(client: TestClient) -> None:
    r = client.get("/models")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["error"]["code"] == "unauthorized"
    r = client.post("/v2/models/tiny.decoder/infer", json={"inputs": [Z]})  # the fast path
    assert r.status_code == 401 and isinstance(r.json()["error"], str)
    r = client.get("/models", headers=bearer(KEYS["infer"][0]))
    assert r.status_code == 403 and "read" in r.json()["error"]["message"]


def test_probes_page_and_docs_stay_open(client: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/", "/docs"):
        assert client.get(path).status_code == 200, path
    spec = client.get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert "security" in spec["paths"]["/sample"]["get"]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_counted_by_key_name_never_the_key(client: TestClient) -> None:
    client.get("/models", headers=bearer(KEYS["read"][0]))
    client.get("/models", headers=bearer("definitely-not-a-key"))
    text = client.get("/metrics", headers=bearer(KEYS["metrics"][0])).text
    assert 'ali_requests_by_key_total{code="200",key="read"}' in text
    assert 'ali_requests_by_key_total{code="401",key="(unknown)"}' in text
    assert "definitely-not-a-key" not in text and "k-read" not in text


# ---- tritonclient, rotation (the real server) -----------------------------------------------------
@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    make_tiny_model(tmp_path, "tiny")
    keys = key_file(
        tmp_path / "keys.txt", {"old": ("k-old", "infer,read"), "ops": ("k-ops", "read")}
    )
    proc, url = start_service(tmp_path, api_keys_file=keys)
    try:
        yield url, keys
    finally:
        stop(proc)


def test_tritonclient_infers_with_a_key_in_headers(server: tuple[str, Path]) -> None:
    import tritonclient.http as httpclient

    url, _ = server
    client = httpclient.InferenceServerClient(url.removeprefix("http://"))
    z = np.zeros((2, 4), np.float32)
    inp = httpclient.InferInput("z", list(z.shape), "FP32")
    inp.set_data_from_numpy(z, binary_data=True)
    out = client.infer("tiny.decoder", [inp], headers={"x-api-key": "k-old"})
    assert out.as_numpy("x").shape[0] == 2
    with pytest.raises(Exception, match="API key"):
        client.infer("tiny.decoder", [inp])


def test_rotating_the_key_file_needs_no_restart(server: tuple[str, Path]) -> None:
    url, keys = server
    failures: list[int] = []
    stop_load = threading.Event()

    def load() -> None:  # a key that both files hold keeps working throughout
        with httpx.Client() as c:
            while not stop_load.is_set():
                code = c.get(f"{url}/models", headers=bearer("k-ops")).status_code
                if code != 200:
                    failures.append(code)

    t = threading.Thread(target=load)
    t.start()
    try:
        assert httpx.get(f"{url}/sample?n=1", headers=bearer("k-old")).status_code == 200
        new = keys.with_name("keys.new")
        key_file(new, {"new": ("k-new", "infer,read"), "ops": ("k-ops", "read")})
        new.replace(keys)  # atomic, as a secret volume's update is
        start = time.monotonic()
        while httpx.get(f"{url}/sample?n=1", headers=bearer("k-new")).status_code != 200:
            assert time.monotonic() - start < 1.5, "the new key did not work within a second"
            time.sleep(0.05)
        # Every worker rechecks within a second of its own last look.
        time.sleep(1.2)
        for _ in range(8):
            assert httpx.get(f"{url}/sample?n=1", headers=bearer("k-old")).status_code == 401
            assert httpx.get(f"{url}/sample?n=1", headers=bearer("k-new")).status_code == 200
    finally:
        stop_load.set()
        t.join()
    assert failures == []


def test_a_warning_when_listening_beyond_loopback_without_keys(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_tiny_model(tmp_path, "tiny")
    for host, warned in (("0.0.0.0", True), ("127.0.0.1", False), ("::1", False)):
        caplog.clear()
        with caplog.at_level("WARNING"), TestClient(create_app(make_settings(tmp_path, host=host))):
            pass
        assert any("no API keys" in r.message for r in caplog.records) == warned, host
    caplog.clear()
    keys = key_file(tmp_path / "k.txt", {"a": ("k", "read")})
    with (
        caplog.at_level("WARNING"),
        TestClient(create_app(make_settings(tmp_path, host="0.0.0.0", api_keys_file=keys))),
    ):
        pass
    assert not any("no API keys" in r.message for r in caplog.records)
