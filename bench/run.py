"""`make bench`: measure the service against raw onnxruntime and PyTorch; write BENCHMARKS.md
and bench/results.json.

    python -m bench.run                       # full run on models/ (<= 10 min on 2 cores)
    python -m bench.run --smoke --out /tmp/b  # seconds, on a generated tiny model; no targets
    python -m bench.run --render              # BENCHMARKS.md again from bench/results.json
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench import http_load, raw
from service.testing.tiny_models import make_tiny_model

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


def digit_png(model_dir: Path) -> bytes:
    """One real-looking 28x28 input (a test digit if the dataset is around, else noise)."""
    npz = ROOT.parent / "shared" / "datasets" / "mnist.npz"
    if npz.is_file():
        a = np.load(npz)["x_test"][0]
    else:
        a = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a, "L").save(buf, format="PNG")
    return buf.getvalue()


def git_commit() -> str:
    """The checkout's short commit, with "+dirty" when the tree has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def run(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    secs = 1.0 if args.smoke else args.seconds
    models = Path(args.models)
    if args.smoke:
        models = Path(tempfile.mkdtemp())
        make_tiny_model(models, "mnist")
    model = models / args.model
    res: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "smoke": args.smoke,
        "commands": {},
        # The render reads these instead of the clock, so BENCHMARKS.md is the same on any day.
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "commit": git_commit(),
    }
    cmd = " ".join(["python -m bench.run", *sys.argv[1:]])
    res["commands"]["all"] = cmd

    # 1. raw onnxruntime
    print("raw onnxruntime ...", file=sys.stderr)
    res["raw_ort"] = raw.ort_throughput(model, (1, 8, 64, 256), secs)
    cores = os.cpu_count() or 1
    res["raw_ort_parallel"] = {
        "decoder": {64: raw.ort_parallel_throughput(model, "decoder", 64, cores, secs)}
    }
    # The ceiling: the better of one call using every core and one single-threaded call per core.
    raw_dec64 = max(
        res["raw_ort"]["decoder"][64]["images_per_s"],
        res["raw_ort_parallel"]["decoder"][64]["images_per_s"],
    )
    res["raw_decoder_b64_ceiling"] = raw_dec64
    raw_enc1_p50 = res["raw_ort"]["encoder"][1]["p50_ms"]

    script_dir = Path(tempfile.mkdtemp())
    body = json.dumps({"images": [base64.b64encode(digit_png(model)).decode()]})
    enc_script = http_load.post_script(script_dir / "encode.lua", body)
    levels = (1, 8, 64)
    # Three ways to spend the cores: one model call at a time using all of them (the default);
    # one call per core at once in one process (ALI_INFERENCE_THREADS=cores,
    # ALI_INTRA_OP_THREADS=1); one single-threaded worker process per core (ALI_WORKERS=cores,
    # replicas on one host: no GIL shared between the event loop and the inference threads).
    configs = {
        "1x_all_cores": {},
        f"{cores}x1_thread": {"inference_threads": str(cores), "intra_op_threads": "1"},
        f"{cores}_workers": {"workers": str(cores), "intra_op_threads": "1"},
    }
    res["sample"], res["encode_batching_on"], res["encode_batching_off"] = {}, {}, {}
    for cfg_name, extra in configs.items():
        with http_load.server(models, default_model=args.model, **extra) as (url, pid):
            if cfg_name == "1x_all_cores":
                res["serving_rss_mb_idle"] = http_load.rss_mb(pid)
            print(f"[{cfg_name}] GET /sample?n=64 ...", file=sys.stderr)
            res["sample"][cfg_name] = {}
            for c in (1, 4, 16):
                r = http_load.wrk(f"{url}/sample?n=64&seed=1", c, secs)
                r["images_per_s"] = r["requests_per_s"] * 64
                r["ratio_to_raw_decoder_b64"] = r["images_per_s"] / raw_dec64
                res["sample"][cfg_name][c] = r
            print(f"[{cfg_name}] POST /encode (batching on) ...", file=sys.stderr)
            res["encode_batching_on"][cfg_name] = {
                c: http_load.wrk(f"{url}/encode", c, secs, enc_script) for c in levels
            }
            if cfg_name == "1x_all_cores":
                res["serving_rss_mb"] = http_load.rss_mb(pid)
                res["torch_loaded_in_server"] = http_load.maps_mention(pid, "libtorch")
        with http_load.server(models, default_model=args.model, batching="false", **extra) as (
            url,
            _,
        ):
            print(f"[{cfg_name}] POST /encode (batching off) ...", file=sys.stderr)
            res["encode_batching_off"][cfg_name] = {
                c: http_load.wrk(f"{url}/encode", c, secs, enc_script) for c in levels
            }
    res["encode_batching_speedup"] = {
        cfg_name: {
            c: res["encode_batching_on"][cfg_name][c]["requests_per_s"]
            / res["encode_batching_off"][cfg_name][c]["requests_per_s"]
            for c in levels
        }
        for cfg_name in configs
    }
    on = res["encode_batching_on"]["1x_all_cores"]
    # 4. latency overhead at concurrency 1
    res["latency"] = {"service_p50_ms": on[1]["p50_ms"], "raw_encoder_b1_p50_ms": raw_enc1_p50}

    # 5. onnxruntime vs PyTorch eager
    if not args.smoke:
        print("onnxruntime vs PyTorch eager ...", file=sys.stderr)
        res["ort_vs_torch"] = raw.torch_vs_ort(args.model, model, 64, secs)
        # 7. training throughput
        print("training throughput ...", file=sys.stderr)
        from bench.train_speed import compare

        res["train"] = compare("mnist", steps=5 if args.quick_train else 10)

    summary = {
        "sample_vs_raw_ratio": max(
            r["ratio_to_raw_decoder_b64"]
            for per_c in res["sample"].values()
            for r in per_c.values()
        ),
        "encode_batching_speedup_c64": max(v[64] for v in res["encode_batching_speedup"].values()),
        "latency_overhead_ms_c1": res["latency"]["service_p50_ms"] - raw_enc1_p50,
        "serving_rss_mb": res["serving_rss_mb"],
    }
    if "ort_vs_torch" in res and "decoder" in res["ort_vs_torch"]:
        summary["ort_vs_torch_ratio"] = min(
            res["ort_vs_torch"][n]["ratio"] for n in ("decoder", "encoder")
        )
    if "train" in res:
        summary["train_vs_plain_ratio"] = res["train"]["ratio"]
    res.update(summary)
    res["summary"] = summary
    return res


