"""Section 2: GET /sample?n=64 and the same decoder call over the Open Inference Protocol, in
each server configuration, against section 1's raw ceiling."""

from __future__ import annotations

from bench.sections.common import (
    SAMPLE_LEVELS,
    SAMPLE_N,
    WRK_COLUMNS,
    Bench,
    Results,
    Section,
    config_rows,
    say,
    table,
)


def measure(bench: Bench, res: Results) -> Results:
    ceiling = res["raw_decoder_b64_ceiling"]
    sample: Results = {}
    v2: Results = {}
    for name, url in bench.each_config():
        say(f"[{name}] GET /sample?n={SAMPLE_N}")
        sample[name] = {c: bench.sample(url, c) for c in SAMPLE_LEVELS}
        for r in sample[name].values():
            r["ratio_to_raw_decoder_b64"] = r["images_per_s"] / ceiling
        say(f"[{name}] POST /v2/models/{bench.v2_model}/infer")
        v2[name] = {c: bench.v2_decode(url, c) for c in SAMPLE_LEVELS}
        for c, r in v2[name].items():
            r["ratio_to_sample"] = r["requests_per_s"] / sample[name][c]["requests_per_s"]
    return {"sample": sample, "v2_model": bench.v2_model, "v2_decode": v2}


def targets(res: Results) -> dict[str, float]:
    """The best configuration's best concurrency."""
    return {
        "sample_vs_raw_ratio": max(
            r["ratio_to_raw_decoder_b64"]
            for per_c in res["sample"].values()
            for r in per_c.values()
        )
    }


def render(res: Results) -> list[str]:
    par = res["raw_ort_parallel"]["decoder"][SAMPLE_N]
    call_ms = SAMPLE_N * par["streams"] / par["images_per_s"] * 1000  # one batch, one thread
    by_config = "; ".join(
        f"`{name}` "
        + ", ".join(f"{r['ratio_to_raw_decoder_b64']:.3f} at c={c}" for c, r in per_c.items())
        for name, per_c in res["sample"].items()
    )
    lines = [
        f"## 2. `GET /sample?n={SAMPLE_N}`",
        "",
        *table(
            ["server", "concurrency", *WRK_COLUMNS, "images/s", "÷ raw ceiling"],
            config_rows(
                res["sample"],
                lambda r: [f"{r['images_per_s']:.0f}", f"{r['ratio_to_raw_decoder_b64']:.3f}"],
            ),
        ),
        "",
        f"The raw ceiling is section 1's. Per request the service adds event-loop work (HTTP, "
        f"routing, the PNG grid of runtime/grid.py) to {call_ms:.1f} ms of single-threaded "
        "onnxruntime (section 1); in one process that work contends for the GIL with the model "
        "calls, which one worker process per core avoids. ÷ raw ceiling in this run: "
        f"{by_config}.",
    ]
    if "v2_decode" in res:
        lines += [
            "",
            "### The same decoder over the Open Inference Protocol: "
            f"`POST /v2/models/{res['v2_model']}/infer`",
            "",
            f"{SAMPLE_N} latents per request as one binary FP32 tensor "
            "(`Inference-Header-Content-Length`, `binary_data_size`), the images back as one "
            "binary FP32 tensor (`binary_data_output`): the same batcher and decoder as "
            "`/sample`, without the PNG grid but with the raw floats (~200 kB per answer for "
            "MNIST) on the wire.",
            "",
            *table(
                ["server", "concurrency", *WRK_COLUMNS, "images/s", "÷ `/sample` req/s", "non-2xx"],
                config_rows(
                    res["v2_decode"],
                    lambda r: [
                        f"{r['images_per_s']:.0f}",
                        f"{r['ratio_to_sample']:.3f}",
                        f"{r['non_2xx']:.0f}",
                    ],
                ),
            ),
        ]
    return lines


SECTION = Section("sample", render, measure, targets)
