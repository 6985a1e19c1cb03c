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


class ModelNotFound(ServiceError):
    status, code = 404, "model_not_found"


class PayloadTooLarge(ServiceError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status, code = 415, "unsupported_media_type"


class InvalidInput(ServiceError):
    status, code = 422, "invalid_input"


class Overloaded(ServiceError):
    status, code = 503, "overloaded"

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message, {"Retry-After": str(retry_after_s)})


class NotReady(ServiceError):
    status, code = 503, "not_ready"


class DeadlineExceeded(ServiceError):
    status, code = 504, "deadline_exceeded"


def error_body(status: int, code: str, message: str) -> dict[str, dict[str, object]]:
    return {"error": {"status": status, "code": code, "message": message}}


def error_response(
    path: str, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The one error rendering: the Open Inference Protocol's `{"error": message}` under /v2
    (where a 422 is a 400, "malformed request"), the project's shape everywhere else."""
    if path == "/v2" or path.startswith("/v2/"):
        status = 400 if status == 422 else status
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    return JSONResponse(error_body(status, code, message), status_code=status, headers=headers)


def _render(
    request: Request,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return error_response(request.url.path, status, code, message, headers)


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


def _http_message(exc: StarletteHTTPException) -> str:
    if isinstance(exc.__cause__, RecursionError):  # json.loads on [[[[...]]]] thousands deep
        return "body JSON is nested too deeply"
    return str(exc.detail)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return _render(request, exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):  # not JSON at all: malformed
            return _render(request, 400, "bad_request", "body is not valid JSON")
        return _render(request, 422, "invalid_input", format_validation_errors(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = getattr(exc, "headers", None)
        return _render(request, exc.status_code, code, _http_message(exc), headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        message = "internal error; the server log has the details"
        return _render(request, 500, "internal_error", message)