def verdict(key: str, value: float) -> str:
    op, target = TARGETS[key]
    ok = value >= target if op == ">=" else value <= target
    return f"{op} {target:g}: {'met' if ok else 'MISSED'}"


def markdown(res: dict) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Made by `{res['commands']['all']}` on {res['machine']['cpus']} CPU cores "
        f"({res['machine']['platform']}) on {res['date']} at commit `{res['commit']}`. "
        "The server runs as its own process on loopback; load comes from `wrk` "
        "(closed loop: N connections each with one request in flight).",
        "",
        "## Targets",
        "",
        "| figure | value | target |",
        "|---|---|---|",
    ]
    for k, v in res["summary"].items():
        lines.append(f"| `{k}` | {v:.3f} | {verdict(k, v)} |")
    lines += [
        "",
        "## 1. Raw onnxruntime (in-process, the ceiling)",
        "",
        "| network | batch | images/s | p50 ms |",
        "|---|---|---|---|",
    ]
    for net, rows in res["raw_ort"].items():
        for b, r in rows.items():
            lines.append(f"| {net} | {b} | {r['images_per_s']:.0f} | {r['p50_ms']:.3f} |")
    par = res["raw_ort_parallel"]["decoder"][64]
    lines += [
        "",
        f"Decoder, batch 64, {par['streams']} single-threaded calls at once: "
        f"{par['images_per_s']:.0f} images/s. Ceiling used below (the better of the two): "
        f"{res['raw_decoder_b64_ceiling']:.0f} images/s.",
        "",
        "## 2. `GET /sample?n=64`",
        "",
        "Server configurations: `1x_all_cores` is the default (one model call at a time, "
        "onnxruntime using every core); `Nx1_thread` runs one single-threaded call per core in "
        "one process (`ALI_INFERENCE_THREADS`, `ALI_INTRA_OP_THREADS=1`); `N_workers` runs one "
        "single-threaded worker process per core (`ALI_WORKERS`, `ALI_INTRA_OP_THREADS=1`).",
        "",
        "| server | concurrency | req/s | images/s | p50 ms | p99 ms | ÷ raw ceiling |",
        "|---|---|---|---|---|---|---|",
    ]
    for cfg_name, per_c in res["sample"].items():
        for c, r in per_c.items():
            lines.append(
                f"| {cfg_name} | {c} | {r['requests_per_s']:.1f} | {r['images_per_s']:.0f} | "
                f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['ratio_to_raw_decoder_b64']:.3f} |"
            )
    lines += [
        "",
        "## 3. `POST /encode`, one image per request (JSON base64 PNG)",
        "",
        "| server | concurrency | batching | req/s | p50 ms | p99 ms | non-2xx |",
        "|---|---|---|---|---|---|---|",
    ]
    for cfg_name in res["encode_batching_on"]:
        for mode in ("on", "off"):
            for c, r in res[f"encode_batching_{mode}"][cfg_name].items():
                lines.append(
                    f"| {cfg_name} | {c} | {mode} | {r['requests_per_s']:.1f} | "
                    f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['non_2xx']:.0f} |"
                )
    lines.append("")
    for cfg_name, sp in res["encode_batching_speedup"].items():
        lines.append(
            f"On/off speed-up, {cfg_name}: "
            + ", ".join(f"c={c}: {v:.2f}×" for c, v in sp.items())
            + "  "
        )
    lat = res["latency"]
    lines += [
        "",
        "## 4. Latency overhead at concurrency 1",
        "",
        f"Service p50 {lat['service_p50_ms']:.3f} ms − raw encoder batch-1 p50 "
        f"{lat['raw_encoder_b1_p50_ms']:.3f} ms = {res['latency_overhead_ms_c1']:.3f} ms "
        "(includes HTTP, base64 + PNG decode of the upload, JSON encoding of the answer).",
    ]
    if "ort_vs_torch" in res:
        lines += [
            "",
            "## 5. onnxruntime ÷ PyTorch eager, batch 64",
            "",
            "| network | onnxruntime images/s | PyTorch images/s | ratio | "
            "onnxruntime GFLOP/s | PyTorch GFLOP/s |",
            "|---|---|---|---|---|---|",
        ]
        # decoder_plain_export: the same decoder exported without the sub-pixel rewrite.
        for net in ("decoder", "encoder", "decoder_plain_export"):
            r = res["ort_vs_torch"].get(net)
            if r:
                lines.append(
                    f"| {net} | {r['ort_images_per_s']:.0f} | "
                    f"{r['torch_images_per_s']:.0f} | {r['ratio']:.2f} | "
                    f"{r['ort_gflops']:.0f} | {r['torch_gflops']:.0f} |"
                )
    lines += [
        "",
        "## 6. Serving memory",
        "",
        f"Resident memory with every model in `models/` loaded: "
        f"{res['serving_rss_mb_idle']:.0f} MB after start-up, {res['serving_rss_mb']:.0f} MB "
        f"after the load above. libtorch mapped in the server: "
        f"{'yes' if res['torch_loaded_in_server'] else 'no'}.",
    ]
    if "train" in res:
        t = res["train"]
        lines += [
            "",
            "## 7. Training throughput (MNIST preset, batch 100)",
            "",
            f"Trainer {t['ours_images_per_s']:.0f} images/s vs plain PyTorch loop "
            f"{t['plain_images_per_s']:.0f} images/s: ratio {t['ratio']:.2f} "
            f"(pairwise {', '.join(f'{r:.2f}' for r in t['pairwise_ratios'])}).",
        ]
    if "samplers" in res:
        lines += samplers_section(res["samplers"])
    lines += ["", NOTES]
    return "\n".join(lines) + "\n"


