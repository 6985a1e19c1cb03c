"""POST /v2/models/{name}/infer as a bare ASGI app in front of FastAPI: the hot path.

The route in service/routers/v2.py does the same work (service/v2/infer.py) and stays for
OpenAPI, the versioned path and anything this path does not take. On one-image requests,
FastAPI's routing, dependency solving and exception layers cost a worker about as much CPU as the
inference itself (py-spy, docs/peers.md); here a request goes from the body straight to the
batcher. It sits inside the body-limit and observe (service/observe.py) middlewares, labels
itself with the route's template for the metrics, and renders errors with the one renderer
(service/errors.py).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import render_error
from service.v2 import catalog
from service.v2.infer import header_length, infer

log = logging.getLogger(__name__)

PATH = re.compile(r"/v2/models/([^/]+)/infer")


@dataclass(frozen=True)
class RouteLabel:
    """What the observe middleware reads of a matched route (service/metrics.matched_route)."""

    path: str = "/v2/models/{name}/infer"  # the FastAPI route's template
    include_in_schema: bool = True


class V2InferFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = PATH.fullmatch(scope["path"]) if scope["type"] == "http" else None
        if match is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        scope["route"] = RouteLabel()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            model = catalog.resolve(app.state.registry, match.group(1))
            body = await _read_body(receive)
            answer = await infer(
                model,
                body,
                headers.get("content-encoding"),
                header_length(headers.get("inference-header-content-length")),
                app.state.settings,
                app.state.cpu_pool,
            )
        except Exception as e:  # ClientDisconnect (499), ServiceError, the body limit's 413, bugs
            await render_error(scope["path"], e)(scope, receive, send)
            return
        head = [
            (b"content-type", answer.media_type.encode()),
            (b"content-length", str(len(answer.body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in answer.headers.items()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        await send({"type": "http.response.body", "body": answer.body})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
