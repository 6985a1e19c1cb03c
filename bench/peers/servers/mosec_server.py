"""mosec: a Rust HTTP front end feeding Python worker processes batches over IPC.

POST /decoder and /encoder with the raw protocol (common.py). One worker process per core for each
route, each with MAX_BATCH / MAX_WAIT_MS dynamic batching (mosec counts requests, not rows).
"""

from __future__ import annotations

import sys

import numpy as np
from common import MAX_BATCH, MAX_WAIT_MS, PORT, WORKERS, Net
from mosec import Server, Worker


class _NetWorker(Worker):
    network = ""

    def __init__(self) -> None:
        super().__init__()
        self.net = Net(self.network)

    def deserialize(self, data: bytes) -> np.ndarray:
        return self.net.rows(data)

    def serialize(self, data: np.ndarray) -> bytes:
        return data.tobytes()

    def forward(self, data: list[np.ndarray]) -> list[np.ndarray]:  # type: ignore[override]
        return self.net.run_split(data)


# Top-level classes: mosec spawns its workers, which find them by name.
class DecoderWorker(_NetWorker):
    network = "decoder"


class EncoderWorker(_NetWorker):
    network = "encoder"


if __name__ == "__main__":
    sys.argv[1:] = ["--port", str(PORT), "--address", "127.0.0.1", "--timeout", "30000"]
    server = Server()
    for cls in (DecoderWorker, EncoderWorker):
        server.append_worker(
            cls,
            num=WORKERS,
            max_batch_size=MAX_BATCH,
            max_wait_time=max(1, round(MAX_WAIT_MS)),  # whole milliseconds
            route=f"/{cls.network}",
        )
    server.run()
