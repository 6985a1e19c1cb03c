"""The peers bench's gRPC rows: W1 and W2 over gRPC, the service against NVIDIA Triton (PyTriton,
which serves gRPC beside HTTP), side by side (BENCHMARKS §9b).

    python -m bench.grpc_peers            # ~6 min: results.json["peers_grpc"], BENCHMARKS.md
    python -m bench.grpc_peers --smoke    # W2 at c=8, 1 s runs; prints only

Both servers run at once with the peers bench's batch limits: the service with default settings
(gRPC on), Triton as `make bench-peers` configures it. Requests carry the workload's rows as
`raw_input_contents` (what tritonclient.grpc sends). The load is h2load (bench/grpc_load.py):
`c` connections, one call in flight on each, alternating between the servers row by row and the
order reversed every repeat. Each server's answers are checked with a gRPC client against
onnxruntime first. The generator's own ceiling: h2load against nghttpd answering a static body of
the W1 answer's size at the same connection counts; a row whose rate nears it is not a measure of
the server.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from bench.grpc_load import frame, h2load
from bench.peers import envs, processes
from bench.peers.run import expected, service_config, start_peer, start_service
from bench.peers.specs import MAX_BATCH, MAX_WAIT_MS, peers
from bench.peers.workloads import Workload, request, workloads
from bench.provenance import stamp
from bench.run import ROOT, store_section
from runtime.cores import usable_cores
from service.grpc_api import inference_pb2 as pb
from service.grpc_api import inference_pb2_grpc as pb_grpc
from service.testing.server import free_port, wait_http

SERVICE, TRITON = "service", "triton"


def infer_request(model: str, w: Workload) -> pb.ModelInferRequest:
    req = pb.ModelInferRequest(model_name=model)
    req.inputs.add(name=w.input_name, datatype="FP32", shape=w.rows.shape)
    req.raw_input_contents.append(w.rows.astype("<f4").tobytes())
    return req


def check(target: str, model: str, w: Workload, model_dir: Path) -> None:
    """The server's gRPC answer is onnxruntime's."""
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        deadline = time.monotonic() + 120
        while True:  # Triton binds its models a little after its port answers
            try:
                answer = stub.ModelInfer(infer_request(model, w), timeout=30)
                break
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    outs = [
        np.frombuffer(raw, "<f4").reshape(len(w.rows), -1) for raw in answer.raw_output_contents
    ]
    got, want = np.concatenate(outs, axis=1), expected(model_dir, w)
    if got.shape != want.shape or not np.allclose(got, want, atol=1e-4):
        raise RuntimeError(f"{target} {w.name}: wrong answer over gRPC")


def ceiling(body: Path, ws: list[Workload], seconds: float, scratch: Path) -> dict[str, float]:
    """h2load's own rate against nghttpd answering a static body (no model, no server logic)."""
    exe = shutil.which("nghttpd")
    if exe is None:
        raise RuntimeError("nghttpd is not installed (apt-get install nghttp2-server)")
    root = scratch / "static"
    root.mkdir()
    (root / "inference.GRPCInferenceService").mkdir()
    (root / "inference.GRPCInferenceService" / "ModelInfer").write_bytes(b"\0" * 200_000)
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--no-tls", "-d", str(root), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        top = max(c for w in ws for c in w.concurrency)
        return {str(c): h2load(f"http://127.0.0.1:{port}", body, c, seconds)["requests_per_s"]
                for c in sorted({1, top})}  # fmt: skip
    finally:
        proc.terminate()
        proc.wait()


