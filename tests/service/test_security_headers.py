"""Headers for a network (service/security_headers.py): nosniff on every answer, a
Content-Security-Policy and frame protection on the HTML pages, HEAD wherever GET is.
(tests/service/test_playground.py checks in Chromium that the pages pass their policies.)"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from service.app import create_app
from service.security_headers import SecurityHeadersMiddleware, allow_head
from tests.service.conftest import make_settings

PAGES = ["/", "/playground", "/docs", "/redoc", "/docs/oauth2-redirect"]


def csp(response: Response) -> dict[str, list[str]]:
    header = response.headers["content-security-policy"]
    directives = [d.split() for d in header.split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


def assert_nosniff(r: Response) -> None:
    assert r.headers["x-content-type-options"] == "nosniff", r.headers


def test_nosniff_on_json_png_and_errors(client: TestClient) -> None:
    for path, kind in (
        ("/models", "application/json"),
        ("/sample?n=4", "image/png"),
        ("/metrics", "text/plain"),
        ("/static/playground.js", "javascript"),
    ):
        r = client.get(path)
        assert r.status_code == 200 and kind in r.headers["content-type"], path
        assert_nosniff(r)
        # The page headers are for HTML only.
        assert not {"content-security-policy", "x-frame-options"} & set(r.headers), path
    for r in (
        client.get("/sample?model=missing"),
        client.get("/no/such/path"),
        client.post("/healthz"),
    ):
        assert r.status_code in (404, 405) and "error" in r.json()
        assert_nosniff(r)
    assert client.get("/sample?model=missing").json()["error"]["code"] == "model_not_found"


def test_nosniff_on_the_v2_fast_path(client: TestClient) -> None:
    """POST /v2/models/{name}/infer is answered in front of FastAPI (service/v2/fast_path.py)."""
    dim = client.get("/v2/models/tiny.decoder").json()["inputs"][0]["shape"][1]
    z = np.zeros((2, dim), dtype=np.float32)
    body = {"inputs": [{"name": "z", "shape": list(z.shape), "datatype": "FP32", "data": []}]}
    body["inputs"][0]["data"] = z.ravel().tolist()
    ok = client.post("/v2/models/tiny.decoder/infer", json=body)
    assert ok.status_code == 200 and ok.json()["outputs"]
    missing = client.post("/v2/models/missing.decoder/infer", json=body)
    assert missing.status_code == 404 and "error" in missing.json()
    for r in (ok, missing):
        assert_nosniff(r)
        assert "content-security-policy" not in r.headers


def test_nosniff_on_the_body_limits_413(model_dir: Path) -> None:
    app = create_app(make_settings(model_dir, max_body_bytes=4096))
    outermost: object = app.user_middleware[0].cls  # the last added
    assert outermost is SecurityHeadersMiddleware
    with TestClient(app) as c:
        r = c.post("/v2/models/tiny.decoder/infer", content=b"x" * 5000)
    assert r.status_code == 413
    assert_nosniff(r)


@pytest.mark.parametrize("path", PAGES)
def test_pages_have_a_policy_and_frame_protection(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert_nosniff(r)
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert len(r.headers.get_list("content-security-policy")) == 1
    policy = csp(r)
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    sources = [s for values in policy.values() for s in values]
    assert "'unsafe-eval'" not in sources
    assert not [s for s in sources if "http" in s or "." in s]  # no CDN, no other host
    assert "'unsafe-inline'" not in policy["script-src"]
    if path == "/docs/oauth2-redirect":
        # FastAPI's inline script, allowed by the hash of its exact text.
        script = r.text.split("<script>", 1)[1].split("</script>", 1)[0]
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert policy["script-src"] == [f"'sha256-{digest}'"]
    else:
        assert policy["script-src"] == ["'self'"]
    # 'unsafe-inline' styles: ReDoc only (styled-components writes <style> elements).
    assert ("'unsafe-inline'" in policy["style-src"]) == (path == "/redoc")


def test_docs_page_runs_no_inline_script(client: TestClient) -> None:
    """Swagger UI starts from a file; its settings are a JSON data block, which is not run."""
    page = client.get("/docs").text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert len(scripts) == 3
    for attrs, text in scripts:
        assert 'src="' in attrs or 'type="application/json"' in attrs, attrs
        assert "src=" not in attrs or not text.strip()
    start = client.get("/static/swagger-init.js")
    assert start.status_code == 200 and "SwaggerUIBundle(" in start.text
    config = re.search(r'type="application/json">(.*?)</script>', page, re.S)
    assert config and '"url": "/openapi.json"' in config.group(1)


@pytest.mark.parametrize(
    "path",
    [
        "/healthz",
        "/readyz",
        "/sample?n=1&seed=0",
        "/models",
        "/",
        "/docs",
        "/openapi.json",
        "/static/playground.js",
        "/favicon.ico",
        "/no/such/path",
    ],
)
def test_head_answers_like_get_without_a_body(client: TestClient, path: str) -> None:
    same_id = {"x-request-id": "head-or-get"}  # else each answer carries its own id
    get, head = client.get(path, headers=same_id), client.head(path, headers=same_id)
    assert head.status_code == get.status_code, path
    assert head.content == b""
    assert head.headers["content-length"] == str(len(get.content)) != "0"
    same = {k: v for k, v in get.headers.items() if k != "date"}
    assert {k: v for k, v in head.headers.items() if k != "date"} == same


def test_methods_not_allowed_stay_405(client: TestClient) -> None:
    for method in ("DELETE", "PUT", "PATCH", "POST"):
        r = client.request(method, "/healthz")
        assert r.status_code == 405, method
        assert r.json()["error"]["code"] == "method_not_allowed"
        assert sorted(r.headers["allow"].split(", ")) == ["GET", "HEAD"]
    # HEAD where there is no GET (a POST-only route) is not allowed either; no HEAD in Allow.
    for method in ("HEAD", "GET"):
        r = client.request(method, "/reconstruct")
        assert r.status_code == 405, method
        assert r.headers["allow"] == "POST"
    assert client.head("/reconstruct").content == b""
    r = client.request("BREW", "/models")
    assert r.status_code == 405 and sorted(r.headers["allow"].split(", ")) == ["GET", "HEAD"]


def test_allow_head() -> None:
    assert allow_head(b"GET") == b"GET, HEAD"
    assert allow_head(b"POST, GET") == b"POST, GET, HEAD"
    assert allow_head(b"GET, HEAD") == b"GET, HEAD"
    assert allow_head(b"POST") == b"POST"
    assert allow_head(b"") == b""
