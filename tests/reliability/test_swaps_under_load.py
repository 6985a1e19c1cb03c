"""Swaps under load: clients send requests without pause while 20 new versions go live, 10
picked up by polling and 10 through explicit loads (each also unloading the version before,
the latest-1 policy): no request fails, every answer names exactly one version and carries
that version's output, and every request sent after a swap is answered by the new version."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from service.testing.server import start_service, stop
from service.testing.swaps import Clients
from service.testing.tiny_models import publish_tiny

SWAPS = 10  # per mode
CLIENTS = 4
Z = [0.5, -0.25, 1.0, 0.0]
BODY = {"inputs": [{"name": "z", "shape": [1, 4], "datatype": "FP32", "data": Z}]}


@dataclass
class Answer:
    sent: float
    status: int
    versions: list[str]  # every X-Model-Version header
    body_version: str | None
    output: np.ndarray | None


def reference(folder: Path) -> np.ndarray:
    sess = ort.InferenceSession(str(folder / "decoder.onnx"), providers=["CPUExecutionProvider"])
    return sess.run(None, {"z": np.array([Z], np.float32)})[0].ravel()


def decode(c: httpx.Client) -> Answer:
    """One v2 decode and what came back."""
    sent = time.monotonic()
    r = c.post("/v2/models/tiny.decoder/infer", json=BODY)
    ok = r.status_code == 200
    out = r.json()
    return Answer(
        sent,
        r.status_code,
        r.headers.get_list("x-model-version"),
        out.get("model_version") if ok else None,
        np.array(out["outputs"][0]["data"], np.float32) if ok else None,
    )


def load_on(url: str) -> Clients[Answer]:
    return Clients(url, CLIENTS, decode)


def check(load: Clients[Answer], refs: dict[str, np.ndarray], swapped_at: dict[str, float]) -> None:
    assert not load.errors, load.errors[:3]
    assert len(load.results) > 20 * SWAPS
    failed = [a for a in load.results if a.status != 200]
    assert not failed, [(a.status, a.versions) for a in failed[:5]]
    for a in load.results:
        assert len(a.versions) == 1 and a.body_version == a.versions[0], a
        assert np.allclose(a.output, refs[a.versions[0]], atol=1e-6), a.versions
        # sent after a swap finished: that version or a newer one
        newest_live = max((int(v) for v, t in swapped_at.items() if t <= a.sent), default=1)
        assert int(a.versions[0]) >= newest_live, (a.versions, newest_live)
    seen = {a.versions[0] for a in load.results}
    assert seen == set(refs), sorted(seen)  # every version answered


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    publish_tiny(tmp_path, "tiny", seed=1)
    return tmp_path


@contextmanager
def serve(repo: Path, **settings: object) -> Iterator[str]:
    proc, url = start_service(repo, default_model="tiny", **settings)
    try:
        yield url
    finally:
        stop(proc)


def swap(
    repo: Path, refs: dict[str, np.ndarray], swapped_at: dict[str, float], go_live: Callable
) -> None:
    for k in range(2, SWAPS + 2):
        time.sleep(0.3)  # some load on the current version first
        folder = publish_tiny(repo, "tiny", seed=k)
        refs[folder.name] = reference(folder)
        go_live(folder.name)
        swapped_at[folder.name] = time.monotonic()


def test_explicit_loads_with_two_workers_drop_nothing(repo: Path) -> None:
    # load answers once every worker has swapped, so the strict "sent after" check holds for both
    with serve(repo, model_control="explicit", workers=2) as url:
        refs, swapped_at = {"1": reference(repo / "tiny" / "1")}, {}

        def go_live(version: str) -> None:
            httpx.post(f"{url}/v2/repository/models/tiny/load", timeout=60).raise_for_status()

        with load_on(url) as load:
            swap(repo, refs, swapped_at, go_live)
            time.sleep(0.3)
        check(load, refs, swapped_at)
        index = httpx.post(f"{url}/v2/repository/index").json()
        assert [e["version"] for e in index if e["state"] == "READY"] == [str(SWAPS + 1)]
        metrics = httpx.get(f"{url}/metrics").text  # both workers' gauges, summed
        assert f'ali_model_state{{model="tiny",state="READY",version="{SWAPS + 1}"}} 2.0' in metrics
        assert 'ali_model_state{model="tiny",state="READY",version="1"} 0.0' in metrics


def test_polled_exports_drop_nothing(repo: Path) -> None:
    # One worker: "live" is when the first request answered by the new version was sent; with
    # two, each worker polls on its own clock and the other may still answer the old one.
    with serve(repo, model_control="poll", repository_poll_s=0.2, workers=1) as url:
        refs, swapped_at = {"1": reference(repo / "tiny" / "1")}, {}
        load: Clients[Answer]

        def go_live(version: str) -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                firsts = [a.sent for a in list(load.results) if a.versions == [version]]
                if firsts:
                    # the first answer by it ended before the next request could be sent
                    return
                time.sleep(0.02)
            raise AssertionError(f"version {version} never answered")

        with load_on(url) as load:
            swap(repo, refs, swapped_at, go_live)
            time.sleep(0.3)
        check(load, refs, swapped_at)
