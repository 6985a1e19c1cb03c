"""Section 6: resident memory of the serving process, idle and after load, and no torch in it."""

from __future__ import annotations

from bench import http_load
from bench.sections.common import (
    ENCODE_LEVELS,
    ONE_WORKER,
    SAMPLE_LEVELS,
    SAMPLE_N,
    Bench,
    Results,
    Section,
    say,
)


def measure(bench: Bench, res: Results) -> Results:
    # One process, so the pid the server yields is the one serving (with several workers it
    # is the supervisor's).
    with bench.server(ONE_WORKER) as (url, pid):
        idle = http_load.rss_mb(pid)
        say(f"[{ONE_WORKER}] memory under load")
        bench.sample(url, SAMPLE_LEVELS[-1])
        bench.v2_decode(url, SAMPLE_LEVELS[-1])
        bench.encode(url, ENCODE_LEVELS[-1])
        return {
            "serving_memory_config": ONE_WORKER,
            "serving_rss_mb_idle": idle,
            "serving_rss_mb": http_load.rss_mb(pid),
            "torch_loaded_in_server": http_load.maps_mention(pid, "libtorch"),
        }


def targets(res: Results) -> dict[str, float]:
    return {"serving_rss_mb": res["serving_rss_mb"]}


def render(res: Results) -> list[str]:
    config = res.get("serving_memory_config")
    load = (
        f"`{config}` server (one process) after {res['seconds']:g} s each of `/sample?n="
        f"{SAMPLE_N}` and the v2 decode at c={SAMPLE_LEVELS[-1]} and `/encode` at "
        f"c={ENCODE_LEVELS[-1]}"
        if config and "seconds" in res
        else "server after the load of sections 2 and 3"
    )
    return [
        "## 6. Serving memory",
        "",
        f"Resident memory with every model in the model folder loaded: "
        f"{res['serving_rss_mb_idle']:.0f} MB after start-up, {res['serving_rss_mb']:.0f} MB in "
        f"the {load}. libtorch mapped in the server (`/proc/PID/maps`): "
        f"{'yes' if res['torch_loaded_in_server'] else 'no'}. The process holds the models, "
        "onnxruntime's arenas and the HTTP stack; each worker process of a multi-worker server "
        "holds its own.",
    ]


SECTION = Section("serving_rss_mb", render, measure, targets)
