"""Small readers for deploy/image-test.sh: each takes a saved HTTP body, prints one line, and
exits non-zero when the body is not what the check wants. Standard library only (host python3).

    python3 deploy/podman/checks.py png BODY            # "242x242 px, 15267 bytes"
    python3 deploy/podman/checks.py encode BODY DIM     # mu and log_sigma: DIM finite numbers
    python3 deploy/podman/checks.py cpu-providers BODY  # GET /models: every network on CPU
    python3 deploy/podman/checks.py targets BODY        # Prometheus /api/v1/targets
    python3 deploy/podman/checks.py value BODY          # Prometheus /api/v1/query: the value
"""

from __future__ import annotations

import json
import math
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def load(path: str) -> Any:
    return json.loads(Path(path).read_text())


def png(path: str) -> str:
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"not a PNG: {data[:16]!r}")
    width, height = struct.unpack(">II", data[16:24])
    return f"{width}x{height} px, {len(data)} bytes"


def encode(path: str, dim: str) -> str:
    body = load(path)
    for key in ("mu", "log_sigma"):
        row = body[key][0]
        if len(row) != int(dim) or not all(math.isfinite(v) for v in row):
            raise SystemExit(f"{key}: {len(row)} numbers, finite: {all(map(math.isfinite, row))}")
    return f"mu and log_sigma of {dim} finite numbers each"


def cpu_providers(path: str) -> str:
    used = {
        f"{model['name']}/{net}": providers
        for model in load(path)["models"]
        for net, providers in model["providers"].items()
    }
    if not used or any(p != ["CPUExecutionProvider"] for p in used.values()):
        raise SystemExit(f"providers: {used}")
    return ", ".join(f"{name}: {p[0]}" for name, p in sorted(used.items()))


def targets(path: str) -> str:
    found = [
        f"{t['discoveredLabels'].get('__meta_dns_name')}->{t['labels']['instance']}:{t['health']}"
        for t in load(path)["data"]["activeTargets"]
    ]
    return " ".join(sorted(found))


def value(path: str) -> str:
    result = load(path)["data"]["result"]
    return f"{float(result[0]['value'][1]):g}" if result else ""


CHECKS: dict[str, Callable[..., str]] = {
    "png": png,
    "encode": encode,
    "cpu-providers": cpu_providers,
    "targets": targets,
    "value": value,
}

if __name__ == "__main__":
    try:
        print(CHECKS[sys.argv[1]](*sys.argv[2:]))
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise SystemExit(f"{type(e).__name__}: {e}") from None
