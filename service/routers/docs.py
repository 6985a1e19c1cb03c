"""/docs (Swagger UI) and /redoc (ReDoc) with every file served by the service itself.

FastAPI's built-in pages load Swagger UI and ReDoc from a CDN (and ReDoc a Google font), so on a
host without internet they are blank. This is FastAPI's self-hosting recipe
(fastapi.tiangolo.com/how-to/custom-docs-ui-assets) with the files from the fastapi-offline
package (serve extra), which bundles Swagger UI's and ReDoc's distributions.

ReDoc's sidebar shows Redocly's logo from its CDN, hard-coded in the bundle: that one URL is
replaced by an empty local image, so the page makes no request that leaves the host.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse, Response

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
}
REDOCLY_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_SVG = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='0' height='0'/%3E"
CACHE = {"Cache-Control": "public, max-age=86400"}

router = APIRouter(include_in_schema=False)


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}/static/docs/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/static/docs/swagger-ui.css",
        swagger_favicon_url=f"{root}/favicon.ico",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
    )


@router.get("/docs/oauth2-redirect")
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root = _root(request)
    return get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}/static/docs/redoc.standalone.js",
        redoc_favicon_url=f"{root}/favicon.ico",
        with_google_fonts=False,
    )


@cache
def _redoc_js() -> bytes:
    return (ASSETS / "redoc.standalone.js").read_bytes().replace(REDOCLY_LOGO, EMPTY_SVG)


@router.get("/static/docs/{name}")
async def asset(name: str) -> Response:
    if name not in FILES:
        raise HTTPException(404, f"no docs asset {name!r}")
    if name == "redoc.standalone.js":
        return Response(_redoc_js(), media_type=FILES[name], headers=CACHE)
    return FileResponse(ASSETS / name, media_type=FILES[name], headers=CACHE)
