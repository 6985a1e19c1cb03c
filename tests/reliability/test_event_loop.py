"""The worst request the limits admit must not stall the worker: /healthz keeps answering while
it is processed (service/cpu_pool.py)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from service.testing.server import start_service, stop
from service.testing.tiny_models import make_tiny_model

TALL = 16_777_216  # 1 x TALL pixels: at ALI_MAX_IMAGE_PIXELS, the largest one image may be


def png_of(height: int, width: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((height, width), np.uint8), "L").save(buf, format="PNG")
    return buf.getvalue()


def tall_png() -> bytes:
    return png_of(TALL, 1)


def worst_health_latency(url: str, request: Callable[[], httpx.Response]) -> tuple[float, int]:
    """Poll /healthz every 20 ms while `request` runs: (worst latency in s, its status)."""
    worst, done, status = 0.0, threading.Event(), [0]

    def run() -> None:
        status[0] = request().status_code
        done.set()

    t = threading.Thread(target=run)
    with httpx.Client(timeout=30) as client:
        t.start()
        while not done.is_set():
            start = time.monotonic()
            assert client.get(f"{url}/healthz").status_code == 200
            worst = max(worst, time.monotonic() - start)
            time.sleep(0.02)
    t.join()
    return worst, status[0]


def test_16_tall_pngs_do_not_stall_health(tmp_path: Path) -> None:
    make_tiny_model(tmp_path, "tiny")
    png = tall_png()
    files = [("images", (f"{i}.png", png, "image/png")) for i in range(16)]

    def encode() -> httpx.Response:
        return httpx.post(f"{url}/encode", files=files, timeout=120)

    # As shipped, the per-request pixel budget refuses the request outright (413) ...
    proc, url = start_service(tmp_path, workers=1)
    try:
        worst, status = worst_health_latency(url, encode)
        assert status == 413 and worst < 0.5, (status, worst)
    finally:
        stop(proc)
    # ... and with the budget lifted, by the limit on a side (Pillow's cost per row holds the GIL).
    proc, url = start_service(tmp_path, workers=1, max_request_pixels=2**31)
    try:
        worst, status = worst_health_latency(url, encode)
        assert status == 413 and worst < 0.5, (status, worst)
        # 16 square images at the per-image limit are decoded, in the CPU pool, off the loop.
        square = png_of(4096, 4096)
        files[:] = [("images", (f"{i}.png", square, "image/png")) for i in range(16)]
        worst, status = worst_health_latency(url, encode)
        assert status == 200 and worst < 0.5, (status, worst)
    finally:
        stop(proc)
