"""LitServe: FastAPI front end, inference worker processes fed over queues.

LitServe's endpoints take JSON (or forms), so a request is {"data": base64 of the raw FP32 rows}
and the answer {"data": base64 of the raw FP32 outputs}: the raw protocol's bytes, base64-wrapped.
POST /decoder and /encoder. Batching per LitAPI (max_batch_size requests, batch_timeout seconds).
"""

from __future__ import annotations

import base64

import litserve as ls
import numpy as np
from common import MAX_BATCH, MAX_WAIT_MS, PORT, WORKERS, Net


class NetAPI(ls.LitAPI):
    def __init__(self, network: str) -> None:
        super().__init__(
            max_batch_size=MAX_BATCH, batch_timeout=MAX_WAIT_MS / 1000, api_path=f"/{network}"
        )
        self.network = network

    def setup(self, device: str) -> None:
        self.net = Net(self.network)

    def decode_request(self, request: dict) -> np.ndarray:  # type: ignore[override]
        return self.net.rows(base64.b64decode(request["data"]))

    def batch(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return inputs  # requests carry different row counts: concatenated in predict

    def predict(self, parts: list[np.ndarray]) -> list[np.ndarray]:  # type: ignore[override]
        return self.net.run_split(parts)

    def unbatch(self, outputs: list[np.ndarray]) -> list[np.ndarray]:
        return outputs

    def encode_response(self, output: np.ndarray) -> dict:  # type: ignore[override]
        return {"data": base64.b64encode(output.tobytes()).decode()}


if __name__ == "__main__":
    server = ls.LitServer(
        [NetAPI("decoder"), NetAPI("encoder")], accelerator="cpu", workers_per_device=WORKERS
    )
    server.run(host="127.0.0.1", port=PORT, num_api_servers=1, generate_client_file=False)
