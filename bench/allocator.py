"""The malloc arena cap (service/allocator.py), paired against the commit before it: resident
memory over model unload/load cycles, and request rates on three workloads. Servers of the two
checkouts alternate, `--repeat` times each.

    python -m bench.allocator --cycles 60 --repeat 3 --seconds 8

Prints a markdown table; RELIABILITY.md §10 has the figures.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from bench import baseline, http_load
from bench.sections.common import Bench
from runtime.repository import latest_version_dir
from service.testing.server import ROOT
from service.testing.swaps import unload_load_cycle

BEFORE = "23bbe5b"  # the last commit with glibc's default arenas


def memory(code: Path, cycles: int) -> list[float]:
    """RSS (MiB) after each unload/load cycle of mnist, one worker."""
    repo = Path(tempfile.mkdtemp())
    shutil.copytree(latest_version_dir(ROOT / "models" / "mnist"), repo / "mnist" / "1")
    settings = {"model_control": "explicit", "workers": "1", "drs_calibration": "64"}
    with http_load.server(repo, code, access_log="false", **settings) as (url, pid):
        rss = []
        for _ in range(cycles):
            unload_load_cycle(url)
            rss.append(http_load.rss_mb(pid))
    return rss


def rates(bench: Bench, code: Path) -> dict[str, float]:
    """Requests/s of the default server (all workers) on three workloads."""
    with http_load.server(bench.models, code, default_model="mnist", access_log="false") as (
        url,
        _,
    ):
        return {
            "GET /sample?n=64 c=16": bench.sample(url, 16)["requests_per_s"],
            "v2 decode c=4": bench.v2_decode(url, 4)["requests_per_s"],
            "POST /encode c=16": bench.encode(url, 16)["requests_per_s"],
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cycles", type=int, default=60)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seconds", type=float, default=8.0)
    args = p.parse_args()
    bench = Bench.from_args(ROOT / "models", "mnist", args.seconds, smoke=False, quick=False)
    codes = {"capped (this checkout)": ROOT, f"glibc default ({BEFORE})": baseline.worktree(BEFORE)}
    rss: dict[str, list[list[float]]] = {k: [] for k in codes}
    rps: dict[str, list[dict[str, float]]] = {k: [] for k in codes}
    for _ in range(args.repeat):
        for label, code in codes.items():
            rss[label].append(memory(code, args.cycles))
            rps[label].append(rates(bench, code))
            print(label, f"{min(rss[label][-1]):.0f}-{max(rss[label][-1]):.0f} MiB", rps[label][-1])
    workloads = list(next(iter(rps.values()))[0])
    print(
        f"\n| arenas | RSS range per run ({args.cycles} cycles), MiB | "
        + " | ".join(workloads)
        + " |"
    )
    print("|---" * (2 + len(workloads)) + "|")
    for label in codes:
        ranges = ", ".join(f"{min(r):.0f}-{max(r):.0f}" for r in rss[label])
        medians = [statistics.median(run[w] for run in rps[label]) for w in workloads]
        print(f"| {label} | {ranges} | " + " | ".join(f"{m:,.1f}" for m in medians) + " |")


if __name__ == "__main__":
    main()
