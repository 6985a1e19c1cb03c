"""SIGTERM with gRPC calls in flight: health turns NOT_SERVING at once, every call in flight
is answered, and the process exits within the drain (as tests/reliability/
test_overload_shutdown.py shows for HTTP)."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from service.testing.server import free_port, start_service, stop
from service.testing.tiny_models import make_tiny_model

ROWS = 256


def big_call(target: str, seed: int) -> grpc.StatusCode:
    z = np.random.default_rng(seed).standard_normal((ROWS, 4), dtype=np.float32)
    req = pb.ModelInferRequest(model_name="tiny.decoder")
    req.inputs.add(name="z", datatype="FP32", shape=z.shape)
    req.raw_input_contents.append(z.tobytes())
    with grpc.insecure_channel(target) as channel:
        try:
            pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(req, timeout=30)
            return grpc.StatusCode.OK
        except grpc.RpcError as e:
            return e.code()


def test_sigterm_drains_grpc_calls_in_flight(tmp_path: Path) -> None:
    make_tiny_model(tmp_path, "tiny")
    delay, drain, port = 1.0, 5.0, free_port()
    proc, _ = start_service(
        tmp_path,
        grpc=True,
        grpc_port=port,
        workers=1,
        shutdown_delay_s=delay,
        drain_seconds=drain,
        max_batch_size=8,
        max_queue_rows=100_000,
    )
    target = f"127.0.0.1:{port}"
    try:
        with ThreadPoolExecutor(24) as pool, grpc.insecure_channel(target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert health.Check(health_pb2.HealthCheckRequest()).status == 1  # SERVING
            calls = [pool.submit(big_call, target, i) for i in range(24)]
            time.sleep(0.05)  # calls are in flight
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            status = health.Check(health_pb2.HealthCheckRequest()).status
            codes = [c.result() for c in calls]
        proc.wait(delay + 2 * drain + 5)
        elapsed = time.monotonic() - t0
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert codes == [grpc.StatusCode.OK] * 24
        assert proc.returncode is not None and elapsed <= delay + drain + 2.0, elapsed
    finally:
        stop(proc)