def run(model_dir: Path, model: str, repeats: int, seconds: float, smoke: bool) -> dict[str, Any]:
    cores = usable_cores()
    ws = workloads(smoke=smoke)
    if smoke:
        ws = ws[1:]
    scratch = Path(tempfile.mkdtemp(prefix="bench-grpc-"))
    triton = next(p for p in peers(cores) if p.name == TRITON)
    envs.ensure(triton)
    grpc_port = free_port()
    settings = {"grpc": "true", "grpc_port": str(grpc_port)}
    service = start_service(model_dir, settings, scratch / "service.log", SERVICE)
    peer = start_peer(triton, envs.python_of(triton), model_dir, cores, scratch / "triton.log")
    try:
        processes.wait_ready(service, request("service", ws[-1], model), 120)
        wait_http(f"{peer.url}/v2/health/ready", timeout=triton.start_timeout_s)
        triton_target = f"127.0.0.1:{int(peer.url.rsplit(':', 1)[1]) + 1}"  # grpc_port=PORT+1
        targets = {SERVICE: (f"127.0.0.1:{grpc_port}", f"{model}."), TRITON: (triton_target, "")}
        bodies = {}
        for name, (target, prefix) in targets.items():
            for w in ws:
                check(target, prefix + w.network, w, model_dir)
                body = scratch / f"{name}-{w.name}.bin"
                body.write_bytes(frame(infer_request(prefix + w.network, w).SerializeToString()))
                bodies[name, w.name] = body
        rps: dict[str, dict[str, dict[str, list[float]]]] = {n: {} for n in targets}
        for rep in range(repeats):
            for w in ws:
                for c in w.concurrency:
                    order = list(targets) if rep % 2 == 0 else list(reversed(targets))
                    for name in order:
                        url = f"http://{targets[name][0]}"
                        h2load(url, bodies[name, w.name], c, 1)  # warm-up
                        got = h2load(url, bodies[name, w.name], c, seconds)
                        if got["failed"]:
                            raise RuntimeError(f"{name} {w.name} c={c}: {got['failed']:.0f} failed")
                        rps[name].setdefault(w.name, {}).setdefault(str(c), []).append(
                            got["requests_per_s"]
                        )
                        print(f"[{rep + 1}/{repeats}] {name} {w.name} c={c}: "
                              f"{got['requests_per_s']:.0f}/s", file=sys.stderr)  # fmt: skip
        for target, prefix in targets.values():  # still right after the load
            for w in ws:
                check(target, prefix + w.network, w, model_dir)
        generator = ceiling(bodies[SERVICE, ws[-1].name], ws, seconds, scratch)
    finally:
        processes.stop(service)
        processes.stop(peer)
    ratios = {
        w.name: {
            str(c): [
                s / t
                for s, t in zip(
                    rps[SERVICE][w.name][str(c)], rps[TRITON][w.name][str(c)], strict=True
                )
            ]
            for c in w.concurrency
        }
        for w in ws
    }
    return {
        **stamp("python -m bench.grpc_peers"),
        "cores": cores,
        "repeats": repeats,
        "seconds": seconds,
        "max_batch": MAX_BATCH,
        "max_wait_ms": MAX_WAIT_MS,
        "service_config": service_config("default", cores),
        "triton_version": envs.version(triton),
        "workloads": {w.name: w.what for w in ws},
        "requests_per_s": rps,
        "service_vs_triton": {
            w: {
                c: {
                    "median": round(statistics.median(r), 3),
                    "spread": [round(min(r), 3), round(max(r), 3)],
                }
                for c, r in by_c.items()
            }
            for w, by_c in ratios.items()
        },  # fmt: skip
        "generator_ceiling_per_s": generator,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="W2 at c=8, 1 s runs; print only")
    p.add_argument("--models", default=str(ROOT / "models"))
    p.add_argument("--model", default="mnist")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--seconds", type=int, default=5)
    args = p.parse_args(argv)
    model_dir = (Path(args.models) / args.model).resolve()
    if args.smoke:
        print(json.dumps(run(model_dir, args.model, 1, 1, smoke=True), indent=2))
        return
    res = run(model_dir, args.model, args.repeats, args.seconds, smoke=False)
    store_section("peers_grpc", res)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
