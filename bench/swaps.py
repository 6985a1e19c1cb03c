"""Model swaps on a live server: time from export to the first answer by the new version, and
request latency while a version swaps against the steady state (BENCHMARKS §3d).

    python -m bench.swaps            # ~3 min: bench/results.json["swaps"], BENCHMARKS.md
    python -m bench.swaps --smoke    # one swap per mode; prints only

The server runs with default settings on a repository holding a copy of the shipped `mnist` as
version 1. Clients send `GET /sample?n=1` back to back (CLIENTS threads, keep-alive) the whole
time. Each swap: a steady window, then a new version is published as `ali-export` does (written
aside, renamed into place; the same files, so the work per request does not change), then
  poll:      the server finds it on its own (ALI_MODEL_CONTROL=poll, the default 5 s scan);
  explicit:  POST /v2/repository/models/mnist/load, which answers once every worker swapped.
"Export to first answer" runs from the rename to the first answer that names the new version.
The swap window runs from the rename until SETTLE_S after that first answer.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from bench import http_load
from bench.provenance import stamp
from bench.run import ROOT, store_section
from runtime.cores import usable_cores
from runtime.repository import latest_version_dir, publish_version
from service.testing.swaps import Clients

CLIENTS = 8
STEADY_S = 3.0
SETTLE_S = 1.0


@dataclass
class Sent:
    at: float
    latency_s: float
    status: int
    version: str


def sample(c: httpx.Client) -> Sent:
    at = time.monotonic()
    r = c.get("/sample?n=1")
    return Sent(at, time.monotonic() - at, r.status_code, r.headers.get("x-model-version", ""))


def first_answer(
    clients: Clients[Sent], version: str, after: float, timeout_s: float = 60
) -> float:
    """Seconds from `after` to the end of the first answer that names `version`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = [s.at + s.latency_s for s in list(clients.results) if s.version == version]
        if done:
            return min(done) - after
        time.sleep(0.005)
    raise RuntimeError(f"version {version} never answered")


def publish(repo: Path) -> tuple[str, float]:
    with publish_version(repo, "mnist") as (folder, version):
        for f in (repo / "mnist" / "1").iterdir():
            shutil.copy(f, folder / f.name)
        manifest = json.loads((folder / "manifest.json").read_text())
        (folder / "manifest.json").write_text(json.dumps(manifest | {"version": version}))
    return version, time.monotonic()


def p99_ms(sent: list[Sent]) -> float:
    return float(np.percentile([s.latency_s for s in sent], 99) * 1000) if sent else float("nan")


def measure(mode: str, swaps: int) -> dict[str, object]:
    repo = Path(tempfile.mkdtemp(prefix="ali-swaps-"))
    shutil.copytree(latest_version_dir(ROOT / "models" / "mnist"), repo / "mnist" / "1")
    firsts, steady, swapping = [], [], []
    try:
        with (
            http_load.server(repo, model_control=mode) as (url, _),
            Clients(url, CLIENTS, sample) as clients,
        ):
            for k in range(swaps):
                print(f"[{mode} {k + 1}/{swaps}]", file=sys.stderr)
                start = time.monotonic()
                time.sleep(STEADY_S)
                version, published = publish(repo)
                if mode == "explicit":
                    r = httpx.post(f"{url}/v2/repository/models/mnist/load", timeout=120)
                    r.raise_for_status()
                took = first_answer(clients, version, published)
                time.sleep(SETTLE_S)
                firsts.append(took)
                end = published + took + SETTLE_S
                log = list(clients.results)
                steady += [s for s in log if start + 0.5 <= s.at < published]
                swapping += [s for s in log if published <= s.at < end]
            log = list(clients.results)
    finally:
        shutil.rmtree(repo, ignore_errors=True)
    return {
        "export_to_first_answer_s": [round(t, 3) for t in firsts],
        "requests": len(log),
        "failed": sum(s.status != 200 for s in log) + len(clients.errors),
        "steady_p99_ms": round(p99_ms(steady), 1),
        "swap_p99_ms": round(p99_ms(swapping), 1),
        "steady_p50_ms": round(statistics.median(s.latency_s for s in steady) * 1000, 1),
        "swap_p50_ms": round(statistics.median(s.latency_s for s in swapping) * 1000, 1),
    }


def run(swaps: int) -> dict[str, object]:
    return {
        **stamp("python -m bench.swaps"),
        "cores": usable_cores(),
        "clients": CLIENTS,
        "swaps": swaps,
        "steady_s": STEADY_S,
        "settle_s": SETTLE_S,
        "modes": {mode: measure(mode, swaps) for mode in ("poll", "explicit")},
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="one swap per mode; print only")
    p.add_argument("--swaps", type=int, default=5)
    args = p.parse_args(argv)
    res = run(1 if args.smoke else args.swaps)
    if not args.smoke:
        store_section("swaps", res)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
