"""What request ids, the access log and OpenTelemetry traces cost on the peers bench's W2 row
(one image encoded per v2 request, binary tensors, 64 connections), paired.

    python -m bench.tracing            # ~5 min: bench/results.json["tracing"], BENCHMARKS.md
    python -m bench.tracing --smoke    # one round of 1 s runs, not `before`; prints only

Servers run side by side, all with default settings and the peers bench's batch limits, and the
load alternates between them round by round (the order reversed every other round), so drift on a
noisy host falls on all alike:

- `before`: the code before issue 32 (BEFORE, a git worktree): no request ids, uvicorn's access
  log;
- `off`: this commit, tracing off (the default);
- `json log`: this commit with ALI_LOG_LEVEL=info ALI_LOG_FORMAT=json (one JSON access line per
  request; every other server runs at warning, as the peers bench does);
- `on`: this commit with OTEL_TRACES_EXPORTER=otlp, every request sampled, exporting to an OTLP
  sink in this process (it answers 200 to each export; a real collector would take that CPU
  elsewhere);
- `on, 1 %`: the same with OTEL_TRACES_SAMPLER=parentbased_traceidratio at 0.01.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench import baseline, http_load
from bench.peers.specs import MAX_BATCH, MAX_WAIT_MS
from bench.peers.workloads import request, workloads
from bench.provenance import stamp
from bench.run import ROOT, store_section
from runtime.cores import usable_cores

BEFORE = "e62c534"  # the last commit before request ids, the JSON log and tracing
CONCURRENCY = 64


class Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that takes every export and keeps nothing."""

    spans_bytes = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        Sink.spans_bytes += len(self.rfile.read(int(self.headers["content-length"])))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def variants(sink: str) -> dict[str, tuple[bool, dict[str, str], dict[str, str]]]:
    """name -> (run the code before?, ALI_* settings, other environment)."""
    otel = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink,
        "OTEL_SERVICE_NAME": "ali-bench",
    }
    return {
        "before": (True, {}, {}),
        "off": (False, {}, {}),
        "json log": (False, {"log_level": "info", "log_format": "json"}, {}),
        "on": (False, {}, otel),
        "on, 1 %": (
            False,
            {},
            otel
            | {
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": "0.01",
            },
        ),
    }


def run(models: Path, model: str, rounds: int, seconds: int, smoke: bool) -> dict:
    w2 = next(w for w in workloads() if w.name == "W2")
    req = request("service", w2, model)
    scripts = Path(tempfile.mkdtemp())
    script = http_load.post_script(scripts / "w2.lua", req.body, req.content_type, req.headers)
    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    chosen = variants(f"http://127.0.0.1:{sink.server_port}")
    if smoke:
        chosen.pop("before")  # CI has no use for a second checkout
    rps: dict[str, list[float]] = {name: [] for name in chosen}
    with ExitStack() as stack:
        urls = {}
        for name, (before, settings, env) in chosen.items():
            code = baseline.worktree(BEFORE) if before else ROOT
            limits = {"max_batch_size": str(MAX_BATCH), "max_wait_ms": str(MAX_WAIT_MS)}
            served = http_load.server(
                models, code, env=env, default_model=model, **limits, **settings
            )
            urls[name] = stack.enter_context(served)[0]
        for r in range(rounds):
            order = list(chosen) if r % 2 == 0 else list(reversed(chosen))
            for name in order:
                print(f"[round {r + 1}/{rounds}] {name} ...", file=sys.stderr)
                url = urls[name] + req.path
                http_load.wrk(url, CONCURRENCY, max(1, seconds // 2), script)  # warm-up
                got = http_load.wrk(url, CONCURRENCY, seconds, script)
                if got["non_2xx"]:
                    raise RuntimeError(f"{name}: {got['non_2xx']:.0f} answers were not 2xx")
                rps[name].append(got["requests_per_s"])
    sink.shutdown()
    ratios = {name: [a / b for a, b in zip(rps[name], rps["off"], strict=True)] for name in chosen}
    return {
        **stamp("python -m bench.tracing"),
        "before_commit": BEFORE,
        "cores": usable_cores(),
        "concurrency": CONCURRENCY,
        "rounds": rounds,
        "seconds": seconds,
        "requests_per_s": rps,
        "vs_off": {
            name: {
                "median": round(statistics.median(r), 3),
                "spread": [round(min(r), 3), round(max(r), 3)],
            }
            for name, r in ratios.items()
        },
        "exported_bytes": Sink.spans_bytes,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="one round of 1 s runs; print only")
    p.add_argument("--models", default=str(ROOT / "models"))
    p.add_argument("--model", default="mnist")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--seconds", type=int, default=8, help="timed wrk run per server and round")
    args = p.parse_args(argv)
    if args.smoke:
        print(json.dumps(run(Path(args.models), args.model, 1, 1, smoke=True), indent=2))
        return
    res = run(Path(args.models), args.model, args.rounds, args.seconds, smoke=False)
    store_section("tracing", res)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
