"""No request lost on a reused keep-alive connection (RELIABILITY.md, "Keep-alive").

uvicorn closes idle keep-alive connections after 5 s unless told otherwise. A client or load
balancer that keeps pooled connections longer than that reuses one the server is closing, and the
request on it is lost before it reaches the app. The service sets ALI_KEEPALIVE_TIMEOUT_S above
common load-balancer idle timeouts.
"""

from __future__ import annotations

import asyncio
import http.client
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from service.settings import Settings
from service.testing.server import running_service, start_service, stop
from service.testing.tiny_models import make_tiny_model


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    make_tiny_model(root, "tiny")
    return root


def _get_twice(url: str, idle_s: float) -> int | None:
    """One request, `idle_s` of silence, a second request on the same connection, as a pooling
    proxy does (it writes without first checking whether the server has closed). Returns the
    second request's status, or None when it was lost on a connection the server had closed."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        assert conn.getresponse().read()
        time.sleep(idle_s)
        conn.request("GET", "/healthz")  # same socket: http.client reopens only when told to
        return conn.getresponse().status
    except (http.client.RemoteDisconnected, ConnectionError):
        return None
    finally:
        conn.close()


@pytest.fixture(scope="module")
def default_server(models: Path) -> Iterator[str]:
    with running_service(models, default_model="tiny") as url:
        yield url


def test_default_outlives_common_load_balancer_idle_timeouts() -> None:
    assert Settings().keepalive_timeout_s > 600  # AWS ALB 60 s, Azure 240 s, GCP 600 s


def test_a_connection_idle_longer_than_uvicorns_default_is_still_served(
    default_server: str,
) -> None:
    # 6 s: past uvicorn's own 5 s default (which lost this request), well inside an ALB's 60 s.
    assert _get_twice(default_server, idle_s=6.0) == 200


def test_a_short_keepalive_loses_the_reused_connection(models: Path) -> None:
    """The failure mode itself, with the timeout shortened so the test stays quick."""
    proc, url = start_service(models, default_model="tiny", keepalive_timeout_s=1)
    try:
        assert _get_twice(url, idle_s=0.2) == 200
        assert _get_twice(url, idle_s=1.5) is None
    finally:
        stop(proc)


async def _pooled_storm(url: str, requests: int, concurrency: int) -> tuple[Counter, Counter]:
    """Overload through one client with a keep-alive pool whose connections live longer than
    the storm's idle gaps; returns (status counts, transport error counts)."""
    codes: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=60
    )
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def one(i: int) -> None:
            async with sem:
                if i % 8 == 0:
                    await asyncio.sleep(0.5 + (i % 5) * 0.3)  # idle gaps on pooled connections
                try:
                    codes[(await client.get("/sample", params={"n": 64})).status_code] += 1
                except httpx.TransportError as e:
                    errors[type(e).__name__] += 1

        await asyncio.gather(*(one(i) for i in range(requests)))
    return codes, errors


def test_pooled_client_under_overload_loses_no_request(models: Path) -> None:
    # A small queue so the storm is answered with 503s as well as 200s: overload, not just load.
    proc, url = start_service(models, default_model="tiny", max_queue_rows=128)
    try:
        codes, errors = asyncio.run(_pooled_storm(url, requests=600, concurrency=128))
    finally:
        stop(proc)
    assert not errors, f"lost requests: {dict(errors)} (answered: {dict(codes)})"
    assert set(codes) <= {200, 503} and codes[200] > 0
    assert sum(codes.values()) == 600
