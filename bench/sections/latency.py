"""Section 4: what the service adds to one encoder call at concurrency 1 (from sections 1 and 3)."""

from __future__ import annotations

from bench.sections.common import DEFAULT, Bench, Results, Section


def measure(bench: Bench, res: Results) -> Results:
    return {
        "latency": {
            "config": DEFAULT,
            "service_p50_ms": res["encode_batching_on"][DEFAULT][1]["p50_ms"],
            "raw_encoder_b1_p50_ms": res["raw_ort"]["encoder"][1]["p50_ms"],
        }
    }


def targets(res: Results) -> dict[str, float]:
    lat = res["latency"]
    return {"latency_overhead_ms_c1": lat["service_p50_ms"] - lat["raw_encoder_b1_p50_ms"]}


def render(res: Results) -> list[str]:
    lat = res["latency"]
    server = f" (`{lat['config']}`, batching on)" if "config" in lat else ""
    return [
        "## 4. Latency overhead at concurrency 1",
        "",
        f"Service p50{server} {lat['service_p50_ms']:.3f} ms − raw encoder batch-1 p50 "
        f"{lat['raw_encoder_b1_p50_ms']:.3f} ms = {targets(res)['latency_overhead_ms_c1']:.3f} "
        "ms: HTTP, base64 + PNG decode of the upload, JSON encoding of the answer. The HTTP "
        "stack is uvicorn with httptools and uvloop, with FastAPI dependencies as `async def` "
        "(a plain `def` dependency costs a thread hop per request).",
    ]


SECTION = Section("latency", render, measure, targets)
