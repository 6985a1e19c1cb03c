"""Soak test (not in CI): mixed load at moderate concurrency for minutes; zero errors and resident
memory growth <= 5 % after warm-up.

    python -m bench.soak --minutes 5 --concurrency 16 --models models
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import random
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from bench.http_load import rss_mb, server

WARMUP_S = 30.0


def png(seed: int) -> bytes:
    a = np.random.default_rng(seed).integers(0, 256, (28, 28), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a, "L").save(buf, format="PNG")
    return buf.getvalue()


async def one(c: httpx.AsyncClient, rng: random.Random, dim: int, cond: dict[str, bool]) -> int:
    model = rng.choice(sorted(cond))
    labels = {"labels": [rng.randrange(10)]} if cond[model] else {}
    img = base64.b64encode(png(rng.randrange(1000))).decode()
    kind = rng.randrange(6)
    q = {"model": model}
    if kind == 0:
        r = await c.get(
            "/sample", params={**q, "n": rng.choice([1, 16, 64]), "seed": rng.randrange(99)}
        )
    elif kind == 1:
        r = await c.post("/encode", params=q, json={"images": [img], **labels})
    elif kind == 2:
        z = np.random.default_rng(rng.randrange(99)).standard_normal((4, dim)).tolist()
        lab = {"labels": [rng.randrange(10)] * 4} if cond[model] else {}
        r = await c.post("/decode", params={**q, "format": "json"}, json={"latents": z, **lab})
    elif kind == 3:
        r = await c.post("/reconstruct", params=q, json={"images": [img], **labels})
    elif kind == 4:
        r = await c.post("/score", params=q, json={"images": [img], **labels})
    else:
        body = {"images": [img, img], "steps": 8}
        if cond[model]:
            body["label"] = rng.randrange(10)
        r = await c.post("/interpolate", params=q, json=body)
    return r.status_code


async def soak(url: str, pid: int, seconds: float, concurrency: int) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        info = (await c.get("/models")).json()["models"]
        cond = {m["name"]: bool(m["conditional"]) for m in info if m["ready"]}
        dim = info[0]["latent"]["dim"]
        codes: dict[int, int] = {}
        samples: list[tuple[float, float]] = []
        stop_at = time.monotonic() + seconds
        start = time.monotonic()

        async def worker(i: int) -> None:
            rng = random.Random(i)
            while time.monotonic() < stop_at:
                code = await one(c, rng, dim, cond)
                codes[code] = codes.get(code, 0) + 1

        async def sampler() -> None:
            while time.monotonic() < stop_at:
                samples.append((time.monotonic() - start, rss_mb(pid)))
                await asyncio.sleep(5)

        await asyncio.gather(sampler(), *(worker(i) for i in range(concurrency)))
    after_warmup = [m for t, m in samples if t >= WARMUP_S]
    base = after_warmup[0] if after_warmup else samples[0][1]
    final = samples[-1][1]
    return {
        "seconds": seconds,
        "concurrency": concurrency,
        "codes": codes,
        "requests": sum(codes.values()),
        "errors": sum(v for k, v in codes.items() if k != 200),
        "rss_mb_after_warmup": base,
        "rss_mb_final": final,
        "rss_growth": final / base - 1.0,
        "rss_samples": samples,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--models", default="models")
    p.add_argument("--out", default="bench/soak.json")
    a = p.parse_args()
    with server(Path(a.models)) as (url, pid):
        res = asyncio.run(soak(url, pid, a.minutes * 60, a.concurrency))
    Path(a.out).write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps({k: v for k, v in res.items() if k != "rss_samples"}, indent=2))
    ok = res["errors"] == 0 and res["rss_growth"] <= 0.05
    print("PASS" if ok else "FAIL", file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
