"""/docs (Swagger UI) and /redoc (ReDoc) with every file served by the service itself.

FastAPI's built-in pages load Swagger UI and ReDoc from a CDN (and ReDoc a Google font), so on a
host without internet they are blank. This is FastAPI's self-hosting recipe
(fastapi.tiangolo.com/how-to/custom-docs-ui-assets) with the files from the fastapi-offline
package (serve extra), which bundles Swagger UI's and ReDoc's distributions.

ReDoc's sidebar shows Redocly's logo from its CDN, hard-coded in the bundle: that one URL is
replaced by an empty local image, so the page makes no request that leaves the host.

Each page sends its own Content-Security-Policy (service/security_headers.py adds the other
headers, and its strict default to HTML that has none). FastAPI's Swagger UI page starts Swagger
with an inline script; this one passes the same settings as a JSON data block, which a browser
never runs, to service/static/swagger-init.js, so no page needs 'unsafe-inline' for scripts.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_oauth2_redirect_html,
    swagger_ui_default_parameters,
)
from fastapi.responses import FileResponse, HTMLResponse, Response

from service.errors import quote
from service.security_headers import policy

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
}
REDOCLY_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_SVG = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='0' height='0'/%3E"
CACHE = {"Cache-Control": "public, max-age=86400"}

# What each page loads, found in Chromium (tests/service/test_playground.py checks that the pages
# log no violation). Swagger UI: its stylesheet draws its icons as data: SVGs, and "Try it out"
# shows an image answer (the PNGs of /sample, /decode, ...) as a blob: URL; it fetches
# /openapi.json and the API ('self'). Its scripts and styles are files from the service (React
# sets styles through the CSSOM, which style-src does not govern).
SWAGGER_POLICY = policy(img_src="'self' data: blob:")
# ReDoc: styled-components writes its CSS into <style> elements at runtime (and FastAPI's page has
# one inline <style>), so styles need 'unsafe-inline' (acceptable: styles, not scripts, which stay
# 'self' only). Its search index runs in a Web Worker made from a blob: URL; the sidebar logo
# (above) and an icon are data: SVGs.
REDOC_POLICY = policy(
    style_src="'self' 'unsafe-inline'", img_src="'self' data:", worker_src="blob:"
)

SWAGGER_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{root}/static/docs/swagger-ui.css">
<link rel="icon" href="{root}/favicon.ico">
</head>
<body>
<div id="swagger-ui"></div>
<script id="swagger-config" type="application/json">{config}</script>
<script src="{root}/static/docs/swagger-ui-bundle.js"></script>
<script src="{root}/static/swagger-init.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _json_in_html(value: object) -> str:
    """JSON that cannot end the <script> element it sits in."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """FastAPI's get_swagger_ui_html, with its inline start script as a file (swagger-init.js)."""
    root, app = _root(request), request.app
    config = {
        "url": f"{root}{app.openapi_url}",
        **swagger_ui_default_parameters,
        **(app.swagger_ui_parameters or {}),
        "oauth2RedirectUrl": f"{root}/docs/oauth2-redirect",  # swagger-init.js adds the origin
    }
    page = SWAGGER_HTML.format(
        title=html.escape(f"{app.title} - Swagger UI"), root=root, config=_json_in_html(config)
    )
    return HTMLResponse(page, headers={"Content-Security-Policy": SWAGGER_POLICY})


def _inline_script_hash(page: str) -> str:
    """The CSP source that allows the page's one inline <script>, exactly as it is written."""
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return f"'sha256-{digest}'"


# Swagger UI's OAuth2 popup page (unused until the API has OAuth2): FastAPI's fixed page with one
# inline script, allowed by its hash, computed here from FastAPI's own text.
OAUTH2_REDIRECT = bytes(get_swagger_ui_oauth2_redirect_html().body).decode()
OAUTH2_REDIRECT_POLICY = policy(
    script_src=_inline_script_hash(OAUTH2_REDIRECT), connect_src="'none'"
)


@router.get("/docs/oauth2-redirect")
async def swagger_ui_redirect() -> HTMLResponse:
    return HTMLResponse(
        OAUTH2_REDIRECT, headers={"Content-Security-Policy": OAUTH2_REDIRECT_POLICY}
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root = _root(request)
    page = get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}/static/docs/redoc.standalone.js",
        redoc_favicon_url=f"{root}/favicon.ico",
        with_google_fonts=False,
    )
    page.headers["Content-Security-Policy"] = REDOC_POLICY
    return page


@cache
def _redoc_js() -> bytes:
    return (ASSETS / "redoc.standalone.js").read_bytes().replace(REDOCLY_LOGO, EMPTY_SVG)


@router.get("/static/docs/{name}")
async def asset(name: str) -> Response:
    if name not in FILES:
        raise HTTPException(404, f"no docs asset {quote(name)}")
    if name == "redoc.standalone.js":
        return Response(_redoc_js(), media_type=FILES[name], headers=CACHE)
    return FileResponse(ASSETS / name, media_type=FILES[name], headers=CACHE)
