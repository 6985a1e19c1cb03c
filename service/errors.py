"""Service errors: each carries its HTTP status and a stable code; one handler renders them all.

Every error response has the same JSON shape:
    {"error": {"status": 422, "code": "invalid_input", "message": "what is wrong and how to fix it"}}
except under /v2 (the Open Inference Protocol, service/routers/v2.py), where it is the protocol's
    {"error": "what is wrong"}
and a request the server cannot use (422 elsewhere) is a 400, as v2 clients expect.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

log = logging.getLogger(__name__)


class ServiceError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(ServiceError):
    status, code = 400, "bad_request"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, {"WWW-Authenticate": 'Bearer realm="ali"'})


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class ModelNotFound(ServiceError):
    status, code = 404, "model_not_found"


class PayloadTooLarge(ServiceError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status, code = 415, "unsupported_media_type"


class InvalidInput(ServiceError):
    status, code = 422, "invalid_input"


class ClientClosedRequest(ServiceError):
    """The client hung up before its request was read: not a server error (nginx's 499)."""

    status, code = 499, "client_closed_request"


class Overloaded(ServiceError):
    status, code = 503, "overloaded"

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message, {"Retry-After": str(retry_after_s)})


class NotReady(ServiceError):
    status, code = 503, "not_ready"


class DeadlineExceeded(ServiceError):
    status, code = 504, "deadline_exceeded"


def quote(value: object, limit: int = 64) -> str:
    """repr(value) for an error message, cut to `limit` characters: a 65,000-character model
    name must not come back whole."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text)} characters)"


def error_body(status: int, code: str, message: str) -> dict[str, dict[str, object]]:
    return {"error": {"status": status, "code": code, "message": message}}


def format_validation_errors(errors: Sequence[Any]) -> str:
    """pydantic/FastAPI error dicts -> "latents.0.1: Input should be a valid number; ..."."""
    parts = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
        parts.append(f"{loc or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts[:10])


# Starlette and FastAPI raise HTTPException for routing, multipart and JSON parsing problems.
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def as_service_error(exc: BaseException) -> ServiceError:
    """Any exception as the ServiceError it answers with (status, code, message, headers)."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, ClientDisconnect):
        return ClientClosedRequest("the client closed the connection before the request was read")
    if isinstance(exc, RequestValidationError):
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):  # not JSON at all: malformed
            return BadRequest("body is not valid JSON")
        return InvalidInput(format_validation_errors(errors))
    if isinstance(exc, StarletteHTTPException):
        message = str(exc.detail)
        if isinstance(exc.__cause__, RecursionError):  # json.loads on [[[[...]]]] thousands deep
            message = "body JSON is nested too deeply"
        err = ServiceError(message, dict(exc.headers or {}))
        err.status, err.code = exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error")
        return err
    return ServiceError("internal error; the server log has the details")


def render_error(path: str, exc: BaseException) -> JSONResponse:
    """The one error rendering, for the handlers, the v2 fast path and the body limit: the Open
    Inference Protocol's `{"error": message}` under /v2 (where a 422 is a 400, "malformed
    request"), the project's shape everywhere else. Unexpected exceptions are logged here."""
    err = as_service_error(exc)
    if err is not exc and err.status == 500:
        log.error("unhandled error on %s", path, exc_info=exc)
    elif err.status == 499:
        log.info("%s: client closed the connection before the request was read", path)
    status, headers = err.status, dict(err.headers)
    if status == 500:  # Starlette sends these from outside every middleware (security headers)
        headers["X-Content-Type-Options"] = "nosniff"
    if path == "/v2" or path.startswith("/v2/"):
        status = 400 if status == 422 else status
        return JSONResponse({"error": err.message}, status_code=status, headers=headers)
    return JSONResponse(
        error_body(status, err.code, err.message), status_code=status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return render_error(request.url.path, exc)

    errors = (ServiceError, RequestValidationError, StarletteHTTPException, ClientDisconnect)
    for kind in (*errors, Exception):
        app.add_exception_handler(kind, handle)
