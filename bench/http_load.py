"""The service as a separate process on loopback, loaded by wrk (a C load generator)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from service.testing.server import ROOT, start_service, stop


@contextmanager
def server(
    model_dir: Path, code: Path = ROOT, env: dict[str, str] | None = None, **settings: str
) -> Iterator[tuple[str, int]]:
    """The service (imported from the checkout `code`, with `env` beside its ALI_* settings) as
    its own process on loopback; yields (base URL, pid) once ready."""
    proc, url = start_service(model_dir, code=code, env=env, **settings)
    try:
        yield url, proc.pid
    finally:
        stop(proc)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(
    url: str, connections: int, seconds: float, script: Path | None = None, threads: int = 1
) -> dict[str, float]:
    """Closed-loop load: `connections` concurrent clients for `seconds`."""
    exe = shutil.which("wrk")
    if exe is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    cmd = [
        exe,
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "--timeout",
        "30s",
    ]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", out, re.M))
    if "99" not in pct:  # no request completed: nothing to take percentiles of
        raise RuntimeError(f"wrk measured no latencies: {' '.join(out.split())[-300:]}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return {
        "requests_per_s": rps,
        "p50_ms": _ms(pct["50"]),
        "p99_ms": _ms(pct["99"]),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
        "socket_errors": sock.group(1) if sock else "",
    }  # type: ignore[dict-item]


def lua_string(data: bytes) -> str:
    """Bytes as the inside of a Lua string literal: printable ASCII as is, other bytes \\ddd."""
    out = []
    for b in data:
        if b in (0x22, 0x5C):  # " and \\
            out.append("\\" + chr(b))
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")  # always 3 digits: a following digit can't extend it
    return "".join(out)


def post_script(
    path: Path,
    body: str | bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Path:
    """A wrk Lua script that POSTs one fixed body (text, or raw bytes such as v2 binary tensors)."""
    data = body.encode() if isinstance(body, str) else body
    lines = ['wrk.method = "POST"', f'wrk.headers["Content-Type"] = "{content_type}"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in (headers or {}).items()]
    lines.append(f'wrk.body = "{lua_string(data)}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def v2_binary_body(tensors: list[tuple[str, str, np.ndarray]]) -> tuple[bytes, dict[str, str]]:
    """An Open Inference Protocol request with the binary tensor extension: a JSON header naming
    each (name, datatype, array), then the raw little-endian tensors; every output asked for as
    binary. Returns (body, headers)."""
    header = {
        "inputs": [
            {
                "name": name,
                "shape": list(a.shape),
                "datatype": dt,
                "parameters": {"binary_data_size": a.nbytes},
            }
            for name, dt, a in tensors
        ],
        "parameters": {"binary_data_output": True},
    }
    head = json.dumps(header).encode()
    body = head + b"".join(a.astype(a.dtype.newbyteorder("<")).tobytes() for _, _, a in tensors)
    return body, {"Inference-Header-Content-Length": str(len(head))}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def maps_mention(pid: int, needle: str) -> bool:
    return needle in Path(f"/proc/{pid}/maps").read_text()