def samplers_section(s: dict) -> list[str]:
    """Section 8 from results.json["samplers"] (bench/samplers.py, its own run and date)."""
    lines = [
        "",
        f"## 8. Samplers: `GET /sample?n={s['n']}&sampler=...`",
        "",
        f"Made by `{s['command']}` on {s['date']} at commit `{s['commit']}`: the service in its "
        f"own process with default settings, one request at a time, {s['requests']} seeds per "
        "sampler (PNG); DRS's acceptance from the JSON answers for the same seeds. The quality "
        "columns come from each model's `ali-eval mnist` (10k samples per sampler; FD ÷ floor: "
        "Fréchet distance to the test digits in the digit judge's features over that of 10k "
        "training digits, 1 = as close as real data).",
        "",
        "| model | sampler | p50 ms | ms/image | × ancestral | acceptance | proposals/image | "
        "FD ÷ floor | confident ≥ 0.9 | precision | recall |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, per in s["models"].items():
        for name, r in per.items():
            quality = " | ".join(
                f"{r[k]:.3f}" if k in r else "–"
                for k in ("fd_ratio", "confident_share", "precision", "recall")
            )
            lines.append(
                f"| {model} | `{name}` | {r['p50_ms']:.1f} | {r['ms_per_image']:.2f} | "
                f"{r['cost_vs_ancestral']:.2f} | {r['acceptance']:.3f} | "
                f"{r['proposals_per_image']:.2f} | {quality} |"
            )
    return lines


NOTES = """## Reading these figures

- **Batching on CPU.** Section 1 is the key: on these 2 cores the MNIST networks cost about the
  same per image at batch 1 as at batch 256 (the convolutions are compute-bound already at
  batch 1), so merging requests saves only per-call overhead. Batching off now really runs each
  request alone (before this round the "off" server still merged whatever was queued, which
  made the comparison meaningless). What limits `/encode` at any concurrency is the per-request
  HTTP, JSON, base64 and PNG work on the event loop (~0.5 ms, section 4), not onnxruntime
  (~0.13 ms per image), so on ÷ off stays near 1.3× and the 5× target cannot be reached on this
  CPU. On a GPU, where a batch of 64 costs little more than a batch of 1, the same batcher is
  what makes concurrency pay; not measured here (no GPU was lent to this task).
- **`/sample` vs raw.** The raw ceiling is the better of one call using both cores and two
  single-threaded calls at once. Per `/sample?n=64` the service adds ~1.4 ms of event-loop work
  (HTTP, routing, the PNG grid: Pillow took ~1.2 ms of that before the hand-written encoder in
  `service/grid.py`, now ~0.4 ms) to ~14 ms of single-threaded onnxruntime. In one process that
  work contends for the GIL with the inference threads: a thread whose onnxruntime call has
  finished waits for the GIL while its core idles (py-spy: the inference thread busy ~85 % of
  the time; a 0.5 ms `sys.setswitchinterval` lifted `2x1_thread` from 0.75 to 0.80 in one
  scratch run and not at all in another). One single-threaded worker process per core
  (`ALI_WORKERS=2 ALI_INTRA_OP_THREADS=1`, i.e. replicas on one host) has no GIL to share and
  the best configuration. With uvicorn's shared listening socket it scored 0.835, 0.89, 0.936,
  0.778 and 0.913 of the ceiling at concurrency 16 in five runs: whichever worker woke first
  accepted a burst of wrk's keep-alive connections and kept them, so an uneven split left a core
  idle for the whole run. Each worker now listens on its own `SO_REUSEPORT` socket
  (`service/workers.py`) and the kernel hashes connections across them: 0.923 (c=16) and 0.928
  (c=4) in the run above (256-d `mnist`), then 0.917, 0.916 and 0.846 at c=16 (0.916, 0.911,
  0.876 at c=4) in three repeats of this row alone (`/tmp` script: ceiling, then 2 workers,
  side by side). Met in 3 of 4 runs; the low repeat was low at both concurrencies, which a
  connection split would not explain (machine noise), but the target is not reliably met. The same
  configuration also doubles `/encode` throughput, whose limit is the per-request HTTP work of
  one event loop.
- **onnxruntime vs PyTorch.** The decoder is exported with its transposed convolutions rewritten
  as sub-pixel convolutions (`training/onnx_rewrite.py`); `decoder_plain_export` is the same
  network exported as it is, measured in the same run. The GFLOP/s columns count the networks'
  convolution FLOPs: the encoder runs at ~300+ GFLOP/s in onnxruntime, close to what two cores
  can do, and PyTorch's oneDNN is not far behind, so a 1.5× lead is not available on this CPU
  for these networks without changing them (int8 or fp16 would change the outputs beyond the
  export's 1e-4 parity). PyTorch's own figure varies from run to run on this machine by up to
  1.7× (oneDNN kernel choice); the ratio is measured side by side in one run: decoder 0.86 and
  1.23 in the last two runs (PyTorch 8,597 then 6,926 images/s), encoder 1.25 and 1.30. The
  decoder's first layer (a transposed conv on the 1×1 code) is exported as a matrix product
  since the later run: onnxruntime's decoder went from 7,393 to 8,484 images/s while the
  unchanged `decoder_plain_export` moved 5,588 → 5,944 (the run-to-run drift).
- **Session options.** Graph optimisation `all` (NCHWc layout, Conv+BN+activation fusion);
  intra-op threads = cores with one inference thread by default; spinning on (off was slower:
  27 ms vs 18 ms p50 for `/sample?n=64` in an earlier run). On CUDA: `cudnn_conv_algo_search`
  (HEURISTIC by default; EXHAUSTIVE benchmarks kernels per shape at start-up, worth it for a
  long-lived server with few shapes), `arena_extend_strategy` kSameAsRequested, and no IO
  binding: outputs are consumed on the CPU for PNG/JSON anyway.
- **HTTP stack.** uvicorn with httptools and uvloop (serve extra), and FastAPI dependencies as
  `async def` (a plain `def` dependency costs a thread hop per request): together the encode
  latency overhead went from 1.08 ms to ~0.5 ms.
- **Memory.** The serving process holds both models, onnxruntime's arenas and the HTTP stack,
  without torch (checked in `/proc/PID/maps`).
- **Training.** The trainer reuses one encoder forward pass for both updates and makes one
  decoder call for Gx(z) and the cycle term; the plain loop recomputes them.
"""


def _int_keys(obj: object) -> object:
    if isinstance(obj, dict):
        return {int(k) if k.isdigit() else k: _int_keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_int_keys(v) for v in obj]
    return obj


def load_results(path: Path) -> dict:
    """A results.json as run() returned it (JSON turned its batch/concurrency keys into strings)."""
    res = _int_keys(json.loads(path.read_text()))
    assert isinstance(res, dict)
    return res


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="seconds, tiny model, no targets")
    p.add_argument("--models", default=str(ROOT / "models"))
    p.add_argument("--model", default="mnist")
    p.add_argument("--seconds", type=float, default=6.0, help="per measurement")
    p.add_argument("--quick-train", action="store_true")
    p.add_argument("--out", default=str(ROOT))
    p.add_argument(
        "--render", action="store_true", help="rewrite BENCHMARKS.md from bench/results.json"
    )
    args = p.parse_args(argv)
    if args.render:  # after editing NOTES or the layout, without measuring again
        (Path(args.out) / "BENCHMARKS.md").write_text(markdown(load_results(RESULTS)))
        return
    res = run(args)
    out = Path(args.out)
    md = markdown(res)
    if args.smoke:
        (out / "results.json").write_text(json.dumps(res, indent=2, default=str))
        (out / "BENCHMARKS.md").write_text(md)
    else:
        RESULTS.write_text(json.dumps(res, indent=2, default=str) + "\n")
        (out / "BENCHMARKS.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
