"""Slow, half-open, idle and oversized connections against the real server (service/connections.py).

Each test starts `python -m service.main` on loopback with short limits and talks raw TCP to it.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.testing.server import start_service, stop
from service.testing.tiny_models import make_tiny_model

HEADER_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("models")
    make_tiny_model(root, "tiny")
    proc, url = start_service(
        root,
        workers=1,
        header_timeout_s=HEADER_TIMEOUT_S,
        keepalive_timeout_s=2,
        max_connections=300,
    )
    try:
        yield url
    finally:
        stop(proc)


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _closed_within(socks: list[socket.socket], seconds: float) -> tuple[int, bytes]:
    """Wait until every socket reads EOF (or an error): (how many did, what they were sent)."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    closed, data, deadline = 0, b"", time.monotonic() + seconds
    while closed < len(socks) and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.1):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            if chunk:
                data += chunk
                continue
            sel.unregister(sock)
            closed += 1
    for s in socks:
        s.close()
    return closed, data


def test_half_sent_requests_are_closed_within_the_header_timeout(server: str) -> None:
    ok: list[int] = []
    stop_polling = threading.Event()

    def poll() -> None:
        with httpx.Client() as client:
            while not stop_polling.is_set():
                ok.append(client.get(f"{server}/healthz").status_code)
                time.sleep(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        socks = []
        for i in range(200):
            s = _connect(server)
            # Half a request: the line and part of the headers, then nothing.
            s.sendall(
                b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + (b"X-Slow: 1\r\n" if i % 2 else b"")
            )
            socks.append(s)
        start = time.monotonic()
        closed, answered = _closed_within(socks, HEADER_TIMEOUT_S + 3.0)
        elapsed = time.monotonic() - start
    finally:
        stop_polling.set()
        poller.join()
    assert closed == 200, f"{200 - closed} half-open connections still open after {elapsed:.1f}s"
    assert answered == b""  # nothing to answer: the request never arrived
    assert ok and set(ok) == {200}, "normal requests must succeed meanwhile"


def test_a_connection_that_sends_nothing_is_closed_after_the_keepalive_timeout(
    server: str,
) -> None:
    socks = [_connect(server) for _ in range(20)]
    closed, _ = _closed_within(socks, 2 + 3.0)
    assert closed == 20


def test_a_4_mb_header_is_refused_with_431(server: str) -> None:
    s = _connect(server)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    try:
        while sent < 4 * 1024 * 1024:
            s.sendall(b"a" * 65536)
            sent += 65536
    except OSError:
        pass  # the server closed after answering: it read no more than its limit
    closed, answer = _closed_within([s], 5.0)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert closed == 1


def test_too_many_header_fields_is_431(server: str) -> None:
    s = _connect(server)
    fields = b"".join(b"X-F%d: 1\r\n" % i for i in range(200))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    _, answer = _closed_within([s], 5.0)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]


def test_a_normal_request_with_many_small_headers_still_works(server: str) -> None:
    headers = {f"x-h{i}": "v" * 100 for i in range(50)}
    assert httpx.get(f"{server}/healthz", headers=headers).status_code == 200


def test_connections_beyond_the_cap_are_refused_fast(tmp_path: Path) -> None:
    make_tiny_model(tmp_path, "tiny")
    proc, url = start_service(tmp_path, workers=1, max_connections=10)
    try:
        held = [_connect(url) for _ in range(10)]
        time.sleep(0.2)
        extra = _connect(url)
        extra.settimeout(5)
        answer = extra.recv(4096)
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:80]
        for s in held:
            s.close()
        extra.close()
        time.sleep(0.2)
        assert httpx.get(f"{url}/healthz").status_code == 200  # room again once they left
    finally:
        stop(proc)
