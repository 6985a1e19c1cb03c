"""`make bench`: measure the service against raw onnxruntime and PyTorch; write BENCHMARKS.md
and bench/results.json.

    python -m bench.run                       # full run on models/ (<= 10 min on 2 cores)
    python -m bench.run --smoke --out /tmp/b  # seconds, on a generated tiny model; no targets
    python -m bench.run --render              # BENCHMARKS.md again from bench/results.json

Each section of the page is a module of bench/sections/ with its measure and its render; this
module runs them in order and puts the page together.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

from bench.provenance import git_commit, stamp
from bench.sections import SECTIONS, targets
from bench.sections.common import CONFIGS, Bench, Results, table
from bench.sections.training import measure_training

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
TARGETS = {
    "sample_vs_raw_ratio": (">=", 0.90),
    "encode_batching_speedup_c64": (">=", 5.0),
    "latency_overhead_ms_c1": ("<=", 2.0),
    "ort_vs_torch_ratio": (">=", 1.5),
    "serving_rss_mb": ("<=", 400.0),
    "train_vs_plain_ratio": (">=", 1.0),
}


def run(args: argparse.Namespace) -> Results:
    bench = Bench.from_args(
        Path(args.models), args.model, args.seconds, args.smoke, args.quick_train
    )
    res: Results = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "smoke": args.smoke,
        "seconds": bench.seconds,
        "commands": {"all": " ".join(["python -m bench.run", *sys.argv[1:]])},
        # The render reads these instead of the clock, so BENCHMARKS.md is the same on any day.
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "commit": git_commit(),
        "server_configs": {name: asdict(c) for name, c in CONFIGS.items()},
    }
    for section in SECTIONS:
        if section.measure:
            res.update(section.measure(bench, res))
    res["summary"] = targets(res)
    return res


def verdict(key: str, value: float) -> str:
    op, target = TARGETS[key]
    ok = value >= target if op == ">=" else value <= target
    return f"{op} {target:g}: {'met' if ok else 'MISSED'}"


def header(res: Results) -> list[str]:
    """Where the figures come from, the server configurations, and the targets table."""
    lines = [
        "# Benchmarks",
        "",
        f"Made by `{res['commands']['all']}` on {res['machine']['cpus']} CPU cores "
        f"({res['machine']['platform']}) on {res['date']} at commit `{res['commit']}`. "
        "The server runs as its own process on loopback; load comes from `wrk` "
        "(closed loop: N connections each with one request in flight). A section measured by "
        "a run of its own names that run. Earlier runs, the configurations they measured and "
        "what changed between them: [docs/benchmarks.md](docs/benchmarks.md).",
        "",
    ]
    described: Results = res.get("server_configs", {})
    if names := list(res.get("sample", described)):
        lines += ["Server configurations (sections 2 and 3):", ""]
        lines += [
            f"- `{name}`: {described[name]['why']}"
            if name in described
            else f"- `{name}`: a configuration of an earlier layout (docs/benchmarks.md)"
            for name in names
        ]
        lines.append("")
    rows = [[f"`{k}`", f"{v:.3f}", verdict(k, v)] for k, v in targets(res).items()]
    return [*lines, "## Targets", "", *table(["figure", "value", "target"], rows)]


def markdown(res: Results) -> str:
    lines = header(res)
    for section in SECTIONS:
        if section.key in res:
            lines += ["", *section.render(res)]
    return "\n".join(lines) + "\n"


def _int_keys(obj: object) -> object:
    if isinstance(obj, dict):
        return {int(k) if k.isdigit() else k: _int_keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_int_keys(v) for v in obj]
    return obj


def load_results(path: Path) -> Results:
    """A results.json as run() returned it (JSON turned its batch/concurrency keys into strings),
    with bench/peers.json beside it as "peers"."""
    res = _int_keys(json.loads(path.read_text()))
    assert isinstance(res, dict)
    peers = path.parent / "peers.json"
    if peers.is_file():
        res["peers"] = _int_keys(json.loads(peers.read_text()))
    return res


def write_results(res: Results) -> None:
    RESULTS.write_text(json.dumps(res, indent=2, default=str) + "\n")


def store_section(
    key: str,
    figures: dict[str, object],
    results: Path = RESULTS,
    page: Path = ROOT / "BENCHMARKS.md",
) -> None:
    """A section another script measures (bench/samplers.py, bench/tracing.py): its figures into
    `results` under `key`, the other sections' kept, then `page` rendered again."""
    res = json.loads(results.read_text())
    res[key] = figures
    results.write_text(json.dumps(res, indent=2, default=str) + "\n")
    page.write_text(markdown(load_results(results)))


def train_only(out: Path, quick: bool = False) -> None:
    """Section 7 alone, stamped with its own date and commit, merged into results.json."""
    import torch

    torch.set_num_threads(2)
    made = stamp("python -m bench.run")
    results = json.loads(RESULTS.read_text())
    results.update({k: {**v, **made} for k, v in measure_training(quick).items()})
    results["summary"] = targets(_int_keys(results))  # type: ignore[arg-type]
    write_results(results)
    (out / "BENCHMARKS.md").write_text(markdown(load_results(RESULTS)))
    print(json.dumps({k: results[k] for k in ("train", "train_dropout")}, indent=1))


def only(args: argparse.Namespace, out: Path) -> None:
    """One section measured alone, stamped with its own date and commit, merged into
    results.json (the other sections keep theirs)."""
    section = next(s for s in SECTIONS if s.key == args.only)
    assert section.measure is not None
    bench = Bench.from_args(Path(args.models), args.model, args.seconds, False, args.quick_train)
    results = json.loads(RESULTS.read_text())
    made = stamp("python -m bench.run")
    measured = section.measure(bench, _int_keys(results))  # type: ignore[arg-type]
    results.update(
        {k: {**v, "made": made} if isinstance(v, dict) else v for k, v in measured.items()}
    )
    results["summary"] = targets(_int_keys(results))  # type: ignore[arg-type]
    write_results(results)
    (out / "BENCHMARKS.md").write_text(markdown(load_results(RESULTS)))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="seconds, tiny model, no targets")
    p.add_argument("--models", default=str(ROOT / "models"))
    p.add_argument("--model", default="mnist")
    p.add_argument("--seconds", type=float, default=6.0, help="per measurement")
    p.add_argument("--quick-train", action="store_true")
    p.add_argument(
        "--train-only",
        action="store_true",
        help="re-measure section 7 (training speed) alone into bench/results.json",
    )
    p.add_argument(
        "--only",
        choices=[s.key for s in SECTIONS if s.measure],
        help="re-measure one section alone into bench/results.json (e.g. defaults)",
    )
    p.add_argument("--out", default=str(ROOT))
    p.add_argument(
        "--render", action="store_true", help="rewrite BENCHMARKS.md from bench/results.json"
    )
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.render:  # after editing a section's render, without measuring again
        (out / "BENCHMARKS.md").write_text(markdown(load_results(RESULTS)))
        return
    if args.train_only:
        train_only(out, quick=args.quick_train)
        return
    if args.only:
        only(args, out)
        return
    res = run(args)
    if args.smoke:
        (out / "results.json").write_text(json.dumps(res, indent=2, default=str))
        md = markdown(res)
    else:
        if RESULTS.is_file():  # sections other scripts measure (bench/samplers.py) stay
            old = json.loads(RESULTS.read_text())
            res |= {s.key: old[s.key] for s in SECTIONS if not s.measure and s.key in old}
        write_results(res)
        md = markdown(load_results(RESULTS))  # with bench/peers.json, as --render does
    (out / "BENCHMARKS.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
