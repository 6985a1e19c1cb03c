"""The ratios in peers.json and the BENCHMARKS section, from synthetic runs."""

from __future__ import annotations

from typing import Any

import pytest

from bench.peers.report import ratios, section


def _row(rps: float, p50: float) -> dict[str, float]:
    return {"requests_per_s": rps, "p50_ms": p50, "p99_ms": 2 * p50, "non_2xx": 0.0}


def _res() -> dict[str, Any]:
    w = {"W1": {"what": "decode 64 latents", "concurrency": [1, 4]}}
    runs = {
        "service": [
            {"W1": {1: _row(50, 20.0), 4: _row(60, 66.0)}},
            {"W1": {1: _row(48, 21.0), 4: _row(66, 60.0)}},
        ],
        "mosec": [
            {"W1": {1: _row(40, 19.0), 4: _row(70, 57.0)}},
            {"W1": {1: _row(42, 19.5), 4: _row(60, 66.0)}},
        ],
        "triton": [
            {"W1": {1: _row(45, 22.0), 4: _row(50, 80.0)}},
            {"W1": {1: _row(47, 21.0), 4: _row(52, 77.0)}},
        ],
    }
    servers = {n: {"version": "1", "protocol": "raw", "config": {"why": "x"}} for n in runs}
    return {
        "workloads": w,
        "runs": runs,
        "servers": servers,
        "repeats": 2,
        "seconds": 5,
        "warmup_seconds": 1,
        "command": "make bench-peers",
        "date": "2026-11-29",
        "commit": "abc",
        "wall_seconds": 600,
        "machine": {"cpus": 2},
        "peers_failed": {"ray_serve": "TimeoutError: not ready"},
    }


def test_ratio_is_against_the_best_peer_of_each_row_with_its_spread() -> None:
    res = _res()
    r1, r4 = ratios(res)
    # c=1: triton has the higher median throughput (46 vs 41); per repeat 50/45, 48/47.
    assert r1["best_peer"] == "triton"
    assert r1["service_vs_best_peer"] == pytest.approx((50 / 45 + 48 / 47) / 2, abs=1e-3)
    assert r1["spread"] == [round(48 / 47, 3), round(50 / 45, 3)]
    # p50 at c=1 is compared with the lowest-latency peer (mosec), not the fastest-throughput one.
    assert r1["p50_c1_best_peer"] == "mosec" and r1["p50_c1_best_peer_ms"] == 19.25
    assert r1["p50_c1_service_ms"] == 20.5
    assert r4["best_peer"] == "mosec" and "p50_c1_service_ms" not in r4
    assert r4["service_vs_best_peer"] == pytest.approx((60 / 70 + 66 / 60) / 2, abs=1e-3)


def test_section_lists_every_server_and_each_failed_peer() -> None:
    res = _res()
    res["ratios"] = ratios(res)
    text = "\n".join(section(res))
    for name in ("**service**", "mosec", "triton"):
        assert name in text
    assert "ray_serve" in text and "TimeoutError: not ready" in text
