"""The two workloads and how each protocol carries them.

W1: decode 64 latents per request (the work of GET /sample?n=64), at concurrency 1, 4, 16.
W2: encode one 28x28 image per request, at concurrency 1, 8, 64.
The inputs are fixed arrays (seeded), the same for every server. Each protocol carries them as
close to raw FP32 bytes as it allows:
  service   POST /v2/models/<model>.<network>/infer, v2 binary tensors in and out
  v2        POST /v2/models/<network>/infer, the same body (Triton)
  raw       POST /<network>, application/octet-stream FP32 rows in, FP32 rows out
  b64json   POST /<network>, {"data": base64 of the raw rows} in and out (LitServe takes JSON)
  json      POST /<network>, {"z"|"x": nested lists} in, a nested list out (BentoML's arrays)
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import numpy as np

from bench.http_load import v2_binary_body


@dataclass(frozen=True)
class Workload:
    name: str
    network: str
    input_name: str
    rows: np.ndarray  # one request's input [N, ...] FP32
    concurrency: tuple[int, ...]
    what: str


def workloads(nlat: int = 256, smoke: bool = False) -> list[Workload]:
    rng = np.random.default_rng(1)
    z = rng.standard_normal((64, nlat), dtype=np.float32)
    x = rng.uniform(-1, 1, (1, 1, 28, 28)).astype(np.float32)
    return [
        Workload("W1", "decoder", "z", z, (4,) if smoke else (1, 4, 16), "decode 64 latents"),
        Workload("W2", "encoder", "x", x, (8,) if smoke else (1, 8, 64), "encode one image"),
    ]


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    content_type: str
    headers: dict[str, str]


def _v2(path: str, w: Workload) -> Request:
    body, headers = v2_binary_body([(w.input_name, "FP32", w.rows)])
    return Request(path, body, "application/octet-stream", headers)


BENCH_KEY = "bench-key"  # the API key of the service's auth-on run ("service-auth")


def request(protocol: str, w: Workload, model: str = "mnist") -> Request:
    raw = w.rows.astype("<f4").tobytes()
    if protocol == "service-auth":  # the service with API keys on: the same request, with a key
        r = request("service", w, model)
        return Request(r.path, r.body, r.content_type, {**r.headers, "x-api-key": BENCH_KEY})
    if protocol == "service":
        return _v2(f"/v2/models/{model}.{w.network}/infer", w)
    if protocol == "v2":
        return _v2(f"/v2/models/{w.network}/infer", w)
    if protocol == "raw":
        return Request(f"/{w.network}", raw, "application/octet-stream", {})
    if protocol == "b64json":
        body = json.dumps({"data": base64.b64encode(raw).decode()}).encode()
        return Request(f"/{w.network}", body, "application/json", {})
    if protocol == "json":
        body = json.dumps({w.input_name: w.rows.tolist()}).encode()
        return Request(f"/{w.network}", body, "application/json", {})
    raise ValueError(f"unknown protocol {protocol!r}")


def decode_answer(protocol: str, body: bytes, headers: dict[str, str], n: int) -> np.ndarray:
    """An answer's outputs as [n, features] FP32 (all outputs side by side, like common.Net.run)."""
    if protocol in ("service", "service-auth", "v2"):
        head_len = int(headers.get("inference-header-content-length", len(body)))
        head = json.loads(body[:head_len])
        parts, offset = [], head_len
        for out in head["outputs"]:
            size = out["parameters"]["binary_data_size"]
            parts.append(np.frombuffer(body[offset : offset + size], "<f4").reshape(n, -1))
            offset += size
        return np.concatenate(parts, axis=1)
    if protocol == "raw":
        return np.frombuffer(body, "<f4").reshape(n, -1)
    if protocol == "b64json":
        return np.frombuffer(base64.b64decode(json.loads(body)["data"]), "<f4").reshape(n, -1)
    if protocol == "json":
        return np.asarray(json.loads(body), np.float32).reshape(n, -1)
    raise ValueError(f"unknown protocol {protocol!r}")
