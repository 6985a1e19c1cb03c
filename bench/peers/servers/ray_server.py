"""Ray Serve: an HTTP proxy actor routing to replica actors that batch with @serve.batch.

POST /decoder and /encoder with the raw protocol. One replica per core and network; each replica's
max_ongoing_requests is raised (default 5) so that up to MAX_BATCH requests can wait to be batched.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import ray
from common import MAX_BATCH, MAX_WAIT_MS, PORT, WORKERS, Net
from ray import serve
from starlette.requests import Request
from starlette.responses import Response


@serve.deployment(num_replicas=WORKERS, max_ongoing_requests=256, ray_actor_options={"num_cpus": 0})
class NetDeployment:
    def __init__(self, network: str) -> None:
        self.net = Net(network)

    @serve.batch(max_batch_size=MAX_BATCH, batch_wait_timeout_s=MAX_WAIT_MS / 1000)
    async def run(self, parts: list[np.ndarray]) -> list[np.ndarray]:
        return self.net.run_split(parts)

    async def __call__(self, request: Request) -> Response:
        out = await self.run(self.net.rows(await request.body()))
        return Response(out.tobytes(), media_type="application/octet-stream")


if __name__ == "__main__":
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": PORT})
    for network in ("decoder", "encoder"):
        app = NetDeployment.options(name=network).bind(network)
        serve.run(app, name=network, route_prefix=f"/{network}")
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    serve.shutdown()
    ray.shutdown()
