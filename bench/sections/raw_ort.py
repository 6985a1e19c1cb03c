"""Section 1: raw onnxruntime in the bench process, the ceiling the service is compared against."""

from __future__ import annotations

from bench import raw
from bench.sections.common import SAMPLE_N, Bench, Results, Section, say, table
from runtime.cores import usable_cores

BATCHES = (1, 8, 64, 256)


def measure(bench: Bench, res: Results) -> Results:
    say("raw onnxruntime")
    single = raw.ort_throughput(bench.model_dir, BATCHES, bench.seconds)
    streams = usable_cores()
    parallel = raw.ort_parallel_throughput(
        bench.model_dir, "decoder", SAMPLE_N, streams, bench.seconds
    )
    return {
        "raw_ort": single,
        "raw_ort_parallel": {"decoder": {SAMPLE_N: parallel}},
        # The ceiling: the better of one call using every core and one single-threaded call
        # per core at once.
        "raw_decoder_b64_ceiling": max(
            single["decoder"][SAMPLE_N]["images_per_s"], parallel["images_per_s"]
        ),
    }


def render(res: Results) -> list[str]:
    rows = [
        [net, str(b), f"{r['images_per_s']:.0f}", f"{r['p50_ms']:.3f}"]
        for net, per_b in res["raw_ort"].items()
        for b, r in per_b.items()
    ]
    par = res["raw_ort_parallel"]["decoder"][SAMPLE_N]
    return [
        "## 1. Raw onnxruntime (in-process, the ceiling)",
        "",
        "One call at a time on a session using every core:",
        "",
        *table(["network", "batch", "images/s", "p50 ms"], rows),
        "",
        f"Decoder, batch {SAMPLE_N}, {par['streams']} single-threaded calls at once: "
        f"{par['images_per_s']:.0f} images/s. Ceiling used below (the better of the two): "
        f"{res['raw_decoder_b64_ceiling']:.0f} images/s.",
        "",
        "Session options, as the service opens them: graph optimisation `all`; each model call "
        "runs on a session with as many onnxruntime threads as it holds core tokens (one under "
        "load, every free one for a lone long call; runtime/cores.py); single-thread sessions "
        "spin between calls (`ALI_ALLOW_SPINNING`), multi-thread ones do not. On CUDA: "
        "`cudnn_conv_algo_search` HEURISTIC by default (EXHAUSTIVE benchmarks kernels per shape "
        "at start-up), `arena_extend_strategy` kSameAsRequested, no IO binding (outputs go to "
        "PNG/JSON on the CPU anyway).",
    ]


SECTION = Section("raw_ort", render, measure)
