"""What the swap tests and benches share: one model unload/load cycle through the repository API,
and client threads that keep a server busy while versions change."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import httpx

T = TypeVar("T")


def unload_load_cycle(url: str, model: str = "mnist") -> None:
    """Unload `model`, load it again, use it once, and wait until the old copy is closed."""
    with httpx.Client(base_url=url, timeout=120) as c:
        c.post(f"/v2/repository/models/{model}/unload").raise_for_status()
        c.post(f"/v2/repository/models/{model}/load").raise_for_status()
        assert c.get(f"/sample?n=8&model={model}").status_code == 200
        deadline = time.monotonic() + 30  # the unloaded copy closes in the background
        while any(e["state"] == "UNLOADING" for e in c.post("/v2/repository/index").json()):
            assert time.monotonic() < deadline
            time.sleep(0.05)


class Clients(Generic[T]):
    """`n` threads, each with its own keep-alive client on `url`, calling `send` back to back
    until the `with` block ends: what it returns goes to `results`, transport errors (repr) to
    `errors`. The load of the swap tests and of `python -m bench.swaps`."""

    def __init__(self, url: str, n: int, send: Callable[[httpx.Client], T]) -> None:
        self.url, self.send = url, send
        self.results: list[T] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(n)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as c:
            while not self._stop.is_set():
                try:
                    self.results.append(self.send(c))
                except httpx.HTTPError as e:
                    self.errors.append(repr(e))

    def __enter__(self) -> Clients[T]:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()
