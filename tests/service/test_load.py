"""The service under concurrent load: batching happens, overload is a 503, deadlines a 504."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from tests.service.conftest import make_settings


def _bucket(text: str, le: str) -> float:
    for line in text.splitlines():
        if (
            line.startswith("ali_batch_size_bucket{")
            and 'model="tiny"' in line
            and 'network="decoder"' in line
            and f'le="{le}"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no batch-size bucket le={le}")


def test_concurrent_requests_are_batched(model_dir: Path) -> None:
    with TestClient(create_app(make_settings(model_dir, max_wait_ms=20.0))) as c:
        with ThreadPoolExecutor(32) as pool:
            results = list(
                pool.map(lambda i: c.get(f"/sample?n=1&seed={i}&format=json"), range(96))
            )
        assert all(r.status_code == 200 for r in results)
        # Each response carries its own seed's sample.
        solo = c.get("/sample?n=1&seed=5&format=json").json()
        assert results[5].json()["images"] == solo["images"]
        text = c.get("/metrics").text
        assert _bucket(text, "+Inf") < 97  # fewer batches than requests
        assert _bucket(text, "1.0") < _bucket(text, "+Inf")  # some batches had > 1 row


def test_full_queue_answers_503_with_retry_after(model_dir: Path) -> None:
    settings = make_settings(model_dir, max_queue_rows=4, max_batch_size=4, max_wait_ms=200.0)
    with TestClient(create_app(settings)) as c, ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: c.get(f"/sample?n=4&seed={i}"), range(16)))
    codes = {r.status_code for r in results}
    assert codes <= {200, 503} and 503 in codes
    busy = next(r for r in results if r.status_code == 503)
    assert busy.headers["retry-after"] == "1" and busy.json()["error"]["code"] == "overloaded"


def test_deadline_answers_504(model_dir: Path) -> None:
    # 256 rows at one row per model call: hundreds of executor round trips, far over 1 ms.
    settings = make_settings(model_dir, request_timeout_s=0.001, max_batch_size=1, max_samples=256)
    with TestClient(create_app(settings)) as c:
        r = c.get("/sample?n=256")
        assert r.status_code == 504 and r.json()["error"]["code"] == "deadline_exceeded"
        assert "did not answer within" in r.json()["error"]["message"]
