"""Headers for a service that faces a network, and HEAD wherever GET is: one ASGI middleware.

Every response gets `X-Content-Type-Options: nosniff`: a browser takes the content type as given
and never sniffs a JSON body or a PNG into something it would run. An HTML response (decided by
its Content-Type) also gets a Content-Security-Policy, frame protection (`frame-ancestors 'none'`
in the policy, and `X-Frame-Options: DENY` for browsers older than CSP 2) and
`Referrer-Policy: no-referrer`. The policy is PAGE_POLICY unless the route set its own: each
page lists only what it loads (service/routers/docs.py for /docs and /redoc); `policy()` builds
one from the same base, so `frame-ancestors 'none'` and the rest stay on every page.

HEAD: FastAPI's routes answer only the methods they declare, so a load balancer's HEAD health
check would get 405. Here a HEAD request goes in as a GET and its body is dropped on the way
out: the same status and headers (Content-Length included), no body. A 405's `Allow` that lists
GET lists HEAD too. It is the same middleware as the headers because both act on the same
message: one send wrapper on every request, the hot `POST /v2/models/{name}/infer` included
(service/v2/fast_path.py sits inside it), costs a header scan and a list copy per response.

Added last in service/app.py, so outermost: the metrics, the body limit's 413s and the v2 fast
path all sit inside it. (Starlette's ServerErrorMiddleware, outside every added middleware,
sends the 500 of an exception no handler caught: service/errors.py sets nosniff on those.)
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Everything a page may load, per kind; a directive not listed falls back to default-src 'none'.
BASE_POLICY: dict[str, str] = {
    "default-src": "'none'",
    "script-src": "'self'",  # scripts only as files from this service: no inline, no eval
    "style-src": "'self'",  # stylesheets from this service; no <style>, no style="..."
    "img-src": "'self'",  # the favicon
    "connect-src": "'self'",  # fetch() of the API and /openapi.json
    "base-uri": "'none'",  # no <base> to re-point the pages' relative URLs
    "form-action": "'self'",  # the pages' forms are sent by their scripts; never elsewhere
    "frame-ancestors": "'none'",  # no page of this service inside another site's frame
}


def policy(**directives: str) -> str:
    """A Content-Security-Policy: BASE_POLICY with these directives set (`img_src=...` for
    img-src)."""
    merged = {**BASE_POLICY, **{k.replace("_", "-"): v for k, v in directives.items()}}
    return "; ".join(f"{name} {value}" for name, value in merged.items())


# The playground (service/static): its images are PNG answers shown as blob: URLs and
# base64 data: URLs (playground.js), everything else comes from 'self'.
PAGE_POLICY = policy(img_src="'self' blob: data:")

NOSNIFF = (b"x-content-type-options", b"nosniff")
HTML_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
# The messages that carry a body: bytes, or a file for servers with the pathsend extension.
BODY_MESSAGES = frozenset(
    ("http.response.body", "http.response.pathsend", "http.response.zerocopysend")
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, page_policy: str = PAGE_POLICY) -> None:
        self.app = app
        self.page_csp = (b"content-security-policy", page_policy.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            # A copy: the server keeps its own scope, and with it the HEAD that tells it (uvicorn,
            # h11) to write no body.
            scope = {**scope, "method": "GET"}

        async def send_with_headers(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                message = {**message, "headers": self._headers(message)}
            elif head and kind in BODY_MESSAGES:  # the GET's body: only its end goes out, empty
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _headers(self, start: Message) -> list[tuple[bytes, bytes]]:
        headers = [*start.get("headers", ())]
        if NOSNIFF not in headers:  # the error renderer sets it on 500s (see above)
            headers.append(NOSNIFF)
        html = False
        for name, value in headers:
            if name == b"content-type":
                html = value[:9].lower() == b"text/html"
                break
        if html:
            if not any(n == b"content-security-policy" for n, _ in headers):
                headers.append(self.page_csp)
            headers.extend(HTML_HEADERS)
        if start["status"] == 405:
            headers = [(n, allow_head(v) if n == b"allow" else v) for n, v in headers]
        return headers


def allow_head(allow: bytes) -> bytes:
    """An Allow header's value with HEAD added wherever GET is (b"POST, GET" -> b"POST, GET, HEAD")."""
    methods = [m.strip().upper() for m in allow.split(b",")]
    return allow + b", HEAD" if b"GET" in methods and b"HEAD" not in methods else allow
