"""What each sampler of GET /sample costs, through the real service: n=64 grids, one at a time.

    python -m bench.samplers                  # models/ (~1-2 min): bench/results.json["samplers"],
                                              # then BENCHMARKS.md rendered again
    python -m bench.samplers --smoke          # a generated tiny model, seconds; prints only

The service runs as its own process on loopback (as in bench/run.py); requests go one at a time
with seeds 0..R-1 (PNG, timed), then once more as JSON for DRS's acceptance (not timed). The
quality figures beside the cost are copied from each model's manifest (`ali-eval mnist`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from bench.http_load import server
from bench.provenance import stamp
from bench.run import ROOT, store_section
from runtime.manifest import load_manifest
from runtime.repository import latest_version_dir
from runtime.samplers import SAMPLERS
from service.testing.tiny_models import make_tiny_model

N = 64
QUALITY = ("fd_ratio", "confident_share", "precision", "recall")


def _get(url: str) -> tuple[bytes, float]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        body = r.read()
    return body, 1000 * (time.perf_counter() - start)


def measure(base: str, model: str, sampler: str, requests: int) -> dict[str, float]:
    """Latency of GET /sample?n=64 (PNG) over `requests` seeds, and DRS's acceptance."""
    q = {"model": model, "n": N, "sampler": sampler}
    url = f"{base}/sample?{urllib.parse.urlencode(q)}"
    _get(f"{url}&seed=999")  # warm
    ms = [_get(f"{url}&seed={s}")[1] for s in range(requests)]
    kept = proposed = 0.0
    for s in range(requests):
        body = json.loads(_get(f"{url}&seed={s}&format=json")[0])
        kept += body["acceptance"] * body["proposals"]
        proposed += body["proposals"]
    return {
        "p50_ms": statistics.median(ms),
        "mean_ms": statistics.fmean(ms),
        "ms_per_image": statistics.fmean(ms) / N,
        "acceptance": kept / proposed,
        "proposals_per_image": proposed / (requests * N),
    }


def run(models: Path, names: list[str], requests: int) -> dict:
    out: dict = {
        "n": N,
        "requests": requests,
        **stamp("python -m bench.samplers"),
        "models": {},
    }
    with server(models, default_model=names[0]) as (url, _):
        for name in names:
            metrics = load_manifest(latest_version_dir(models / name)).metrics.get(
                "sampler_metrics", {}
            )
            per: dict[str, dict[str, float]] = {}
            for sampler in SAMPLERS:
                print(f"{name} {sampler} ...", file=sys.stderr)
                r = measure(url, name, sampler, requests)
                r["cost_vs_ancestral"] = r["mean_ms"] / per["ancestral"]["mean_ms"] if per else 1.0
                quality = metrics.get(sampler, {}) if isinstance(metrics, dict) else {}
                r |= {k: quality[k] for k in QUALITY if k in quality}
                per[sampler] = r
            out["models"][name] = per
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny generated model; print only")
    p.add_argument("--models", default=str(ROOT / "models"))
    p.add_argument("--model", action="append", help="model names (default: mnist, mnist-cond)")
    p.add_argument("--requests", type=int, default=20, help="timed requests per sampler")
    args = p.parse_args(argv)
    if args.smoke:
        root = Path(tempfile.mkdtemp())
        make_tiny_model(root, "tiny")
        print(json.dumps(run(root, ["tiny"], 3), indent=2))
        return
    res = run(Path(args.models), args.model or ["mnist", "mnist-cond"], args.requests)
    store_section("samplers", res)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
