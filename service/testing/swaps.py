"""One model unload/load cycle through the repository API, and a process's resident set: what
the swap-memory test and `python -m bench.allocator` measure."""

from __future__ import annotations

import time
from pathlib import Path

import httpx


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def unload_load_cycle(url: str, model: str = "mnist") -> None:
    """Unload `model`, load it again, use it once, and wait until the old copy is closed."""
    with httpx.Client(base_url=url, timeout=120) as c:
        c.post(f"/v2/repository/models/{model}/unload").raise_for_status()
        c.post(f"/v2/repository/models/{model}/load").raise_for_status()
        assert c.get(f"/sample?n=8&model={model}").status_code == 200
        deadline = time.monotonic() + 30  # the unloaded copy closes in the background
        while any(e["state"] == "UNLOADING" for e in c.post("/v2/repository/index").json()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
