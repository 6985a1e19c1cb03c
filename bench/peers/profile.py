"""Where the service spends its time under one peers-bench row: py-spy over every worker process.

    python -m bench.peers.profile W2 64 [--service-config workers] [--seconds 8]

Prints the share of samples per function (self time, and inclusive time of the service's own
frames), from py-spy's collapsed stacks (idle frames excluded). docs/peers.md holds the readings.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench import http_load
from bench.peers import processes
from bench.peers.run import SERVICE, start_service
from bench.peers.specs import service_configs
from bench.peers.workloads import request, workloads
from service.testing.server import ROOT


def collapsed(path: Path) -> collections.Counter[str]:
    """py-spy's raw output: 'frame;frame;... count' per line -> Counter of stacks."""
    stacks: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            stacks[stack] += int(count)
    return stacks


def summarize(stacks: collections.Counter[str], top: int = 25) -> list[str]:
    total = sum(stacks.values()) or 1
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for stack, n in stacks.items():
        frames = stack.split(";")
        self_time[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    lines = [f"{total} samples (active threads only)", "", "self time:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in self_time.most_common(top)]
    lines += ["", "inclusive, frames of service/ and the ASGI stack:"]
    keep = ("service/", "starlette", "fastapi", "uvicorn", "httptools")
    ours = [(f, n) for f, n in inclusive.most_common() if any(k in f for k in keep)]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in ours[:top]]
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("workload", choices=["W1", "W2"])
    p.add_argument("concurrency", type=int)
    p.add_argument("--service-config", default="default", choices=sorted(service_configs(1)))
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--model", default="mnist")
    args = p.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    tmp = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    w = next(x for x in workloads() if x.name == args.workload)
    req = request(SERVICE, w, args.model)
    script = http_load.post_script(tmp / "load.lua", req.body, req.content_type, req.headers)
    settings = service_configs(2)[args.service_config]["settings"]
    model_dir = (ROOT / "models" / args.model).resolve()
    run = start_service(model_dir, settings, tmp / "service.log")  # type: ignore[arg-type]
    try:
        processes.wait_ready(run, req, 60)
        load = threading.Thread(
            target=http_load.wrk,
            args=(run.url + req.path, args.concurrency, args.seconds + 2, script),
        )
        load.start()
        out = tmp / "stacks.txt"
        subprocess.run(
            [
                spy,
                "record",
                "--pid",
                str(run.proc.pid),
                "--subprocesses",
                "--duration",
                str(args.seconds),
                "--format",
                "raw",
                "--output",
                str(out),
                "--nonblocking",
            ],
            check=True,
            capture_output=True,
        )
        load.join()
    finally:
        processes.stop(run)
    print("\n".join(summarize(collapsed(out))))


if __name__ == "__main__":
    main()
