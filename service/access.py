"""Which scope each route needs, and the middleware that asks for it (keys: service/auth.py).

One table, by method and path, read by the middleware (so the v2 fast path, which answers in
front of FastAPI, is covered like every route) and by the test that walks the app's routes: a new
route that is neither open by design nor in the table fails that test.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.auth import KeyRing, presented_key
from service.errors import Forbidden, Unauthorized, render_error
from service.metrics import Metrics

OPEN = "open"  # no key needed: probes, the page and the docs (they hold no data)

# (methods, path pattern, scope), first match wins. Patterns are full matches.
RULES: tuple[tuple[frozenset[str], re.Pattern[str], str], ...] = tuple(
    (frozenset(methods.split()), re.compile(pattern), scope)
    for methods, pattern, scope in (
        ("GET HEAD", r"/healthz|/readyz|/v2/health/live|/v2/health/ready", OPEN),
        ("GET HEAD", r"/|/playground|/favicon\.ico|/static/.*", OPEN),
        ("GET HEAD", r"/docs|/docs/oauth2-redirect|/redoc|/openapi\.json", OPEN),
        ("GET HEAD", r"/metrics", "metrics"),
        ("POST", r"/encode|/decode|/reconstruct|/interpolate|/score", "infer"),
        ("GET HEAD", r"/sample", "infer"),
        ("POST", r"/v2/models/[^/]+(/versions/[^/]+)?/infer", "infer"),
        ("POST", r"/v2/repository/index|/v2/repository/models/[^/]+/(load|unload)", "admin"),
        ("GET HEAD", r"/models(/[^/]+)?", "read"),
        ("GET HEAD", r"/v2|/v2/models/[^/]+(/versions/[^/]+)?(/ready|/config)?", "read"),
    )
)
UNLISTED = "read"  # a path no rule names (a 404 to be): no key, no answer about it


def required_scope(method: str, path: str, protect_metrics: bool) -> str:
    for methods, pattern, scope in RULES:
        if method in methods and pattern.fullmatch(path):
            return OPEN if scope == "metrics" and not protect_metrics else scope
    return UNLISTED


class AccessMiddleware:
    """401 without a known key, 403 without the route's scope, in the service's error shapes;
    every answer to a scoped route counted by key name and code (ali_requests_by_key_total)."""

    def __init__(
        self, app: ASGIApp, keys: KeyRing, metrics: Metrics, protect_metrics: bool
    ) -> None:
        self.app, self.keys, self.metrics = app, keys, metrics
        self.protect_metrics = protect_metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys.enabled:
            await self.app(scope, receive, send)
            return
        need = required_scope(scope["method"], scope["path"], self.protect_metrics)
        if need == OPEN:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        presented = presented_key(headers)
        key = self.keys.lookup(presented) if presented else None
        if key is None or need not in key.scopes:
            name = key.name if key else ("(unknown)" if presented else "(none)")
            error = (
                Unauthorized("send a valid API key: Authorization: Bearer KEY (or x-api-key)")
                if key is None
                else Forbidden(f"key {key.name!r} lacks the {need!r} scope")
            )
            self.metrics.requests_by_key.labels(name, str(error.status)).inc()
            await render_error(scope["path"], error)(scope, receive, send)
            return
        status = 0

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            self.metrics.requests_by_key.labels(key.name, str(status or 499)).inc()
