"""The request-body size limit (ALI_MAX_BODY_BYTES) as one ASGI middleware, for every route.

A declared Content-Length over the limit is answered 413 before any of the body is read. A body
without one (chunked) is counted as the app reads it; the chunk that crosses the limit raises
`BodyTooLarge`, an HTTPException, so FastAPI's body parsing and Starlette's form parser let it
through to the app's one error handler (413 in the usual JSON shape).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import BadRequest, PayloadTooLarge, ServiceError, render_error


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body exceeds the limit of {limit} bytes")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app, self.limit = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        refused = None if declared is None else _check_declared(declared, self.limit)
        if refused:
            await render_error(scope["path"], refused)(scope, receive, send)
            return
        size = 0

        async def counting_receive() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counting_receive, send)


def _check_declared(declared: str, limit: int) -> ServiceError | None:
    """None when a declared Content-Length is acceptable, else the error to answer with."""
    try:
        length = int(declared)
    except ValueError:
        return BadRequest("Content-Length is not a number")
    if length > limit:
        return PayloadTooLarge(f"body is {length} bytes; the limit is {limit}")
    return None
