"""The outermost view of each HTTP request: its id, metrics, access log line and trace span.

Every request gets a RequestInfo (service/request_info.py) with an id: the client's
`X-Request-ID`, else the trace id of its `traceparent`, else a fresh one. The id goes back as
`X-Request-ID` on every answer (errors, the v2 fast path and the pages too) and into every log
line written while the request is handled. At the end: the Prometheus counts by route template
(not the raw path: bounded cardinality; only API operations go into the latency histogram, the
SLO metric), one access log line, and the end of the request's span when tracing is on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.logs import ACCESS
from service.metrics import Metrics, matched_route
from service.request_info import CURRENT, RequestInfo, request_id
from service.tracing import Tracing

_access = logging.getLogger(ACCESS)


class ObserveMiddleware:
    def __init__(
        self, app: ASGIApp, metrics: Metrics, tracing: Tracing, access_log: bool = True
    ) -> None:
        self.app, self.metrics, self.tracing = app, metrics, tracing
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client_id = traceparent = None
        for k, v in scope["headers"]:
            if k == b"x-request-id":
                client_id = v.decode("latin-1")
            elif k == b"traceparent":
                traceparent = v.decode("latin-1")
        info = RequestInfo(request_id(client_id, traceparent))
        id_header = (b"x-request-id", info.id.encode())
        token = CURRENT.set(info)
        if self.tracing.enabled:
            self.tracing.start_request(info, scope["method"], traceparent)
        status = 0  # no response started yet
        log = self.access_log and _access.isEnabledFor(logging.INFO)
        sizes = [0, 0]  # body bytes in, out: counted only for the access log
        start = time.perf_counter()

        async def counting_receive() -> Message:
            message = await receive()
            sizes[0] += len(message.get("body", b""))
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), id_header]
                if info.model is not None and info.version is not None:  # set by registry.get
                    headers += [
                        (b"x-model", info.model.encode()),
                        (b"x-model-version", info.version.encode()),
                    ]
                message["headers"] = headers
            elif log:
                sizes[1] += len(message.get("body", b""))
            await send(message)

        self.metrics.in_flight.inc()
        self.metrics.active_requests += 1
        try:
            await self.app(scope, counting_receive if log else receive, send_wrapper)
        except asyncio.CancelledError:
            status = status or 499  # the client went away before a response started
            raise
        except Exception:
            status = status or 500
            raise
        finally:
            info.release()
            self.metrics.in_flight.dec()
            self.metrics.active_requests -= 1
            elapsed = time.perf_counter() - start
            endpoint, operation = matched_route(scope)
            # No response at all: nobody was left to answer (nginx's 499, client closed request).
            status = status or 499
            self.metrics.requests.labels(
                endpoint, str(status), info.model or "", info.version or "", "http"
            ).inc()
            if operation:
                self.metrics.request_duration.labels(endpoint).observe(elapsed)
            if log:
                self._log(scope, info, endpoint, status, elapsed, sizes)
            if info.span is not None:
                _end_span(info, scope["method"], endpoint, status)
            CURRENT.reset(token)

    @staticmethod
    def _log(
        scope: Scope, info: RequestInfo, route: str, status: int, elapsed: float, sizes: list[int]
    ) -> None:
        client = scope.get("client")
        path = _printable(scope["path"], scope["query_string"])
        fields: dict[str, Any] = {
            "client": client[0] if client else None,
            "method": scope["method"],
            "path": path,
            "route": route,
            "status": status,
            "latency_ms": round(elapsed * 1000, 3),
            "model": info.model,
            "version": info.version,
            "queue_wait_ms": round(info.queue_wait_s * 1000, 3),
            "batch_ids": info.batch_ids,
            "batch_sizes": info.batch_sizes,
            "bytes_in": sizes[0],
            "bytes_out": sizes[1],
        }
        batches = ",".join(
            f"{b}({n})" for b, n in zip(info.batch_ids, info.batch_sizes, strict=True)
        )
        _access.info(
            '%s "%s %s" %d %.1fms model=%s@%s wait=%.1fms batches=%s in=%d out=%d',
            fields["client"],
            scope["method"],
            path,
            status,
            elapsed * 1000,
            info.model or "-",
            info.version or "-",
            info.queue_wait_s * 1000,
            batches or "-",
            sizes[0],
            sizes[1],
            extra={"access": fields},
        )


def _end_span(info: RequestInfo, method: str, route: str, status: int) -> None:
    from opentelemetry.trace import Status, StatusCode

    span = info.span
    span.update_name(f"{method} {route}")
    span.set_attribute("http.request.method", method)
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if info.model is not None:
        span.set_attribute("ali.model", info.model)
        span.set_attribute("ali.model_version", info.version or "")
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    span.end()


def _printable(path: str, query: bytes, limit: int = 256) -> str:
    """The target as one safe log token: escaped (a decoded %0a must not start a forged line),
    cut to `limit` characters."""
    text = (path + ("?" + query.decode("latin-1") if query else "")).encode("unicode_escape")
    out = text.decode("ascii").replace('"', '\\"')
    return out if len(out) <= limit else out[: limit - 1] + "…"
