"""bench.run's sections: a smoke run (wrk, the server and onnxruntime timings faked) measures and
renders one heading per section, and the committed results render every section once."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bench import http_load, raw
from bench.run import RESULTS, load_results, main, markdown
from bench.sections import SECTIONS
from bench.sections.common import CONFIGS


def headings(md: str) -> list[str]:
    return re.findall(r"^## (\d+[bcd]?)\. ", md, re.M)


NUMBERS = [
    "1",
    "2",
    "3",
    "3b",
    "3c",
    "3d",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "9b",
]  # SECTIONS' headings, in order


@pytest.fixture
def fake_measurements(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """No server, no wrk, no timing loops; the settings each server was started with."""
    started: list[dict[str, str]] = []

    @contextmanager
    def server(model_dir: Path, code: Path, **settings: str) -> Iterator[tuple[str, int]]:
        started.append(settings)
        yield "http://127.0.0.1:1", os.getpid()

    def wrk(url: str, c: int, seconds: float, script: Path | None = None) -> dict[str, float]:
        return {"requests_per_s": 10.0 * c, "p50_ms": 2.0, "p99_ms": 9.0, "non_2xx": 0.0}

    def single(model_dir: Path, batches: tuple[int, ...], seconds: float) -> dict[str, Any]:
        return {
            n: {b: {"images_per_s": 1e3 * b, "p50_ms": 1.0} for b in batches}
            for n in ("decoder", "encoder")
        }

    def parallel(model_dir: Path, net: str, n: int, streams: int, s: float) -> dict[str, float]:
        return {"streams": streams, "images_per_s": 5e4}

    monkeypatch.setattr(http_load, "server", server)
    monkeypatch.setattr(http_load, "wrk", wrk)
    monkeypatch.setattr(raw, "ort_throughput", single)
    monkeypatch.setattr(raw, "ort_parallel_throughput", parallel)
    return started


def test_smoke_run_renders_one_heading_per_measured_section(
    tmp_path: Path, fake_measurements: list[dict[str, str]]
) -> None:
    main(["--smoke", "--out", str(tmp_path)])
    md = (tmp_path / "BENCHMARKS.md").read_text()
    res = load_results(tmp_path / "results.json")
    measured = [n for n, s in zip(NUMBERS, SECTIONS, strict=True) if s.key in res]
    assert headings(md) == measured == ["1", "2", "3", "4", "6"]  # no torch, training, peers
    assert md == markdown(res)
    for name in (n for n, c in CONFIGS.items() if not c.before):  # tables of sections 2, 3
        assert f"| {name} | 16 |" in md and f"| {name} | 64 |" in md
    # memory is read from the one-process configuration; encode runs with batching on and off
    assert {"default_model": "mnist", "workers": "1"} in fake_measurements
    # smoke runs skip the baseline checkout's configuration
    smoke_configs = [c for c in CONFIGS.values() if not c.before]
    assert sum(s.get("batching") == "false" for s in fake_measurements) == len(smoke_configs)
    assert set(res["summary"]) == {
        "sample_vs_raw_ratio",
        "encode_batching_speedup_c64",
        "latency_overhead_ms_c1",
        "serving_rss_mb",
    }


def test_every_section_renders_once_in_page_order(
    tmp_path: Path, fake_measurements: list[dict[str, str]]
) -> None:
    """A smoke run's results with the committed sections the smoke run skips (sections 5 and 7)
    and the ones other scripts measure (3c, 3d, 8, 9 and 9b): every heading once, in order."""
    main(["--smoke", "--out", str(tmp_path)])
    res = load_results(tmp_path / "results.json")
    committed = load_results(RESULTS)
    res |= {s.key: committed[s.key] for s in SECTIONS if s.key not in res}
    res["train_dropout"] = committed["train_dropout"]
    assert headings(markdown(res)) == NUMBERS


def test_render_iterates_over_the_configurations_in_the_results() -> None:
    """The committed results may hold configurations of an earlier layout: rendered as they are."""
    res = load_results(RESULTS)
    md = markdown(res)
    for name in res["sample"]:
        assert f"- `{name}`:" in md and f"| {name} | 1 |" in md
