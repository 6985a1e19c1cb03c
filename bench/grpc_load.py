"""Closed-loop gRPC load with h2load (nghttp2's C load generator), as wrk is for HTTP/1.1.

A unary gRPC call is an HTTP/2 POST to /package.Service/Method with `content-type:
application/grpc` and `te: trailers`, whose body is one length-prefixed message: a flag byte (0:
not compressed), the length as 4 big-endian bytes, the protobuf bytes. h2load posts that body
over `connections` connections, one stream each (like wrk's connections), and counts answers.
gRPC reports errors in trailers under HTTP 200, which h2load does not read: callers check the
answers with a real gRPC client before and after (bench.grpc_peers.py).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"


def frame(message: bytes) -> bytes:
    """One gRPC message on the wire: uncompressed flag, big-endian length, bytes."""
    return struct.pack(">BI", 0, len(message)) + message


def parse(out: str) -> dict[str, float]:
    """h2load's summary -> requests/s, succeeded, failed, mean latency (ms)."""
    rps = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    counts = re.search(
        r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", out
    )
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\s", out)
    if not (rps and counts and mean):
        raise RuntimeError(f"unexpected h2load output:\n{out[-2000:]}")
    value, unit = float(mean.group(1)), mean.group(2)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    return {
        "requests_per_s": float(rps.group(1)),
        "succeeded": float(counts.group(2)),
        "failed": float(counts.group(3)),
        "mean_ms": value * scale,
    }


def h2load(
    url: str, body_file: Path, connections: int, seconds: float, path: str = INFER_PATH
) -> dict[str, float]:
    """`connections` gRPC clients posting `body_file` back to back for `seconds` (one thread)."""
    exe = shutil.which("h2load")
    if exe is None:
        raise RuntimeError("h2load is not installed (apt-get install nghttp2-client)")
    cmd = [
        exe,
        f"-c{connections}",
        "-m1",
        "-t1",
        f"-D{max(1, round(seconds))}",
        "-d",
        str(body_file),
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        f"{url}{path}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return parse(out)
