"""One server, W1 over gRPC and over HTTP in turn: requests/s and the workers' CPU time per
request, beside onnxruntime's own time for the call (one thread, no server). Tells whether a
protocol's path costs CPU that the model calls then lack.

    python -m bench.grpc_cpu [--concurrency 4] [--repeats 3] [--seconds 8]

docs/peers.md (session 10) has the readings.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import http_load
from bench.grpc_load import frame, h2load
from bench.grpc_peers import infer_request
from bench.peers.workloads import workloads
from bench.sections.common import Bench
from runtime.model import load_model
from runtime.options import RuntimeOptions
from service.testing.server import ROOT, free_port

TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system time of the processes so far (all their threads)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total * TICK_S


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one_thread_call_ms(model_dir: Path, rows: np.ndarray, calls: int = 50) -> float:
    """onnxruntime's decoder call on one thread, as the service runs it when busy."""
    model = load_model(model_dir, RuntimeOptions(intra_op_threads=1))
    net = model.networks["decoder"]
    net.run({"z": rows})
    start = time.perf_counter()
    for _ in range(calls):
        net.run({"z": rows})
    return (time.perf_counter() - start) / calls * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seconds", type=float, default=8.0)
    args = p.parse_args()
    w, c = workloads()[0], args.concurrency
    bench = Bench.from_args(ROOT / "models", "mnist", args.seconds, smoke=False, quick=False)
    body = Path(tempfile.mkdtemp()) / "w1.bin"
    body.write_bytes(frame(infer_request("mnist.decoder", w).SerializeToString()))
    port = free_port()
    settings = {"grpc": "true", "grpc_port": str(port), "access_log": "false"}
    with http_load.server(bench.models, default_model="mnist", **settings) as (url, pid):
        found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        workers = [int(k) for k in found.split()] or [pid]

        def grpc_load(seconds: float) -> float:
            return h2load(f"http://127.0.0.1:{port}", body, c, seconds)["requests_per_s"]

        def http_load_(seconds: float) -> float:
            v2 = f"{url}/v2/models/mnist.decoder/infer"
            return http_load.wrk(v2, c, seconds, bench.v2_script)["requests_per_s"]

        rows: dict[str, list[tuple[float, float, float]]] = {"gRPC": [], "HTTP": []}
        for rep in range(args.repeats):
            order = ["gRPC", "HTTP"] if rep % 2 == 0 else ["HTTP", "gRPC"]
            for name in order:
                load = grpc_load if name == "gRPC" else http_load_
                load(1)  # warm-up
                s0, k0 = cpu_seconds(workers), children_cpu()
                rps = load(args.seconds)
                n = rps * args.seconds
                server_ms = (cpu_seconds(workers) - s0) / n * 1e3
                client_ms = (children_cpu() - k0) / n * 1e3
                rows[name].append((rps, server_ms, client_ms))
                print(f"[{rep + 1}] {name}: {rps:.1f}/s, server {server_ms:.1f} ms CPU/request")
    call_ms = one_thread_call_ms(bench.model_dir, w.rows)
    print(f"\nW1 c={c}; onnxruntime alone, one thread: {call_ms:.1f} ms per call\n")
    print("| protocol | requests/s (median) | server CPU ms/request | client CPU ms/request |")
    print("|---|---|---|---|")
    for name, got in rows.items():
        med = [statistics.median(x[i] for x in got) for i in range(3)]
        print(f"| {name} | {med[0]:.1f} | {med[1]:.1f} | {med[2]:.2f} |")


if __name__ == "__main__":
    main()
