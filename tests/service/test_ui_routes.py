"""The browser UI's routes without a browser: the playground page and its files, the offline
/docs and /redoc, their place in the metrics, and the static files shipping in the package.
(tests/service/test_playground.py drives the same pages in a real Chromium.)"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.routers.playground import STATIC

ROOT = Path(__file__).resolve().parents[2]
UI_PATHS = ["/", "/playground", "/favicon.ico", "/docs", "/redoc", "/openapi.json"]


def test_playground_page_and_its_files(client: TestClient) -> None:
    for path in ("/", "/playground"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert 'src="static/playground.js"' in r.text and 'href="docs"' in r.text
        assert 'href="metrics"' in r.text and "http" not in r.text  # nothing from elsewhere
    for path, kind in (
        ("/static/playground.js", "javascript"),
        ("/static/playground.css", "text/css"),
        ("/favicon.ico", "image/"),
    ):
        r = client.get(path)
        assert r.status_code == 200 and kind in r.headers["content-type"], path
    r = client.get("/static/nope.js")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_ui_routes_are_not_in_the_api_schema(client: TestClient) -> None:
    paths = set(client.get("/openapi.json").json()["paths"])
    assert "/sample" in paths
    assert not paths & {*UI_PATHS, "/static/docs/{name}", "/docs/oauth2-redirect"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_every_file_from_the_service(client: TestClient, page: str) -> None:
    html = client.get(page).text
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "fonts.googleapis" not in html
    for u in urls:
        assert client.get(u).status_code == 200, u
    if page == "/redoc":
        js = client.get("/static/docs/redoc.standalone.js").text
        assert "cdn.redoc.ly" not in js  # the sidebar logo no longer comes from a CDN
    r = client.get("/static/docs/nope.js")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_ui_requests_are_counted_but_kept_out_of_the_latency_histogram(
    client: TestClient,
) -> None:
    """ali_request_duration_seconds is the SLO metric: only API operations go into it."""
    ui = {
        "/": "/",
        "/playground": "/playground",
        "/favicon.ico": "/favicon.ico",
        "/static/playground.js": "/static",
        "/docs": "/docs",
        "/redoc": "/redoc",
        "/static/docs/swagger-ui.css": "/static/docs/{name}",
        "/openapi.json": "/openapi.json",
    }
    for path in ui:
        assert client.get(path).status_code == 200, path
    assert client.get("/static/missing.css").status_code == 404
    assert client.get("/sample?n=1").status_code == 200
    text = client.get("/metrics").text
    for label in ui.values():
        assert (
            f'ali_requests_total{{code="200",endpoint="{label}",model="",protocol="http",version=""}}'
            in text
        ), label
        assert f'ali_request_duration_seconds_count{{endpoint="{label}"}}' not in text, label
    assert (
        'ali_requests_total{code="404",endpoint="/static",model="",protocol="http",version=""}'
        in text
    )  # the mount, not the path
    assert "missing.css" not in text
    assert 'ali_request_duration_seconds_count{endpoint="/sample"} 1.0' in text


def test_static_files_ship_in_the_package() -> None:
    """The Dockerfile pip-installs a copy of service/: package data must name every page file."""
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["service"]
    files = [p.relative_to(ROOT / "service").as_posix() for p in STATIC.rglob("*") if p.is_file()]
    assert {"static/index.html", "static/playground.js", "static/favicon.ico"} <= set(files)
    for f in files:
        assert any(fnmatch.fnmatch(f, pat) for pat in patterns), f
