"""The overload storm of RELIABILITY.md section 8: N `GET /sample?n=64` at concurrency C from one
httpx client with a keep-alive pool, against the real server; counts answers and lost requests.

    python -m bench.keepalive_storm                          # the service's default settings
    python -m bench.keepalive_storm --keepalive-timeout 5    # uvicorn's own default (loses some)
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx

from service.testing.server import start_service, stop

ROOT = Path(__file__).resolve().parents[1]


async def storm(url: str, requests: int, concurrency: int) -> tuple[Counter, Counter]:
    codes: Counter[int] = Counter()
    lost: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def one() -> None:
            async with sem:
                try:
                    codes[(await client.get("/sample", params={"n": 64})).status_code] += 1
                except httpx.TransportError as e:
                    lost[type(e).__name__] += 1

        await asyncio.gather(*(one() for _ in range(requests)))
    return codes, lost


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=str(ROOT / "models"))
    p.add_argument("--model", default="mnist")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=512)
    p.add_argument("--keepalive-timeout", type=int, help="ALI_KEEPALIVE_TIMEOUT_S (default: ours)")
    args = p.parse_args()
    extra = (
        {} if args.keepalive_timeout is None else {"keepalive_timeout_s": args.keepalive_timeout}
    )
    proc, url = start_service(Path(args.models), default_model=args.model, **extra)
    try:
        t0 = time.perf_counter()
        codes, lost = asyncio.run(storm(url, args.requests, args.concurrency))
    finally:
        stop(proc)
    print(
        f"keepalive_timeout={args.keepalive_timeout or 'default'} answered={dict(codes)} "
        f"lost={dict(lost)} seconds={time.perf_counter() - t0:.1f}"
    )


if __name__ == "__main__":
    main()
