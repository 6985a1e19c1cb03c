"""The playground: one page that shows what the models do, through the public API only.

GET / and /playground serve service/static/index.html; its CSS and JavaScript are served from
/static and the icon from /favicon.ico. No build step and nothing loaded from outside the service.
These routes are hidden from the OpenAPI schema and kept out of the latency histogram
(service/metrics.py).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
@router.get("/playground")
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon")


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
