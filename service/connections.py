"""Connection limits uvicorn's httptools protocol does not enforce, as a subclass of it.

- A connection that has not sent a byte is closed after the keep-alive timeout (uvicorn arms
  that timer only after a response, so a silent connection stayed open for good).
- A request's line and headers must arrive within `header_timeout_s` of its first byte, and may
  take at most `max_header_bytes` and `max_headers` fields: beyond, 431 and close (a slowloris
  client, or a 64 MB header, held a worker's memory and socket).
- At most `max_connections` open connections per worker: one more is answered 503 and closed at
  once, before it can hold anything.

These limits cost one timer per request and a length check per chunk read while a request's
head is arriving (BENCHMARKS.md §9 measures the service with them).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_STATUS = {431: b"Request Header Fields Too Large", 503: b"Service Unavailable"}


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float
    max_header_bytes: int
    max_headers: int
    max_connections: int


class HeadTooLarge(Exception):
    """Raised inside the parser's header callback: too many header fields."""


def guarded_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with `limits`, as a class for `uvicorn.Config(http=...)`."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    limits: ConnectionLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = -1  # bytes of the current request's head so far; -1: not in a head
        self._head_timer: asyncio.TimerHandle | None = None

    # ---- connection ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(503, "too many open connections; retry")
            return
        # Until the first byte, the keep-alive timer: data_received cancels it, as after a
        # response.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    # ---- a request's head ------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        # uvicorn's own, but a header callback's HeadTooLarge answers 431 rather than 400.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            if isinstance(e.__context__, HeadTooLarge):
                self._refuse(431, str(e.__context__))
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._head_bytes >= 0:  # the head has not ended within what arrived
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(431, f"request head over {self.limits.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timeout)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        if len(self.headers) > self.limits.max_headers:
            raise HeadTooLarge(f"more than {self.limits.max_headers} header fields")

    def on_headers_complete(self) -> None:
        self._head_bytes = -1
        self._cancel_head_timer()
        super().on_headers_complete()

    def _head_timeout(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()  # nothing to answer: the request never arrived

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _refuse(self, status: int, message: str) -> None:
        self._cancel_head_timer()
        self._head_bytes = -1
        body = message.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, _STATUS[status], len(body), body)
        )
        self.transport.close()
